/**
 * The devices table: search, column picker, sortable headers, selection,
 * per-row actions and the bulk bar.
 *
 * Columns come from {@link DEVICE_COLUMNS} (`device-columns.ts`), each
 * defined once: header label, cell, sort key, phone rendering, visibility.
 * Styles are in `devices-table.styles.ts`, with the row height.
 *
 * Large fleets: past {@link VIRTUALIZE_OVER} rows only the rows near the
 * viewport are in the DOM (plus spacer rows standing in for the rest), kept
 * by one controller ({@link VirtualRows}, `virtual-rows.ts`), so 1,000
 * devices sort and scroll like 50. The filtered, sorted list is memoised on
 * the store's revisions, so an unrelated re-render does not sort again.
 *
 * At narrow widths (≤ 720 px) rows become stacked cards and a "Sort by"
 * select replaces the headers.
 */
import { html, LitElement, nothing } from 'lit';
import { repeat } from 'lit/directives/repeat.js';
import type { Device } from '../../../src/shared/device.js';
import type { FirmwareJobSummary } from '../../../src/shared/jobs.js';
import { messageOf, plural } from '../state/actions.js';
import type { AppContext } from '../state/context.js';
import { StoreController } from '../state/store.js';
import {
  columnDef,
  displayName,
  filterDevices,
  latestJobs,
  nextSort,
  parseSort,
  parseVisibility,
  PREF_COLUMNS,
  PREF_SORT,
  sortDevices,
  type ColumnId,
  type ColumnVisibility,
  type SortState,
} from '../state/table-model.js';
import { icon } from '../ui/icons.js';
import { baseStyles } from '../ui/styles.js';
import './bulk-bar.js';
import './column-picker.js';
import { DEVICE_COLUMNS, mobileSummary, stopPropagation, type CellContext, type DeviceColumn } from './device-columns.js';
import { devicesTableStyles, ROW_HEIGHT } from './devices-table.styles.js';
import { VirtualRows } from './virtual-rows.js';

/** Up to this many rows render in full; a larger list is virtualised. */
export const VIRTUALIZE_OVER = 120;
/** Rows rendered beyond each edge of the viewport. */
const OVERSCAN = 12;

export class DevicesTableElement extends LitElement {
  static override properties = {
    ctx: { attribute: false },
    query: { state: true },
    selected: { state: true },
  };
  declare ctx: AppContext | undefined;
  declare query: string;
  declare selected: ReadonlySet<string>;

  private readonly storeController = new StoreController(this, () => this.ctx?.store);
  private memo: { key: string; rows: Device[] } | null = null;
  private jobsMemo: { revision: number; jobs: Map<string, FirmwareJobSummary> } | null = null;
  private readonly virtualRows = new VirtualRows(this, {
    threshold: VIRTUALIZE_OVER,
    overscan: OVERSCAN,
    estimate: ROW_HEIGHT,
    // A screenful: the rows above the fold can only be fewer (the header and summary come first).
    initial: Math.ceil((window.innerHeight || 800) / ROW_HEIGHT) + OVERSCAN,
    container: () => this.renderRoot.querySelector('tbody'),
    sampleRow: () => this.renderRoot.querySelector('tr.device'),
  });

  constructor() {
    super();
    this.query = '';
    this.selected = new Set();
  }

  static override styles = [baseStyles, devicesTableStyles];

  override updated(changed: Map<string, unknown>): void {
    if (changed.has('ctx')) this.storeController.attach();
  }

  // ---- derived data ------------------------------------------------------

  private get visibility(): ColumnVisibility {
    return parseVisibility(this.ctx?.store.preferences[PREF_COLUMNS]);
  }

  private get sort(): SortState {
    return parseSort(this.ctx?.store.preferences[PREF_SORT]);
  }

  private get jobs(): Map<string, FirmwareJobSummary> {
    const store = this.ctx?.store;
    if (!store) return new Map();
    if (this.jobsMemo?.revision !== store.jobsRevision) {
      this.jobsMemo = { revision: store.jobsRevision, jobs: latestJobs(store.jobs.values()) };
    }
    return this.jobsMemo.jobs;
  }

  /** The filtered, sorted rows; recomputed only when an input changed. */
  get rows(): Device[] {
    const store = this.ctx?.store;
    if (!store) return [];
    const sort = this.sort;
    const jobsPart = sort.column === 'status' ? store.jobsRevision : -1;
    const key = `${store.devicesRevision}|${jobsPart}|${sort.column}|${sort.direction}|${this.query}`;
    if (this.memo?.key !== key) {
      const jobs = this.jobs;
      const filtered = filterDevices([...store.devices.values()], this.query);
      this.memo = { key, rows: sortDevices(filtered, sort, (c) => jobs.get(c)) };
    }
    return this.memo.rows;
  }

  // ---- interaction -------------------------------------------------------

  private setSort(column: ColumnId): void {
    void this.ctx?.store.setPreference(PREF_SORT, nextSort(this.sort, column)).catch((err: unknown) => this.prefFailed(err));
  }

