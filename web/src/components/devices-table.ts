/**
 * The devices table: search, column picker, sortable headers, selection,
 * per-row actions and the bulk bar.
 *
 * Large fleets: past {@link VIRTUALIZE_OVER} rows only the rows near the
 * viewport are in the DOM (plus spacer rows standing in for the rest), so
 * 1,000 devices sort and scroll like 50. Rows have one fixed height per
 * layout, measured after render, which is what makes the arithmetic exact.
 * The filtered, sorted list is memoised on the store's revisions, so an
 * unrelated re-render does not sort again.
 *
 * At narrow widths (≤ 720 px) rows become stacked cards and a "Sort by"
 * select replaces the headers.
 */
import { css, html, LitElement, nothing } from 'lit';
import { repeat } from 'lit/directives/repeat.js';
import type { Device } from '../../../src/shared/device.js';
import { isFinished, type FirmwareJobSummary } from '../../../src/shared/jobs.js';
import { JOB_LABELS, messageOf, plural } from '../state/actions.js';
import type { AppContext } from '../state/context.js';
import { StoreController } from '../state/store.js';
import {
  COLUMNS,
  displayName,
  filterDevices,
  latestJobs,
  nextSort,
  parseSort,
  parseVisibility,
  platformLabel,
  PREF_COLUMNS,
  PREF_SORT,
  sizeLabel,
  sortDevices,
  type ColumnDef,
  type ColumnId,
  type ColumnVisibility,
  type SortState,
} from '../state/table-model.js';
import { icon } from '../ui/icons.js';
import { baseStyles } from '../ui/styles.js';
import './bulk-bar.js';
import './column-picker.js';

export const VIRTUALIZE_OVER = 120;
const OVERSCAN = 12;

const STATUS_ICON = {
  queued: 'queued',
  running: 'running',
  completed: 'success',
  failed: 'failed',
  cancelled: 'cancelled',
} as const;

const STATUS_WORD = {
  queued: 'queued',
  running: 'running',
  completed: 'done',
  failed: 'failed',
  cancelled: 'stopped',
} as const;

export class DevicesTableElement extends LitElement {
  static override properties = {
    ctx: { attribute: false },
    query: { state: true },
    selected: { state: true },
    range: { state: true },
  };
  declare ctx: AppContext | undefined;
  declare query: string;
  declare selected: ReadonlySet<string>;
  declare range: { start: number; end: number };

  private readonly storeController = new StoreController(this, () => this.ctx?.store);
  private memo: { key: string; rows: Device[] } | null = null;
  private jobsMemo: { revision: number; jobs: Map<string, FirmwareJobSummary> } | null = null;
  private rowHeight = 57;
  private framePending = false;

  constructor() {
    super();
    this.query = '';
    this.selected = new Set();
    this.range = { start: 0, end: VIRTUALIZE_OVER };
  }

