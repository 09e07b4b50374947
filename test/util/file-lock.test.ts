/**
 * The sidecar's cross-process lock (src/util/file-lock.ts): the Python
 * Device Builder's own protocol, `flock(LOCK_EX)` on `<file>.lock`, checked
 * against a real Python process taking it exactly as the Python tool does
 * (test/fixtures/python/sidecar_lock.py), for both engines (the native
 * addon and the helper process). The lock file is never removed or replaced
 * by us; a dead holder's lock is released by the kernel.
 *
 * `DEVICE_BUILDER_FLOCK=helper npm test` leaves the native engine out (a
 * machine without a C compiler); otherwise a missing addon fails here.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SIDECAR_FILE, SidecarStore } from '../../src/sidecar/sidecar-store.js';
import { FileLockError, FLOCK_ENV, flockChoiceFromEnv, lockPathOf, resolveFlockEngine, withFileLock, type FlockEngine } from '../../src/util/file-lock.js';
import { captureLog } from '../helpers/capture-log.js';
import { cleanupTempDirs, makeTempDir, silentLogger } from '../helpers/fs-fixtures.js';
import { REPO_ROOT, TSX_LOADER } from '../helpers/run-cli.js';
import { LOCK_FILE, leftovers } from '../helpers/sidecar-crash.js';

const PY_LOCK = path.join(REPO_ROOT, 'test', 'fixtures', 'python', 'sidecar_lock.py');
const COUNTER = path.join(REPO_ROOT, 'test', 'fixtures', 'sidecar-counter.ts');
/** Every wait on a child is bounded by this. */
const CHILD_WAIT_MS = 30_000;

const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  cleanupTempDirs();
});

