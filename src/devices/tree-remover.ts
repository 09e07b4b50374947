/**
 * The one way a build folder (or an unused one) is deleted: `removeTree`.
 *
 * `fs.rm({recursive})` works by path, so a folder swapped for a symlink
 * after the delete began was followed and the link's target emptied (the
 * security review deleted 19,515 of 20,000 outside files that way). It also
 * ran on the event loop's thread pool and held the whole tree in memory
 * (1M entries: 22.6 s, 1.86 GB RSS, every other request stalled 22 s).
 * Both engines here walk by open folder and never cross a symlink or a
 * mount, whatever changes during the delete, and neither runs on the event
 * loop:
 *
 * - `native`: the addon's `removeTree` (native/remove_tree.c: openat with
 *   O_NOFOLLOW, unlinkat, no other file system or mount, flat memory), run
 *   in a short-lived worker thread so the synchronous call never blocks the
 *   server. An abort flag on a SharedArrayBuffer stops it at the next entry.
 * - `rm`: GNU coreutils `rm -rf --one-file-system -- <path>` as a child
 *   process. Its fts walk opens folders relative to their parent with
 *   O_NOFOLLOW and checks device and inode, so it is safe against the same
 *   swap. Only GNU rm is trusted (`rm --version`); other rm implementations
 *   are not known to be, so without the addon and without GNU rm we refuse
 *   rather than fall back on a path-based delete.
 *
 * The engine is chosen once per process from `DEVICE_BUILDER_REMOVER`
 * (`auto`: native when built, else GNU rm; `native`; `rm`), validated;
 * tests may force one per call with `engine`.
 *
 * Callers still ask the delete guard first; this module does not judge
 * whether a path may be deleted, only how to delete it safely.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { getSystemErrorName } from 'node:util';
import { loadNativeAddon } from '../util/native-addon.js';

export type RemoverEngine = 'native' | 'rm';
export type RemoverChoice = RemoverEngine | 'auto';

export const REMOVER_ENV = 'DEVICE_BUILDER_REMOVER';

/** What a removal did. Counts are null when the engine cannot say (rm). */
export interface RemoveReport {
  engine: RemoverEngine;
  /** The path is gone (or was never there). */
  complete: boolean;
  /** Nothing was there to remove. */
  rootMissing: boolean;
  /** The path itself was a symlink (or a file): it was unlinked, nothing was followed. */
  rootWasLink: boolean;
  removedFiles: number | null;
  removedDirs: number | null;
  /** Allocated bytes of removed files that had no other hard link. */
  bytesFreed: number | null;
  errorCount: number;
  /** Up to 20 errors as `path: ECODE` (or rm's own words). */
  errors: string[];
  /** Folders on another file system or mount, left alone with everything above them. */
  mountPointCount: number;
  mountPoints: string[];
}

export interface RemoveTreeOptions {
  /** Stops the removal at its next entry (native) or kills rm; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Overrides the process-wide choice (tests). */
  engine?: RemoverChoice;
  /**
   * Test hook, native engine only: after entering this many folders the
   * remover waits (in its worker) until `onPause` resolves. Lets a test
   * change the tree in the middle of a real removal.
   */
  pauseAfterDirs?: number;
  onPause?: () => Promise<void> | void;
}

export type RemoveTreeFn = (target: string, options?: RemoveTreeOptions) => Promise<RemoveReport>;

export class TreeRemoverError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TreeRemoverError';
  }
}

const MAX_SAMPLES = 20;
/** Slots of the control array shared with native/remove_tree.c. */
const CONTROL_ABORT = 0;
const CONTROL_PAUSE_AT = 1;
const CONTROL_PAUSE_STATE = 2;

/** `DEVICE_BUILDER_REMOVER`, validated; anything else is a configuration error, not a silent default. */
export function removerChoiceFromEnv(env: NodeJS.ProcessEnv = process.env): RemoverChoice {
  const value = env[REMOVER_ENV]?.trim().toLowerCase();
  if (value === undefined || value === '') return 'auto';
  if (value === 'auto' || value === 'native' || value === 'rm') return value;
  throw new TreeRemoverError(`${REMOVER_ENV} must be auto, native or rm (got ${JSON.stringify(env[REMOVER_ENV])})`);
}

interface NativeReport {
  removedFiles: number;
  removedDirs: number;
  bytesFreed: number;
  errorCount: number;
  errors: [string, number][];
  mountPointCount: number;
  mountPoints: string[];
  rootMissing: boolean;
  rootWasLink: boolean;
  aborted: boolean;
  complete: boolean;
}

/** Why the native remover is unavailable, or null when it is there. */
export function nativeRemoverUnavailable(): string | null {
  const loaded = loadNativeAddon();
  if (!loaded.addon) return loaded.reason;
  if (typeof loaded.addon['removeTree'] !== 'function') return `${loaded.path} has no removeTree (an older build? run npm rebuild)`;
  return null;
}