  static override styles = [
    baseStyles,
    css`
      :host {
        display: block;
      }
      .toolbar {
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        gap: 10px;
        margin-bottom: 12px;
      }
      .search {
        position: relative;
        flex: 1 1 260px;
        max-width: 460px;
      }
      .search .icon {
        position: absolute;
        left: 11px;
        top: 50%;
        transform: translateY(-50%);
        color: var(--text-3);
        pointer-events: none;
      }
      .search input {
        width: 100%;
        padding-left: 38px;
      }
      .count {
        color: var(--text-2);
        font-size: 13px;
        white-space: nowrap;
      }
      .spacer-flex {
        flex: 1;
      }
      .mobile-sort {
        display: none;
        align-items: center;
        gap: 4px;
      }

      .card {
        border: 1px solid var(--border);
        border-radius: var(--radius);
        background: var(--surface);
        box-shadow: var(--shadow-1);
      }
      table {
        width: 100%;
        border-collapse: separate;
        border-spacing: 0;
        table-layout: auto;
      }
      thead th {
        position: sticky;
        top: var(--sticky-top, 0px);
        z-index: 5;
        height: 44px;
        padding: 0 12px;
        background: var(--surface-2);
        border-bottom: 1px solid var(--border);
        font-size: 12px;
        font-weight: 650;
        letter-spacing: 0.02em;
        text-transform: uppercase;
        color: var(--text-2);
        text-align: left;
        white-space: nowrap;
      }
      thead th:first-child {
        border-top-left-radius: var(--radius);
      }
      thead th:last-child {
        border-top-right-radius: var(--radius);
      }
      th.num {
        text-align: right;
      }
      .sort {
        display: inline-flex;
        align-items: center;
        gap: 4px;
        margin: 0 -6px;
        padding: 4px 6px;
        border: none;
        border-radius: 6px;
        background: none;
        color: inherit;
        font: inherit;
        letter-spacing: inherit;
        text-transform: inherit;
        cursor: pointer;
      }
      .sort:hover {
        color: var(--text);
        background: var(--surface-hover);
      }
      .sort .icon {
        width: 14px;
        height: 14px;
        opacity: 0;
      }
      th[aria-sort='ascending'] .sort,
      th[aria-sort='descending'] .sort {
        color: var(--accent);
      }
      th[aria-sort='ascending'] .sort .icon,
      th[aria-sort='descending'] .sort .icon {
        opacity: 1;
      }
      th[aria-sort='descending'] .sort .icon {
        transform: rotate(180deg);
      }
      .sort:hover .icon {
        opacity: 0.5;
      }

      tbody tr.device {
        height: 57px;
        cursor: pointer;
        transition: background-color 0.1s;
      }
      tbody tr.device:hover {
        background: var(--surface-hover);
      }
      tbody tr.device.selected {
        background: var(--surface-selected);
      }
      tbody tr.device:focus-visible {
        outline: 2px solid var(--accent);
        outline-offset: -2px;
      }
      tbody td {
        padding: 0 12px;
        border-bottom: 1px solid var(--border);
        white-space: nowrap;
        max-width: 320px;
        overflow: hidden;
        text-overflow: ellipsis;
        vertical-align: middle;
      }
      tbody tr:last-child td {
        border-bottom: none;
      }
      td.select,
      th.select {
        width: 44px;
        padding-right: 0;
      }
      td.select label {
        display: grid;
        place-items: center;
        width: 32px;
        height: 32px;
        margin-left: -8px;
        cursor: pointer;
      }
      th.select input {
        margin-left: 0;
      }
      td.status,
      th.status {
        width: 64px;
      }
      .status-btn {
        display: inline-grid;
        place-items: center;
        width: 30px;
        height: 30px;
        padding: 0;
        border: none;
        border-radius: 50%;
        background: none;
        cursor: pointer;
      }
      .status-btn:hover {
        background: var(--surface-2);
      }
      .status-none {
        display: inline-block;
        width: 6px;
        height: 6px;
        margin-left: 12px;
        border-radius: 50%;
        background: var(--border-strong);
      }
      .name-stack {
        display: flex;
        flex-direction: column;
        min-width: 0;
        line-height: 1.3;
      }
      .name-stack .friendly {
        font-weight: 600;
        overflow: hidden;
        text-overflow: ellipsis;
      }
      .name-stack .device-name {
        font-family: var(--mono);
        font-size: 12px;
        color: var(--text-2);
        overflow: hidden;
        text-overflow: ellipsis;
      }
      .name-stack .warn {
        color: var(--warning);
        display: inline-flex;
        vertical-align: -3px;
        margin-left: 4px;
      }
      .name-stack .warn .icon {
        width: 16px;
        height: 16px;
      }
      td.configuration {
        font-family: var(--mono);
        font-size: 12.5px;
        color: var(--text-2);
      }
      td.address {
        font-variant-numeric: tabular-nums;
        color: var(--text-2);
      }
      td.build_size {
        text-align: right;
        font-variant-numeric: tabular-nums;
        font-weight: 550;
      }
      td.build_size.none {
        color: var(--text-3);
        font-weight: 400;
      }
      td.mobile-meta {
        display: none;
      }
      td.actions {
        width: 1%;
        text-align: right;
        padding-right: 8px;
      }
      .row-actions {
        display: inline-flex;
        gap: 2px;
      }
      .placeholder {
        color: var(--text-3);
      }
      tr.spacer td {
        padding: 0;
        border: none;
      }
      .empty {
        padding: 48px 16px;
        text-align: center;
        color: var(--text-2);
      }
      .empty strong {
        display: block;
        margin-bottom: 4px;
        color: var(--text);
        font-size: 15px;
      }
      .empty .btn {
        margin-top: 12px;
      }
      .loading-row {
        height: 57px;
        border-bottom: 1px solid var(--border);
        background: linear-gradient(90deg, transparent, var(--surface-2), transparent);
        background-size: 200% 100%;
        animation: shimmer 1.2s infinite linear;
      }
      @keyframes shimmer {
        from {
          background-position: 200% 0;
        }
        to {
          background-position: -200% 0;
        }
      }

      /* Stacked cards on phones. */
      @media (max-width: 720px) {
        .search {
          flex-basis: 100%;
          max-width: none;
        }
        .mobile-sort {
          display: inline-flex;
        }
        .mobile-sort select {
          max-width: 150px;
        }
        table,
        tbody {
          display: block;
        }
        thead tr {
          display: flex;
          align-items: center;
          height: 44px;
          background: var(--surface-2);
          border-bottom: 1px solid var(--border);
          border-radius: var(--radius) var(--radius) 0 0;
        }
        thead th {
          display: none;
          position: static;
          background: none;
          border: none;
        }
        thead th.select {
          display: flex;
          align-items: center;
          gap: 10px;
          width: auto;
        }
        thead th.select .select-all-text {
          position: static;
          width: auto;
          height: auto;
          margin: 0;
          clip: auto;
          overflow: visible;
        }
        tbody tr.device {
          display: flex;
          flex-wrap: wrap;
          align-items: center;
          height: 78px;
          padding: 8px 6px 8px 12px;
          border-bottom: 1px solid var(--border);
          overflow: hidden;
        }
        tbody tr.device:last-child {
          border-bottom: none;
        }
        tbody td {
          display: block;
          padding: 0;
          border: none;
          max-width: none;
        }
        td.select {
          order: 0;
          width: 36px;
          padding: 0;
        }
        td.select label {
          margin-left: -6px;
        }
        td.name {
          order: 1;
          flex: 1 1 0;
          min-width: 0;
        }
        td.actions {
          order: 2;
          width: auto;
          padding: 0;
        }
        td.status {
          display: none;
        }
        td.configuration,
        td.platform,
        td.address,
        td.build_size {
          display: none;
        }
        td.mobile-meta {
          display: block;
          order: 3;
          flex-basis: 100%;
          padding-left: 36px;
          font-size: 12.5px;
          color: var(--text-2);
          white-space: nowrap;
          overflow: hidden;
          text-overflow: ellipsis;
        }
        td.mobile-meta .sep {
          margin: 0 6px;
          color: var(--text-3);
        }
        td.mobile-meta .size {
          color: var(--text);
          font-weight: 600;
          font-variant-numeric: tabular-nums;
        }
        thead {
          display: block;
        }
        .row-actions .secondary {
          display: none;
        }
        .status-inline {
          display: inline-flex;
        }
        tr.spacer {
          display: block;
        }
        tr.spacer td {
          display: none;
        }
        .name-stack .friendly .status-inline {
          display: inline-flex;
        }
      }
      .status-inline {
        display: none;
        vertical-align: -4px;
        margin-right: 4px;
      }
      .status-inline .icon {
        width: 16px;
        height: 16px;
      }
    `,
  ];

