/**
 * `<db-fleet-history>`: the fleet total over time, for the summary: the
 * history of everything we size (`devices/size_history {}`, oldest first)
 * as a `<db-size-chart>`, with what reclaiming freed as marked points and
 * in words.
 *
 * The server keeps the history; the page asks for it when it connects and
 * again when the fleet's total changes (a compile, a clean, a reclaim: the
 * points the server appends follow those), at most once every few seconds
 * so a sweep's burst of `device_updated` costs one request.
 */
import { css, html, LitElement, nothing } from 'lit';
import { formatBytes } from '../../../src/shared/format.js';
import type { SizePoint } from '../../../src/shared/size-history.js';
import { messageOf } from '../state/actions.js';
import type { AppContext } from '../state/context.js';
import { orphanTotal } from '../state/storage-model.js';
import { StoreController } from '../state/store.js';
import './size-chart.js';
import { baseStyles } from '../ui/styles.js';

/** Quiet time after a change of the total before the history is asked for again. */
export const FLEET_HISTORY_DEBOUNCE_MS = 2_000;

export class FleetHistoryElement extends LitElement {
  static override properties = {
    ctx: { attribute: false },
    points: { state: true },
    error: { state: true },
  };
  declare ctx: AppContext | undefined;
  /** null until the first answer. */
  declare points: SizePoint[] | null;
  declare error: string | null;

  private readonly storeController = new StoreController(this, () => this.ctx?.store);
  /** The fleet total the last request was made for. */
  private askedFor: number | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private requestSeq = 0;

  constructor() {
    super();
    this.points = null;
    this.error = null;
  }

  static override styles = [
    baseStyles,
    css`
      :host {
        display: block;
        min-width: 0;
      }
      .head {
        display: flex;
        align-items: baseline;
        justify-content: space-between;
        gap: 8px;
        margin-bottom: 4px;
      }
      h3 {
        margin: 0;
        font-size: 12px;
        font-weight: 600;
        letter-spacing: 0.02em;
        text-transform: uppercase;
        color: var(--text-2);
      }
      .freed {
        font-size: 12.5px;
        color: var(--text-2);
        white-space: nowrap;
      }
      .freed strong {
        color: var(--success);
        font-weight: 650;
        font-variant-numeric: tabular-nums;
      }
      .error {
        margin: 0;
        font-size: 13px;
        color: var(--text-2);
      }
    `,
  ];

  override updated(changed: Map<string, unknown>): void {
    if (changed.has('ctx')) this.storeController.attach();
    this.maybeRefresh();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** What the server's fleet total would be now, from what the store knows (only its changes matter). */
  private currentTotal(): number | null {
    const store = this.ctx?.store;
    if (!store?.loaded) return null;
    let total = orphanTotal(store.orphans) + Math.max(0, store.platformio?.bytes ?? 0);
    for (const device of store.devices.values()) total += Math.max(0, device.build_size_bytes);
    return total;
  }

  private maybeRefresh(): void {
    const total = this.currentTotal();
    if (total === null || total === this.askedFor) return;
    const first = this.askedFor === null;
    this.askedFor = total;
    if (this.timer) clearTimeout(this.timer);
    if (first) {
      void this.load();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.load();
    }, FLEET_HISTORY_DEBOUNCE_MS);
  }

  /** Asks for the fleet total's history now (also public for the summary's own refresh). */
  async load(): Promise<void> {
    const client = this.ctx?.client;
    if (!client) return;
    const seq = ++this.requestSeq;
    try {
      const points = await client.request('devices/size_history', {});
      if (seq !== this.requestSeq) return;
      this.points = points;
      this.error = null;
    } catch (err) {
      if (seq !== this.requestSeq) return;
      this.error = messageOf(err);
    }
  }

  override render() {
    const points = this.points ?? [];
    const freed = points.reduce((sum, p) => sum + Math.max(0, p.reclaimed_bytes ?? 0), 0);
    return html`<div class="head">
        <h3 id="fleet-history-title">Disk over time</h3>
        ${
          freed > 0
            ? html`<span class="freed" data-testid="fleet-freed" data-bytes=${freed}>reclaiming freed <strong>${formatBytes(freed)}</strong></span>`
            : nothing
        }
      </div>
      ${
        this.error && this.points === null
          ? html`<p class="error" role="status">History unavailable: ${this.error}</p>`
          : this.points === null
            ? html`<p class="error">Loading history…</p>`
            : html`<db-size-chart .points=${points} label="Fleet total on disk"></db-size-chart>`
      }`;
  }
}

customElements.define('db-fleet-history', FleetHistoryElement);
declare global {
  interface HTMLElementTagNameMap {
    'db-fleet-history': FleetHistoryElement;
  }
}