let gnuRm: Promise<string | null> | null = null;

/** Null when `rm` is GNU coreutils' (asked once per process), else why it is not used. */
export function gnuRmUnavailable(): Promise<string | null> {
  gnuRm ??= new Promise((resolve, reject) => {
    // node:child_process and node:worker_threads are loaded when something is deleted, not when this module is (every CLI start imports it).
    import('node:child_process').then(
      ({ execFile }) =>
        execFile('rm', ['--version'], { timeout: 10_000, env: { ...process.env, LC_ALL: 'C' } }, (err, stdout) => {
          if (err) resolve(`rm --version failed: ${err.message}`);
          else if (/\bGNU coreutils\b/.test(stdout.split('\n')[0] ?? '')) resolve(null);
          else resolve(`rm is not GNU coreutils (rm --version: ${JSON.stringify((stdout.split('\n')[0] ?? '').slice(0, 80))})`);
        }),
      reject,
    );
  });
  return gnuRm;
}

const engines = new Map<RemoverChoice, Promise<RemoverEngine>>();
let defaultChoice: RemoverChoice | null = null;

/** The engine for `choice`, decided once per process; rejects when it cannot be used safely. */
export function resolveRemoverEngine(choice: RemoverChoice): Promise<RemoverEngine> {
  if (choice !== 'auto' && choice !== 'native' && choice !== 'rm') {
    return Promise.reject(new TreeRemoverError(`remover must be auto, native or rm (got ${JSON.stringify(choice)})`));
  }
  let engine = engines.get(choice);
  if (!engine) {
    engine = decide(choice);
    engines.set(choice, engine);
  }
  return engine;
}

async function decide(choice: RemoverChoice): Promise<RemoverEngine> {
  const nativeMissing = choice === 'rm' ? 'not chosen' : nativeRemoverUnavailable();
  if (nativeMissing === null) return 'native';
  if (choice === 'native') throw new TreeRemoverError(`native remover requested (${REMOVER_ENV}=native) but unavailable: ${nativeMissing}`);
  const rmMissing = await gnuRmUnavailable();
  if (rmMissing === null) return 'rm';
  if (choice === 'rm') throw new TreeRemoverError(`rm remover requested (${REMOVER_ENV}=rm) but unusable: ${rmMissing}`);
  throw new TreeRemoverError(
    `no safe way to delete folders: the native remover is unavailable (${nativeMissing}) and ${rmMissing}; ` +
      'refusing a path-based delete, which a symlink swapped in during the delete could redirect. ' +
      'Build the addon (npm rebuild, needs a C compiler) or install GNU coreutils.',
  );
}

/**
 * Removes `target` and everything under it without ever crossing a symlink
 * or a mount point. Resolves with what was done, also when part of the tree
 * could not be removed (`complete: false`, see `errors` and `mountPoints`);
 * rejects when no safe engine is available, when the path cannot be reached
 * at all, or when aborted.
 */
export async function removeTree(target: string, options: RemoveTreeOptions = {}): Promise<RemoveReport> {
  if (typeof target !== 'string' || target === '' || target.includes('\0')) {
    throw new TreeRemoverError('removeTree: path must be a non-empty string without NUL bytes');
  }
  const absolute = path.resolve(target);
  if (absolute === path.parse(absolute).root) throw new TreeRemoverError('removeTree: refusing to remove the file-system root');
  defaultChoice ??= removerChoiceFromEnv();
  const engine = await resolveRemoverEngine(options.engine ?? defaultChoice);
  options.signal?.throwIfAborted();
  return engine === 'native' ? removeNative(absolute, options) : removeWithRm(absolute, options);
}

function errnoText(code: number): string {
  try {
    return getSystemErrorName(-code);
  } catch {
    return `errno ${code}`;
  }
}