  override connectedCallback(): void {
    super.connectedCallback();
    window.addEventListener('scroll', this.onViewport, { passive: true });
    window.addEventListener('resize', this.onViewport, { passive: true });
  }

  override disconnectedCallback(): void {
    window.removeEventListener('scroll', this.onViewport);
    window.removeEventListener('resize', this.onViewport);
    super.disconnectedCallback();
  }

  override updated(changed: Map<string, unknown>): void {
    if (changed.has('ctx')) this.storeController.attach();
    this.measureRows();
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

  // ---- virtualisation ----------------------------------------------------

  private readonly onViewport = (): void => {
    if (this.framePending) return;
    this.framePending = true;
    requestAnimationFrame(() => {
      this.framePending = false;
      this.updateRange();
    });
  };

  private updateRange(): void {
    const total = this.rows.length;
    if (total <= VIRTUALIZE_OVER) return;
    const body = this.renderRoot.querySelector('tbody');
    if (!body) return;
    const top = body.getBoundingClientRect().top;
    const viewport = window.innerHeight || 800;
    const h = this.rowHeight;
    const start = Math.max(0, Math.min(total - 1, Math.floor(-top / h) - OVERSCAN));
    const end = Math.min(total, Math.max(start + 1, Math.ceil((viewport - top) / h) + OVERSCAN));
    if (start !== this.range.start || end !== this.range.end) this.range = { start, end };
  }

  private measureRows(): void {
    const row = this.renderRoot.querySelector<HTMLElement>('tr.device');
    if (!row) return;
    const height = row.getBoundingClientRect().height;
    if (height > 0 && Math.abs(height - this.rowHeight) > 0.5) {
      this.rowHeight = height;
      this.updateRange();
    }
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

  private stop(event: Event): void {
    event.stopPropagation();
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

  private renderStatus(job: FirmwareJobSummary | undefined, device: Device, inline = false) {
    if (!job) return inline ? nothing : html`<span class="status-none" title="No recent job"></span>`;
    const text = `${JOB_LABELS[job.job_type]} ${STATUS_WORD[job.status]}`;
    if (inline) {
      return !isFinished(job.status) || job.status === 'failed'
        ? html`<span class="status-inline status-${job.status}" title=${text}>${icon(STATUS_ICON[job.status])}</span>`
        : nothing;
    }
    return html`<button
      class="status-btn status-${job.status}"
      title=${`${text} — show log`}
      aria-label=${`${text}: show the log of ${displayName(device)}`}
      @click=${(e: Event) => {
        e.stopPropagation();
        this.ctx?.ui.openLog(job.job_id);
      }}
      @keydown=${this.stop}
    >
      ${icon(STATUS_ICON[job.status])}
    </button>`;
  }

  private renderCell(column: ColumnDef, device: Device, job: FirmwareJobSummary | undefined, extra = '') {
    switch (column.id) {
      case 'status':
        return html`<td class="status ${extra}">${this.renderStatus(job, device)}</td>`;
      case 'name': {
        const friendly = displayName(device);
        return html`<td class="name ${extra}">
          <div class="name-stack">
            <span class="friendly"
              >${this.renderStatus(job, device, true)}${friendly}${device.error
                ? html`<span class="warn" title=${device.error} aria-label=${`Configuration problem: ${device.error}`}
                    >${icon('warning')}</span
                  >`
                : nothing}</span
            >
            ${friendly !== device.name ? html`<span class="device-name">${device.name}</span>` : nothing}
          </div>
        </td>`;
      }
      case 'configuration':
        return html`<td class="configuration ${extra}" title=${device.configuration}>${device.configuration}</td>`;
      case 'platform':
        return html`<td class="platform ${extra}">
          ${device.target_platform ? platformLabel(device.target_platform) : html`<span class="placeholder">—</span>`}
        </td>`;
      case 'address':
        return html`<td class="address ${extra}" title=${device.address}>
          ${device.address || html`<span class="placeholder">—</span>`}
        </td>`;
      case 'build_size':
        return device.build_size_bytes > 0
          ? html`<td class="build_size ${extra}" data-bytes=${device.build_size_bytes}>${sizeLabel(device.build_size_bytes)}</td>`
          : html`<td class="build_size none ${extra}" data-bytes="0">
              <span aria-hidden="true">—</span><span class="sr-only">no build folder</span>
            </td>`;
    }
  }

  /** Phones: the secondary columns as one line under the name (the separate cells are hidden there). */
  private renderMobileMeta(device: Device, columns: ColumnDef[]) {
    // The size leads: on a phone it is the number this page is about.
    const ordered = [...columns].sort((a, b) => Number(b.id === 'build_size') - Number(a.id === 'build_size'));
    const parts = ordered.flatMap((c) => {
      switch (c.id) {
        case 'configuration':
          return [html`<span class="mono">${device.configuration}</span>`];
        case 'platform':
          return device.target_platform ? [html`<span>${platformLabel(device.target_platform)}</span>`] : [];
        case 'address':
          return device.address ? [html`<span>${device.address}</span>`] : [];
        case 'build_size':
          return device.build_size_bytes > 0 ? [html`<span class="size">${sizeLabel(device.build_size_bytes)}</span>`] : [];
        default:
          return [];
      }
    });
    return html`<td class="mobile-meta" aria-hidden="true">
      ${parts.map((part, i) => html`${i > 0 ? html`<span class="sep">·</span>` : nothing}${part}`)}
    </td>`;
  }

  private renderRow(device: Device, index: number, columns: ColumnDef[]) {
    const job = this.jobs.get(device.configuration);
    const selected = this.selected.has(device.configuration);
    const name = displayName(device);
    const metaColumns = columns.filter((c) => c.id !== 'name' && c.id !== 'status');
    const mainColumns = columns.filter((c) => c.id === 'name' || c.id === 'status');
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
        <td class="select" @click=${this.stop}>
          <label>
            <input
              type="checkbox"
              aria-label=${`Select ${name}`}
              .checked=${selected}
              @change=${(e: Event) => this.toggleSelected(device.configuration, (e.target as HTMLInputElement).checked)}
              @keydown=${this.stop}
            />
          </label>
        </td>
        ${mainColumns.map((c) => this.renderCell(c, device, job))}
        ${metaColumns.map((c) => this.renderCell(c, device, job))}
        ${this.renderMobileMeta(device, metaColumns)}
        <td class="actions">
          <span class="row-actions">
            <button
              class="icon-btn"
              title="Compile"
              aria-label=${`Compile ${name}`}
              @click=${(e: Event) => this.startJob(e, 'compile', device)}
              @keydown=${this.stop}
            >
              ${icon('compile')}
            </button>
            <button
              class="icon-btn secondary"
              title="Install"
              aria-label=${`Install ${name}`}
              @click=${(e: Event) => this.startJob(e, 'install', device)}
              @keydown=${this.stop}
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
              @keydown=${this.stop}
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
    const columns = COLUMNS.filter((c) => visibility[c.id]);
    const virtual = rows.length > VIRTUALIZE_OVER;
    const start = virtual ? Math.min(this.range.start, Math.max(0, rows.length - 1)) : 0;
    const end = virtual ? Math.min(rows.length, Math.max(this.range.end, start + 1)) : rows.length;
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
              const def = COLUMNS.find((c) => c.id === column);
              this.setSortExplicit({ column, direction: def?.firstDirection ?? 'ascending' });
            }}
          >
            ${COLUMNS.map((c) => html`<option value=${c.id} ?selected=${c.id === sort.column}>${c.label}</option>`)}
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
            ${virtual && start > 0
              ? html`<tr class="spacer" aria-hidden="true" style="height: ${start * this.rowHeight}px">
                  <td colspan=${colSpan}></td>
                </tr>`
              : nothing}
            ${repeat(
              slice,
              (d) => d.configuration,
              (d, i) => this.renderRow(d, start + i, columns),
            )}
            ${virtual && end < rows.length
              ? html`<tr class="spacer" aria-hidden="true" style="height: ${(rows.length - end) * this.rowHeight}px">
                  <td colspan=${colSpan}></td>
                </tr>`
              : nothing}
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