/** Waits for a stdout line matching `pattern` (bounded); rejects if the child exits first. */
function waitForLine(child: ChildProcess, pattern: RegExp, what: string): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`${what}: no ${pattern} within ${CHILD_WAIT_MS} ms; stderr: ${stderr}`)), CHILD_WAIT_MS);
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const match = pattern.exec(buffer);
      if (match) {
        clearTimeout(timer);
        resolve(match);
      }
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code ?? signal}) before ${pattern}; stdout: ${buffer}; stderr: ${stderr}`));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.on('close', () => resolve());
  });
}

interface PythonHolder {
  child: ChildProcess;
  /** The inode Python locked, as Python's fstat saw it. */
  inode: number;
  release(): Promise<void>;
}

/** A Python process holding the lock of `dir`'s sidecar, taken as the Python tool takes it. */
async function pythonHolds(dir: string): Promise<PythonHolder> {
  const child = spawn('python3', [PY_LOCK, 'hold', path.join(dir, SIDECAR_FILE)], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  const match = await waitForLine(child, /^held (\d+)$/m, 'python hold');
  return {
    child,
    inode: Number(match[1]),
    release: async () => {
      child.stdin?.end('\n');
      await exited(child);
    },
  };
}

/** Python's non-blocking look at the lock: is some open file description holding it? */
function pythonProbe(dir: string): 'free' | 'busy' {
  const run = spawnSync('python3', [PY_LOCK, 'probe', path.join(dir, SIDECAR_FILE)], { encoding: 'utf8', timeout: CHILD_WAIT_MS });
  expect(run.status, run.stderr).toBe(0);
  return run.stdout.trim() as 'free' | 'busy';
}

function runToEnd(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function readSidecar(dir: string): unknown {
  return JSON.parse(fs.readFileSync(path.join(dir, SIDECAR_FILE), 'utf8'));
}

function inodeOf(file: string): number {
  return fs.lstatSync(file).ino;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => null,
    (err: unknown) => err,
  );
}

/** Whether `promise` is still pending after `ms`: the waiting side of "never breaks in". */
async function stillPendingAfter(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const pending = Symbol('pending');
  const winner = await Promise.race([
    promise.then(
      () => 'settled',
      () => 'settled',
    ),
    new Promise((resolve) => setTimeout(() => resolve(pending), ms)),
  ]);
  return winner === pending;
}

describe('choosing the flock engine', () => {
  it('DEVICE_BUILDER_FLOCK is validated: auto, native or helper (any case), anything else is a clear error', () => {
    expect(flockChoiceFromEnv({})).toBe('auto');
    expect(flockChoiceFromEnv({ [FLOCK_ENV]: ' Native ' })).toBe('native');
    expect(flockChoiceFromEnv({ [FLOCK_ENV]: 'helper' })).toBe('helper');
    expect(() => flockChoiceFromEnv({ [FLOCK_ENV]: 'fcntl' })).toThrow('DEVICE_BUILDER_FLOCK must be auto, native or helper (got "fcntl")');
    expect(resolveFlockEngine('helper')).toBe('helper');
  });

  it('an invalid DEVICE_BUILDER_FLOCK fails the update with that error, writing nothing', async () => {
    const dir = makeTempDir('lock-');
    const saved = process.env[FLOCK_ENV];
    process.env[FLOCK_ENV] = 'sometimes';
    try {
      await expect(new SidecarStore(dir, { logger: silentLogger }).updateDevice('a.yaml', { ip: '1' })).rejects.toThrow(
        /DEVICE_BUILDER_FLOCK must be auto, native or helper/,
      );
    } finally {
      if (saved === undefined) delete process.env[FLOCK_ENV];
      else process.env[FLOCK_ENV] = saved;
    }
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

const ENGINES: FlockEngine[] = flockChoiceFromEnv() === 'helper' ? ['helper'] : ['native', 'helper'];

describe.each(ENGINES)('the flock protocol, %s engine', (engine) => {
  let saved: string | undefined;
  beforeAll(() => {
    saved = process.env[FLOCK_ENV];
    process.env[FLOCK_ENV] = engine;
  });
  afterAll(() => {
    if (saved === undefined) delete process.env[FLOCK_ENV];
    else process.env[FLOCK_ENV] = saved;
  });

  it('holds flock(LOCK_EX) on <file>.lock while the task runs, on a 0644 regular file it never removes', async () => {
    const dir = makeTempDir('lock-');
    const file = path.join(dir, SIDECAR_FILE);
    const { logger, lines } = captureLog();
    const seen = await withFileLock(
      file,
      async (lock) => {
        expect(lock.lockPath).toBe(lockPathOf(file));
        return pythonProbe(dir);
      },
      { logger },
    );
    expect(seen).toBe('busy');
    expect(pythonProbe(dir)).toBe('free');
    const stats = fs.lstatSync(lockPathOf(file));
    expect(stats.isFile()).toBe(true);
    expect(stats.size).toBe(0);
    expect(stats.mode & 0o777).toBe(0o644 & ~process.umask());
    expect(leftovers(dir)).toEqual([]);
    // The engine is logged once, when first chosen (possibly by an earlier test).
    for (const line of lines().filter((entry) => entry['msg'] === 'sidecar lock: flock engine chosen')) expect(line['engine']).toBe(engine);
  });

  it('while Python holds it we wait and never break in; our update lands once Python releases', async () => {
    const dir = makeTempDir('lock-');
    fs.writeFileSync(path.join(dir, SIDECAR_FILE), '{"keep.yaml": {"ip": "9"}}');
    const python = await pythonHolds(dir);
    const lock = path.join(dir, LOCK_FILE);
    expect(inodeOf(lock)).toBe(python.inode);
    const store = new SidecarStore(dir, { logger: silentLogger, lock: { waitMs: CHILD_WAIT_MS } });
    const update = store.updateDevice('a.yaml', { ip: '1' });
    expect(await stillPendingAfter(update, 400)).toBe(true);
    expect(readSidecar(dir)).toEqual({ 'keep.yaml': { ip: '9' } });
    expect(inodeOf(lock)).toBe(python.inode);
    await python.release();
    await update;
    expect(readSidecar(dir)).toEqual({ 'keep.yaml': { ip: '9' }, 'a.yaml': { ip: '1' } });
    expect(inodeOf(lock)).toBe(python.inode);
    expect(leftovers(dir)).toEqual([]);
  });

  it('when Python holds it past waitMs: ELOCKTIMEOUT naming the lock file, nothing written, the task never runs', async () => {
    const dir = makeTempDir('lock-');
    fs.writeFileSync(path.join(dir, SIDECAR_FILE), '{"keep.yaml": {"ip": "9"}}');
    const python = await pythonHolds(dir);
    let ran = false;
    const error = await rejection(
      withFileLock(
        path.join(dir, SIDECAR_FILE),
        async () => {
          ran = true;
        },
        { waitMs: 300 },
      ),
    );
    expect(error).toBeInstanceOf(FileLockError);
    expect((error as FileLockError).code).toBe('ELOCKTIMEOUT');
    expect((error as Error).message).toBe(
      `timed out after 300 ms waiting for the lock ${path.join(dir, LOCK_FILE)} (held by another process); nothing was written`,
    );
    expect(ran).toBe(false);
    const store = new SidecarStore(dir, { logger: silentLogger, lock: { waitMs: 200 } });
    await expect(store.updateDevice('a.yaml', { ip: '1' })).rejects.toMatchObject({ code: 'ELOCKTIMEOUT' });
    expect(readSidecar(dir)).toEqual({ 'keep.yaml': { ip: '9' } });
    // Python still holds what it locked: we neither broke in nor moved its file.
    expect(pythonProbe(dir)).toBe('busy');
    expect(inodeOf(path.join(dir, LOCK_FILE))).toBe(python.inode);
    await python.release();
    expect(pythonProbe(dir)).toBe('free');
  });

  it('a lock file Python left behind (empty, a day old) costs no waiting and is left as it was', async () => {
    const dir = makeTempDir('lock-');
    const run = spawnSync('python3', [PY_LOCK, 'increment', path.join(dir, SIDECAR_FILE), '1'], { encoding: 'utf8', timeout: CHILD_WAIT_MS });
    expect(run.status, run.stderr).toBe(0);
    const lock = path.join(dir, LOCK_FILE);
    const dayAgo = Date.now() / 1000 - 86_400;
    fs.utimesSync(lock, dayAgo, dayAgo);
    const before = fs.lstatSync(lock);
    // waitMs 0: one attempt, no waiting at all; it must succeed.
    await new SidecarStore(dir, { logger: silentLogger, lock: { waitMs: 0 } }).updateDevice('a.yaml', { ip: '1' });
    expect(readSidecar(dir)).toEqual({ _counter: 1, 'a.yaml': { ip: '1' } });
    const after = fs.lstatSync(lock);
    expect([after.ino, after.size, after.mtimeMs]).toEqual([before.ino, 0, before.mtimeMs]);
  });

  it('Python, this process and another of our processes incrementing one counter at once: no update lost', async () => {
    const dir = makeTempDir('lock-');
    const N = 100;
    const store = new SidecarStore(dir, { logger: silentLogger, lock: { waitMs: 60_000 } });
    const ours = (async () => {
      for (let n = 0; n < N; n++) {
        await store.update((data) => {
          data['_counter'] = Number(data['_counter'] ?? 0) + 1;
          return true;
        });
      }
    })();
    const [python, other] = await Promise.all([
      runToEnd('python3', [PY_LOCK, 'increment', path.join(dir, SIDECAR_FILE), String(N)]),
      runToEnd(process.execPath, ['--import', TSX_LOADER, COUNTER, dir, String(N)], { ...process.env, [FLOCK_ENV]: engine }),
      ours,
    ]);
    expect([python.code, python.stdout.trim(), python.stderr]).toEqual([0, `done ${N}`, '']);
    expect([other.code, other.stdout.trim()]).toEqual([0, `done ${N}`]);
    expect(readSidecar(dir)).toEqual({ _counter: 3 * N });
    expect(leftovers(dir)).toEqual([]);
    expect(fs.readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  }, 180_000);

  it('Python SIGKILLed while holding it: our waiting update gets the lock and lands', async () => {
    const dir = makeTempDir('lock-');
    const python = await pythonHolds(dir);
    const store = new SidecarStore(dir, { logger: silentLogger, lock: { waitMs: CHILD_WAIT_MS } });
    const update = store.updateDevice('a.yaml', { ip: '1' });
    expect(await stillPendingAfter(update, 200)).toBe(true);
    const killedAt = performance.now();
    python.child.kill('SIGKILL');
    await update;
    console.log(`file-lock (${engine}): update landed ${Math.round(performance.now() - killedAt)} ms after Python was SIGKILLed holding the lock`);
    expect(readSidecar(dir)).toEqual({ 'a.yaml': { ip: '1' } });
    expect(inodeOf(path.join(dir, LOCK_FILE))).toBe(python.inode);
  });

  it('our holder exiting inside the task releases the lock (the kernel does it)', async () => {
    const dir = makeTempDir('lock-');
    const script = [
      `import { withFileLock } from ${JSON.stringify(path.join(REPO_ROOT, 'src/util/file-lock.ts'))};`,
      `await withFileLock(${JSON.stringify(path.join(dir, SIDECAR_FILE))}, async () => { process.stdout.write('holding\\n'); process.exit(0); });`,
    ].join('\n');
    const run = spawnSync(process.execPath, ['--import', TSX_LOADER, '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: CHILD_WAIT_MS,
      env: { ...process.env, [FLOCK_ENV]: engine },
    });
    expect([run.status, run.stdout], run.stderr).toEqual([0, 'holding\n']);
    expect(pythonProbe(dir)).toBe('free');
    expect(leftovers(dir)).toEqual([]);
  });

  describe('something other than a regular file at the lock path: a clear error, nothing written, nothing removed', () => {
    function expectRefused(error: unknown, dir: string, kind: string): void {
      expect(error).toBeInstanceOf(FileLockError);
      expect((error as FileLockError).code).toBe('ELOCKNOTFILE');
      expect((error as Error).message).toBe(`the lock file ${path.join(dir, LOCK_FILE)} is ${kind}, not a regular file; nothing was written`);
      expect(readSidecar(dir)).toEqual({ 'keep.yaml': { ip: '9' } });
    }

    function setUp(): { dir: string; store: SidecarStore; lock: string } {
      const dir = makeTempDir('lock-');
      fs.writeFileSync(path.join(dir, SIDECAR_FILE), '{"keep.yaml": {"ip": "9"}}');
      return { dir, store: new SidecarStore(dir, { logger: silentLogger, lock: { waitMs: 200 } }), lock: path.join(dir, LOCK_FILE) };
    }

    it('a symlink (to a file, or dangling): never followed, never created through', async () => {
      const { dir, store, lock } = setUp();
      const target = path.join(dir, 'elsewhere');
      fs.writeFileSync(target, 'not a lock');
      fs.symlinkSync(target, lock);
      expectRefused(await rejection(store.updateDevice('a.yaml', { ip: '1' })), dir, 'a symbolic link');
      expect(fs.readlinkSync(lock)).toBe(target);
      expect(fs.readFileSync(target, 'utf8')).toBe('not a lock');
      fs.rmSync(target);
      expectRefused(await rejection(store.updateDevice('a.yaml', { ip: '1' })), dir, 'a symbolic link');
      expect(fs.existsSync(target)).toBe(false);
      expect(fs.readlinkSync(lock)).toBe(target);
    });

    it('a FIFO: the open does not hang, and the FIFO stays', async () => {
      const { dir, store, lock } = setUp();
      const made = spawnSync('mkfifo', [lock]);
      expect(made.status, String(made.stderr)).toBe(0);
      const inode = inodeOf(lock);
      expectRefused(await rejection(store.updateDevice('a.yaml', { ip: '1' })), dir, 'a FIFO');
      expect(fs.lstatSync(lock).isFIFO()).toBe(true);
      expect(inodeOf(lock)).toBe(inode);
    });

    it('a folder (say an old proper-lockfile lock): left in place with its content', async () => {
      const { dir, store, lock } = setUp();
      fs.mkdirSync(lock);
      fs.writeFileSync(path.join(lock, 'inside'), 'x');
      const old = Date.now() / 1000 - 3_600;
      fs.utimesSync(lock, old, old);
      expectRefused(await rejection(store.updateDevice('a.yaml', { ip: '1' })), dir, 'a folder');
      expect(fs.readdirSync(lock)).toEqual(['inside']);
    });
  });

  describe('the lock file replaced or removed while we hold it', () => {
    it.each([
      [
        'replaced (a new file renamed over it)',
        (lock: string) => {
          fs.writeFileSync(`${lock}.new`, '');
          fs.renameSync(`${lock}.new`, lock);
        },
      ],
      ['removed', (lock: string) => fs.rmSync(lock)],
    ])('%s: ELOCKLOST, nothing written, the path left as the other party left it', async (_label, meddle) => {
      const dir = makeTempDir('lock-');
      fs.writeFileSync(path.join(dir, SIDECAR_FILE), '{"keep.yaml": {"ip": "9"}}');
      const store = new SidecarStore(dir, { logger: silentLogger });
      const lock = path.join(dir, LOCK_FILE);
      let inodeAfterMeddling: number | null = null;
      const error = await rejection(
        store.update((data) => {
          meddle(lock);
          inodeAfterMeddling = fs.existsSync(lock) ? inodeOf(lock) : null;
          data['a.yaml'] = { ip: '1' };
          return true;
        }),
      );
      expect(error).toBeInstanceOf(FileLockError);
      expect((error as FileLockError).code).toBe('ELOCKLOST');
      expect((error as Error).message).toContain(`${lock} was removed or replaced while we held it; nothing was written`);
      expect(readSidecar(dir)).toEqual({ 'keep.yaml': { ip: '9' } });
      expect(fs.existsSync(lock) ? inodeOf(lock) : null).toBe(inodeAfterMeddling);
      expect(leftovers(dir)).toEqual([]);
    });
  });

  it('serializes two stores of the same file in one process (no lost update, no lock wait)', async () => {
    const dir = makeTempDir('lock-');
    const a = new SidecarStore(dir, { logger: silentLogger, lock: { waitMs: 0 } });
    const b = new SidecarStore(dir, { logger: silentLogger, lock: { waitMs: 0 } });
    await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).updateDevice(`d${i}.yaml`, { build_size_bytes: i + 1 })));
    expect(Object.keys(readSidecar(dir) as object)).toHaveLength(40);
    expect(leftovers(dir)).toEqual([]);
  });

  it('a folder that cannot hold the lock rejects the update with the file-system error', async () => {
    const dir = makeTempDir('lock-');
    const store = new SidecarStore(path.join(dir, 'gone'), { logger: silentLogger });
    await expect(store.updateDevice('a.yaml', { ip: '1' })).rejects.toMatchObject({ code: 'ENOENT' });
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

describe('the helper engine without flock(1): python3 locks our open file description', () => {
  it('waits for Python, times out with ELOCKTIMEOUT, then takes the lock once it is free', async () => {
    const dir = makeTempDir('lock-');
    const bin = makeTempDir('only-python-');
    const python = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).stdout.trim();
    fs.symlinkSync(python, path.join(bin, 'python3'));
    const script = [
      `import { withFileLock } from ${JSON.stringify(path.join(REPO_ROOT, 'src/util/file-lock.ts'))};`,
      `import { createLogger } from ${JSON.stringify(path.join(REPO_ROOT, 'src/util/log.ts'))};`,
      `const waitMs = Number(process.argv[1]);`,
      `await withFileLock(${JSON.stringify(path.join(dir, SIDECAR_FILE))}, async () => { process.stdout.write('locked\\n'); }, { waitMs, logger: createLogger('debug') })`,
      `  .catch((err) => process.stdout.write(err.code + '\\n'));`,
    ].join('\n');
    const env = { ...process.env, PATH: bin, [FLOCK_ENV]: 'helper' };
    const run = (waitMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> =>
      runToEnd(process.execPath, ['--import', TSX_LOADER, '--input-type=module', '-e', script, String(waitMs)], env);
    const holder = await pythonHolds(dir);
    const busy = await run(300);
    expect([busy.code, busy.stdout], busy.stderr).toEqual([0, 'ELOCKTIMEOUT\n']);
    expect(busy.stderr).toContain('using python3 as the flock helper');
    expect(pythonProbe(dir)).toBe('busy');
    await holder.release();
    const free = await run(CHILD_WAIT_MS);
    expect([free.code, free.stdout], free.stderr).toEqual([0, 'locked\n']);
    expect(pythonProbe(dir)).toBe('free');
  });
});
