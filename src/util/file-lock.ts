/**
 * The cross-process lock around read-modify-write of the shared sidecar,
 * taken exactly the way the Python Device Builder takes it, so that both
 * tools (and `device-builder sizes` from cron beside our server) exclude
 * each other instead of merely narrowing the window for a lost update.
 *
 * The protocol (Python's `controllers/config/metadata.py`): open
 * `<file>.lock` with O_CREAT | O_NOFOLLOW, mode 0644 (we add O_NONBLOCK so
 * a FIFO planted there cannot hang the open, and libuv adds O_CLOEXEC),
 * refuse anything that is not a regular file, `flock(fd, LOCK_EX)`, re-read
 * the sidecar, change it, publish it atomically, close. The lock file is
 * never removed, renamed, or judged by its age or content: a flock belongs
 * to an open file description and the kernel drops it when its holder dies,
 * so a crashed writer needs no recovery at all, and an empty lock file left
 * behind by Python costs the next writer nothing. (Our earlier lock was an
 * owner-naming lockfile; against Python's leftover it waited for nothing,
 * and renamed it away once "stale", letting a second Python process into
 * the critical section.)
 *
 * Node has no flock, so there are two engines, chosen once per process:
 *
 * - `native`: `flock(fd, LOCK_EX | LOCK_NB)` from our addon
 *   (native/file_lock.c), polled with a jittered backoff (a few ms growing
 *   to about 50 ms) until the deadline. Never a blocking call: a blocking
 *   flock on the event loop would stall the server while Python holds it.
 * - `helper`, for installs built without a C compiler: a child process
 *   inherits our open fd as its fd 3 and locks it, util-linux
 *   `flock -x -w <secs> 3`, or `python3` running `fcntl.flock(3, LOCK_EX)`
 *   where flock(1) is missing. The child's fd 3 and ours are the same open
 *   file description, and that is what owns a flock; so when the child
 *   exits, the lock stays held through our fd until we close it. On timeout
 *   the child is killed and our fd closed, which releases a lock the child
 *   may have taken in the last instant.
 *
 * `DEVICE_BUILDER_FLOCK=auto|native|helper` forces an engine (tests run
 * both); `auto` uses the addon when it loads.
 *
 * Just before publishing, the holder checks that the lock path still names
 * the inode it locked ({@link HeldLock.assertHeld}); if someone replaced or
 * removed the lock file, our flock guards nothing and we write nothing.
 * Within this process a mutex per lock file serializes acquirers, since two
 * open file descriptions of one process exclude each other like strangers.
 */
import { constants as fsConstants, promises as fsp, type Stats } from 'node:fs';
import path from 'node:path';
import { getSystemErrorName } from 'node:util';
import type { Logger } from './log.js';
import { Mutex } from './mutex.js';
import { loadNativeAddon } from './native-addon.js';

export const DEFAULT_LOCK_WAIT_MS = 5_000;
export const FLOCK_ENV = 'DEVICE_BUILDER_FLOCK';

export interface FileLockOptions {
  /** How long to wait for a busy lock before the operation fails (default 5 s). */
  waitMs?: number;
  logger?: Logger;
}

export type FileLockErrorCode = 'ELOCKTIMEOUT' | 'ELOCKLOST' | 'ELOCKNOTFILE';

export class FileLockError extends Error {
  constructor(
    readonly code: FileLockErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'FileLockError';
  }
}

export interface HeldLock {
  readonly lockPath: string;
  /** Throws {@link FileLockError} `ELOCKLOST` unless the lock path still names the file we locked. */
  assertHeld(): Promise<void>;
}

export type FlockEngine = 'native' | 'helper';
export type FlockChoice = FlockEngine | 'auto';

/** The lock file guarding `file`. */
export function lockPathOf(file: string): string {
  return `${path.resolve(file)}.lock`;
}

/** `DEVICE_BUILDER_FLOCK`, validated; anything else is a configuration error, not a silent default. */
export function flockChoiceFromEnv(env: NodeJS.ProcessEnv = process.env): FlockChoice {
  const value = env[FLOCK_ENV]?.trim().toLowerCase();
  if (value === undefined || value === '') return 'auto';
  if (value === 'auto' || value === 'native' || value === 'helper') return value;
  throw new Error(`${FLOCK_ENV} must be auto, native or helper (got ${JSON.stringify(env[FLOCK_ENV])})`);
}

