/**
 * A cross-process lock around read-modify-write of a shared file (the
 * sidecar), so `device-builder sizes` from cron and the running server never
 * lose each other's updates.
 *
 * The lock is `<file>.lock`, managed by `proper-lockfile` (stale detection by
 * mtime, a refresh timer while held, "compromised" detection, release on
 * exit) over a small file-system adapter that makes the lock a *file that
 * names its owner* instead of the library's empty folder:
 *
 * - it is created atomically with its content (`{pid, host, nonce, since}`
 *   written to a temp, then hard-linked into place; `link` fails with EEXIST
 *   when the lock is taken), so there is never a lock without an owner;
 * - a lock whose owner is dead (same host, pid gone, or our own pid but not
 *   held by us: a restarted container reuses small pids) is broken at once
 *   rather than after the stale period, which is what makes a SIGKILLed
 *   writer cost the next writer milliseconds instead of 10 s;
 * - a lock from another host, or one we cannot attribute, is broken only
 *   when its mtime is older than the stale period (10 s; the holder touches
 *   it every 5 s).
 *
 * Breaking is a rename to a private name followed by a check that what was
 * moved is the lock that was judged dead; if a new owner slipped in between,
 * its lock is linked back. The holder re-reads the lock file just before it
 * commits (see {@link HeldLock.assertHeld}), so in the rare case its lock was
 * taken from it (an event loop stalled for longer than the stale period) it
 * writes nothing. Release removes the lock file only if it still holds our
 * nonce.
 *
 * Writers that do not take this lock (the Python Device Builder) are not
 * excluded; for them the re-read under lock plus the atomic rename keeps the
 * window in which an update can be lost to the few milliseconds between our
 * read and our rename.
 */
import { randomBytes } from 'node:crypto';
import fs, { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { processAlive, removeStaleTemps, withTempPath } from './atomic-file.js';
import type { Logger } from './log.js';
import { Mutex } from './mutex.js';

export const DEFAULT_LOCK_STALE_MS = 10_000;
export const DEFAULT_LOCK_WAIT_MS = 5_000;

export interface FileLockOptions {
  /** A lock not refreshed for this long is a crash leftover (proper-lockfile's minimum is 2 s). */
  staleMs?: number;
  /** How long to wait for a busy lock before the operation fails. */
  waitMs?: number;
  logger?: Logger;
}

export type FileLockErrorCode = 'ELOCKTIMEOUT' | 'ELOCKLOST';

export class FileLockError extends Error {
  constructor(
    readonly code: FileLockErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'FileLockError';
  }
}

/** What a lock file says about its holder. */
export interface LockOwner {
  pid: number;
  host: string;
  nonce: string;
  since: string;
}

export interface HeldLock {
  readonly lockPath: string;
  /** Throws {@link FileLockError} `ELOCKLOST` unless the lock file is still ours. */
  assertHeld(): Promise<void>;
}

/** The lock file guarding `file`. */
export function lockPathOf(file: string): string {
  return `${path.resolve(file)}.lock`;
}

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

function parseOwner(text: string | null): LockOwner | null {
  if (!text) return null;
  try {
    const value = JSON.parse(text) as Partial<LockOwner> | null;
    if (value && typeof value.pid === 'number' && typeof value.host === 'string' && typeof value.nonce === 'string') {
      return { pid: value.pid, host: value.host, nonce: value.nonce, since: String(value.since ?? '') };
    }
  } catch {
    // Not ours (or torn on a file system without hard links): unattributable.
  }
  return null;
}

async function readText(file: string): Promise<string | null> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch {
    return null;
  }
}

/** Lock files this process holds, with the content it wrote. */
const held = new Map<string, string>();
/** The content the next create of a lock file must carry (set just before proper-lockfile runs). */
const pending = new Map<string, string>();
/** One acquirer per lock file inside this process; proper-lockfile keys its own state by path. */
const processMutexes = new Map<string, Mutex>();

// File systems without hard links (FAT/exFAT, some SMB mounts) answer these.
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV']);

/** Creates `lockPath` holding `content`, atomically: it appears complete or not at all. */
async function createLockFile(lockPath: string, content: string): Promise<void> {
  await withTempPath(lockPath, async (tmp) => {
    await fsp.writeFile(tmp, content, { flag: 'wx', mode: 0o644 });
    try {
      await fsp.link(tmp, lockPath);
    } catch (err) {
      if (!NO_HARD_LINKS.has(errnoCode(err) ?? '')) throw err;
      // Exclusive create instead; a reader may briefly see it empty and then
      // treats it as unattributable (broken only once stale).
      await fsp.writeFile(lockPath, content, { flag: 'wx', mode: 0o644 });
    } finally {
      await fsp.unlink(tmp).catch(() => undefined);
    }
  });
}

