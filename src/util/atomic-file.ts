/**
 * Crash-safe file replacement, shared by every file we own (the sidecar,
 * the sessions file) and by file moves:
 * write a temp file in the same folder, fsync it, rename it over the target,
 * then fsync the folder. After a crash or power loss at any point the target
 * holds either the old bytes or the new ones, never a torn mix.
 *
 * Temp names carry the writer's pid (`<file>.tmp-<pid>-<random>`) so a
 * cleaner can tell a dead writer's leftovers from a live writer's temp. A
 * temp carrying our own pid that we are not writing right now belongs to an
 * earlier process that had the same pid (containers restart with the same
 * small pids), so it is a leftover too.
 *
 * Power-loss order, asserted by test/sidecar/crash-safety.test.ts: write the temp,
 * fsync it, close it, rename it over the target, fsync the folder.
 */
import { constants as fsConstants, promises as fsp } from 'node:fs';
import path from 'node:path';

/** The temp-file prefix for `file`; everything after it is `<pid>-<random>`. */
export function tempPrefix(file: string): string {
  return `${path.basename(file)}.tmp-`;
}

/** Temps (absolute paths) this process is using right now; a cleaner must leave these alone. */
const inFlight = new Set<string>();

/**
 * Runs `use` with a fresh temp path beside `file` carrying this process's
 * pid; while it runs, {@link removeStaleTemps} leaves that temp alone.
 */
export async function withTempPath<T>(file: string, use: (tmp: string) => Promise<T>): Promise<T> {
  // Loaded on first write: a run that only reads (a warm `sizes`) never pays for node:crypto.
  const { randomBytes } = await import('node:crypto');
  const tmp = path.resolve(path.dirname(file), `${tempPrefix(file)}${process.pid}-${randomBytes(4).toString('hex')}`);
  inFlight.add(tmp);
  try {
    return await use(tmp);
  } finally {
    inFlight.delete(tmp);
  }
}

export interface WriteAtomicOptions {
  /**
   * Runs after the temp is durable and before the rename that publishes it;
   * throwing aborts the write (the temp is removed, the target untouched).
   * The sidecar uses it to check it still holds its cross-process lock.
   */
  beforeRename?: () => Promise<void>;
}

/**
 * The mode of the file a write publishes:
 * - a number: the temp is created with it, narrowed by the umask (files we
 *   alone own, e.g. the sessions file);
 * - `'preserve'`: exactly the existing target's mode (& 0o7777), or 0o600
 *   when there is none (what the Python tool's `mkstemp` gives), whatever
 *   the umask. Running as root, the temp also takes the target's owner and
 *   group, so rewriting a shared file never changes who owns or can read it.
 */
export type FileModePolicy = number | 'preserve';

/** The mode a file we create in a shared folder gets: the Python tool's `mkstemp` mode. */
export const NEW_SHARED_FILE_MODE = 0o600;

interface ResolvedMode {
  /** Mode the temp is created with (before the umask). */
  create: number;
  /** Set exactly with fchmod after creation (and after any chown); null keeps the umask-narrowed create mode. */
  exact: number | null;
  /** uid/gid to fchown the temp to; null leaves it ours. */
  owner: { uid: number; gid: number } | null;
}

/** Whether this process may give files away (chown to another user). */
function runningAsRoot(): boolean {
  return process.geteuid?.() === 0;
}

/** The owner to give a new file so it matches `stats`, or null when it already would (or we cannot). */
export function ownerToKeep(stats: { uid: number; gid: number }): { uid: number; gid: number } | null {
  if (!runningAsRoot()) return null;
  if (stats.uid === process.geteuid?.() && stats.gid === process.getegid?.()) return null;
  return { uid: stats.uid, gid: stats.gid };
}

async function resolveMode(file: string, policy: FileModePolicy): Promise<ResolvedMode> {
  if (policy !== 'preserve') return { create: policy, exact: null, owner: null };
  let existing: { mode: number; uid: number; gid: number } | null = null;
  try {
    existing = await fsp.stat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const exact = existing ? existing.mode & 0o7777 : NEW_SHARED_FILE_MODE;
  // Created owner-only: until the chown below the temp may belong to a
  // different group than the target, so group/other bits wait for the fchmod.
  return { create: exact & 0o700, exact, owner: existing ? ownerToKeep(existing) : null };
}

/**
 * Opens `target` exclusively (it must not exist) with the resolved mode and
 * owner applied before any byte is written: never wider than `mode.exact`,
 * not even briefly.
 */
async function openExclusive(target: string, mode: ResolvedMode): Promise<fsp.FileHandle> {
  const handle = await fsp.open(target, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, mode.create);
  try {
    // chown before chmod: a chown clears setuid/setgid bits the chmod sets.
    if (mode.owner) await handle.chown(mode.owner.uid, mode.owner.gid);
    if (mode.exact !== null) await handle.chmod(mode.exact);
  } catch (err) {
    await handle.close();
    await fsp.unlink(target).catch(() => undefined);
    throw err;
  }
  return handle;
}

/**
 * Creates `target` (which must not exist) holding `data`, durably, with
 * exactly `mode` and, when running as root, `owner`. Used for copies that
 * must be no more readable than their original (a corrupt sidecar's bytes).
 */
export async function writeNewFileExact(
  target: string,
  data: string | Uint8Array,
  mode: number,
  owner: { uid: number; gid: number } | null = null,
): Promise<void> {
  const handle = await openExclusive(target, { create: mode & 0o700, exact: mode, owner });
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Atomically replaces `file` with `data`; see {@link FileModePolicy} for the mode it gets. */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode: FileModePolicy = 0o644, options: WriteAtomicOptions = {}): Promise<void> {
  const resolved = await resolveMode(file, mode);
  await withTempPath(file, async (tmp) => {
    const handle = await openExclusive(tmp, resolved);
    try {
      await handle.writeFile(data);
      // Data on disk before the rename makes it visible: after a power loss
      // the name points at complete bytes or at the old file.
      await handle.sync();
    } catch (err) {
      await handle.close();
      await fsp.unlink(tmp).catch(() => undefined);
      throw err;
    }
    await handle.close();
    try {
      await options.beforeRename?.();
      await fsp.rename(tmp, file);
    } catch (err) {
      await fsp.unlink(tmp).catch(() => undefined);
      throw err;
    }
  });
  // The rename itself survives power loss only once the folder is synced.
  await syncDir(path.dirname(file));
}

/** fsync a folder so a rename or unlink inside it survives power loss; best effort. */
export async function syncDir(dir: string): Promise<void> {
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(dir, 'r');
    await handle.sync();
  } catch {
    // Some file systems (and Windows) refuse to fsync a folder; the rename
    // is still atomic, only its durability across power loss is weaker.
  } finally {
    await handle?.close();
  }
}

/**
 * Removes temp files of `file` left by writers that died between write and
 * rename. Only temps whose owning process is gone are touched, so a live
 * writer's temp (ours or another tool's) is never pulled from under it.
 */
export async function removeStaleTemps(file: string): Promise<number> {
  const dir = path.dirname(file);
  const prefix = tempPrefix(file);
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const full = path.resolve(dir, name);
    const pid = Number(name.slice(prefix.length).split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && (pid === process.pid ? inFlight.has(full) : processAlive(pid))) continue;
    try {
      await fsp.unlink(full);
      removed++;
    } catch {
      // Another cleaner got it first.
    }
  }
  return removed;
}

/** Whether a process with this pid exists (on this host); EPERM means it does but is not ours. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