  private setSortExplicit(sort: SortState): void {
    void this.ctx?.store.setPreference(PREF_SORT, sort).catch((err: unknown) => this.prefFailed(err));
  }

  private onColumnToggle(event: CustomEvent<{ id: ColumnId; shown: boolean }>): void {
    const visibility = { ...this.visibility, [event.detail.id]: event.detail.shown };
    void this.ctx?.store.setPreference(PREF_COLUMNS, visibility).catch((err: unknown) => this.prefFailed(err));
  }

  private prefFailed(err: unknown): void {
    this.ctx?.toasts.show({ kind: 'error', message: `Could not save the table settings: ${messageOf(err)}` });
  }

  private toggleSelected(configuration: string, on: boolean): void {
    const next = new Set(this.selected);
    if (on) next.add(configuration);
    else next.delete(configuration);
    this.selected = next;
  }

  private toggleAll(rows: Device[], on: boolean): void {
    const next = new Set(this.selected);
    for (const device of rows) {
      if (on) next.add(device.configuration);
      else next.delete(device.configuration);
    }
    this.selected = next;
  }

  private open(device: Device): void {
    this.ctx?.ui.openDevice(device.configuration);
  }

  private onRowKeydown(event: KeyboardEvent, device: Device): void {
    if (event.target !== event.currentTarget) return;
    const row = event.currentTarget as HTMLElement;
    if (event.key === 'Enter') {
      event.preventDefault();
      this.open(device);
    } else if (event.key === ' ') {
      event.preventDefault();
      this.toggleSelected(device.configuration, !this.selected.has(device.configuration));
    } else if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      const sibling = event.key === 'ArrowDown' ? row.nextElementSibling : row.previousElementSibling;
      if (sibling instanceof HTMLElement && sibling.classList.contains('device')) {
        sibling.focus();
        sibling.scrollIntoView({ block: 'nearest' });
      }
    }
  }

  private startJob(event: Event, type: 'compile' | 'install', device: Device): void {
    event.stopPropagation();
    void this.ctx?.actions.startJob(type, device.configuration);
  }

  /** Drops selected devices that are gone (archived, deleted elsewhere). */
  private pruneSelection(): void {
    const store = this.ctx?.store;
    if (!store || this.selected.size === 0) return;
    let changed = false;
    const next = new Set<string>();
    for (const configuration of this.selected) {
      if (store.devices.has(configuration)) next.add(configuration);
      else changed = true;
    }
    if (changed) this.selected = next;
  }

  override willUpdate(): void {
    this.pruneSelection();
  }

  // ---- rendering ---------------------------------------------------------

  private readonly openLog = (jobId: string): void => this.ctx?.ui.openLog(jobId);

  private renderRow(device: Device, index: number, columns: readonly DeviceColumn[]) {
    const context: CellContext = { job: this.jobs.get(device.configuration), openLog: this.openLog };
    const selected = this.selected.has(device.configuration);
    const name = displayName(device);
    return html`
      <tr
        class="device ${selected ? 'selected' : ''}"
        tabindex="0"
        aria-rowindex=${index + 2}
        aria-selected=${selected ? 'true' : 'false'}
        data-configuration=${device.configuration}
        @click=${() => this.open(device)}
        @keydown=${(e: KeyboardEvent) => this.onRowKeydown(e, device)}
      >
        <td class="select" @click=${stopPropagation}>
          <label>
            <input
              type="checkbox"
              aria-label=${`Select ${name}`}
              .checked=${selected}
              @change=${(e: Event) => this.toggleSelected(device.configuration, (e.target as HTMLInputElement).checked)}
              @keydown=${stopPropagation}
            />
          </label>
        </td>
        ${columns.map((c) => c.cell(device, context))}
        ${mobileSummary(device, columns)}
        <td class="actions">
          <span class="row-actions">
            <button
              class="icon-btn"
              title="Compile"
              aria-label=${`Compile ${name}`}
              @click=${(e: Event) => this.startJob(e, 'compile', device)}
              @keydown=${stopPropagation}
            >
              ${icon('compile')}
            </button>
            <button
              class="icon-btn secondary"
              title="Install"
              aria-label=${`Install ${name}`}
              @click=${(e: Event) => this.startJob(e, 'install', device)}
              @keydown=${stopPropagation}
            >
              ${icon('install')}
            </button>
            <button
              class="icon-btn"
              title="Details"
              aria-label=${`Details of ${name}`}
              @click=${(e: Event) => {
                e.stopPropagation();
                this.open(device);
              }}
              @keydown=${stopPropagation}
            >
              ${icon('chevron')}
            </button>
          </span>
        </td>
      </tr>
    `;
  }

  private renderEmpty(total: number) {
    if (!this.ctx?.store.loaded) {
      return html`<div aria-label="Loading devices" role="status">
        ${[0, 1, 2, 3].map(() => html`<div class="loading-row"></div>`)}
      </div>`;
    }
    if (total === 0) {
      return html`<div class="empty">
        <strong>No devices yet</strong>
        Add ESPHome YAML files to <span class="mono">${this.ctx.store.status.serverInfo?.config_dir ?? 'the config folder'}</span>;
        they appear here by themselves.
      </div>`;
    }
    return html`<div class="empty">
      <strong>No devices match “${this.query}”</strong>
      Search looks at names, files, addresses and platforms.
      <div><button class="btn" @click=${() => (this.query = '')}>Clear search</button></div>
    </div>`;
  }

  override render() {
    const store = this.ctx?.store;
    const total = store?.devices.size ?? 0;
    const rows = this.rows;
    const sort = this.sort;
    const visibility = this.visibility;
    const columns = DEVICE_COLUMNS.filter((c) => visibility[c.id]);
    const { start, end, before, after } = this.virtualRows.window(rows.length);
    const slice = rows.slice(start, end);
    const selectedShown = rows.filter((d) => this.selected.has(d.configuration)).length;
    const allShown = rows.length > 0 && selectedShown === rows.length;
    const someShown = selectedShown > 0 && !allShown;
    const colSpan = columns.length + 2;

    return html`
      <div class="toolbar">
        <div class="search">
          ${icon('search')}
          <input
            type="search"
            aria-label="Search devices"
            placeholder="Search name, file, address, platform"
            .value=${this.query}
            @input=${(e: Event) => (this.query = (e.target as HTMLInputElement).value)}
            @keydown=${(e: KeyboardEvent) => {
              if (e.key === 'Escape' && this.query) {
                e.stopPropagation();
                this.query = '';
              }
            }}
          />
        </div>
        <span class="count" aria-live="polite"
          >${rows.length === total ? plural(total, 'device') : `${rows.length} of ${plural(total, 'device')}`}</span
        >
        <span class="spacer-flex"></span>
        <span class="mobile-sort">
          <select
            aria-label="Sort by"
            @change=${(e: Event) => {
              const column = (e.target as HTMLSelectElement).value as ColumnId;
              this.setSortExplicit({ column, direction: columnDef(column).firstDirection });
            }}
          >
            ${DEVICE_COLUMNS.map((c) => html`<option value=${c.id} ?selected=${c.id === sort.column}>${c.label}</option>`)}
          </select>
          <button
            class="icon-btn"
            aria-label=${`Sort direction: ${sort.direction}`}
            title=${sort.direction === 'ascending' ? 'Ascending' : 'Descending'}
            @click=${() => this.setSort(sort.column)}
          >
            ${icon(sort.direction === 'ascending' ? 'arrowUp' : 'arrowDown')}
          </button>
        </span>
        <db-column-picker .visibility=${visibility} @column-toggle=${this.onColumnToggle}></db-column-picker>
      </div>

      <div class="card">
        <table aria-label="Devices" aria-rowcount=${rows.length + 1}>
          <thead>
            <tr aria-rowindex="1">
              <th class="select" scope="col">
                <input
                  type="checkbox"
                  aria-label="Select all shown devices"
                  .checked=${allShown}
                  .indeterminate=${someShown}
                  ?disabled=${rows.length === 0}
                  @change=${(e: Event) => this.toggleAll(rows, (e.target as HTMLInputElement).checked)}
                />
                <span class="sr-only select-all-text" aria-hidden="true">Select all</span>
              </th>
              ${columns.map(
                (c) => html`
                  <th
                    scope="col"
                    class="${c.id} ${c.numeric ? 'num' : ''}"
                    aria-sort=${sort.column === c.id ? sort.direction : 'none'}
                  >
                    <button class="sort" @click=${() => this.setSort(c.id)}>${c.label}${icon('arrowUp')}</button>
                  </th>
                `,
              )}
              <th class="actions" scope="col"><span class="sr-only">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            ${
              before > 0
                ? html`<tr class="spacer" aria-hidden="true" style="height: ${before}px">
                  <td colspan=${colSpan}></td>
                </tr>`
                : nothing
            }
            ${repeat(
              slice,
              (d) => d.configuration,
              (d, i) => this.renderRow(d, start + i, columns),
            )}
            ${
              after > 0
                ? html`<tr class="spacer" aria-hidden="true" style="height: ${after}px">
                  <td colspan=${colSpan}></td>
                </tr>`
                : nothing
            }
          </tbody>
        </table>
        ${rows.length === 0 ? this.renderEmpty(total) : nothing}
      </div>
      <db-bulk-bar
        .ctx=${this.ctx}
        .selected=${[...this.selected]}
        @clear-selection=${() => (this.selected = new Set())}
        @bulk-done=${(e: CustomEvent<{ remove: string[] }>) => {
          const next = new Set(this.selected);
          for (const c of e.detail.remove) next.delete(c);
          this.selected = next;
        }}
      ></db-bulk-bar>
    `;
  }
}

customElements.define('db-devices-table', DevicesTableElement);
declare global {
  interface HTMLElementTagNameMap {
    'db-devices-table': DevicesTableElement;
  }
}