// Plain CommonJS, so the worker needs no TypeScript loader under the test runner.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
let message;
try {
  const addon = require(workerData.addonPath);
  message = { ok: true, report: addon.removeTree(workerData.target, workerData.control) };
} catch (err) {
  message = { ok: false, error: err && err.message ? err.message : String(err) };
}
parentPort.postMessage(message);
`;

type WorkerMessage = { ok: true; report: NativeReport } | { ok: false; error: string };

async function removeNative(target: string, options: RemoveTreeOptions): Promise<RemoveReport> {
  const loaded = loadNativeAddon();
  if (!loaded.addon) throw new TreeRemoverError(`native remover unavailable: ${loaded.reason}`);
  const { Worker } = await import('node:worker_threads');
  const control = new Int32Array(new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT));
  const pauseAt = Math.max(0, Math.floor(options.pauseAfterDirs ?? 0));
  control[CONTROL_PAUSE_AT] = options.onPause ? pauseAt : 0;
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { addonPath: loaded.path, target, control } });
  const { signal } = options;
  const onAbort = (): void => {
    Atomics.store(control, CONTROL_ABORT, 1);
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  let pausePoll: NodeJS.Timeout | null = null;
  let pauseError: unknown = null;
  if (options.onPause && pauseAt > 0) {
    const onPause = options.onPause;
    pausePoll = setInterval(() => {
      if (Atomics.load(control, CONTROL_PAUSE_STATE) !== 1) return;
      if (pausePoll) clearInterval(pausePoll);
      pausePoll = null;
      Promise.resolve()
        .then(onPause)
        .catch((err: unknown) => {
          pauseError = err;
        })
        .finally(() => Atomics.store(control, CONTROL_PAUSE_STATE, 2));
    }, 2);
  }
  return new Promise<RemoveReport>((resolve, reject) => {
    let settled = false;
    const finish = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      if (pausePoll) clearInterval(pausePoll);
      outcome();
    };
    worker.once('message', (message: WorkerMessage) => {
      finish(() => {
        if (pauseError) return reject(pauseError instanceof Error ? pauseError : new Error(String(pauseError)));
        if (!message.ok) return reject(new TreeRemoverError(message.error));
        const raw = message.report;
        if (raw.aborted) return reject(signal?.reason ?? new TreeRemoverError('removal aborted'));
        resolve({
          engine: 'native',
          complete: raw.complete,
          rootMissing: raw.rootMissing,
          rootWasLink: raw.rootWasLink,
          removedFiles: raw.removedFiles,
          removedDirs: raw.removedDirs,
          bytesFreed: raw.bytesFreed,
          errorCount: raw.errorCount,
          errors: raw.errors.map(([where, code]) => `${where}: ${errnoText(code)}`),
          mountPointCount: raw.mountPointCount,
          mountPoints: raw.mountPoints,
        });
      });
    });
    worker.once('error', (err) => finish(() => reject(err)));
    worker.once('exit', (code) => finish(() => reject(new TreeRemoverError(`remover worker exited with code ${code} before answering`))));
  });
}

const DIFFERENT_DEVICE = /^rm: skipping '(.*)', since it's on a different device$/;

async function removeWithRm(target: string, options: RemoveTreeOptions): Promise<RemoveReport> {
  const before = await fsp.lstat(target).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  const report: RemoveReport = {
    engine: 'rm',
    complete: false,
    rootMissing: before === null,
    rootWasLink: before !== null && !before.isDirectory(),
    removedFiles: null,
    removedDirs: null,
    bytesFreed: null,
    errorCount: 0,
    errors: [],
    mountPointCount: 0,
    mountPoints: [],
  };
  if (before === null) return { ...report, complete: true, removedFiles: 0, removedDirs: 0 };
  const { signal } = options;
  const { spawn } = await import('node:child_process');
  const child = spawn('rm', ['-rf', '--one-file-system', '--', target], {
    stdio: ['ignore', 'ignore', 'pipe'],
    // rm's messages are parsed (mount points): keep them in English.
    env: { ...process.env, LC_ALL: 'C' },
    signal,
    killSignal: 'SIGKILL',
  });
  let pending = '';
  const take = (line: string): void => {
    if (line === '') return;
    const mount = DIFFERENT_DEVICE.exec(line);
    if (mount) {
      report.mountPointCount++;
      if (report.mountPoints.length < MAX_SAMPLES) report.mountPoints.push(mount[1] as string);
      return;
    }
    report.errorCount++;
    if (report.errors.length < MAX_SAMPLES) report.errors.push(line.slice(0, 1000));
  };
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    // Bounded: a million failures do not become a million strings.
    for (const line of lines) take(line);
    if (pending.length > 64 * 1024) pending = pending.slice(-4096);
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (status) => resolve(status));
  });
  take(pending);
  signal?.throwIfAborted();
  const after = await fsp.lstat(target).then(
    () => true,
    (err: NodeJS.ErrnoException) => err.code !== 'ENOENT',
  );
  report.complete = !after;
  if (code !== 0 && report.errorCount === 0 && report.mountPointCount === 0) {
    report.errorCount = 1;
    report.errors.push(`rm exited with code ${code}`);
  }
  return report;
}

/** One line for logs and reports: what stayed and why. */
export function describeIncomplete(report: RemoveReport): string {
  const parts: string[] = [];
  if (report.mountPointCount > 0) {
    parts.push(`left ${report.mountPointCount} mount point(s) alone: ${report.mountPoints.slice(0, 3).join(', ')}`);
  }
  if (report.errorCount > 0) parts.push(`${report.errorCount} error(s), first: ${report.errors[0] ?? 'unknown'}`);
  if (parts.length === 0) parts.push('the folder is still there');
  return parts.join('; ');
}
