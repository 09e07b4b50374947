/**
 * The device drawer: everything about one device and its actions. Opened
 * from a row (click or Enter); a modal `<dialog>` sliding in from the right
 * (full screen on phones), so Esc closes it and focus goes back to the row.
 *
 * It reads the device from the store on every render, so a compile or clean
 * elsewhere updates it live. The Build Size row is hidden while the size is
 * 0 (never compiled); its broom button and the destructive actions are
 * disabled, with the reason shown, while a job for the device is queued or
 * running (the server refuses them then, and a clean would replace the job).
 *
 * Sections are separate render methods so later features ("Clean frees X",
 * PlatformIO cache) slot in without touching the others.
 */
import { css, html, LitElement, nothing } from 'lit';
import type { Device } from '../../../src/shared/device.js';
import { formatBytes } from '../../../src/shared/format.js';
import type { FirmwareJobSummary } from '../../../src/shared/jobs.js';
import { JOB_LABELS } from '../state/actions.js';
import type { AppContext } from '../state/context.js';
import { StoreController } from '../state/store.js';
import { displayName, isActiveJob, latestJobs, platformLabel } from '../state/table-model.js';
import { icon } from '../ui/icons.js';
import { ModalController } from '../ui/modal.js';
import { baseStyles, dialogStyles } from '../ui/styles.js';

export class DeviceDrawerElement extends LitElement {
  static override properties = {
    ctx: { attribute: false },
    configuration: { state: true },
    busy: { state: true },
  };
  declare ctx: AppContext | undefined;
  declare configuration: string | null;
  declare busy: boolean;

  private readonly storeController = new StoreController(this, () => this.ctx?.store);
  private readonly modal = new ModalController(
    this,
    () => this.renderRoot.querySelector('dialog'),
    () => (this.configuration = null),
  );
  /** The last known state, shown while the drawer closes after the device went away. */
  private lastDevice: Device | null = null;

  constructor() {
    super();
    this.configuration = null;
    this.busy = false;
  }

  static override styles = [
    baseStyles,
    dialogStyles,
    css`
      dialog.drawer {
        margin: 0 0 0 auto;
        width: min(460px, 100vw);
        max-width: 100vw;
        height: 100dvh;
        max-height: 100dvh;
        border: none;
        border-left: 1px solid var(--border);
        border-radius: 0;
      }
      dialog.drawer[open] {
        animation: slide-in 0.18s ease-out;
      }
      @keyframes slide-in {
        from {
          transform: translateX(24px);
          opacity: 0;
        }
      }
      .head-text {
        flex: 1;
        min-width: 0;
      }
      .head-text h2 {
        margin: 0;
        font-size: 19px;
        font-weight: 650;
        overflow: hidden;
        text-overflow: ellipsis;
        white-space: nowrap;
      }
      .head-text .sub {
        font-family: var(--mono);
        font-size: 12.5px;
        color: var(--text-2);
      }
      .avatar {
        display: grid;
        place-items: center;
        flex: none;
        width: 40px;
        height: 40px;
        border-radius: 10px;
        background: var(--accent-soft);
        color: var(--accent);
      }
      .notice {
        display: flex;
        gap: 10px;
        align-items: flex-start;
        margin-bottom: 16px;
        padding: 10px 12px;
        border-radius: var(--radius-s);
        font-size: 13px;
      }
      .notice.job {
        align-items: center;
        background: var(--accent-soft);
        color: var(--text);
      }
      .notice.job .icon {
        color: var(--accent);
      }
      .notice.error {
        background: var(--warning-soft);
        color: var(--text);
      }
      .notice.error .icon {
        color: var(--warning);
      }
      .notice .grow {
        flex: 1;
        min-width: 0;
      }
      .notice .btn {
        height: 30px;
        padding: 0 10px;
      }
      h3 {
        margin: 20px 0 6px;
        font-size: 12px;
        font-weight: 650;
        letter-spacing: 0.03em;
        text-transform: uppercase;
        color: var(--text-2);
      }
      h3:first-of-type {
        margin-top: 0;
      }
      dl {
        display: grid;
        grid-template-columns: minmax(110px, auto) 1fr;
        margin: 0;
      }
      dt,
      dd {
        padding: 9px 0;
        border-bottom: 1px solid var(--border);
        min-width: 0;
      }
      dt {
        color: var(--text-2);
        padding-right: 12px;
      }
      dd {
        margin: 0;
        overflow-wrap: anywhere;
      }
      dd.path {
        font-family: var(--mono);
        font-size: 12.5px;
      }
      .size-row dd {
        display: flex;
        align-items: center;
        justify-content: space-between;
        gap: 8px;
        padding: 4px 0;
      }
      .size-value {
        font-size: 16px;
        font-weight: 650;
        font-variant-numeric: tabular-nums;
      }
      .size-row .hint {
        grid-column: 1 / -1;
        margin: 0;
        padding: 6px 0 8px;
        font-size: 12.5px;
        color: var(--text-2);
        border-bottom: 1px solid var(--border);
      }
      .size-row .with-hint {
        border-bottom: none;
      }
      .dialog-foot {
        justify-content: flex-start;
      }
      .dialog-foot .manage {
        margin-left: auto;
      }
      @media (max-width: 480px) {
        .dialog-foot .btn {
          flex: 1 1 auto;
        }
        .dialog-foot .manage {
          margin-left: 0;
        }
      }
    `,
  ];

