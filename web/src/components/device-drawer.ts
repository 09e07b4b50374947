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
 * Next to the Build Size: what `esphome clean` would free (from the
 * server's breakdown, also on the broom's label), a compact bar of where
 * the bytes are (.pioenvs / .piolibdeps / src / other), and the allocated
 * size ("On disk") when it differs notably from the apparent one (sparse or
 * compressed files, or many small files rounding up to whole blocks).
 *
 * Below it, the build size over time (`devices/size_history
 * {configuration}`), asked for when the drawer opens and again when the
 * device's size changes while it is open.
 *
 * Sections are separate render methods so later features slot in without
 * touching the others.
 */
import { css, html, LitElement, nothing } from 'lit';
import type { BuildSizeBreakdown, Device } from '../../../src/shared/device.js';
import { formatBytes } from '../../../src/shared/format.js';
import type { FirmwareJobSummary } from '../../../src/shared/jobs.js';
import type { SizePoint } from '../../../src/shared/size-history.js';
import { JOB_LABELS, messageOf } from '../state/actions.js';
import type { AppContext } from '../state/context.js';
import { allocatedDiffers, breakdownParts, segmentWidth } from '../state/storage-model.js';
import { StoreController } from '../state/store.js';
import { displayName, isActiveJob, latestJobs, platformLabel } from '../state/table-model.js';
import { icon } from '../ui/icons.js';
import { ModalController } from '../ui/modal.js';
import { baseStyles, chartStyles, dialogStyles } from '../ui/styles.js';
import './size-chart.js';

const PART_COLOUR = { pioenvs: 'c1', piolibdeps: 'c2', src: 'c4', other: 'c5' } as const;
const CLEAN_EXPLAINED = 'What esphome clean deletes: .pioenvs, .piolibdeps and dependencies.lock';
const ON_DISK_EXPLAINED =
  'Allocated size: what du and a full disk report. It differs from the Build Size with hard-linked, sparse or compressed files, or many small files rounded up to whole blocks.';

/** A device's size history as last asked for: for which device and size, and the answer. */
interface HistoryState {
  configuration: string;
  /** The Build Size when asked; a change asks again. */
  bytes: number;
  points: SizePoint[] | null;
  error: string | null;
}

/** "Clean build files, frees 180.3 MB": the broom's label. */
export function cleanLabel(breakdown: BuildSizeBreakdown | null): string {
  return breakdown && breakdown.cleanable > 0 ? `Clean build files, frees ${formatBytes(breakdown.cleanable)}` : 'Clean build files';
}

