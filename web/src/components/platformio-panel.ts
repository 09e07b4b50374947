/**
 * "PlatformIO cache": the shared PlatformIO folder (toolchains, platforms,
 * downloads) that no device's Build Size includes: its path, total and
 * three parts as a bar and a list, progress while a part is walked (from
 * `platformio_progress`), and a Refresh that asks the server to check again.
 *
 * Below it, the fleet-wide "Reset build environment" (`esphome clean-all`):
 * what it would free (every device's build folder, the unused ones and
 * PlatformIO's `.cache`), and the button, which asks first and then follows
 * the job's log like any other job.
 */
import { css, html, LitElement, nothing } from 'lit';
import { formatBytes } from '../../../src/shared/format.js';
import { plural } from '../state/actions.js';
import type { AppContext } from '../state/context.js';
import { platformioParts, resetFrees, segmentWidth, shortenPath, type ResetFrees } from '../state/storage-model.js';
import { StoreController } from '../state/store.js';
import { icon } from '../ui/icons.js';
import { baseStyles, chartStyles, panelStyles } from '../ui/styles.js';

const PART_COLOUR = { packages: 'c1', platforms: 'c2', '.cache': 'c3' } as const;
const count = new Intl.NumberFormat('en');

export class PlatformioPanelElement extends LitElement {
  static override properties = {
    ctx: { attribute: false },
    refreshing: { state: true },
    starting: { state: true },
  };
  declare ctx: AppContext | undefined;
  declare refreshing: boolean;
  declare starting: boolean;

  private readonly storeController = new StoreController(this, () => this.ctx?.store);

  constructor() {
    super();
    this.refreshing = false;
    this.starting = false;
  }

  static override styles = [
    baseStyles,
    panelStyles,
    chartStyles,
    css`
      :host {
        display: block;
        min-width: 0;
      }
      .body {
        padding: 16px 20px 6px;
      }
      .parts {
        list-style: none;
        margin: 10px 0 0;
        padding: 0;
      }
      .parts li {
        display: flex;
        align-items: center;
        gap: 10px;
        min-height: 40px;
        padding: 6px 0;
        border-bottom: 1px solid var(--border);
      }
      .parts li:last-child {
        border-bottom: none;
      }
      .parts .name {
        display: flex;
        align-items: baseline;
        gap: 4px 10px;
        flex: 1;
        min-width: 0;
      }
      .parts .label {
        font-family: var(--mono);
        font-size: 13px;
        font-weight: 650;
        white-space: nowrap;
      }
      .parts .desc {
        font-size: 13px;
        color: var(--text-2);
        overflow: hidden;
        text-overflow: ellipsis;
        white-space: nowrap;
      }
      .parts .desc.walking {
        color: var(--accent);
      }
      .parts .size {
        font-weight: 550;
        font-variant-numeric: tabular-nums;
        text-align: right;
        white-space: nowrap;
      }
      .parts .size.walking {
        display: inline-flex;
        align-items: center;
        gap: 4px;
        color: var(--text-2);
        font-weight: 400;
      }
      .parts .size .icon {
        width: 16px;
        height: 16px;
        color: var(--accent);
      }
      .empty-note {
        margin: 6px 0 8px;
        font-size: 13px;
        color: var(--text-2);
      }
      .reset {
        margin-top: auto;
        padding: 16px 20px 18px;
        border-top: 1px solid var(--border);
        border-radius: 0 0 var(--radius) var(--radius);
        background: var(--danger-wash);
      }
      .reset h3 {
        display: flex;
        align-items: center;
        gap: 8px;
        margin: 0 0 4px;
        font-size: 14.5px;
        font-weight: 650;
      }
      .reset h3 .icon {
        width: 18px;
        height: 18px;
        color: var(--danger);
      }
      .reset p {
        margin: 0;
        font-size: 13px;
        color: var(--text-2);
      }
      .reset-foot {
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        justify-content: space-between;
        gap: 12px 20px;
        margin-top: 12px;
      }
      .frees {
        display: flex;
        flex-direction: column;
        flex: 1 1 220px;
        min-width: 0;
      }
      .reset-foot .btn {
        flex: none;
      }
      .frees .figure {
        font-size: 13px;
        color: var(--text-2);
        white-space: nowrap;
      }
      .frees .figure strong {
        font-size: 18px;
        font-weight: 650;
        color: var(--text);
        font-variant-numeric: tabular-nums;
      }
      .frees .split {
        font-size: 12.5px;
        color: var(--text-2);
        font-variant-numeric: tabular-nums;
      }
      .frees .split span {
        white-space: nowrap;
      }
      @media (max-width: 520px) {
        .body {
          padding: 14px 14px 4px;
        }
        .parts .name {
          flex-direction: column;
          gap: 0;
        }
        .parts .desc {
          font-size: 12.5px;
        }
        .reset {
          padding: 14px;
        }
        .reset-foot .btn {
          flex: 1 1 100%;
        }
      }
    `,
  ];

  override updated(changed: Map<string, unknown>): void {
    if (changed.has('ctx')) this.storeController.attach();
  }

  /** What a reset frees now, from the store. */
  get frees(): ResetFrees {
    const store = this.ctx?.store;
    return resetFrees(store?.devices.values() ?? [], store?.orphans ?? [], store?.platformio ?? null);
  }

  private async refresh(): Promise<void> {
    if (!this.ctx || this.refreshing) return;
    this.refreshing = true;
    try {
      await this.ctx.actions.refreshPlatformio();
    } finally {
      this.refreshing = false;
    }
  }

