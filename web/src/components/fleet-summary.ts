/**
 * The fleet at a glance, above the table: how much disk all build folders
 * take, how many devices have one, which device is the largest, and what
 * the unused build folders would give back (a link to their section), and
 * how much room is left on the data dir's disk. It is computed from the
 * store, so it moves with every `device_updated`, `orphans_updated` and
 * `disk_updated`.
 *
 * Under the cards, the free-space warning (issue 14) when the shared
 * `diskWarning()` says so (below the policy's threshold, or below twice the
 * largest build folder), with a way straight to the reclaim preview.
 */
import { html, LitElement, css, nothing } from 'lit';
import { formatBytes } from '../../../src/shared/format.js';
import { diskWarning } from '../../../src/shared/reclaim.js';
import type { AppContext } from '../state/context.js';
import { plural } from '../state/actions.js';
import { usedPercent, warningText } from '../state/reclaim-model.js';
import { orphanTotal } from '../state/storage-model.js';
import { StoreController } from '../state/store.js';
import { displayName, summarize, type FleetSummary } from '../state/table-model.js';
import { icon } from '../ui/icons.js';
import { baseStyles } from '../ui/styles.js';
import './fleet-history.js';

export class FleetSummaryElement extends LitElement {
  static override properties = { ctx: { attribute: false } };
  declare ctx: AppContext | undefined;

  private readonly storeController = new StoreController(this, () => this.ctx?.store);
  private memo: { revision: number; summary: FleetSummary } | null = null;

  static override styles = [
    baseStyles,
    css`
      :host {
        display: block;
      }
      .cards {
        display: grid;
        grid-template-columns: repeat(5, minmax(0, 1fr));
        gap: 12px;
      }
      .warning {
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        gap: 8px 12px;
        margin-top: 12px;
        padding: 10px 14px;
        border: 1px solid var(--warning);
        border-radius: var(--radius);
        background: var(--warning-soft);
        color: var(--text);
        font-size: 14px;
      }
      .warning > .icon {
        color: var(--warning);
      }
      .warning .text {
        flex: 1 1 260px;
        font-weight: 550;
      }
      .bar.low span {
        background: var(--warning);
      }
      .card {
        display: flex;
        gap: 14px;
        align-items: center;
        min-width: 0;
        padding: 14px 16px;
        border: 1px solid var(--border);
        border-radius: var(--radius);
        background: var(--surface);
        box-shadow: var(--shadow-1);
      }
      .badge {
        display: grid;
        place-items: center;
        flex: none;
        width: 40px;
        height: 40px;
        border-radius: 10px;
        background: var(--accent-soft);
        color: var(--accent);
      }
      /* The disk map's group colours (state/disk-map-model.ts): build folders, unused folders. */
      .badge.devices {
        background: color-mix(in srgb, var(--chart-1) 16%, transparent);
        color: var(--chart-1);
      }
      .badge.unused {
        background: color-mix(in srgb, var(--chart-2) 20%, transparent);
        color: var(--chart-2);
      }
      db-fleet-history {
        margin-top: 12px;
        padding: 12px 16px;
        border: 1px solid var(--border);
        border-radius: var(--radius);
        background: var(--surface);
        box-shadow: var(--shadow-1);
      }
      .text {
        min-width: 0;
        flex: 1;
      }
      .label {
        font-size: 12px;
        font-weight: 600;
        letter-spacing: 0.02em;
        text-transform: uppercase;
        color: var(--text-2);
      }
      .value {
        font-size: 22px;
        font-weight: 650;
        font-variant-numeric: tabular-nums;
        line-height: 1.25;
        white-space: nowrap;
        overflow: hidden;
        text-overflow: ellipsis;
      }
      .label .short {
        display: none;
      }
      .label {
        white-space: nowrap;
        overflow: hidden;
        text-overflow: ellipsis;
      }
      .value small {
        font-size: 14px;
        font-weight: 500;
        color: var(--text-2);
      }
      .sub {
        font-size: 13px;
        color: var(--text-2);
        white-space: nowrap;
        overflow: hidden;
        text-overflow: ellipsis;
      }
      .bar {
        height: 4px;
        margin-top: 6px;
        border-radius: 2px;
        background: var(--surface-2);
        overflow: hidden;
      }
      .bar span {
        display: block;
        height: 100%;
        background: var(--accent);
        border-radius: 2px;
        transition: width 0.3s;
      }
      .largest,
      .link {
        background: none;
        border: none;
        padding: 0;
        font: inherit;
        color: inherit;
        cursor: pointer;
        text-align: left;
        max-width: 100%;
      }
      .largest:hover .value,
      .link:hover .value {
        color: var(--accent);
      }
      .link .sub {
        color: var(--accent);
      }
      @media (max-width: 1280px) {
        .cards {
          grid-template-columns: repeat(3, minmax(0, 1fr));
        }
      }
      @media (max-width: 1000px) {
        .cards {
          grid-template-columns: 1fr 1fr;
        }
        /* Five cards in two columns: the disk card takes the last row whole. */
        .card.disk {
          grid-column: 1 / -1;
        }
      }
      @media (max-width: 520px) {
        .cards {
          gap: 8px;
        }
        .card {
          padding: 10px;
          gap: 10px;
        }
        .badge,
        .sub.optional,
        .sub .long,
        .label .long,
        .value small .long {
          display: none;
        }
        .label {
          font-size: 11px;
        }
        .label .short {
          display: inline;
        }
        .value {
          font-size: 16px;
        }
        .value small {
          font-size: 13px;
        }
      }
    `,
  ];

