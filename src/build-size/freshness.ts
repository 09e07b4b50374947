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
}

export const NO_SIGNAL: BuildDirSignal = Object.freeze({ dirMtime: 0, infoMtime: 0 });

/** Whole-second mtime of a path, 0 when it is missing or cannot be stat'ed. */
export function wholeSecondMtime(target: string): number {
  try {
    const stats = statSync(target, { throwIfNoEntry: false });
    return stats ? Math.floor(stats.mtimeMs / 1000) : 0;
  } catch {
    return 0;
  }
}

/** Two stats. Runs inside walk workers so a hung mount never stalls the server. */
export function readBuildDirSignal(buildDir: string): BuildDirSignal {
  return { dirMtime: wholeSecondMtime(buildDir), infoMtime: wholeSecondMtime(path.join(buildDir, BUILD_INFO_FILE)) };
}

export function signalsEqual(a: BuildDirSignal, b: BuildDirSignal): boolean {
  return a.dirMtime === b.dirMtime && a.infoMtime === b.infoMtime;
}

/** The pair a sidecar entry caches; unreadable values read as 0. */
export function cachedSignal(entry: DeviceEntry): BuildDirSignal {
  return {
    dirMtime: coerceSidecarInt(entry['build_size_dir_mtime']),
    infoMtime: coerceSidecarInt(entry['build_size_info_mtime']),
  };
}