/**
 * Removes `lockPath` if what is there is `expected` (or, with `staleMs`,
 * still older than that): rename it away, check, then drop it or link it back.
 * Returns whether the judged lock is gone.
 */
async function removeJudgedLock(lockPath: string, check: (movedText: string | null, mtimeMs: number) => boolean): Promise<boolean> {
  return withTempPath(lockPath, async (grave) => {
    try {
      await fsp.rename(lockPath, grave);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return true;
      throw err;
    }
    const text = await readText(grave);
    const stats = await fsp.stat(grave).catch(() => null);
    if (check(text, stats?.mtimeMs ?? 0)) {
      // Another tool's proper-lockfile lock is an empty folder; anything fuller is left alone.
      await fsp.unlink(grave).catch(() => fsp.rmdir(grave).catch(() => undefined));
      return true;
    }
    // A new owner took the lock between the judgement and the rename: give it back.
    await fsp.link(grave, lockPath).catch(() => undefined);
    await fsp.unlink(grave).catch(() => undefined);
    return false;
  });
}

function lockedError(lockPath: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`lock ${lockPath} is held`), { code: 'ELOCKED' });
}

type Callback = (err: Error | null, value?: unknown) => void;

const passThrough = {
  stat: (p: string, cb: Callback) => fs.stat(p, cb),
  utimes: (p: string, atime: Date, mtime: Date, cb: Callback) => fs.utimes(p, atime, mtime, cb),
  realpath: (p: string, cb: Callback) => fs.realpath(p, cb),
};

/**
 * The adapter proper-lockfile runs on. Its "mkdir" creates our owner-naming
 * lock file; its "rmdir" is only reached for a lock it judged stale by mtime
 * (release uses {@link releaseFs}), so it removes the lock only if it is
 * still that stale; "rmdirSync" runs at process exit for locks we hold.
 * One object for the process: proper-lockfile caches the mtime precision on it.
 */
function makeStaleFs(staleMs: number): object {
  return {
    ...passThrough,
    mkdir: (p: string, cb: Callback) => {
      const content = pending.get(p);
      if (content === undefined) return cb(Object.assign(new Error(`no owner record for ${p}`), { code: 'EINVAL' }));
      createLockFile(p, content).then(() => cb(null), cb);
    },
    rmdir: (p: string, cb: Callback) => {
      removeJudgedLock(p, (_text, mtimeMs) => mtimeMs < Date.now() - staleMs).then(
        (gone) => cb(gone ? null : lockedError(p)),
        cb,
      );
    },
    rmdirSync: (p: string) => {
      const content = held.get(p);
      try {
        if (content !== undefined && fs.readFileSync(p, 'utf8') === content) fs.unlinkSync(p);
      } catch {
        // Exiting anyway; a leftover is broken by the next writer (its pid is gone).
      }
    },
  };
}

const staleFsByMs = new Map<number, object>();

function staleFs(staleMs: number): object {
  let adapter = staleFsByMs.get(staleMs);
  if (!adapter) {
    adapter = makeStaleFs(staleMs);
    staleFsByMs.set(staleMs, adapter);
  }
  return adapter;
}

/** The adapter for release: remove the lock file only while it still holds our nonce. */
function releaseFs(content: string): object {
  return {
    ...passThrough,
    rmdir: (p: string, cb: Callback) => {
      readText(p)
        .then(async (text) => {
          if (text === content) await fsp.unlink(p);
        })
        .then(() => cb(null), (err: unknown) => cb(errnoCode(err) === 'ENOENT' ? null : (err as Error)));
    },
  };
}

/** Whether `owner` is certainly gone, so its lock can be broken now. */
function ownerIsDead(owner: LockOwner, lockPath: string): boolean {
  if (owner.host !== os.hostname()) return false;
  if (owner.pid === process.pid) return held.get(lockPath) === undefined;
  return !processAlive(owner.pid);
}

/**
 * Breaks `lockPath` when its owner is dead. Returns true when the caller
 * should retry at once (broken, or the lock vanished), false to wait.
 */