  override updated(changed: Map<string, unknown>): void {
    if (changed.has('ctx')) this.storeController.attach();
  }

  /** Opens the drawer for one device. */
  async show(configuration: string): Promise<void> {
    this.configuration = configuration;
    await this.updateComplete;
    this.modal.open();
  }

  close(): void {
    this.modal.close();
  }

  get isOpen(): boolean {
    return this.modal.isOpen;
  }

  private get device(): Device | null {
    if (!this.configuration) return null;
    const device = this.ctx?.store.devices.get(this.configuration) ?? null;
    if (device) this.lastDevice = device;
    return device;
  }

  private get job(): FirmwareJobSummary | undefined {
    const store = this.ctx?.store;
    if (!store || !this.configuration) return undefined;
    return latestJobs(store.jobs.values()).get(this.configuration);
  }

  private async run(kind: 'compile' | 'install' | 'clean'): Promise<void> {
    if (!this.ctx || !this.configuration) return;
    await this.ctx.actions.startJob(kind, this.configuration);
  }

  private async archive(device: Device): Promise<void> {
    const ctx = this.ctx;
    if (!ctx) return;
    const ok = await ctx.ui.confirm({
      title: `Archive ${displayName(device)}?`,
      message: `${device.configuration} moves to the archive folder and its build folder is deleted. You can restore it from Archived devices.`,
      confirmLabel: 'Archive',
    });
    if (!ok) return;
    this.busy = true;
    try {
      if (await ctx.actions.archive(device.configuration)) this.close();
    } finally {
      this.busy = false;
    }
  }

  private async deleteDevice(device: Device): Promise<void> {
    const ctx = this.ctx;
    if (!ctx) return;
    const ok = await ctx.ui.confirm({
      title: `Delete ${displayName(device)}?`,
      message: `${device.configuration} and its build folder are deleted permanently. This cannot be undone.`,
      confirmLabel: 'Delete',
      danger: true,
    });
    if (!ok) return;
    this.busy = true;
    try {
      if (await ctx.actions.deleteDevice(device.configuration)) this.close();
    } finally {
      this.busy = false;
    }
  }

  private renderJobNotice(job: FirmwareJobSummary | undefined) {
    if (!isActiveJob(job)) return nothing;
    return html`<div class="notice job" role="status">
      ${icon(job.status === 'running' ? 'running' : 'queued')}
      <span class="grow">${JOB_LABELS[job.job_type]} ${job.status}</span>
      <button class="btn" @click=${() => this.ctx?.ui.openLog(job.job_id)}>${icon('log')} Show log</button>
      <button class="btn danger" @click=${() => void this.ctx?.actions.cancelJob(job)}>${icon('stop')} Stop</button>
    </div>`;
  }

  private renderDetails(device: Device) {
    const rows: [string, unknown][] = [
      ['Config file', html`<span class="mono">${device.configuration}</span>`],
      ['Platform', platformLabel(device.target_platform) || 'Unknown'],
      ['Address', device.address || '—'],
      ['Deployed version', device.deployed_version ?? 'Never compiled'],
    ];
    if (device.area) rows.push(['Area', device.area]);
    if (device.comment) rows.push(['Comment', device.comment]);
    return html`<h3>Device</h3>
      <dl>
        ${rows.map(([label, value]) => html`<dt>${label}</dt><dd>${value}</dd>`)}
      </dl>`;
  }