  override updated(changed: Map<string, unknown>): void {
    if (changed.has('ctx')) this.storeController.attach();
  }

  private get summary(): FleetSummary {
    const store = this.ctx?.store;
    if (!store) return { totalBytes: 0, compiled: 0, total: 0, largest: null };
    if (this.memo?.revision !== store.devicesRevision) {
      this.memo = { revision: store.devicesRevision, summary: summarize(store.devices.values()) };
    }
    return this.memo.summary;
  }

  private renderUnused() {
    const orphans = this.ctx?.store.orphans ?? [];
    const total = orphanTotal(orphans);
    return html`<div class="card" data-testid="summary-unused">
      <span class="badge unused">${icon('folder')}</span>
      <div class="text">
        <div class="label"><span class="long">Unused folders</span><span class="short">Unused</span></div>
        ${
          orphans.length > 0
            ? html`<button class="link" title="Show the unused build folders" @click=${() => this.ctx?.ui.showUnusedBuilds()}>
              <div class="value" data-bytes=${total}>${formatBytes(total)}</div>
              <div class="sub">reclaimable · ${plural(orphans.length, 'folder')}</div>
            </button>`
            : html`<div class="value">None</div>
              <div class="sub">every folder is in use</div>`
        }
      </div>
    </div>`;
  }

  private renderDisk() {
    const disk = this.ctx?.store.disk ?? null;
    const warned = this.warning !== null;
    return html`<div class="card disk" data-testid="summary-disk">
      <span class="badge">${icon('disk')}</span>
      <div class="text">
        <div class="label"><span class="long">Free on disk</span><span class="short">Disk free</span></div>
        ${
          disk
            ? html`<div class="value" data-bytes=${disk.free_bytes}>${formatBytes(disk.free_bytes)}</div>
              <div class="sub" title=${disk.path}>of ${formatBytes(disk.total_bytes)}<span class="long"> · ${usedPercent(disk)} % used</span></div>
              <div class="bar ${warned ? 'low' : ''}" role="presentation"><span style="width: ${usedPercent(disk)}%"></span></div>`
            : html`<div class="value">—</div>
              <div class="sub">not known</div>`
        }
      </div>
    </div>`;
  }

  /** The free-space warning for the store's disk, the saved policy and the largest build folder. */
  private get warning() {
    const store = this.ctx?.store;
    if (!store) return null;
    return diskWarning(store.disk, store.reclaim?.policy ?? null, this.summary.largest?.build_size_bytes ?? 0);
  }

  private renderWarning() {
    const text = warningText(this.warning, this.ctx?.store.reclaim?.policy.min_free ?? null);
    if (!text) return nothing;
    return html`<div class="warning" role="alert" data-testid="disk-warning">
      ${icon('warning')}
      <span class="text">${text}</span>
      <button class="btn" @click=${() => this.ctx?.ui.openReclaim('preview')}>Review what to clean</button>
    </div>`;
  }

  override render() {
    const { totalBytes, compiled, total, largest } = this.summary;
    const share = total > 0 ? Math.round((compiled / total) * 100) : 0;
    return html`
      <section class="cards" aria-label="Fleet summary">
        <div class="card" data-testid="summary-total">
          <span class="badge devices">${icon('archive')}</span>
          <div class="text">
            <div class="label" id="total-label"><span class="long">Build folders</span><span class="short">Total</span></div>
            <div class="value" aria-describedby="total-label">${formatBytes(totalBytes)}</div>
            <div class="sub optional">on disk across the fleet</div>
          </div>
        </div>
        <div class="card" data-testid="summary-compiled">
          <span class="badge">${icon('chip')}</span>
          <div class="text">
            <div class="label">Compiled</div>
            <div class="value">${compiled} <small>/ ${total}<span class="long"> devices</span></small></div>
            <div class="bar" role="presentation"><span style="width: ${share}%"></span></div>
          </div>
        </div>
        <div class="card" data-testid="summary-largest">
          <span class="badge">${icon('arrowUp')}</span>
          <div class="text">
            <div class="label">Largest</div>
            ${
              largest
                ? html`<button
                  class="largest"
                  title="Open ${displayName(largest)}"
                  @click=${() => this.ctx?.ui.openDevice(largest.configuration)}
                >
                  <div class="value">${formatBytes(largest.build_size_bytes)}</div>
                  <div class="sub">${displayName(largest)}</div>
                </button>`
                : html`<div class="value">—</div>
                  <div class="sub">no build folders yet</div>`
            }
          </div>
        </div>
        ${this.renderUnused()} ${this.renderDisk()}
      </section>
      ${this.renderWarning()}
      <db-fleet-history .ctx=${this.ctx}></db-fleet-history>
    `;
  }
}

customElements.define('db-fleet-summary', FleetSummaryElement);
declare global {
  interface HTMLElementTagNameMap {
    'db-fleet-summary': FleetSummaryElement;
  }
}
