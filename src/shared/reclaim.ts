/**
 * The reclaim policy, its plan and its runs, as the server, the CLI and the
 * page see them (issue 14). One definition for all three so the plan a user
 * previews is, field for field, the plan that runs.
 *
 * Sizes on the wire are bytes and ages are seconds; the user's spellings
 * (`20GB`, `500 MB`, `10%`, `30d`, `12h`) are parsed on the server
 * (src/reclaim/units.ts) and kept beside the numbers so the page can show
 * them back as typed.
 */

/** The data dir's file system, from `statfs`: what a full disk is measured against. */
export interface DiskSpace {
  /** The data dir (ESPHome's: build folders live under it). */
  path: string;
  /** Bytes an unprivileged process may still write (`bavail × bsize`). */
  free_bytes: number;
  total_bytes: number;
}

/** A free-space threshold: absolute bytes or a share of the file system. */
export type FreeSpaceThreshold = { bytes: number } | { percent: number };

/**
 * What the user saved. Every rule is optional (null = off); `enabled` only
 * governs the automatic triggers (schedule, free space on each sweep): a
 * preview and "Run now" work on the saved rules either way.
 */
export interface ReclaimPolicy {
  enabled: boolean;
  /** cap: keep the device build folders' total (apparent bytes) at or under this. */
  max_total_bytes: number | null;
  /** age: clean a device's build when it was last compiled longer ago than this. */
  older_than_seconds: number | null;
  /** unused: delete build folders no device uses once untouched this long. */
  unused_older_than_seconds: number | null;
  /** free space: clean (least recently compiled first) until the data dir's file system has this much free. */
  min_free: FreeSpaceThreshold | null;
  /** Run on a timer every N hours (when enabled); null = no schedule. */
  schedule_hours: number | null;
}

/** The policy as typed by a person or the CLI: strings in the documented spellings, or numbers (bytes / seconds / hours). */
export interface ReclaimPolicyInput {
  enabled?: boolean;
  max_total?: string | number | null;
  older_than?: string | number | null;
  unused_older_than?: string | number | null;
  /** `"5GB"`, `"10%"`, or bytes. */
  min_free?: string | number | null;
  schedule_hours?: number | null;
}

export type ReclaimRule = 'cap' | 'age' | 'unused' | 'free_space';

/** One thing the plan does, in the order it runs. */
export interface ReclaimStep {
  /** `device`: `esphome clean` through the job queue; `unused`: the folder deleted through the delete guard. */
  kind: 'device' | 'unused';
  /** The YAML (devices only). */
  configuration?: string;
  build_path: string;
  /** What the step frees: a device's cleanable bytes (`.pioenvs`, `.piolibdeps`, `dependencies.lock`), an unused folder's whole size. */
  bytes: number;
  /** The whole build folder's apparent bytes when the plan was made (what "freed" is measured against). */
  folder_bytes: number;
  rule: ReclaimRule;
  /** `build_info.json`'s `build_time` (unix seconds), or null when there is none. */
  last_compiled: number | null;
  /**
   * The freshness pair the figures were measured at ([folder mtime,
   * build_info.json mtime], whole seconds; null halves = missing). Re-checked
   * just before the step runs: a different pair means the folder changed
   * since the preview (a compile), and the step is skipped.
   */
  signal: [number | null, number | null];
}

/** A device or folder the policy would have picked, left alone, and why. */
export interface ReclaimSkip {
  configuration?: string;
  build_path: string;
  reason: string;
}

export interface ReclaimPlan {
  /** Names this plan on the server for a while, so `reclaim/run {plan_id}` runs exactly these steps. */
  plan_id: string;
  /** Unix seconds the plan was computed at. */
  computed_at: number;
  policy: ReclaimPolicy;
  steps: ReclaimStep[];
  frees_bytes: number;
  /** The disk before, or null when `statfs` failed. */
  disk: DiskSpace | null;
  /** `disk.free_bytes + frees_bytes` (null without a disk reading). */
  expected_free_bytes: number | null;
  /** The device build folders' total now and after the plan (the cap's measure). */
  devices_total_bytes: number;
  devices_total_after_bytes: number;
  skipped: ReclaimSkip[];
}

export interface ReclaimStepResult {
  build_path: string;
  configuration?: string;
  ok: boolean;
  /** Bytes the step freed, measured (size before minus size after); 0 when it did not run. */
  freed_bytes: number;
  /** Why it failed or was skipped, in words a user can act on. */
  error?: string;
  /** The clean job that ran it (devices). */
  job_id?: string;
}

export type ReclaimTrigger = 'manual' | 'schedule' | 'free_space' | 'cli';