async function breakIfOwnerDead(lockPath: string, log: Logger | undefined): Promise<{ retryNow: boolean; owner: LockOwner | null }> {
  const text = await readText(lockPath);
  if (text === null) return { retryNow: true, owner: null };
  const owner = parseOwner(text);
  if (!owner || !ownerIsDead(owner, lockPath)) return { retryNow: false, owner };
  const broken = await removeJudgedLock(lockPath, (moved) => moved === text);
  if (broken) log?.warn({ lock: lockPath, pid: owner.pid, since: owner.since }, 'broke a lock left by a process that is gone');
  return { retryNow: broken, owner };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function acquire(file: string, lockPath: string, options: FileLockOptions): Promise<{ lock: HeldLock; content: string }> {
  const staleMs = Math.max(2_000, options.staleMs ?? DEFAULT_LOCK_STALE_MS);
  const waitMs = options.waitMs ?? DEFAULT_LOCK_WAIT_MS;
  const owner: LockOwner = {
    pid: process.pid,
    host: os.hostname(),
    nonce: randomBytes(8).toString('hex'),
    since: new Date().toISOString(),
  };
  const content = `${JSON.stringify(owner)}\n`;
  const state: { compromised: Error | null } = { compromised: null };
  const deadline = Date.now() + waitMs;
  let delay = 2;
  let lastOwner: LockOwner | null = null;
  for (;;) {
    pending.set(lockPath, content);
    try {
      await lockfile.lock(file, {
        realpath: false,
        lockfilePath: lockPath,
        stale: staleMs,
        retries: 0,
        fs: staleFs(staleMs),
        onCompromised: (err) => {
          state.compromised = err;
          options.logger?.warn({ err, lock: lockPath }, 'lost a file lock while holding it');
        },
      });
      held.set(lockPath, content);
      const lock: HeldLock = {
        lockPath,
        assertHeld: async () => {
          const now = await readText(lockPath);
          if (state.compromised || now !== content) {
            throw new FileLockError('ELOCKLOST', `lost the lock ${lockPath} before committing; nothing was written`);
          }
        },
      };
      return { lock, content };
    } catch (err) {
      // Anything but "held" (no folder, read-only, permission) will not get better by waiting.
      if (errnoCode(err) !== 'ELOCKED' && errnoCode(err) !== 'EEXIST') throw err;
    } finally {
      pending.delete(lockPath);
    }
    const verdict = await breakIfOwnerDead(lockPath, options.logger);
    lastOwner = verdict.owner ?? lastOwner;
    const left = deadline - Date.now();
    if (left <= 0) {
      const by = lastOwner ? ` (held by pid ${lastOwner.pid} on ${lastOwner.host} since ${lastOwner.since})` : '';
      throw new FileLockError('ELOCKTIMEOUT', `timed out after ${waitMs} ms waiting for the lock ${lockPath}${by}; nothing was written`);
    }
    if (verdict.retryNow) continue;
    // Jittered exponential backoff, capped so a released lock is noticed quickly.
    await sleep(Math.min(left, delay * (0.5 + Math.random())));
    delay = Math.min(delay * 2, 100);
  }
}

async function release(file: string, lockPath: string, content: string, log: Logger | undefined): Promise<void> {
  held.delete(lockPath);
  try {
    await lockfile.unlock(file, { realpath: false, lockfilePath: lockPath, fs: releaseFs(content) });
  } catch (err) {
    // ENOTACQUIRED: proper-lockfile already dropped it as compromised; nothing of ours is left.
    if (errnoCode(err) !== 'ENOTACQUIRED') log?.warn({ err, lock: lockPath }, 'could not release a file lock');
  }
}

/**
 * Runs `task` holding both this process's mutex for `file` and the
 * cross-process lock `<file>.lock`. Rejects with {@link FileLockError}
 * `ELOCKTIMEOUT` (without running `task`) when the lock stays busy for
 * `waitMs`, and with the file system's error when the lock cannot be created.
 */
export async function withFileLock<T>(file: string, task: (lock: HeldLock) => Promise<T>, options: FileLockOptions = {}): Promise<T> {
  const target = path.resolve(file);
  const lockPath = lockPathOf(target);
  let mutex = processMutexes.get(lockPath);
  if (!mutex) {
    mutex = new Mutex();
    processMutexes.set(lockPath, mutex);
  }
  return mutex.run(async () => {
    const { lock, content } = await acquire(target, lockPath, options);
    try {
      return await task(lock);
    } finally {
      await release(target, lockPath, content, options.logger);
    }
  });
}

/**
 * Start-up cleanup for `file`'s lock: removes temps of the lock left by dead
 * processes and the lock itself when its owner is gone. Returns how many
 * files were removed.
 */
export async function removeStaleLock(file: string, log?: Logger): Promise<number> {
  const lockPath = lockPathOf(file);
  let removed = await removeStaleTemps(lockPath);
  const mutex = processMutexes.get(lockPath);
  const check = async (): Promise<void> => {
    const { retryNow, owner } = await breakIfOwnerDead(lockPath, log);
    if (retryNow && owner) removed++;
  };
  // Never judge our own lock while we may be holding it.
  if (mutex) await mutex.run(check);
  else await check();
  return removed;
}

/** The lock's current owner, or null when free or unattributable (for diagnostics and tests). */
export async function readLockOwner(file: string): Promise<LockOwner | null> {
  return parseOwner(await readText(lockPathOf(file)));
}
