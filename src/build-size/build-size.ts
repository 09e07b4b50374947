/**
 * The build-size engine: pure decisions, I/O handed in. Cheap first, heavy
 * last: compare the cached freshness pair with two fresh stats, and only walk
 * when they differ. Pair equality is the single decision point, which makes
 * "never compiled" and "folder wiped by hand, cache already cleared" the same
 * (0, 0) == (0, 0) no-op, so nothing churns on devices without a build.
 */
import { deviceEntry, type FieldUpdates, type SidecarData } from '../sidecar/sidecar-store.js';
import { cachedSignal, NO_SIGNAL, signalsEqual, type BuildDirSignal } from './freshness.js';
import type { BuildSizeBreakdown } from '../shared/device.js';
import type { WalkFn, WalkResult } from './walk-pool.js';

/** What a refresh found: the new size and the pair it was measured at. */
export interface BuildSizeRefreshResult {
  readonly sizeBytes: number;
  readonly signal: BuildDirSignal;
  readonly walk: WalkResult;
}

export type SignalsFn = (dirs: readonly string[]) => Promise<BuildDirSignal[]>;

/** A device as the sweep sees it: its key and where its build folder is, if anywhere. */
export interface BuildTarget {
  readonly configuration: string;
  readonly buildPath: string | null;
}

/**
 * Walks `buildDir` if its pair moved since `cached`; null when it did not.
 * A device with no build folder (never compiled, StorageJSON missing or
 * corrupt) has nothing to walk.
 */
export async function refreshBuildSizeIfStale(
  buildDir: string | null,
  cached: BuildDirSignal,
  signals: SignalsFn,
  walk: WalkFn,
): Promise<BuildSizeRefreshResult | null> {
  if (buildDir === null) return null;
  const current = (await signals([buildDir]))[0] ?? NO_SIGNAL;
  if (signalsEqual(current, cached)) return null;
  // The pair is taken before the walk: if the tree changes under the walk,
  // the next check sees a newer pair and walks again.
  const result = await walk(buildDir);
  return { sizeBytes: result.bytes, signal: current, walk: result };
}

/**
 * The devices whose build folder moved since the sidecar snapshot, in the
 * given order. Devices without a build folder are skipped; an unreadable
 * sidecar arrives here as `{}`, so every compiled device reads as stale.
 */
export async function findStaleBuildDirs(
  targets: readonly BuildTarget[],
  sidecar: SidecarData,
  signals: SignalsFn,
  cachedOf: (sidecar: SidecarData, key: string) => BuildDirSignal = deviceCachedSignal,
): Promise<string[]> {
  const compiled = targets.filter((target): target is BuildTarget & { buildPath: string } => target.buildPath !== null);
  if (compiled.length === 0) return [];
  const current = await signals(compiled.map((target) => target.buildPath));
  return compiled
    .filter((target, index) => !signalsEqual(current[index] ?? NO_SIGNAL, cachedOf(sidecar, target.configuration)))
    .map((target) => target.configuration);
}

/** A device's cached pair in a sidecar snapshot. */
export function deviceCachedSignal(sidecar: SidecarData, configuration: string): BuildDirSignal {
  return cachedSignal(deviceEntry(sidecar, configuration));
}

/** What `esphome clean` deletes (`.pioenvs`, `.piolibdeps`, `dependencies.lock`), from a walk's buckets. */
export function cleanableBytes(breakdown: WalkResult['breakdown']): number {
  return breakdown.pioenvs + breakdown.piolibdeps + breakdown.lock;
}

/** The per-folder breakdown a device shows, or null for an empty folder. */
export function breakdownOf(walk: WalkResult): BuildSizeBreakdown | null {
  if (walk.bytes === 0) return null;
  const { pioenvs, piolibdeps, src, lock, other } = walk.breakdown;
  return { pioenvs, piolibdeps, src, other: other + lock, cleanable: cleanableBytes(walk.breakdown) };
}

/** The cache entry of a folder we size outside the device entries (orphans, PlatformIO parts). */
export function folderCacheEntry(result: BuildSizeRefreshResult): Record<string, number> {
  return {
    build_size_bytes: result.sizeBytes,
    build_disk_bytes: result.walk.diskBytes,
    build_size_dir_mtime: result.signal.dirMtime,
    build_size_info_mtime: result.signal.infoMtime,
  };
}

/**
 * The cache entry a refresh writes: the Python tool's triple plus our
 * allocated size and breakdown. Zeros and nulls remove their keys, so an
 * emptied folder leaves no entry behind.
 */
export function buildSizeFieldUpdates(result: BuildSizeRefreshResult): FieldUpdates {
  return {
    build_size_bytes: result.sizeBytes,
    build_size_dir_mtime: result.signal.dirMtime,
    build_size_info_mtime: result.signal.infoMtime,
    build_disk_bytes: result.walk.diskBytes,
    build_size_breakdown: breakdownOf(result.walk),
  };
}
