/**
 * The devices table's columns, each in one place: its data half (label,
 * default visibility, whether it can be hidden, sort key) comes from
 * {@link COLUMNS} in `state/table-model.ts`, which stays pure and is tested
 * without a DOM; its rendering half is below, keyed by column id so a new
 * column does not compile until it says how it renders.
 *
 * The table renders everything from {@link DEVICE_COLUMNS}: the header row,
 * each row's cells, the phones' one-line summary under the name, the
 * "Sort by" select and the column picker. Nothing in the table switches on a
 * column id.
 */
import { html, nothing, type TemplateResult } from 'lit';
import type { Device } from '../../../src/shared/device.js';
import { isFinished, type FirmwareJobSummary } from '../../../src/shared/jobs.js';
import { JOB_LABELS } from '../state/actions.js';
import { COLUMNS, displayName, platformLabel, sizeLabel, type ColumnDef, type ColumnId } from '../state/table-model.js';
import { icon } from '../ui/icons.js';

/** What a cell needs besides its device. */
export interface CellContext {
  /** The device's latest job (the Status column and the name's inline status). */
  job: FirmwareJobSummary | undefined;
  /** Opens a job's log (the Status button). */
  openLog(jobId: string): void;
}

export interface ColumnView {
  /** The whole `<td>`: its class is the column id (tests and CSS select on it). */
  cell(device: Device, context: CellContext): TemplateResult;
  /**
   * Phones (≤ 720 px): the column's part of the one-line summary under the
   * name, `null` when the device has nothing to show there. Columns without
   * it are either part of the card itself (Name, with the status inline) or
   * not shown on phones.
   */
  mobile?: (device: Device) => TemplateResult | null;
  /** Lower leads the phone summary; the size leads, since it is what this page is about (default 1). */
  mobileOrder?: number;
}

export type DeviceColumn = ColumnDef & ColumnView;

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

const placeholder = html`<span class="placeholder">—</span>`;

/** Keeps a key press on a control inside a row from reaching the row's keyboard handling. */
export const stopPropagation = (event: Event): void => event.stopPropagation();

function jobText(job: FirmwareJobSummary): string {
  return `${JOB_LABELS[job.job_type]} ${STATUS_WORD[job.status]}`;
}

function statusButton(device: Device, { job, openLog }: CellContext) {
  if (!job) return html`<span class="status-none" title="No recent job"></span>`;
  const text = jobText(job);
  return html`<button
    class="status-btn status-${job.status}"
    title=${`${text} — show log`}
    aria-label=${`${text}: show the log of ${displayName(device)}`}
    @click=${(e: Event) => {
      e.stopPropagation();
      openLog(job.job_id);
    }}
    @keydown=${stopPropagation}
  >
    ${icon(STATUS_ICON[job.status])}
  </button>`;
}

/** The status icon inside the name, shown on phones where the Status cell is hidden: active or failed jobs only. */
function inlineStatus(job: FirmwareJobSummary | undefined) {
  if (!job || (isFinished(job.status) && job.status !== 'failed')) return nothing;
  return html`<span class="status-inline status-${job.status}" title=${jobText(job)}>${icon(STATUS_ICON[job.status])}</span>`;
}

const VIEWS: Record<ColumnId, ColumnView> = {
  status: {
    cell: (device, context) => html`<td class="status">${statusButton(device, context)}</td>`,
  },
  name: {
    cell: (device, { job }) => {
      const friendly = displayName(device);
      return html`<td class="name">
        <div class="name-stack">
          <span class="friendly"
            >${inlineStatus(job)}${friendly}${
              device.error
                ? html`<span class="warn" title=${device.error} aria-label=${`Configuration problem: ${device.error}`}
                  >${icon('warning')}</span
                >`
                : nothing
            }</span
          >
          ${friendly !== device.name ? html`<span class="device-name">${device.name}</span>` : nothing}
        </div>
      </td>`;
    },
  },
  configuration: {
    cell: (device) => html`<td class="configuration" title=${device.configuration}>${device.configuration}</td>`,
    mobile: (device) => html`<span class="mono">${device.configuration}</span>`,
  },
  platform: {
    cell: (device) => html`<td class="platform">${device.target_platform ? platformLabel(device.target_platform) : placeholder}</td>`,
    mobile: (device) => (device.target_platform ? html`<span>${platformLabel(device.target_platform)}</span>` : null),
  },
  address: {
    cell: (device) => html`<td class="address" title=${device.address}>${device.address || placeholder}</td>`,
    mobile: (device) => (device.address ? html`<span>${device.address}</span>` : null),
  },
  build_size: {
    cell: (device) =>
      device.build_size_bytes > 0
        ? html`<td class="build_size" data-bytes=${device.build_size_bytes}>${sizeLabel(device.build_size_bytes)}</td>`
        : html`<td class="build_size none" data-bytes="0">
            <span aria-hidden="true">—</span><span class="sr-only">no build folder</span>
          </td>`,
    mobile: (device) => (device.build_size_bytes > 0 ? html`<span class="size">${sizeLabel(device.build_size_bytes)}</span>` : null),
    mobileOrder: 0,
  },
};

/** Every column, in table order, data and rendering together. */
export const DEVICE_COLUMNS: readonly DeviceColumn[] = COLUMNS.map((def) => ({ ...def, ...VIEWS[def.id] }));

/** Phones: the shown columns' summaries as one line under the name (the separate cells are hidden there). */
export function mobileSummary(device: Device, columns: readonly DeviceColumn[]) {
  const parts = columns
    .filter((c) => c.mobile)
    .sort((a, b) => (a.mobileOrder ?? 1) - (b.mobileOrder ?? 1))
    .flatMap((c) => c.mobile?.(device) ?? []);
  return html`<td class="mobile-meta" aria-hidden="true">
    ${parts.map((part, i) => html`${i > 0 ? html`<span class="sep">·</span>` : nothing}${part}`)}
  </td>`;
}
