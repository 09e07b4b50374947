/**
 * The sidecar's cross-process lock (src/util/file-lock.ts): who holds it,
 * how a crashed holder's lock is recovered, what happens when it cannot be
 * taken or is lost before the commit.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SIDECAR_FILE, SidecarStore } from '../src/sidecar/sidecar-store.js';
import { FileLockError, lockPathOf, readLockOwner, withFileLock } from '../src/util/file-lock.js';
import { cleanupTempDirs, makeTempDir, silentLogger } from './helpers/fs-fixtures.js';
import { REPO_ROOT, TSX_LOADER } from './helpers/run-cli.js';
import { LOCK_FILE, leftovers } from './helpers/sidecar-crash.js';
import { captureLog as capture } from './helpers/capture-log.js';

const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  cleanupTempDirs();
});

/** A process that stays alive until the test ends. */
function liveProcess(): number {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  children.push(child);
  return child.pid as number;
}

function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '']).pid as number;
}

function writeLock(dir: string, owner: object | string, ageSeconds = 0): string {
  const lock = path.join(dir, LOCK_FILE);
  fs.writeFileSync(lock, typeof owner === 'string' ? owner : JSON.stringify(owner));
  if (ageSeconds > 0) {
    const when = Date.now() / 1000 - ageSeconds;
    fs.utimesSync(lock, when, when);
  }
  return lock;
}

function owner(pid: number, host = os.hostname()): object {
  return { pid, host, nonce: 'feedfacefeedface', since: '2026-01-01T00:00:00.000Z' };
}


function readSidecar(dir: string): unknown {
  return JSON.parse(fs.readFileSync(path.join(dir, SIDECAR_FILE), 'utf8'));
}

describe('the lock file', () => {
  it('names its holder while held and is gone after', async () => {
    const dir = makeTempDir('lock-');
    const file = path.join(dir, SIDECAR_FILE);
    const seen = await withFileLock(file, async () => readLockOwner(file));
    expect(seen).toMatchObject({ pid: process.pid, host: os.hostname(), nonce: expect.stringMatching(/^[0-9a-f]{16}$/) });
    expect(leftovers(dir)).toEqual([]);
  });

  it('serializes two stores of the same file in one process (no lost update, no lock wait)', async () => {
    const dir = makeTempDir('lock-');
    const a = new SidecarStore(dir, { logger: silentLogger });
    const b = new SidecarStore(dir, { logger: silentLogger });
    await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).updateDevice(`d${i}.yaml`, { build_size_bytes: i + 1 })),
    );
    expect(Object.keys(readSidecar(dir) as object)).toHaveLength(40);
    expect(leftovers(dir)).toEqual([]);
  });

  it('is released when the holder exits normally while holding it', () => {
    const dir = makeTempDir('lock-');
    const script = [
      `import { withFileLock } from ${JSON.stringify(path.join(REPO_ROOT, 'src/util/file-lock.ts'))};`,
      `await withFileLock(${JSON.stringify(path.join(dir, SIDECAR_FILE))}, async () => { process.exit(0); });`,
    ].join('\n');
    const run = spawnSync(process.execPath, ['--import', TSX_LOADER, '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    expect(leftovers(dir)).toEqual([]);
  });
});

