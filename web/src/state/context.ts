/**
 * What every component gets: the connection, the state, the actions, and a
 * handle on the app shell to open drawers and dialogs. Passed down as one
 * `.ctx` property so a new section needs no new wiring.
 */
import type { ApiClient } from '../api/client.js';
import type { Actions } from './actions.js';
import type { Store } from './store.js';
import type { Toasts } from './toasts.js';

export interface ConfirmOptions {
  title: string;
  message: string;
  /** Lines listed under the message (e.g. the devices concerned). */
  items?: string[];
  confirmLabel: string;
  /** Red confirm button. */
  danger?: boolean;
}

/** The app shell: owns the drawer and the dialogs. */
export interface UiHost {
  openDevice(configuration: string): void;
  openLog(jobId: string): void;
  openJobs(): void;
  openArchived(): void;
  /** Scrolls to the "Unused build folders" section. */
  showUnusedBuilds(): void;
  /** Opens the reclaim panel (policy, preview, history); `preview` scrolls to the plan. */
  openReclaim(section?: 'preview'): void;
  confirm(options: ConfirmOptions): Promise<boolean>;
}

export interface AppContext {
  client: ApiClient;
  store: Store;
  actions: Actions;
  toasts: Toasts;
  ui: UiHost;
}