interface NativeFlock {
  flock(fd: number, operation: number): number;
  flockConstants: { LOCK_EX: number; LOCK_NB: number; LOCK_UN: number; EWOULDBLOCK: number };
}

let nativeFlock: { api: NativeFlock | null; reason: string } | null = null;

function loadNativeFlock(): { api: NativeFlock | null; reason: string } {
  if (nativeFlock) return nativeFlock;
  const loaded = loadNativeAddon();
  if (!loaded.addon) nativeFlock = { api: null, reason: loaded.reason };
  else if (typeof loaded.addon['flock'] !== 'function') nativeFlock = { api: null, reason: `${loaded.path} has no flock (built before it was added?)` };
  else nativeFlock = { api: loaded.addon as unknown as NativeFlock, reason: '' };
  return nativeFlock;
}

/** Which engine `choice` means here; `native` without the addon is an error. */
export function resolveFlockEngine(choice: FlockChoice): FlockEngine {
  if (choice === 'helper') return 'helper';
  const native = loadNativeFlock();
  if (native.api) return 'native';
  if (choice === 'native') throw new Error(`${FLOCK_ENV}=native but the native flock is unavailable: ${native.reason}`);
  return 'helper';
}

/** Engines resolved so far, by the env value that chose them (it never changes outside tests). */
const engines = new Map<string, FlockEngine>();

function currentEngine(log: Logger | undefined): FlockEngine {
  const key = process.env[FLOCK_ENV] ?? '';
  let engine = engines.get(key);
  if (!engine) {
    engine = resolveFlockEngine(flockChoiceFromEnv());
    engines.set(key, engine);
    log?.debug({ engine, ...(engine === 'helper' ? { why: loadNativeFlock().reason || `${FLOCK_ENV}=helper` } : {}) }, 'sidecar lock: flock engine chosen');
  }
  return engine;
}

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a folder';
  if (stats.isSymbolicLink()) return 'a symbolic link';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

function notAFile(lockPath: string, kind: string): FileLockError {
  return new FileLockError('ELOCKNOTFILE', `the lock file ${lockPath} is ${kind}, not a regular file; nothing was written`);
}

const OPEN_FLAGS = fsConstants.O_CREAT | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK;

