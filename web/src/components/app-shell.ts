/**
 * The app shell: header, banners (demo, offline, ESPHome missing), the
 * login screen when needed, and the page's sections. It builds the shared
 * context (store, actions, toasts) from the client and implements
 * {@link UiHost}: the drawer and the dialogs live here, one instance each.
 *
 * Adding a section means one more component in `sections()`; it receives
 * the same `.ctx`. Below the devices table: "Unused build folders" and the
 * PlatformIO cache (with the fleet-wide reset), side by side when wide.
 */
import { css, html, LitElement, nothing } from 'lit';
import type { ApiClient } from '../api/client.js';
import { Actions, plural } from '../state/actions.js';
import type { AppContext, ConfirmOptions, UiHost } from '../state/context.js';
import { Store, StoreController } from '../state/store.js';
import { Toasts } from '../state/toasts.js';
import { isActiveJob } from '../state/table-model.js';
import { icon } from '../ui/icons.js';
import { baseStyles } from '../ui/styles.js';
import type { ThemeManager } from '../ui/theme.js';
import './archived-dialog.js';
import './confirm-dialog.js';
import './device-drawer.js';
import './disk-map-view.js';
import './devices-table.js';
import './fleet-summary.js';
import './job-log.js';
import './jobs-dialog.js';
import './login-screen.js';
import './platformio-panel.js';
import './reclaim-dialog.js';
import './toast-stack.js';
import './unused-builds.js';

const THEME_LABEL = { system: 'System', light: 'Light', dark: 'Dark' } as const;

export class AppShellElement extends LitElement implements UiHost {
  static override properties = {
    client: { attribute: false },
    theme: { attribute: false },
  };
  declare client: ApiClient | undefined;
  declare theme: ThemeManager | undefined;

  ctx: AppContext | null = null;
  private readonly storeController = new StoreController(this, () => this.ctx?.store);
  private ticker: ReturnType<typeof setInterval> | null = null;
  private offTheme: (() => void) | null = null;
  /** The view the URL names: `#disk-map` is the disk map (bookmarkable; back and Escape return). */
  private view: PageView = viewOf(location.hash);
  private readonly onHashChange = (): void => this.showView(viewOf(location.hash));
  private readonly onKeyDown = (event: KeyboardEvent): void => {
    // The map consumes Escape while zoomed in; at its top level Escape closes it.
    if (event.key === 'Escape' && !event.defaultPrevented && this.view === 'disk-map' && !this.hasOpenDialog()) this.closeDiskMap();
  };

