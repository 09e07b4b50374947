/**
 * What the reclaim plan is computed from (plan.ts's {@link PlanInputs}),
 * gathered from the real system without walking a single folder.
 *
 * Why no walk: the preview is recomputed on every edit in the page's policy
 * panel and before every automatic run; on a 5,000-device fleet a walk would
 * take minutes. Everything needed is already cached and kept true by the
 * refresher (refresher/build-size-refresher.ts):
 *
 * - a device's folder size is `build_size_bytes`, what `esphome clean` frees
 *   is `build_size_breakdown.cleanable`, and the freshness pair they were
 *   measured at is the metadata entry's `build_size_dir_mtime` /
 *   `build_size_info_mtime` ({@link cachedPairOfEntry});
 * - an unused folder's size and pair are cached in our per-instance file
 *   under `_orphan_builds` ({@link orphanCachedPair}).
 *
 * What is read here, small and bounded: each build folder's
 * `build_info.json` (for `build_time`, "last compiled"; through
 * util/guarded-read.ts, regular files only, 64 KiB at most, 16 at a time),
 * and two stats per unused folder (through the pool's `signals`, off the
 * event loop) for its mtime, which also tells whether its cached size is
 * still the folder's (a moved pair makes it `stale`, skipped by the plan).
 */
import path from 'node:path';
import type { SignalsFn } from '../build-size/build-size.js';
import { BUILD_INFO_FILE, cachedSignal, NO_SIGNAL, type BuildDirSignal } from '../build-size/freshness.js';
import { ORPHAN_SECTION } from '../orphans/orphan-builds.js';
import type { Device } from '../shared/device.js';
import type { OrphanBuild } from '../shared/protocol.js';
import type { DiskSpace } from '../shared/reclaim.js';
import { isJsonObject, type DeviceEntry, type JsonObject } from '../sidecar/json-object-store.js';
import { readGuarded } from '../util/guarded-read.js';
import type { PlanDevice, PlanInputs, PlanUnused, SignalPair } from './plan.js';

/** A real build_info.json is a few hundred bytes. */
export const BUILD_INFO_MAX_BYTES = 64 * 1024;
/** build_info.json reads in flight at once. */
export const BUILD_INFO_CONCURRENCY = 16;

export interface PlanInputSource {
  /** The active devices (archived ones are not in it). */
  devices: readonly Device[];
  /** Unused build folders with their cached sizes (orphans/orphan-builds.ts `list()`). */
  orphans: readonly OrphanBuild[];
  /** Whether a firmware job is queued or running for the device. */
  isBusy(configuration: string): boolean;
  /** Fresh freshness pairs for many folders (the walk pool's two-stat batches). */
  signals: SignalsFn;
  /** The device's cached pair, from its metadata entry ({@link cachedPairOfEntry}). */
  cachedSignalOf(configuration: string): SignalPair;
  /** An unused folder's cached pair, from `_orphan_builds` ({@link orphanCachedPair}). */
  orphanSignalOf(buildPath: string): SignalPair;
}

/** A pair with its missing halves (0) as null, as the wire carries it. */
export function signalPair(signal: BuildDirSignal): SignalPair {
  return [signal.dirMtime === 0 ? null : signal.dirMtime, signal.infoMtime === 0 ? null : signal.infoMtime];
}

/** Two pairs name the same state of a folder. */
export function samePair(a: SignalPair, b: SignalPair): boolean {
  return a[0] === b[0] && a[1] === b[1];
}

/** The pair a device's metadata entry caches with its size. */
export function cachedPairOfEntry(entry: DeviceEntry): SignalPair {
  return signalPair(cachedSignal(entry));
}

/** The pair cached for an unused folder in a metadata snapshot's `_orphan_builds` section. */
export function orphanCachedPair(snapshot: JsonObject, buildPath: string): SignalPair {
  const section = snapshot[ORPHAN_SECTION];
  const entry = isJsonObject(section) && Object.hasOwn(section, buildPath) ? section[buildPath] : undefined;
  return cachedPairOfEntry(isJsonObject(entry) ? entry : {});
}

/**
 * `build_info.json`'s `build_time` in the folder (unix seconds), or null
 * when the file is missing, not a regular file, too large, not JSON, or its
 * `build_time` is not a positive whole number.
 */
export async function readBuildTime(buildPath: string): Promise<number | null> {
  try {
    const read = await readGuarded(path.join(buildPath, BUILD_INFO_FILE), { maxBytes: BUILD_INFO_MAX_BYTES });
    if (!read) return null;
    const info: unknown = JSON.parse(read.bytes.toString('utf8'));
    const time = isJsonObject(info) ? info['build_time'] : undefined;
    return typeof time === 'number' && Number.isSafeInteger(time) && time > 0 ? time : null;
  } catch {
    return null;
  }
}

/** `read` for every path, at most `limit` in flight, results in order. */
async function mapBounded<T, R>(items: readonly T[], limit: number, read: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await read(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

/** What a device's cached figures say a clean frees: null when not measured (a size without our breakdown). */
function cleanableOf(device: Device): number | null {
  if (device.build_size_breakdown) return device.build_size_breakdown.cleanable;
  // No breakdown and no size: an empty or missing folder, nothing to clean.
  return device.build_size_bytes === 0 ? 0 : null;
}

/** The later of two times, null when neither is known. */
function later(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.max(a, b);
}

/** Gathers the plan's inputs: cached figures, plus `build_info.json` reads and two stats per unused folder. */
export async function gatherPlanInputs(source: PlanInputSource, disk: DiskSpace | null, now: number): Promise<PlanInputs> {
  const folders = [...source.devices.map((device) => device.build_path), ...source.orphans.map((orphan) => orphan.build_path)];
  const buildTimes = await mapBounded(folders, BUILD_INFO_CONCURRENCY, (folder) => (folder === null ? Promise.resolve(null) : readBuildTime(folder)));
  const devices: PlanDevice[] = source.devices.map((device, index) => ({
    configuration: device.configuration,
    build_path: device.build_path,
    folder_bytes: device.build_size_bytes,
    cleanable_bytes: cleanableOf(device),
    last_compiled: buildTimes[index] ?? null,
    signal: source.cachedSignalOf(device.configuration),
    busy: source.isBusy(device.configuration),
  }));
  const fresh = source.orphans.length > 0 ? await source.signals(source.orphans.map((orphan) => orphan.build_path)) : [];
  const unused: PlanUnused[] = source.orphans.map((orphan, index) => {
    const current = signalPair(fresh[index] ?? NO_SIGNAL);
    const cached = source.orphanSignalOf(orphan.build_path);
    return {
      build_path: orphan.build_path,
      bytes: orphan.build_size_bytes,
      last_used: later(buildTimes[source.devices.length + index] ?? null, current[0]),
      signal: cached,
      stale: !samePair(current, cached),
    };
  });
  return { devices, unused, disk, now };
}
