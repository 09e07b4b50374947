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
 * whole seconds so a cache written on ext4 still matches on FAT32, older NFS
 * or CIFS, which keep no sub-second times. They are the Python tool's
 * `int(os.stat(p).st_mtime)` to the bit (see {@link pythonWholeSeconds}),
 * so a pair cached by either tool matches when the other reads it.
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

const NS_PER_SECOND = 1_000_000_000n;

/** (tv_sec, tv_nsec) as the kernel reports them: the floor in seconds, then nanoseconds in [0, 1e9). */
function toTimespec(ns: bigint): [bigint, bigint] {
  // BigInt division truncates toward zero; before 1970 that is one second too high.
  const nsec = ((ns % NS_PER_SECOND) + NS_PER_SECOND) % NS_PER_SECOND;
  return [(ns - nsec) / NS_PER_SECOND, nsec];
}

/**
 * Python's `int(os.stat(p).st_mtime)` from the exact mtime in ns.
 *
 * CPython builds `st_mtime` as the double `sec + nsec * 1e-9` (tv_sec, and
 * tv_nsec in [0, 1e9)) and `int()` truncates it toward zero. That is not the
 * floor of the exact time: for about 3 in 10^9 nsec values the sum rounds
 * up to the next second (e.g. sec 1714900000, nsec 999999940 gives
 * 1714900001.0), and before 1970 the truncation goes up where a floor goes
 * down. Both steps are repeated here in the same IEEE operations.
 */
export function pythonWholeSeconds(mtimeNs: bigint): number {
  const [sec, nsec] = toTimespec(mtimeNs);
  // `+ 0` turns the -0 that trunc gives for (-1 s, 0.5 s) into Python's 0.
  return Math.trunc(Number(sec) + Number(nsec) * 1e-9) + 0;
}

/** Exact mtime in ms from ns, computed as Node computes `Stats.mtimeMs` (sec × 1e3 + nsec / 1e6). */
function msFromNs(mtimeNs: bigint): number {
  const [sec, nsec] = toTimespec(mtimeNs);
  return Number(sec) * 1e3 + Number(nsec) / 1e6;
}

/** Exact mtime of a path in ns, null when it is missing or cannot be stat'ed. */
function mtimeNsOf(target: string): bigint | null {
  try {
    return statSync(target, { bigint: true, throwIfNoEntry: false })?.mtimeNs ?? null;
  } catch {
    return null;
  }
}

/** Whole-second mtime of a path as the Python tool computes it, 0 when it is missing or cannot be stat'ed. */
export function wholeSecondMtime(target: string): number {
  const ns = mtimeNsOf(target);
  return ns === null ? 0 : pythonWholeSeconds(ns);
}

/** Two stats. Runs inside walk workers so a hung mount never stalls the server. */
export function readBuildDirSignal(buildDir: string): BuildDirSignal {
  const dirNs = mtimeNsOf(buildDir);
  const infoNs = mtimeNsOf(path.join(buildDir, BUILD_INFO_FILE));
  return {
    dirMtime: dirNs === null ? 0 : pythonWholeSeconds(dirNs),
    infoMtime: infoNs === null ? 0 : pythonWholeSeconds(infoNs),
    dirMtimeMs: dirNs === null ? 0 : msFromNs(dirNs),
    infoMtimeMs: infoNs === null ? 0 : msFromNs(infoNs),
  };
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