export class DeviceDrawerElement extends LitElement {
  static override properties = {
    ctx: { attribute: false },
    configuration: { state: true },
    busy: { state: true },
    history: { state: true },
  };
  declare ctx: AppContext | undefined;
  declare configuration: string | null;
  declare busy: boolean;
  declare history: HistoryState | null;

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
    this.history = null;
  }

  static override styles = [
    baseStyles,
    dialogStyles,
    chartStyles,
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
      .size-stack {
        display: flex;
        flex-wrap: wrap;
        align-items: baseline;
        gap: 0 10px;
        min-width: 0;
      }
      .frees {
        font-size: 12.5px;
        color: var(--text-2);
        white-space: nowrap;
      }
      .frees strong {
        color: var(--text);
        font-weight: 650;
        font-variant-numeric: tabular-nums;
      }
      .size-row .detail {
        grid-column: 1 / -1;
        margin: 0;
        padding: 2px 0 10px;
        border-bottom: 1px solid var(--border);
      }
      .size-row .detail:not(:last-child) {
        border-bottom: none;
      }
      .size-row .hint {
        font-size: 12.5px;
        color: var(--text-2);
      }
      .size-row .joined {
        border-bottom: none;
      }
      .legend {
        display: grid;
        grid-template-columns: repeat(2, minmax(0, 1fr));
        gap: 4px 16px;
        margin: 8px 0 0;
        padding: 0;
        list-style: none;
        font-size: 12.5px;
      }
      .legend li {
        display: flex;
        align-items: center;
        gap: 7px;
        min-width: 0;
      }
      .legend .part {
        color: var(--text-2);
        white-space: nowrap;
      }
      .legend .num {
        margin-left: auto;
        font-variant-numeric: tabular-nums;
        white-space: nowrap;
      }
      .legend .zero {
        color: var(--text-3);
      }
      .on-disk {
        margin-top: 8px;
        font-size: 12.5px;
        color: var(--text-2);
      }
      .on-disk strong {
        color: var(--text);
        font-weight: 600;
        font-variant-numeric: tabular-nums;
      }
      .history {
        padding-top: 4px;
      }
      .history .hint {
        margin: 0;
        font-size: 13px;
        color: var(--text-2);
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

  // Before rendering, not after: state set here joins this update instead of scheduling another.
  override willUpdate(): void {
    this.maybeLoadHistory();
  }

  override updated(changed: Map<string, unknown>): void {
    if (changed.has('ctx')) this.storeController.attach();
  }

  /** Asks for the open device's size history when not asked yet for its current size. */
  private maybeLoadHistory(): void {
    const configuration = this.configuration;
    const device = configuration ? this.ctx?.store.devices.get(configuration) : undefined;
    if (!configuration || !device || !this.modal.isOpen) return;
    const asked = this.history;
    if (asked && asked.configuration === configuration && asked.bytes === device.build_size_bytes) return;
    const keep = asked?.configuration === configuration ? asked.points : null;
    this.history = { configuration, bytes: device.build_size_bytes, points: keep, error: null };
    void this.loadHistory(configuration, device.build_size_bytes);
  }

  private async loadHistory(configuration: string, bytes: number): Promise<void> {
    const client = this.ctx?.client;
    if (!client) return;
    let points: SizePoint[] | null = null;
    let error: string | null = null;
    try {
      points = await client.request('devices/size_history', { configuration });
    } catch (err) {
      error = messageOf(err);
    }
    // A later request (another device, a new size) owns the state now.
    if (this.history?.configuration !== configuration || this.history.bytes !== bytes) return;
    this.history = { configuration, bytes, points: points ?? this.history.points, error };
  }

  /** Opens the drawer for one device. */
  async show(configuration: string): Promise<void> {
    this.configuration = configuration;
    await this.updateComplete;
    this.modal.open();
    this.maybeLoadHistory();
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

  /** The bar and legend of where a build folder's bytes are, and the allocated size when it matters. */
  private renderBreakdown(device: Device) {
    const breakdown = device.build_size_breakdown;
    const onDisk = allocatedDiffers(device.build_size_bytes, device.build_disk_bytes);
    if (!breakdown && !onDisk) return nothing;
    const parts = breakdown ? breakdownParts(breakdown) : [];
    const label = parts.map((p) => `${p.label} ${formatBytes(p.bytes)}`).join(', ');
    return html`<div class="detail breakdown" data-testid="build-breakdown">
      ${
        breakdown
          ? html`<div class="stack-bar" role="img" aria-label=${`Where the bytes are: ${label}`}>
              ${parts.map((p) => (p.share > 0 ? html`<span class=${PART_COLOUR[p.key]} style="flex: 0 1 ${segmentWidth(p.share)}"></span>` : nothing))}
            </div>
            <ul class="legend" aria-hidden="true">
              ${parts.map(
                (p) => html`<li data-part=${p.key} title=${p.cleanable ? 'Deleted by Clean' : 'Kept by Clean'}>
                  <span class="swatch ${PART_COLOUR[p.key]}"></span>
                  <span class="part mono">${p.label}</span>
                  <span class="num ${p.bytes > 0 ? '' : 'zero'}">${formatBytes(p.bytes)}</span>
                </li>`,
              )}
            </ul>`
          : nothing
      }
      ${
        onDisk
          ? html`<div class="on-disk" data-testid="on-disk" title=${ON_DISK_EXPLAINED}>
            On disk: <strong data-bytes=${device.build_disk_bytes}>${formatBytes(device.build_disk_bytes)}</strong> · what du reports
          </div>`
          : nothing
      }
    </div>`;
  }

  private renderBuild(device: Device, job: FirmwareJobSummary | undefined) {
    const active = isActiveJob(job);
    const breakdown = device.build_size_breakdown;
    const detail = this.renderBreakdown(device);
    const joined = active || detail !== nothing;
    const label = cleanLabel(breakdown);
    return html`<h3>Build</h3>
      <dl>
        <dt>Build path</dt>
        <dd class="path">${device.build_path ?? html`<span class="muted">None yet</span>`}</dd>
        ${
          device.build_size_bytes > 0
            ? html`<div class="size-row" style="display: contents" data-testid="build-size-row">
              <dt class=${joined ? 'joined' : ''}>Build Size</dt>
              <dd class=${joined ? 'joined' : ''}>
                <span class="size-stack">
                  <span class="size-value" data-bytes=${device.build_size_bytes}>${formatBytes(device.build_size_bytes)}</span>
                  ${
                    breakdown
                      ? html`<span class="frees" data-testid="clean-frees" data-bytes=${breakdown.cleanable} title=${CLEAN_EXPLAINED}
                        >${breakdown.cleanable > 0 ? html`Clean frees <strong>${formatBytes(breakdown.cleanable)}</strong>` : 'Nothing to clean'}</span
                      >`
                      : nothing
                  }
                </span>
                <button
                  class="icon-btn"
                  aria-label=${label}
                  title=${active ? 'Unavailable while a job runs for this device' : label}
                  ?disabled=${active || this.busy}
                  aria-describedby=${active ? 'clean-hint' : nothing}
                  @click=${() => void this.run('clean')}
                >
                  ${icon('broom')}
                </button>
              </dd>
              ${
                active
                  ? html`<p class="detail hint" id="clean-hint">
                    Cleaning waits until the ${JOB_LABELS[job.job_type].toLowerCase()} job for this device ends.
                  </p>`
                  : nothing
              }
              ${detail}
            </div>`
            : nothing
        }
      </dl>`;
  }

  private renderHistory(device: Device) {
    const history = this.history?.configuration === device.configuration ? this.history : null;
    return html`<h3>Build size over time</h3>
      <div class="history" data-testid="size-history">
        ${
          history?.points
            ? html`<db-size-chart .points=${history.points} label=${`Build size of ${displayName(device)}`}></db-size-chart>`
            : history?.error
              ? html`<p class="hint" role="status">History unavailable: ${history.error}</p>`
              : html`<p class="hint">Loading…</p>`
        }
      </div>`;
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
        ${
          device
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
                ${device.error ? html`<div class="notice error">${icon('warning')}<span class="grow">${device.error}</span></div>` : nothing}
                ${this.renderDetails(device)} ${this.renderBuild(device, job)} ${this.renderHistory(device)}
              </div>
              <div class="dialog-foot">
                <button class="btn primary" ?disabled=${gone} @click=${() => void this.run('compile')}>
                  ${icon('compile')} Compile
                </button>
                <button class="btn" ?disabled=${gone} @click=${() => void this.run('install')}>${icon('install')} Install</button>
                <button
                  class="btn"
                  ?disabled=${disabledDestructive}
                  title=${
                    active
                      ? 'Unavailable while a job runs for this device'
                      : device.build_size_breakdown && device.build_size_breakdown.cleanable > 0
                        ? `Delete the build files (frees ${formatBytes(device.build_size_breakdown.cleanable)})`
                        : 'Delete the build files'
                  }
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
            : nothing
        }
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
