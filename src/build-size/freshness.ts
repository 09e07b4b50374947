/**
 * The freshness pair that decides whether a build folder must be walked.
 *
 * A full walk of a build folder touches 1k-30k files; two stats decide
 * whether it is needed. Neither stat alone is enough, as measured against
 * ESPHome and PlatformIO:
 *
 * | what happened                              | folder mtime | build_info.json mtime |
 * | ------------------------------------------ | ------------ | --------------------- |
 * | recompile, config changed                  | unchanged    | moves (rewritten in place) |
 * | PlatformIO adds/removes sibling files      | moves        | unchanged             |
 * | recompile, nothing changed                 | unchanged    | unchanged (write-if-changed) |
 * | `esphome clean`                            | moves        | unchanged             |
 * | folder deleted                             | 0            | 0                     |
 *
 * Either half differing from the cached pair means "walk". Both halves are
 * whole seconds (floor of the mtime) so a cache written on ext4 still matches
 * on FAT32, older NFS or CIFS, which keep no sub-second times.
 *
 * Whole seconds alone miss a change made in the same second as the walk
 * (a compile then a clean within one second: same pair, stale size). So a
 * signal read by us also carries the exact mtimes, and a long-running
 * process remembers the exact pair it measured at; when both sides have
 * them they must match too. The sidecar keeps whole seconds only, as the
 * Python Device Builder does.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { coerceSidecarInt } from '../sidecar/coerce.js';
import type { DeviceEntry } from '../sidecar/sidecar-store.js';

export const BUILD_INFO_FILE = 'build_info.json';

/** (folder mtime, build_info.json mtime), whole seconds, 0 for a missing path. */
export interface BuildDirSignal {
  readonly dirMtime: number;
  readonly infoMtime: number;
  /** Exact mtimes in ms, when read from the file system by this process (never persisted). */
  readonly dirMtimeMs?: number;
  readonly infoMtimeMs?: number;
}

export const NO_SIGNAL: BuildDirSignal = Object.freeze({ dirMtime: 0, infoMtime: 0 });

/** Exact mtime of a path in ms, 0 when it is missing or cannot be stat'ed. */
function exactMtime(target: string): number {
  try {
    return statSync(target, { throwIfNoEntry: false })?.mtimeMs ?? 0;
  } catch {
    return 0;
  }
}

/** Whole-second mtime of a path, 0 when it is missing or cannot be stat'ed. */
export function wholeSecondMtime(target: string): number {
  return Math.floor(exactMtime(target) / 1000);
}

/** Two stats. Runs inside walk workers so a hung mount never stalls the server. */
export function readBuildDirSignal(buildDir: string): BuildDirSignal {
  const dirMtimeMs = exactMtime(buildDir);
  const infoMtimeMs = exactMtime(path.join(buildDir, BUILD_INFO_FILE));
  return { dirMtime: Math.floor(dirMtimeMs / 1000), infoMtime: Math.floor(infoMtimeMs / 1000), dirMtimeMs, infoMtimeMs };
}

/** Whole seconds equal, and the exact times too when both sides know them. */
export function signalsEqual(a: BuildDirSignal, b: BuildDirSignal): boolean {
  if (a.dirMtime !== b.dirMtime || a.infoMtime !== b.infoMtime) return false;
  if (a.dirMtimeMs !== undefined && b.dirMtimeMs !== undefined && a.dirMtimeMs !== b.dirMtimeMs) return false;
  if (a.infoMtimeMs !== undefined && b.infoMtimeMs !== undefined && a.infoMtimeMs !== b.infoMtimeMs) return false;
  return true;
}

/** The whole-second pair alone, as the sidecar stores it. */
export function wholeSeconds(signal: BuildDirSignal): BuildDirSignal {
  return { dirMtime: signal.dirMtime, infoMtime: signal.infoMtime };
}

/** The pair a sidecar entry caches; unreadable values read as 0. */
export function cachedSignal(entry: DeviceEntry): BuildDirSignal {
  return {
    dirMtime: coerceSidecarInt(entry['build_size_dir_mtime']),
    infoMtime: coerceSidecarInt(entry['build_size_info_mtime']),
  };
}
