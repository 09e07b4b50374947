/**
 * The devices table as data: its columns, how a device matches the search
 * box, how each column sorts, what a Build Size cell says, and the fleet
 * summary. Pure functions over shared `Device`s so the behaviour is tested
 * without a browser and the table component only renders.
 *
 * Preferences (visible columns, sort) are stored on the server under
 * `_preferences`, so they are parsed defensively here: anything unexpected
 * falls back to the default instead of breaking the page.
 */
import type { Device } from '../../../src/shared/device.js';
import { formatBytes } from '../../../src/shared/format.js';
import { isFinished, type FirmwareJobSummary, type JobStatus } from '../../../src/shared/jobs.js';

export type ColumnId = 'status' | 'name' | 'configuration' | 'platform' | 'address' | 'build_size';
export type SortDirection = 'ascending' | 'descending';

export type JobLookup = (configuration: string) => FirmwareJobSummary | undefined;
export type DeviceComparator = (a: Device, b: Device) => number;

/**
 * A column as data: what it is called, whether it shows by default and can
 * be hidden, and how it sorts. How it renders (header, cell, phone card) is
 * added to the same entry by `components/device-columns.ts`.
 */
export interface ColumnDef {
  id: ColumnId;
  label: string;
  visibleByDefault: boolean;
  /** Listed in the column picker; a column that is not is always shown. */
  hideable: boolean;
  /** Numbers align right with tabular figures. */
  numeric: boolean;
  /** Direction of the first click: sizes start largest-first. */
  firstDirection: SortDirection;
  /** The sort key, ascending; Status needs each device's latest job. */
  compare(jobOf: JobLookup): DeviceComparator;
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

/** Order of the Status column: what needs attention first. */
const STATUS_RANK: Record<JobStatus, number> = { running: 0, queued: 1, failed: 2, cancelled: 3, completed: 4 };
const NO_JOB_RANK = 5;

const byText =
  (text: (device: Device) => string): ColumnDef['compare'] =>
  () =>
  (a, b) =>
    collator.compare(text(a), text(b));

export const COLUMNS: readonly ColumnDef[] = [
  {
    id: 'status',
    label: 'Status',
    visibleByDefault: true,
    hideable: true,
    numeric: false,
    firstDirection: 'ascending',
    compare: (jobOf) => {
      const rank = (d: Device) => {
        const job = jobOf(d.configuration);
        return job ? STATUS_RANK[job.status] : NO_JOB_RANK;
      };
      return (a, b) => rank(a) - rank(b);
    },
  },
  { id: 'name', label: 'Name', visibleByDefault: true, hideable: true, numeric: false, firstDirection: 'ascending', compare: byText(displayName) },
  {
    id: 'configuration',
    label: 'Config file',
    visibleByDefault: true,
    hideable: true,
    numeric: false,
    firstDirection: 'ascending',
    compare: byText((d) => d.configuration),
  },
  {
    id: 'platform',
    label: 'Platform',
    visibleByDefault: true,
    hideable: true,
    numeric: false,
    firstDirection: 'ascending',
    compare: byText((d) => platformLabel(d.target_platform)),
  },
  { id: 'address', label: 'Address', visibleByDefault: true, hideable: true, numeric: false, firstDirection: 'ascending', compare: byText((d) => d.address) },
  {
    id: 'build_size',
    label: 'Build Size',
    visibleByDefault: false,
    hideable: true,
    numeric: true,
    firstDirection: 'descending',
    compare: () => (a, b) => a.build_size_bytes - b.build_size_bytes,
  },
];

export function columnDef(id: ColumnId): ColumnDef {
  const def = COLUMNS.find((c) => c.id === id);
  if (!def) throw new Error(`unknown column ${id}`);
  return def;
}

const COLUMN_IDS = new Set<string>(COLUMNS.map((c) => c.id));

export function isColumnId(value: unknown): value is ColumnId {
  return typeof value === 'string' && COLUMN_IDS.has(value);
}

export type ColumnVisibility = Record<ColumnId, boolean>;

/** Preference keys on the server (`_preferences` in the sidecar). */
export const PREF_COLUMNS = 'devices_table.columns';
export const PREF_SORT = 'devices_table.sort';

export function defaultVisibility(): ColumnVisibility {
  return Object.fromEntries(COLUMNS.map((c) => [c.id, c.visibleByDefault])) as ColumnVisibility;
}

/**
 * Stored as `{column_id: boolean}`: a column the stored value does not
 * mention keeps its default, so a column added later shows up as designed.
 */
export function parseVisibility(value: unknown): ColumnVisibility {
  const visibility = defaultVisibility();
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return visibility;
  for (const [key, shown] of Object.entries(value)) {
    if (isColumnId(key) && typeof shown === 'boolean' && columnDef(key).hideable) visibility[key] = shown;
  }
  return visibility;
}

export interface SortState {
  column: ColumnId;
  direction: SortDirection;
}

export const DEFAULT_SORT: SortState = { column: 'name', direction: 'ascending' };

export function parseSort(value: unknown): SortState {
  if (typeof value !== 'object' || value === null) return DEFAULT_SORT;
  const { column, direction } = value as Record<string, unknown>;
  if (!isColumnId(column) || (direction !== 'ascending' && direction !== 'descending')) return DEFAULT_SORT;
  return { column, direction };
}

/** Clicking a header: the same column flips, another column starts at its natural direction. */
export function nextSort(current: SortState, column: ColumnId): SortState {
  if (current.column === column) {
    return { column, direction: current.direction === 'ascending' ? 'descending' : 'ascending' };
  }
  return { column, direction: columnDef(column).firstDirection };
}

/** What the table shows for a name: the friendly name, else the device name. */
export function displayName(device: Device): string {
  return device.friendly_name.trim() || device.name;
}

const PLATFORM_LABELS: Record<string, string> = {
  esp32: 'ESP32',
  esp8266: 'ESP8266',
  rp2040: 'RP2040',
  bk72xx: 'BK72xx',
  rtl87xx: 'RTL87xx',
  ln882x: 'LN882x',
  nrf52: 'nRF52',
  host: 'Host',
  libretiny: 'LibreTiny',
};

export function platformLabel(platform: string | null): string {
  if (!platform) return '';
  return PLATFORM_LABELS[platform] ?? platform.toUpperCase();
}

/** A Build Size cell: "212.4 MB", or an em dash for no build folder. */
export function sizeLabel(bytes: number): string {
  return bytes > 0 ? formatBytes(bytes) : '—';
}

function searchableText(device: Device): string {
  return [device.name, device.friendly_name, device.configuration, device.address, device.target_platform ?? '', platformLabel(device.target_platform)]
    .join('\n')
    .toLowerCase();
}

/** Every whitespace-separated word of the query must appear in one of the searchable fields. */
export function matchesQuery(device: Device, query: string): boolean {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return true;
  const text = searchableText(device);
  return words.every((word) => text.includes(word));
}

export function filterDevices(devices: readonly Device[], query: string): Device[] {
  if (!query.trim()) return [...devices];
  return devices.filter((device) => matchesQuery(device, query));
}

/**
 * A stable sort: ties fall back to the name then the file, always ascending,
 * so equal sizes do not shuffle when an unrelated row updates.
 */
export function sortDevices(devices: readonly Device[], sort: SortState, jobOf: JobLookup = () => undefined): Device[] {
  const primary = columnDef(sort.column).compare(jobOf);
  const sign = sort.direction === 'ascending' ? 1 : -1;
  const byName = columnDef('name').compare(jobOf);
  return [...devices].sort((a, b) => sign * primary(a, b) || byName(a, b) || collator.compare(a.configuration, b.configuration));
}

/**
 * The job the Status column shows for each device: its queued or running
 * job if any, else its most recent finished one. Fleet-wide jobs
 * (reset_build_env) name no device and match nothing.
 */
export function latestJobs(jobs: Iterable<FirmwareJobSummary>): Map<string, FirmwareJobSummary> {
  const byDevice = new Map<string, FirmwareJobSummary>();
  for (const job of jobs) {
    if (job.job_type === 'reset_build_env') continue;
    const current = byDevice.get(job.configuration);
    if (!current || jobOutranks(job, current)) byDevice.set(job.configuration, job);
  }
  return byDevice;
}

function jobOutranks(candidate: FirmwareJobSummary, current: FirmwareJobSummary): boolean {
  const activeCandidate = !isFinished(candidate.status);
  const activeCurrent = !isFinished(current.status);
  if (activeCandidate !== activeCurrent) return activeCandidate;
  return candidate.created_at > current.created_at;
}

export function isActiveJob(job: FirmwareJobSummary | undefined): job is FirmwareJobSummary {
  return job !== undefined && !isFinished(job.status);
}

export interface FleetSummary {
  totalBytes: number;
  /** Devices with a build folder on disk. */
  compiled: number;
  total: number;
  largest: Device | null;
}

export function summarize(devices: Iterable<Device>): FleetSummary {
  let totalBytes = 0;
  let compiled = 0;
  let total = 0;
  let largest: Device | null = null;
  for (const device of devices) {
    total++;
    const size = device.build_size_bytes > 0 ? device.build_size_bytes : 0;
    if (size === 0) continue;
    totalBytes += size;
    compiled++;
    if (!largest || size > largest.build_size_bytes) largest = device;
  }
  return { totalBytes, compiled, total, largest };
}