/** One run, as recorded in the data dir and shown in the page and the API. */
export interface ReclaimRun {
  run_id: string;
  trigger: ReclaimTrigger;
  started_at: number;
  /** Null while it runs. */
  finished_at: number | null;
  /**
   * `running`; `completed` (every step ok); `partial` (some failed or were
   * skipped); `failed` (none did); `interrupted` (the process stopped mid-run:
   * steps without a result were not done).
   */
  status: 'running' | 'completed' | 'partial' | 'failed' | 'interrupted';
  /** Why it ran, in one line (which rules, what the disk was). */
  reason: string;
  steps: ReclaimStep[];
  results: ReclaimStepResult[];
  freed_bytes: number;
  skipped: ReclaimSkip[];
}

/** A step of a run reached its end. */
export interface ReclaimProgress {
  run_id: string;
  /** Index into the run's `steps`. */
  index: number;
  total: number;
  result: ReclaimStepResult;
}

/** What `reclaim/get_policy` answers and `reclaim_policy_updated` carries. */
export interface ReclaimState {
  policy: ReclaimPolicy;
  /** The run in progress, if any. */
  running: ReclaimRun | null;
  /** When the schedule fires next (unix seconds), null when off. */
  next_run_at: number | null;
}

/** Why the page shows a free-space warning, or null when it does not. */
export type DiskWarning =
  { kind: 'below_policy'; free_bytes: number; threshold_bytes: number } | { kind: 'next_compile_may_not_fit'; free_bytes: number; largest_build_bytes: number };

export const DEFAULT_RECLAIM_POLICY: ReclaimPolicy = Object.freeze({
  enabled: false,
  max_total_bytes: null,
  older_than_seconds: null,
  unused_older_than_seconds: null,
  min_free: null,
  schedule_hours: null,
}) as ReclaimPolicy;

/** A device compiled this recently is never touched (seconds). */
export const RECENT_COMPILE_GUARD_SECONDS = 3600;

/**
 * The free-space warning for a disk reading: below the policy's threshold
 * first, else below twice the largest build folder. Pure so the server, the
 * CLI and the page agree.
 */
export function diskWarning(disk: DiskSpace | null, policy: ReclaimPolicy | null, largestBuildBytes: number): DiskWarning | null {
  if (!disk) return null;
  const threshold = policy?.min_free ? thresholdBytes(policy.min_free, disk.total_bytes) : null;
  if (threshold !== null && disk.free_bytes < threshold) return { kind: 'below_policy', free_bytes: disk.free_bytes, threshold_bytes: threshold };
  if (largestBuildBytes > 0 && disk.free_bytes < 2 * largestBuildBytes) {
    return { kind: 'next_compile_may_not_fit', free_bytes: disk.free_bytes, largest_build_bytes: largestBuildBytes };
  }
  return null;
}

/** A threshold in bytes for a file system of `totalBytes`. */
export function thresholdBytes(threshold: FreeSpaceThreshold, totalBytes: number): number {
  return 'bytes' in threshold ? threshold.bytes : Math.ceil((threshold.percent / 100) * totalBytes);
}

/** The size units the server reads, largest first (decimal before binary at each step): GB = 1000³, GiB = 1024³. */
const SIZE_SPELLINGS: ReadonlyArray<readonly [string, number]> = [
  ['TB', 1e12],
  ['TiB', 1024 ** 4],
  ['GB', 1e9],
  ['GiB', 1024 ** 3],
  ['MB', 1e6],
  ['MiB', 1024 ** 2],
  ['kB', 1e3],
  ['KiB', 1024],
];

/**
 * A size as a person would type it and the server's parser (src/reclaim/units.ts)
 * reads back to the same bytes: the largest unit that gives at most two
 * decimals exactly (`20 GB`, `1.5 GiB`, `750 MB`), else plain bytes
 * (`1234567 B`). Shared so the CLI, the log lines and the page's form spell
 * a saved policy the same way.
 */
export function formatSize(bytes: number): string {
  for (const [unit, factor] of SIZE_SPELLINGS) {
    if (bytes < factor) continue;
    const value = Number((bytes / factor).toFixed(2));
    if (Math.round(value * factor) === bytes) return `${value} ${unit}`;
  }
  return `${bytes} B`;
}

const AGE_SPELLINGS: ReadonlyArray<readonly [string, number]> = [
  ['d', 86_400],
  ['h', 3600],
  ['m', 60],
];

/** Seconds as the largest whole unit (`30d`, `12h`, `90m`, `45s`); weeks print as days (`14d`). */
export function formatAge(seconds: number): string {
  for (const [unit, factor] of AGE_SPELLINGS) if (seconds >= factor && seconds % factor === 0) return `${seconds / factor}${unit}`;
  return `${seconds}s`;
}

/** `10%` or a size ({@link formatSize}). */
export function formatThreshold(threshold: FreeSpaceThreshold): string {
  return 'percent' in threshold ? `${threshold.percent}%` : formatSize(threshold.bytes);
}