  private async reset(): Promise<void> {
    const ctx = this.ctx;
    if (!ctx || this.starting) return;
    const frees = this.frees;
    const ok = await ctx.ui.confirm({
      title: 'Reset the build environment?',
      message:
        "Runs esphome clean-all: deletes every device's build folder, every unused build folder and PlatformIO's download cache. " +
        `Each device is rebuilt from scratch on its next compile, which takes longer. ${frees.total > 0 ? `Frees about ${formatBytes(frees.total)}.` : ''}`,
      items: [
        `Build folders of ${plural(frees.compiled, 'device')}: ${formatBytes(frees.devices)}`,
        `${plural(frees.orphanCount, 'unused build folder')}: ${formatBytes(frees.orphans)}`,
        `PlatformIO .cache: ${formatBytes(frees.cache)}`,
      ],
      confirmLabel: 'Reset build environment',
      danger: true,
    });
    if (!ok) return;
    this.starting = true;
    try {
      await ctx.actions.resetBuildEnv();
    } finally {
      this.starting = false;
    }
  }

  private renderParts() {
    const summary = this.ctx?.store.platformio;
    if (!summary) return html`<p class="empty-note">Waiting for the server…</p>`;
    const parts = platformioParts(summary);
    const label = parts.map((p) => `${p.label} ${formatBytes(p.bytes)}`).join(', ');
    const nothingYet = summary.bytes === 0 && !summary.walking;
    return html`
      <div class="stack-bar" role="img" aria-label=${`PlatformIO folder: ${label}`}>
        ${parts.map((p) => (p.share > 0 ? html`<span class=${PART_COLOUR[p.part]} style="flex: 0 1 ${segmentWidth(p.share)}"></span>` : nothing))}
      </div>
      <ul class="parts" aria-label="PlatformIO folder parts">
        ${parts.map(
          (p) => html`<li data-part=${p.part}>
            <span class="swatch ${PART_COLOUR[p.part]}"></span>
            <span class="name">
              <span class="label">${p.label}</span>
              ${
                p.walking
                  ? html`<span class="desc walking" role="status">Measuring… ${count.format(p.walking.files)} files so far</span>`
                  : html`<span class="desc">${p.description}</span>`
              }
            </span>
            ${
              p.walking
                ? html`<span class="size walking" data-bytes=${p.walking.bytes}>${icon('running')}${formatBytes(p.walking.bytes)}</span>`
                : html`<span class="size" data-bytes=${p.bytes}>${p.bytes > 0 ? formatBytes(p.bytes) : '—'}</span>`
            }
          </li>`,
        )}
      </ul>
      ${nothingYet ? html`<p class="empty-note">Nothing here yet: PlatformIO fills this folder on the first compile.</p>` : nothing}
    `;
  }

  private renderReset() {
    const frees = this.frees;
    const active = this.ctx?.actions.activeReset;
    return html`<div class="reset" data-testid="reset-build-env">
      <h3>${icon('warning')} Reset build environment</h3>
      <p>
        Deletes every build folder, the devices' and the unused ones, and PlatformIO's download cache
        (<span class="mono">esphome clean-all</span>). Devices rebuild from scratch on their next compile.
      </p>
      <div class="reset-foot">
        <div class="frees">
          <span class="figure"
            >${
              frees.total > 0
                ? html`Frees <strong data-testid="reset-frees" data-bytes=${frees.total}>${formatBytes(frees.total)}</strong>`
                : 'Nothing to free right now'
            }</span
          >
          ${
            frees.total > 0
              ? html`<span class="split"
                ><span>${formatBytes(frees.devices)} device builds</span> · <span>${formatBytes(frees.orphans)} unused</span> ·
                <span>${formatBytes(frees.cache)} .cache</span></span
              >`
              : nothing
          }
        </div>
        ${
          active
            ? html`<button class="btn" @click=${() => this.ctx?.ui.openLog(active.job_id)}>
              ${icon('running')} ${active.status === 'queued' ? 'Reset queued' : 'Resetting…'} · Show log
            </button>`
            : html`<button class="btn danger" ?disabled=${this.starting} @click=${() => void this.reset()}>
              ${icon(this.starting ? 'running' : 'reset')} Reset build environment
            </button>`
        }
      </div>
    </div>`;
  }

  override render() {
    const summary = this.ctx?.store.platformio ?? null;
    const walking = summary?.walking ?? null;
    const busy = this.refreshing || walking !== null;
    return html`<section class="panel" aria-labelledby="pio-title" data-testid="platformio">
      <div class="panel-head">
        <span class="panel-badge">${icon('package')}</span>
        <div class="panel-title">
          <h2 id="pio-title">PlatformIO cache</h2>
          ${
            summary
              ? html`<span class="path" title=${summary.path} data-testid="platformio-path"
                ><span class="wide">${shortenPath(summary.path, 48)}</span><span class="narrow">${shortenPath(summary.path, 32)}</span></span
              >`
              : nothing
          }
        </div>
        <div class="panel-figure">
          <div class="value" data-testid="platformio-total" data-bytes=${summary?.bytes ?? 0}>
            ${summary && summary.bytes > 0 ? formatBytes(summary.bytes) : '—'}
          </div>
          <div class="caption">shared by all devices</div>
        </div>
        <div class="panel-tools">
          <button
            class="icon-btn"
            aria-label=${busy ? 'Measuring the PlatformIO folder' : 'Measure the PlatformIO folder again'}
            title=${busy ? 'Measuring…' : 'Refresh'}
            ?disabled=${busy}
            @click=${() => void this.refresh()}
          >
            ${icon(busy ? 'running' : 'refresh')}
          </button>
        </div>
      </div>
      <div class="body">${this.renderParts()}</div>
      ${this.renderReset()}
    </section>`;
  }
}

customElements.define('db-platformio-panel', PlatformioPanelElement);
declare global {
  interface HTMLElementTagNameMap {
    'db-platformio-panel': PlatformioPanelElement;
  }
}