  static override styles = [
    baseStyles,
    css`
      :host {
        display: block;
        min-height: 100dvh;
      }
      header {
        position: sticky;
        top: 0;
        z-index: 30;
        display: flex;
        align-items: center;
        gap: 6px;
        height: 56px;
        padding: 0 12px 0 20px;
        background: var(--header-bg);
        color: var(--header-text);
      }
      .brand {
        display: flex;
        align-items: center;
        gap: 12px;
        min-width: 0;
        margin-right: auto;
      }
      .logo {
        display: grid;
        place-items: center;
        flex: none;
        width: 32px;
        height: 32px;
        border-radius: 8px;
        background: var(--accent);
        color: var(--accent-contrast);
      }
      .brand h1 {
        margin: 0;
        font-size: 16px;
        font-weight: 650;
        white-space: nowrap;
      }
      .brand .subtitle {
        font-size: 12px;
        opacity: 0.7;
        white-space: nowrap;
      }
      .hbtn {
        position: relative;
        display: inline-flex;
        align-items: center;
        gap: 6px;
        height: 36px;
        padding: 0 12px;
        border: none;
        border-radius: 8px;
        background: transparent;
        color: inherit;
        font: inherit;
        font-weight: 550;
        cursor: pointer;
      }
      .hbtn:hover {
        background: rgb(255 255 255 / 10%);
      }
      .hbtn.square {
        width: 36px;
        padding: 0;
        justify-content: center;
      }
      .badge {
        display: inline-grid;
        place-items: center;
        min-width: 18px;
        height: 18px;
        padding: 0 5px;
        border-radius: 9px;
        background: var(--accent);
        color: var(--accent-contrast);
        font-size: 11px;
        font-weight: 700;
      }
      .pill {
        display: inline-flex;
        align-items: center;
        gap: 6px;
        height: 26px;
        padding: 0 10px;
        border-radius: 13px;
        background: rgb(255 120 100 / 20%);
        color: #ffb4a8;
        font-size: 12.5px;
        font-weight: 650;
      }
      .pill .icon {
        width: 16px;
        height: 16px;
      }
      .banner {
        display: flex;
        align-items: center;
        justify-content: center;
        flex-wrap: wrap;
        gap: 8px 12px;
        padding: 8px 16px;
        font-size: 13.5px;
        text-align: center;
      }
      .banner .icon {
        width: 18px;
        height: 18px;
      }
      .banner.demo {
        background: var(--warning-soft);
        color: var(--warning);
        font-weight: 600;
      }
      .banner.demo strong {
        padding: 1px 7px;
        border-radius: 4px;
        background: var(--warning);
        color: var(--surface);
        letter-spacing: 0.06em;
      }
      .banner.offline {
        position: sticky;
        top: 56px;
        z-index: 29;
        background: var(--danger-soft);
        color: var(--danger);
        font-weight: 550;
      }
      .banner.offline .btn {
        height: 28px;
        padding: 0 10px;
      }
      .banner.warn {
        background: var(--warning-soft);
        color: var(--text);
      }
      .banner.warn .icon {
        color: var(--warning);
      }
      main {
        max-width: 1600px;
        margin: 0 auto;
        padding: 20px 24px 48px;
      }
      db-fleet-summary {
        margin-bottom: 20px;
      }
      db-devices-table {
        --sticky-top: 56px;
      }
      .folders {
        margin: 24px 0 0;
        color: var(--text-2);
        font-size: 0.8125rem;
        overflow-wrap: anywhere;
      }
      .folders .mono {
        font-family: var(--mono);
      }
      .storage {
        display: grid;
        grid-template-columns: repeat(2, minmax(0, 1fr));
        align-items: start;
        gap: 16px;
        margin-top: 24px;
      }
      db-unused-builds {
        scroll-margin-top: 72px;
      }
      @media (max-width: 1100px) {
        .storage {
          grid-template-columns: minmax(0, 1fr);
        }
      }
      main.offline {
        opacity: 0.72;
        transition: opacity 0.2s;
      }
      .splash {
        display: grid;
        place-items: center;
        min-height: calc(100dvh - 56px);
        padding: 24px;
        text-align: center;
        color: var(--text-2);
      }
      .splash .icon {
        width: 32px;
        height: 32px;
        color: var(--accent);
        margin-bottom: 8px;
      }
      .splash .btn {
        margin-top: 12px;
      }
      @media (max-width: 720px) {
        header {
          padding: 0 6px 0 12px;
          gap: 2px;
        }
        .hbtn .label,
        .brand .subtitle {
          display: none;
        }
        .hbtn {
          padding: 0 9px;
        }
        main {
          padding: 12px 12px 40px;
        }
        db-fleet-summary {
          margin-bottom: 14px;
        }
        .storage {
          gap: 12px;
          margin-top: 16px;
        }
      }
    `,
  ];

