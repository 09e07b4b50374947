/// <reference lib="dom" />
/**
 * Components in happy-dom against a real store and client driven through a
 * fake socket: the context every component gets, with a UI host that
 * records what was opened and answers confirmations as told.
 */
import { ApiClient, memoryTokens } from '../../web/src/api/client.js';
import { Actions } from '../../web/src/state/actions.js';
import type { AppContext, ConfirmOptions } from '../../web/src/state/context.js';
import { Store } from '../../web/src/state/store.js';
import { Toasts } from '../../web/src/state/toasts.js';
import type { Device } from '../../src/shared/device.js';
import type { InitialState } from '../../src/shared/protocol.js';
import { FakeSocket, RECLAIM_OFF } from './fixtures.js';

export interface Harness {
  ctx: AppContext;
  socket: FakeSocket;
  /** `device:<configuration>`, `log:<job_id>`, `jobs`, `archived`, `unused`, `reclaim[:preview]`, in order. */
  opened: string[];
  /** Every confirmation asked. */
  asked: ConfirmOptions[];
  /** The answer the next confirmations get. */
  answer: { value: boolean };
}

export function harness(devices: Device[], extra: Partial<InitialState> = {}): Harness {
  FakeSocket.reset();
  const client = new ApiClient({ url: 'ws://t/ws', socketFactory: (url) => new FakeSocket(url), tokens: memoryTokens() });
  const store = new Store(client, { schedule: (fn) => fn() });
  const toasts = new Toasts();
  const opened: string[] = [];
  const asked: ConfirmOptions[] = [];
  const answer = { value: true };
  const ui = {
    openDevice: (c: string) => void opened.push(`device:${c}`),
    openLog: (id: string) => void opened.push(`log:${id}`),
    openJobs: () => void opened.push('jobs'),
    openArchived: () => void opened.push('archived'),
    showUnusedBuilds: () => void opened.push('unused'),
    openReclaim: (section?: 'preview') => void opened.push(section ? `reclaim:${section}` : 'reclaim'),
    confirm: (options: ConfirmOptions) => {
      asked.push(options);
      return Promise.resolve(answer.value);
    },
  };
  const actions = new Actions(client, store, toasts, { openLog: ui.openLog });
  client.start();
  const socket = FakeSocket.last;
  socket.open();
  store.applyEvent('initial_state', { devices, firmware_jobs: [], orphans: [], platformio: null, disk: null, reclaim: RECLAIM_OFF, ...extra });
  return { ctx: { client, store, actions, toasts, ui }, socket, opened, asked, answer };
}

export async function mount<K extends keyof HTMLElementTagNameMap>(tag: K, setup: (el: HTMLElementTagNameMap[K]) => void): Promise<HTMLElementTagNameMap[K]> {
  const el = document.createElement(tag);
  setup(el);
  document.body.append(el);
  await (el as unknown as { updateComplete: Promise<unknown> }).updateComplete;
  return el;
}

export async function settle(el: Element): Promise<void> {
  await (el as unknown as { updateComplete: Promise<unknown> }).updateComplete;
}

export const root = (el: Element): ShadowRoot => el.shadowRoot as ShadowRoot;

/** An element's text with whitespace runs collapsed. */
export const textOf = (node: Node | null | undefined): string => node?.textContent?.replace(/\s+/g, ' ').trim() ?? '';
