/**
 * The reclaim plan: the one function that decides what a policy would clean
 * (issue 14). Pure, no I/O: it sees the cached figures (sizes, the freshness
 * pairs they were measured at, `build_info.json`'s `build_time`, the disk's
 * free space) gathered by plan-inputs.ts, and returns the steps in the order
 * they run. The page's live preview, `reclaim/preview`, the CLI and the
 * runner all use this output, so what runs is exactly what was previewed.
 *
 * Rules, in the order their steps run:
 *
 * 1. `unused`: build folders no device uses, last used longer ago than
 *    `unused_older_than` (last used = the later of `build_info.json`'s
 *    `build_time` and the folder's mtime), oldest first (unknown = oldest),
 *    ties by path. Each is deleted whole, so it frees its whole size.
 * 2. `age`: devices last compiled longer ago than `older_than`, least
 *    recently compiled first (no `build_time` = never known = first), ties
 *    by configuration name.
 * 3. `cap`: while the devices' build folders total more than `max_total`
 *    (the sum of every device's folder size, minus what the steps so far
 *    free), the next device in the same least-recently-compiled order. It
 *    stops as soon as the total is at or under the cap: never one step more.
 * 4. `free_space`: while the data dir's file system would have less free
 *    than `min_free` (its free bytes plus what every step so far frees), the
 *    next device in the same order. Without a disk reading the rule is
 *    skipped, with a note in `skipped` (empty `build_path`).
 *
 * A device step is `esphome clean`: it frees the device's cleanable bytes
 * (`.pioenvs`, `.piolibdeps`, `dependencies.lock`); the folder and `src/`
 * stay. Each device is picked at most once, by the first rule that wants it.
 *
 * Never picked, and listed in `skipped` with the reason when a rule would
 * have picked them: a device with a job queued or running; one compiled less
 * than an hour ago ({@link RECENT_COMPILE_GUARD_SECONDS}); one whose size
 * was not measured yet (no breakdown, so what a clean frees is unknown); an
 * unused folder whose cached size no longer matches the folder. A device
 * with nothing to clean (0 cleanable bytes) is simply not picked. A skipped
 * device does not count towards the cap or free space, so the next one in
 * line is taken in its place.
 *
 * Every step carries the freshness pair its figures belong to and the
 * folder's whole size: the runner re-checks the pair just before the step
 * and measures what was freed against that size.
 */
import {
  RECENT_COMPILE_GUARD_SECONDS,
  thresholdBytes,
  type DiskSpace,
  type ReclaimPlan,
  type ReclaimPolicy,
  type ReclaimRule,
  type ReclaimSkip,
  type ReclaimStep,
} from '../shared/reclaim.js';

/** A freshness pair on the wire: [folder mtime, build_info.json mtime] in whole seconds, null = missing. */
export type SignalPair = [number | null, number | null];

export interface PlanDevice {
  configuration: string;
  /** Null: never compiled (no folder to clean, and none counted in the total). */
  build_path: string | null;
  /** The whole build folder's apparent bytes (`build_size_bytes`). */
  folder_bytes: number;
  /** `build_size_breakdown.cleanable`; null = not measured. */
  cleanable_bytes: number | null;
  /** `build_info.json`'s `build_time` (unix seconds), or null. */
  last_compiled: number | null;
  /** The cached freshness pair the figures belong to. */
  signal: SignalPair;
  /** A job is queued or running for it. */
  busy: boolean;
}

export interface PlanUnused {
  build_path: string;
  bytes: number;
  /** Unix seconds: the later of `build_info.json`'s `build_time` and the folder's mtime; null when neither is known. */
  last_used: number | null;
  /** The cached freshness pair `bytes` was measured at. */
  signal: SignalPair;
  /** The folder changed since it was measured (its pair now differs), so `bytes` is not what deleting it frees. */
  stale?: boolean;
}

export interface PlanInputs {
  devices: PlanDevice[];
  unused: PlanUnused[];
  disk: DiskSpace | null;
  /** Unix seconds. */
  now: number;
}

export const SKIP_BUSY = 'a job is queued or running';
export const SKIP_RECENT = 'compiled less than an hour ago';
export const SKIP_NOT_MEASURED = 'size not measured yet';
export const SKIP_UNUSED_STALE = 'changed since it was last measured';
export const SKIP_NO_DISK = 'free-space rule skipped: the disk free space could not be read';

/** Unknown times sort first: never known counts as the oldest. */
function byTimeOldestFirst(a: number | null, b: number | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return a - b;
}

/** Names compared by code point, so the order is the same in every locale. */
function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Older than `seconds` at `now`; an unknown time counts as old. */
function olderThan(time: number | null, seconds: number, now: number): boolean {
  return time === null || now - time > seconds;
}