/** Opens the lock file as Python does; anything but a regular file is refused (and left alone). */
async function openLockFile(lockPath: string): Promise<fsp.FileHandle> {
  let handle: fsp.FileHandle;
  try {
    try {
      handle = await fsp.open(lockPath, OPEN_FLAGS | fsConstants.O_RDWR, 0o644);
    } catch (err) {
      // A lock file we may not write (another user's 0644): flock works on any open mode.
      if (errnoCode(err) !== 'EACCES') throw err;
      handle = await fsp.open(lockPath, OPEN_FLAGS | fsConstants.O_RDONLY, 0o644);
    }
  } catch (err) {
    // O_NOFOLLOW on a symlink is ELOOP; a folder refuses O_RDWR with EISDIR.
    if (errnoCode(err) === 'ELOOP' || errnoCode(err) === 'EISDIR') {
      const stats = await fsp.lstat(lockPath).catch(() => null);
      throw notAFile(lockPath, stats ? kindOf(stats) : errnoCode(err) === 'ELOOP' ? 'a symbolic link' : 'a folder');
    }
    throw err;
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw notAFile(lockPath, kindOf(stats));
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw err;
  }
  return handle;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls LOCK_EX | LOCK_NB until `deadline`; true when held. */
async function lockNative(handle: fsp.FileHandle, deadline: number): Promise<boolean> {
  const { api } = loadNativeFlock();
  if (!api) throw new Error('native flock unavailable');
  const { LOCK_EX, LOCK_NB, EWOULDBLOCK } = api.flockConstants;
  let delay = 2;
  for (;;) {
    let result: number;
    try {
      result = api.flock(handle.fd, LOCK_EX | LOCK_NB);
    } catch (err) {
      const errno = (err as { errno?: number }).errno;
      const code = typeof errno === 'number' ? getSystemErrorName(-errno) : undefined;
      throw Object.assign(new Error(`flock ${(err as Error).message.replace(/^flock: /, '')}`), { code });
    }
    if (result === 0) return true;
    if (result !== EWOULDBLOCK) throw new Error(`flock returned ${result}`);
    const left = deadline - Date.now();
    if (left <= 0) return false;
    await sleep(Math.min(left, delay * (0.5 + Math.random())));
    delay = Math.min(delay * 1.6, 50);
  }
}

type HelperProgram = 'flock' | 'python3';

/** The helper in use: util-linux flock(1) until it turns out to be missing (or BusyBox's, without -w). */
let helperProgram: HelperProgram = 'flock';

/**
 * python3's turn at `flock -x -w <secs> 3`: a real-time timer interrupts the
 * wait and exits 75 (nothing else here exits 75), so the wait is bounded even
 * if we die first and the helper is orphaned; 0 s is one non-blocking try.
 */
const PYTHON_LOCK = [
  'import fcntl, signal, sys',
  'secs = float(sys.argv[1])',
  'def give_up(*_): sys.exit(75)',
  'signal.signal(signal.SIGALRM, give_up)',
  'try:',
  '    if secs > 0:',
  '        signal.setitimer(signal.ITIMER_REAL, secs)',
  '        fcntl.flock(3, fcntl.LOCK_EX)',
  '    else:',
  '        fcntl.flock(3, fcntl.LOCK_EX | fcntl.LOCK_NB)',
  'except BlockingIOError:',
  '    sys.exit(75)',
  '',
].join('\n');
const PYTHON_TIMEOUT_EXIT = 75;

type HelperOutcome = { kind: 'locked' } | { kind: 'timeout' } | { kind: 'missing' } | { kind: 'failed'; why: string; usage: boolean };

/** One helper run on our fd; resolves once the child is gone. */
async function runHelper(program: HelperProgram, fd: number, waitMs: number): Promise<HelperOutcome> {
  // Loaded on first use: with the addon's flock no process is ever spawned, and node:child_process costs every start-up.
  const { spawn } = await import('node:child_process');
  const secs = (Math.max(0, waitMs) / 1000).toFixed(3);
  const args = program === 'flock' ? ['-x', '-w', secs, '3'] : ['-c', PYTHON_LOCK, secs];
  return new Promise((resolve) => {
    const child = spawn(program, args, { stdio: ['ignore', 'ignore', 'pipe', fd] });
    let stderr = '';
    let timedOut = false;
    let spawnError: NodeJS.ErrnoException | null = null;
    child.stderr?.on('data', (chunk: Buffer) => {
      if (stderr.length < 2_000) stderr += chunk.toString();
    });
    // Both helpers keep their own time; this is the backstop (a stuck or slow-starting helper).
    const timer = setTimeout(
      () => {
        timedOut = true;
        child.kill('SIGKILL');
      },
      Math.max(0, waitMs) + 1_000,
    );
    child.on('error', (err: NodeJS.ErrnoException) => {
      spawnError = err;
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (spawnError) {
        resolve(spawnError.code === 'ENOENT' ? { kind: 'missing' } : { kind: 'failed', why: spawnError.message, usage: false });
      } else if (timedOut) resolve({ kind: 'timeout' });
      else if (code === 0) resolve({ kind: 'locked' });
      // flock(1) says nothing and exits 1 when -w runs out.
      else if (program === 'flock' && code === 1 && stderr.trim() === '') resolve({ kind: 'timeout' });
      else if (program === 'python3' && code === PYTHON_TIMEOUT_EXIT) resolve({ kind: 'timeout' });
      else {
        const usage = program === 'flock' && (code === 64 || /invalid option|unrecognized option|usage/i.test(stderr));
        resolve({ kind: 'failed', why: `${program} exited with ${code ?? signal}${stderr.trim() ? `: ${stderr.trim()}` : ''}`, usage });
      }
    });
  });
}

/** Locks our open file description through a helper process; true when held. */
async function lockWithHelper(handle: fsp.FileHandle, deadline: number, log: Logger | undefined): Promise<boolean> {
  for (;;) {
    const program = helperProgram;
    const outcome = await runHelper(program, handle.fd, deadline - Date.now());
    if (outcome.kind === 'locked') return true;
    if (outcome.kind === 'timeout') return false;
    if (program === 'flock' && (outcome.kind === 'missing' || outcome.usage)) {
      log?.debug({ why: outcome.kind === 'missing' ? 'flock(1) not found' : outcome.why }, 'sidecar lock: using python3 as the flock helper');
      helperProgram = 'python3';
      continue;
    }
    if (outcome.kind === 'missing') {
      throw new Error('no way to take the sidecar lock: the native addon is not built and neither flock(1) nor python3 is on PATH');
    }
    throw new Error(`the flock helper failed: ${outcome.why}`);
  }
}

/** Whether `lockPath` still names the file `handle` has open (dev and inode). */
async function stillNamesOurFile(lockPath: string, handle: fsp.FileHandle): Promise<boolean> {
  const [named, ours] = await Promise.all([fsp.lstat(lockPath, { bigint: true }).catch(() => null), handle.stat({ bigint: true })]);
  return named !== null && named.dev === ours.dev && named.ino === ours.ino;
}

async function release(handle: fsp.FileHandle, engine: FlockEngine, lockPath: string, log: Logger | undefined): Promise<void> {
  try {
    const { api } = loadNativeFlock();
    // The helper engine has no unlock of its own: closing the last fd of the description releases it.
    if (engine === 'native' && api) api.flock(handle.fd, api.flockConstants.LOCK_UN);
  } catch (err) {
    log?.warn({ err, lock: lockPath }, 'could not unlock the sidecar lock; closing releases it');
  } finally {
    await handle.close().catch((err: unknown) => log?.warn({ err, lock: lockPath }, 'could not close the sidecar lock file'));
  }
}

async function acquire(lockPath: string, options: FileLockOptions): Promise<{ lock: HeldLock; handle: fsp.FileHandle; engine: FlockEngine }> {
  const waitMs = options.waitMs ?? DEFAULT_LOCK_WAIT_MS;
  const engine = currentEngine(options.logger);
  const deadline = Date.now() + waitMs;
  for (;;) {
    const handle = await openLockFile(lockPath);
    let locked = false;
    try {
      locked = engine === 'native' ? await lockNative(handle, deadline) : await lockWithHelper(handle, deadline, options.logger);
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
    if (!locked) {
      await handle.close().catch(() => undefined);
      throw new FileLockError('ELOCKTIMEOUT', `timed out after ${waitMs} ms waiting for the lock ${lockPath} (held by another process); nothing was written`);
    }
    // Locked what we opened; if the name moved on meanwhile (something removed or
    // replaced the file), that lock guards nothing: start over on the file there now.
    if (await stillNamesOurFile(lockPath, handle)) {
      const lock: HeldLock = {
        lockPath,
        assertHeld: async () => {
          if (!(await stillNamesOurFile(lockPath, handle))) {
            throw new FileLockError('ELOCKLOST', `the lock file ${lockPath} was removed or replaced while we held it; nothing was written`);
          }
        },
      };
      return { lock, handle, engine };
    }
    await release(handle, engine, lockPath, options.logger);
    if (Date.now() >= deadline) {
      throw new FileLockError('ELOCKTIMEOUT', `timed out after ${waitMs} ms: the lock file ${lockPath} kept being replaced; nothing was written`);
    }
  }
}

/** One acquirer per lock file inside this process. */
const processMutexes = new Map<string, Mutex>();

/**
 * Runs `task` holding both this process's mutex for `file` and the flock on
 * `<file>.lock`. Rejects without running `task` with {@link FileLockError}
 * `ELOCKTIMEOUT` when the lock stays busy for `waitMs`, `ELOCKNOTFILE` when
 * the lock path is not a regular file, and with the file system's error when
 * the lock file cannot be opened or created.
 */
export async function withFileLock<T>(file: string, task: (lock: HeldLock) => Promise<T>, options: FileLockOptions = {}): Promise<T> {
  const lockPath = lockPathOf(file);
  let mutex = processMutexes.get(lockPath);
  if (!mutex) {
    mutex = new Mutex();
    processMutexes.set(lockPath, mutex);
  }
  return mutex.run(async () => {
    const { lock, handle, engine } = await acquire(lockPath, options);
    try {
      return await task(lock);
    } finally {
      await release(handle, engine, lockPath, options.logger);
    }
  });
}