  override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('client') && this.client && !this.ctx) this.setup(this.client);
    if (changed.has('theme')) {
      this.offTheme?.();
      this.offTheme = this.theme?.subscribe(() => this.requestUpdate()) ?? null;
    }
  }

  override connectedCallback(): void {
    super.connectedCallback();
    window.addEventListener('hashchange', this.onHashChange);
    window.addEventListener('keydown', this.onKeyDown);
  }

  override disconnectedCallback(): void {
    window.removeEventListener('hashchange', this.onHashChange);
    window.removeEventListener('keydown', this.onKeyDown);
    if (this.ticker !== null) clearInterval(this.ticker);
    this.ticker = null;
    super.disconnectedCallback();
  }

  private setup(client: ApiClient): void {
    const store = new Store(client);
    const toasts = new Toasts();
    const actions = new Actions(client, store, toasts, { openLog: (jobId) => this.openLog(jobId) });
    this.ctx = { client, store, actions, toasts, ui: this };
    this.storeController.attach();
  }

  // ---- UiHost --------------------------------------------------------------

  openDevice(configuration: string): void {
    void this.renderRoot.querySelector('db-device-drawer')?.show(configuration);
  }

  openLog(jobId: string): void {
    void this.renderRoot.querySelector('db-job-log')?.show(jobId);
  }

  openJobs(): void {
    void this.renderRoot.querySelector('db-jobs-dialog')?.show();
  }

  openArchived(): void {
    void this.renderRoot.querySelector('db-archived-dialog')?.show();
  }

  showUnusedBuilds(): void {
    this.renderRoot.querySelector('db-unused-builds')?.reveal();
  }

  openReclaim(section?: 'preview'): void {
    void this.renderRoot.querySelector('db-reclaim-dialog')?.show(section);
  }

  /** Opens the disk map: a new history entry, so the browser's back button returns to the table. */
  openDiskMap(): void {
    if (this.view === 'disk-map') return;
    location.hash = DISK_MAP_HASH;
  }

  /**
   * Back to the table. Not `history.back()`: opened from a bookmark, that
   * would leave the page. The URL loses its hash without a new entry.
   */
  closeDiskMap(): void {
    if (this.view !== 'disk-map') return;
    history.replaceState(history.state, '', `${location.pathname}${location.search}`);
    this.showView('dashboard');
  }

  private showView(view: PageView): void {
    if (view === this.view) return;
    this.view = view;
    this.requestUpdate();
    void this.updateComplete.then(() => {
      if (this.view === 'disk-map') this.renderRoot.querySelector('db-disk-map')?.reveal();
      else this.renderRoot.querySelector<HTMLElement>('[data-testid="open-disk-map"]')?.focus();
    });
  }

  /** A modal (drawer, dialogs) has Escape for itself. */
  private hasOpenDialog(): boolean {
    return [...this.renderRoot.querySelectorAll('*')].some((el) => el.shadowRoot?.querySelector('dialog[open]'));
  }

  confirm(options: ConfirmOptions): Promise<boolean> {
    const dialog = this.renderRoot.querySelector('db-confirm-dialog');
    return dialog ? dialog.ask(options) : Promise.resolve(false);
  }

  // ---- rendering -----------------------------------------------------------

  private syncTicker(offline: boolean): void {
    if (offline && this.ticker === null) this.ticker = setInterval(() => this.requestUpdate(), 1000);
    if (!offline && this.ticker !== null) {
      clearInterval(this.ticker);
      this.ticker = null;
    }
  }

  private renderHeader(online: boolean) {
    const ctx = this.ctx;
    const status = ctx?.store.status;
    const activeJobs = ctx ? [...ctx.store.jobs.values()].filter((j) => isActiveJob(j)).length : 0;
    const choice = this.theme?.choice ?? 'system';
    const themeIcon = choice === 'system' ? 'system' : choice === 'light' ? 'sun' : 'moon';
    const signedIn = status?.phase === 'online' || (status?.phase !== 'login' && status?.everOnline);
    return html`<header>
      <div class="brand">
        <span class="logo">${icon('chip')}</span>
        <div>
          <h1>Device Builder</h1>
          <div class="subtitle">ESPHome build folders${status?.serverInfo?.esphome_version ? ` · ESPHome ${status.serverInfo.esphome_version}` : ''}</div>
        </div>
      </div>
      ${!online && status?.everOnline ? html`<span class="pill" role="status">${icon('plug')}Offline</span>` : nothing}
      ${
        signedIn
          ? html`
            <button
              class="hbtn"
              aria-label=${activeJobs ? `Jobs, ${plural(activeJobs, 'active job')}` : 'Jobs'}
              title="Jobs"
              @click=${() => this.openJobs()}
            >
              ${icon('jobs')}<span class="label">Jobs</span>${activeJobs ? html`<span class="badge" aria-hidden="true">${activeJobs}</span>` : nothing}
            </button>
            <button
              class="hbtn"
              aria-label="Disk map"
              aria-pressed=${this.view === 'disk-map' ? 'true' : 'false'}
              title="Disk map: where the disk goes"
              data-testid="open-disk-map"
              @click=${() => (this.view === 'disk-map' ? this.closeDiskMap() : this.openDiskMap())}
            >
              ${icon('treemap')}<span class="label">Disk map</span>
            </button>
            <button class="hbtn" aria-label="Archived devices" title="Archived devices" @click=${() => this.openArchived()}>
              ${icon('archive')}<span class="label">Archived</span>
            </button>
            <button
              class="hbtn"
              aria-label=${ctx?.store.reclaim?.running ? 'Reclaim disk space, a run is in progress' : 'Reclaim disk space'}
              title="Reclaim disk space: policy, preview, history"
              data-testid="open-reclaim"
              @click=${() => this.openReclaim()}
            >
              ${icon(ctx?.store.reclaim?.running ? 'running' : 'broom')}<span class="label">Reclaim</span>
            </button>
          `
          : nothing
      }
      <button
        class="hbtn square"
        aria-label=${`Theme: ${THEME_LABEL[choice]}`}
        title=${`Theme: ${THEME_LABEL[choice]} (click to change)`}
        @click=${() => this.theme?.cycle()}
      >
        ${icon(themeIcon)}
      </button>
      ${
        status?.serverInfo?.requires_auth && status.phase === 'online'
          ? html`<button class="hbtn square" aria-label="Sign out" title="Sign out" @click=${() => void ctx?.client.logout()}>
            ${icon('logout')}
          </button>`
          : nothing
      }
    </header>`;
  }

  private renderBanners(online: boolean) {
    const status = this.ctx?.store.status;
    const info = status?.serverInfo;
    const seconds = status?.retryAt ? Math.max(0, Math.ceil((status.retryAt - Date.now()) / 1000)) : 0;
    return html`
      ${
        info?.demo
          ? html`<div class="banner demo" role="note">
            <strong>DEMO</strong> A generated fleet: nothing here touches real devices or files.
          </div>`
          : nothing
      }
      ${
        !online && status?.everOnline
          ? html`<div class="banner offline" role="status" data-testid="offline-banner">
            ${icon('warning')}
            <span
              >Offline: the server cannot be reached.
              ${status.phase === 'connecting' ? 'Reconnecting…' : `Reconnecting in ${seconds} s.`}</span
            >
            <button class="btn" ?disabled=${status.phase === 'connecting'} @click=${() => this.ctx?.client.retryNow()}>
              Retry now
            </button>
          </div>`
          : nothing
      }
      ${
        online && info && info.esphome_version === null && !info.demo
          ? html`<div class="banner warn" role="note">
            ${icon('warning')} The esphome CLI was not found on the server: compile, install and clean will fail until it is installed.
          </div>`
          : nothing
      }
    `;
  }

  private renderSplash() {
    const status = this.ctx?.store.status;
    const offline = status?.phase === 'offline';
    const seconds = status?.retryAt ? Math.max(0, Math.ceil((status.retryAt - Date.now()) / 1000)) : 0;
    return html`<div class="splash" role="status">
      <div>
        ${icon(offline ? 'plug' : 'running')}
        <div>${offline ? `Cannot reach the Device Builder server. Retrying in ${seconds} s…` : 'Connecting to the Device Builder…'}</div>
        ${offline ? html`<button class="btn" @click=${() => this.ctx?.client.retryNow()}>Retry now</button>` : nothing}
      </div>
    </div>`;
  }

  /** The page's sections, top to bottom. */
  private sections(ctx: AppContext, online: boolean) {
    if (this.view === 'disk-map') {
      return html`<main class=${online ? '' : 'offline'}>
        <db-disk-map .ctx=${ctx}></db-disk-map>
      </main>`;
    }
    return html`<main class=${online ? '' : 'offline'}>
      <db-fleet-summary .ctx=${ctx}></db-fleet-summary>
      <db-devices-table .ctx=${ctx}></db-devices-table>
      <div class="storage">
        <db-unused-builds .ctx=${ctx}></db-unused-builds>
        <db-platformio-panel .ctx=${ctx}></db-platformio-panel>
      </div>
      ${this.renderFolders()}
    </main>`;
  }

  /** Which folders this server reads: the config folder and ESPHome's data dir (on the add-on, /data). */
  private renderFolders() {
    const info = this.ctx?.store.status.serverInfo;
    if (!info || !('config_dir' in info)) return nothing;
    return html`<p class="folders" data-testid="folders">
      Config folder <span class="mono">${info.config_dir}</span> · ESPHome data dir
      <span class="mono">${info.data_dir}</span>
    </p>`;
  }

  override render() {
    const ctx = this.ctx;
    if (!ctx) return nothing;
    const status = ctx.store.status;
    const online = status.phase === 'online';
    this.syncTicker(!online && status.phase !== 'login');
    if (status.phase === 'login') {
      return html`${this.renderBanners(false)}<db-login-screen .client=${ctx.client} .error=${status.loginError}></db-login-screen>`;
    }
    return html`
      ${this.renderHeader(online)} ${this.renderBanners(online)}
      ${status.everOnline ? this.sections(ctx, online) : this.renderSplash()}
      <db-device-drawer .ctx=${ctx}></db-device-drawer>
      <db-job-log .ctx=${ctx}></db-job-log>
      <db-jobs-dialog .ctx=${ctx}></db-jobs-dialog>
      <db-archived-dialog .ctx=${ctx}></db-archived-dialog>
      <db-reclaim-dialog .ctx=${ctx}></db-reclaim-dialog>
      <db-confirm-dialog></db-confirm-dialog>
      <db-toast-stack .toasts=${ctx.toasts}></db-toast-stack>
    `;
  }
}

customElements.define('db-app', AppShellElement);
type PageView = 'dashboard' | 'disk-map';
const DISK_MAP_HASH = 'disk-map';

function viewOf(hash: string): PageView {
  return hash.replace(/^#/, '') === DISK_MAP_HASH ? 'disk-map' : 'dashboard';
}

declare global {
  interface HTMLElementTagNameMap {
    'db-app': AppShellElement;
  }
}