/** Computes the plan. Same inputs, same plan. */
export function planReclaim(policy: ReclaimPolicy, inputs: PlanInputs, planId: string): ReclaimPlan {
  const { now, disk } = inputs;
  const steps: ReclaimStep[] = [];
  const skipped: ReclaimSkip[] = [];
  const skippedKeys = new Set<string>();
  const skip = (entry: ReclaimSkip): void => {
    const key = `${entry.configuration ?? ''}\0${entry.build_path}`;
    if (skippedKeys.has(key)) return;
    skippedKeys.add(key);
    skipped.push(entry);
  };
  let freesBytes = 0;

  // (1) unused folders, oldest first.
  if (policy.unused_older_than_seconds !== null) {
    const limit = policy.unused_older_than_seconds;
    const unused = inputs.unused
      .filter((folder) => olderThan(folder.last_used, limit, now))
      .sort((a, b) => byTimeOldestFirst(a.last_used, b.last_used) || byName(a.build_path, b.build_path));
    for (const folder of unused) {
      if (folder.stale) {
        const measured = folder.signal[0] !== null || folder.signal[1] !== null;
        skip({ build_path: folder.build_path, reason: measured ? SKIP_UNUSED_STALE : SKIP_NOT_MEASURED });
        continue;
      }
      steps.push({
        kind: 'unused',
        build_path: folder.build_path,
        bytes: folder.bytes,
        folder_bytes: folder.bytes,
        rule: 'unused',
        last_compiled: null,
        signal: [folder.signal[0], folder.signal[1]],
      });
      freesBytes += folder.bytes;
    }
  }

  // Devices with a build folder, least recently compiled first.
  const compiled = inputs.devices
    .filter((device): device is PlanDevice & { build_path: string } => device.build_path !== null)
    .sort((a, b) => byTimeOldestFirst(a.last_compiled, b.last_compiled) || byName(a.configuration, b.configuration));
  const devicesTotal = compiled.reduce((sum, device) => sum + device.folder_bytes, 0);
  let devicesCleaned = 0;
  const picked = new Set<string>();

  /** Picks `device` for `rule` when it may be touched; else records why not. Returns whether it was picked. */
  const consider = (device: PlanDevice & { build_path: string }, rule: ReclaimRule): boolean => {
    const reason = device.busy
      ? SKIP_BUSY
      : device.last_compiled !== null && now - device.last_compiled < RECENT_COMPILE_GUARD_SECONDS
        ? SKIP_RECENT
        : device.cleanable_bytes === null
          ? SKIP_NOT_MEASURED
          : null;
    if (reason !== null) {
      skip({ configuration: device.configuration, build_path: device.build_path, reason });
      return false;
    }
    const bytes = device.cleanable_bytes ?? 0;
    if (bytes <= 0) return false;
    picked.add(device.configuration);
    steps.push({
      kind: 'device',
      configuration: device.configuration,
      build_path: device.build_path,
      bytes,
      folder_bytes: device.folder_bytes,
      rule,
      last_compiled: device.last_compiled,
      signal: [device.signal[0], device.signal[1]],
    });
    freesBytes += bytes;
    devicesCleaned += bytes;
    return true;
  };

  // (2) age.
  if (policy.older_than_seconds !== null) {
    const limit = policy.older_than_seconds;
    for (const device of compiled) if (olderThan(device.last_compiled, limit, now)) consider(device, 'age');
  }

  // (3) cap: continue in the same order until the total is at or under it.
  if (policy.max_total_bytes !== null) {
    const cap = policy.max_total_bytes;
    for (const device of compiled) {
      if (devicesTotal - devicesCleaned <= cap) break;
      if (!picked.has(device.configuration)) consider(device, 'cap');
    }
  }

  // (4) free space: continue in the same order until the disk would be back above the threshold.
  if (policy.min_free !== null) {
    if (disk === null) skip({ build_path: '', reason: SKIP_NO_DISK });
    else {
      const threshold = thresholdBytes(policy.min_free, disk.total_bytes);
      for (const device of compiled) {
        if (disk.free_bytes + freesBytes >= threshold) break;
        if (!picked.has(device.configuration)) consider(device, 'free_space');
      }
    }
  }

  return {
    plan_id: planId,
    computed_at: now,
    policy: { ...policy },
    steps,
    frees_bytes: freesBytes,
    disk,
    // Apparent bytes: what the disk gets back is their allocated size, close to this but not the same.
    expected_free_bytes: disk === null ? null : disk.free_bytes + freesBytes,
    devices_total_bytes: devicesTotal,
    devices_total_after_bytes: devicesTotal - devicesCleaned,
    skipped,
  };
}