  private renderBuild(device: Device, job: FirmwareJobSummary | undefined) {
    const active = isActiveJob(job);
    return html`<h3>Build</h3>
      <dl>
        <dt>Build path</dt>
        <dd class="path">${device.build_path ?? html`<span class="muted">None yet</span>`}</dd>
        ${device.build_size_bytes > 0
          ? html`<div class="size-row" style="display: contents" data-testid="build-size-row">
              <dt class=${active ? 'with-hint' : ''}>Build Size</dt>
              <dd class=${active ? 'with-hint' : ''}>
                <span class="size-value" data-bytes=${device.build_size_bytes}>${formatBytes(device.build_size_bytes)}</span>
                <button
                  class="icon-btn"
                  aria-label="Clean build files"
                  title=${active ? 'Unavailable while a job runs for this device' : 'Clean build files'}
                  ?disabled=${active || this.busy}
                  aria-describedby=${active ? 'clean-hint' : nothing}
                  @click=${() => void this.run('clean')}
                >
                  ${icon('broom')}
                </button>
              </dd>
              ${active
                ? html`<p class="hint" id="clean-hint">
                    Cleaning waits until the ${JOB_LABELS[job.job_type].toLowerCase()} job for this device ends.
                  </p>`
                : nothing}
            </div>`
          : nothing}
      </dl>`;
  }

  override render() {
    const device = this.device ?? (this.configuration ? this.lastDevice : null);
    const job = this.job;
    const active = isActiveJob(job);
    const gone = this.configuration !== null && this.ctx?.store.devices.get(this.configuration) === undefined;
    const disabledDestructive = active || this.busy || gone;
    return html`
      <dialog
        class="drawer"
        aria-labelledby="drawer-title"
        @close=${this.modal.handleClose}
        @click=${this.modal.handleClick}
      >
        ${device
          ? html`
              <div class="dialog-head">
                <span class="avatar">${icon('chip')}</span>
                <div class="head-text">
                  <h2 id="drawer-title">${displayName(device)}</h2>
                  <div class="sub">${device.name}</div>
                </div>
                <button class="icon-btn" aria-label="Close" title="Close (Esc)" @click=${() => this.close()}>
                  ${icon('close')}
                </button>
              </div>
              <div class="dialog-body">
                ${this.renderJobNotice(job)}
                ${device.error
                  ? html`<div class="notice error">${icon('warning')}<span class="grow">${device.error}</span></div>`
                  : nothing}
                ${this.renderDetails(device)} ${this.renderBuild(device, job)}
              </div>
              <div class="dialog-foot">
                <button class="btn primary" ?disabled=${gone} @click=${() => void this.run('compile')}>
                  ${icon('compile')} Compile
                </button>
                <button class="btn" ?disabled=${gone} @click=${() => void this.run('install')}>${icon('install')} Install</button>
                <button
                  class="btn"
                  ?disabled=${disabledDestructive}
                  title=${active ? 'Unavailable while a job runs for this device' : 'Delete the build files'}
                  @click=${() => void this.run('clean')}
                >
                  ${icon('broom')} Clean
                </button>
                <button
                  class="btn manage"
                  ?disabled=${disabledDestructive}
                  title=${active ? 'Unavailable while a job runs for this device' : 'Move to the archive'}
                  @click=${() => void this.archive(device)}
                >
                  ${icon('archive')} Archive
                </button>
                <button
                  class="btn danger"
                  ?disabled=${disabledDestructive}
                  title=${active ? 'Unavailable while a job runs for this device' : 'Delete permanently'}
                  @click=${() => void this.deleteDevice(device)}
                >
                  ${icon('trash')} Delete
                </button>
              </div>
            `
          : nothing}
      </dialog>
    `;
  }
}

customElements.define('db-device-drawer', DeviceDrawerElement);
declare global {
  interface HTMLElementTagNameMap {
    'db-device-drawer': DeviceDrawerElement;
  }
}