describe('a lock left behind', () => {
  it('by a dead process on this host is broken at once, with a warning', async () => {
    const dir = makeTempDir('lock-');
    writeLock(dir, owner(deadPid()));
    const { logger, messages } = capture();
    const started = performance.now();
    await new SidecarStore(dir, { logger }).updateDevice('a.yaml', { ip: '1' });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(readSidecar(dir)).toEqual({ 'a.yaml': { ip: '1' } });
    expect(messages()).toContain('broke a lock left by a process that is gone');
    expect(leftovers(dir)).toEqual([]);
  });

  it('with our own pid but not held by us (a restarted container) is broken at once', async () => {
    const dir = makeTempDir('lock-');
    writeLock(dir, owner(process.pid));
    await new SidecarStore(dir, { logger: silentLogger }).updateDevice('a.yaml', { ip: '1' });
    expect(readSidecar(dir)).toEqual({ 'a.yaml': { ip: '1' } });
    expect(leftovers(dir)).toEqual([]);
  });

  it('by another host is waited for while fresh: the update rejects, writing nothing', async () => {
    const dir = makeTempDir('lock-');
    fs.writeFileSync(path.join(dir, SIDECAR_FILE), '{"keep.yaml": {"ip": "9"}}');
    const lock = writeLock(dir, owner(deadPid(), 'some-other-host'));
    const store = new SidecarStore(dir, { logger: silentLogger, lock: { waitMs: 300 } });
    const started = performance.now();
    const error = await store.updateDevice('a.yaml', { ip: '1' }).then(
      () => null,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(FileLockError);
    expect((error as FileLockError).code).toBe('ELOCKTIMEOUT');
    expect((error as Error).message).toMatch(/timed out after 300 ms waiting for the lock .* on some-other-host .*nothing was written/);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(readSidecar(dir)).toEqual({ 'keep.yaml': { ip: '9' } });
    expect(fs.existsSync(lock)).toBe(true);
    expect(leftovers(dir)).toEqual([LOCK_FILE]);
  });

  it('by another host is broken once it is older than the stale period', async () => {
    const dir = makeTempDir('lock-');
    writeLock(dir, owner(4242, 'some-other-host'), 60);
    await new SidecarStore(dir, { logger: silentLogger, lock: { waitMs: 300 } }).updateDevice('a.yaml', { ip: '1' });
    expect(readSidecar(dir)).toEqual({ 'a.yaml': { ip: '1' } });
    expect(leftovers(dir)).toEqual([]);
  });

  it.each([
    ['empty', ''],
    ['garbage', 'not json at all'],
    ['the wrong shape', '{"pid": "12"}'],
  ])('that is %s (unattributable) is only broken once stale', async (_label, content) => {
    const dir = makeTempDir('lock-');
    writeLock(dir, content);
    const store = new SidecarStore(dir, { logger: silentLogger, lock: { waitMs: 200 } });
    await expect(store.updateDevice('a.yaml', { ip: '1' })).rejects.toThrow(FileLockError);
    writeLock(dir, content, 60);
    await store.updateDevice('a.yaml', { ip: '1' });
    expect(readSidecar(dir)).toEqual({ 'a.yaml': { ip: '1' } });
  });

  it('as an empty folder (another tool using proper-lockfile defaults) is waited for, then broken once stale', async () => {
    const dir = makeTempDir('lock-');
    fs.mkdirSync(path.join(dir, LOCK_FILE));
    const store = new SidecarStore(dir, { logger: silentLogger, lock: { waitMs: 200 } });
    await expect(store.updateDevice('a.yaml', { ip: '1' })).rejects.toThrow(FileLockError);
    const old = Date.now() / 1000 - 60;
    fs.utimesSync(path.join(dir, LOCK_FILE), old, old);
    await store.updateDevice('a.yaml', { ip: '1' });
    expect(readSidecar(dir)).toEqual({ 'a.yaml': { ip: '1' } });
    expect(leftovers(dir)).toEqual([]);
  });

  it('held by a live process is never broken, however old', async () => {
    const dir = makeTempDir('lock-');
    writeLock(dir, owner(liveProcess()));
    const store = new SidecarStore(dir, { logger: silentLogger, lock: { waitMs: 200 } });
    await expect(store.updateDevice('a.yaml', { ip: '1' })).rejects.toThrow(/held by pid/);
    expect(await store.cleanStaleTemps()).toBe(0);
    expect(leftovers(dir)).toEqual([LOCK_FILE]);
    expect(fs.existsSync(path.join(dir, SIDECAR_FILE))).toBe(false);
  });

  it('is removed by cleanStaleTemps (with lock temps) when its owner is gone', async () => {
    const dir = makeTempDir('lock-');
    const dead = deadPid();
    writeLock(dir, owner(dead));
    fs.writeFileSync(path.join(dir, `${LOCK_FILE}.tmp-${dead}-0a0b0c0d`), JSON.stringify(owner(dead)));
    fs.writeFileSync(path.join(dir, `${SIDECAR_FILE}.tmp-${dead}-0a0b0c0d`), '{"torn": ');
    expect(await new SidecarStore(dir, { logger: silentLogger }).cleanStaleTemps()).toBe(3);
    expect(leftovers(dir)).toEqual([]);
  });
});

describe('a lock lost before the commit', () => {
  it('makes the update reject with ELOCKLOST, leaving the file, and someone else’s lock, alone', async () => {
    const dir = makeTempDir('lock-');
    fs.writeFileSync(path.join(dir, SIDECAR_FILE), '{"keep.yaml": {"ip": "9"}}');
    const store = new SidecarStore(dir, { logger: silentLogger });
    const thief = JSON.stringify(owner(liveProcess()));
    const error = await store
      .update((data) => {
        // Another process broke our lock and took it while we were working.
        fs.writeFileSync(lockPathOf(store.path), thief);
        data['a.yaml'] = { ip: '1' };
        return true;
      })
      .then(
        () => null,
        (err: unknown) => err,
      );
    expect((error as FileLockError).code).toBe('ELOCKLOST');
    expect(readSidecar(dir)).toEqual({ 'keep.yaml': { ip: '9' } });
    expect(fs.readFileSync(lockPathOf(store.path), 'utf8')).toBe(thief);
    expect(leftovers(dir)).toEqual([LOCK_FILE]);
  });

  it('a folder that cannot hold the lock rejects the update with the file-system error', async () => {
    const dir = makeTempDir('lock-');
    const store = new SidecarStore(path.join(dir, 'gone'), { logger: silentLogger });
    await expect(store.updateDevice('a.yaml', { ip: '1' })).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
