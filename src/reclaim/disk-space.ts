/**
 * The data dir's file system, free and total (`statfs`), for the free-space
 * guard (issue 14): the page's summary, `sizes`, `/metrics`, and the reclaim
 * policy's free-space rule all read it through one {@link DiskSpaceReader}.
 *
 * A reader is a plain function so every caller takes it as an option (the
 * server's `diskSpace`, the CLI's internal option): tests simulate a full
 * disk by passing their own reader, and the product path (`readDiskSpace`)
 * stays the one real `statfs` call.
 *
 * `free` is what an unprivileged process may still write (`bavail`, not
 * `bfree`: the root-reserved blocks are not ours to fill). A data dir that
 * does not exist yet (a fresh install before the first compile) is measured
 * at its nearest existing parent: it will be created on that file system.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { DiskSpace } from '../shared/reclaim.js';

/** Reads the file system holding `dataDir`; null when it cannot be read (callers log). */
export type DiskSpaceReader = (dataDir: string) => Promise<DiskSpace | null>;

/** Below this change a reading is "the same" (no `disk_updated` for every compile's log line). */
export const DISK_CHANGE_TOLERANCE_BYTES = 1024 * 1024;

/**
 * `statfs` of `dataDir`, or of its nearest existing parent when it is
 * missing. Throws what `statfs` threw for any other failure, so the caller
 * can log why; {@link readDiskSpace} is the variant that answers null.
 */
export async function statDiskSpace(dataDir: string): Promise<DiskSpace> {
  const wanted = path.resolve(dataDir);
  let probe = wanted;
  for (;;) {
    try {
      const stats = await fs.statfs(probe);
      return { path: wanted, free_bytes: stats.bavail * stats.bsize, total_bytes: stats.blocks * stats.bsize };
    } catch (err) {
      const parent = path.dirname(probe);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || parent === probe) throw err;
      probe = parent;
    }
  }
}

/** The product reader: {@link statDiskSpace}, null on failure. */
export const readDiskSpace: DiskSpaceReader = async (dataDir) => {
  try {
    return await statDiskSpace(dataDir);
  } catch {
    return null;
  }
};

/** Whether two readings differ enough to tell clients (a null on either side counts as a change unless both are null). */
export function diskChanged(previous: DiskSpace | null, next: DiskSpace | null, tolerance = DISK_CHANGE_TOLERANCE_BYTES): boolean {
  if (!previous || !next) return previous !== next;
  return (
    previous.path !== next.path ||
    Math.abs(previous.free_bytes - next.free_bytes) >= tolerance ||
    Math.abs(previous.total_bytes - next.total_bytes) >= tolerance
  );
}
