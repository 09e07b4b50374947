/**
 * One job-running process per data dir: a second server (in this process
 * or another) and `reclaim --yes` beside a running server are refused with
 * a message, and the lock is free again once its holder ends (or dies).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { INSTANCE_LOCK_BASENAME, InstanceLockBusyError, takeInstanceLock } from '../../src/server/instance-lock.js';
import { FIRMWARE_JOBS_KEY } from '../../src/jobs/job-history.js';
import { OWN_STATE_FILE } from '../../src/metadata/device-metadata.js';
import { addDevice, cleanupTempDirs, makeTempDir, readJson } from '../helpers/fs-fixtures.js';
import { runCli } from '../helpers/run-cli.js';
import { FAKE_ESPHOME_BIN, startServer, stopServers } from '../helpers/server-fixture.js';

afterEach(async () => {
  await stopServers();
  cleanupTempDirs();
});

/** A real other process holding the lock the way the kernel sees it: python3, `fcntl.flock(LOCK_EX)`, until its stdin closes. */
function pythonHolder(lockPath: string): Promise<ChildProcess> {
  const script =
    'import fcntl, os, sys\nfd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)\nfcntl.flock(fd, fcntl.LOCK_EX)\nprint("locked", flush=True)\nsys.stdin.read()\n';
  const child = spawn('python3', ['-c', script, lockPath], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout.once('data', () => resolve(child));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`python holder exited ${code}`)));
  });
}

describe('the instance lock', () => {
  it('refuses a second server on the same data dir, in the same process, until the first is closed', async () => {
    const dir = makeTempDir();
    addDevice(dir, 'kitchen');
    const first = await startServer(dir);
    await expect(startServer(dir)).rejects.toBeInstanceOf(InstanceLockBusyError);
    // A different config folder is a different data dir: no conflict.
    const other = makeTempDir();
    addDevice(other, 'porch');
    await (await startServer(other)).close();
    await first.close();
    const again = await startServer(dir);
    await again.close();
  }, 60_000);

  it('is held against other processes, and free again when the holder dies', async () => {
    const dataDir = path.join(makeTempDir(), 'data');
    const holder = await pythonHolder(path.join((fs.mkdirSync(dataDir), dataDir), `${INSTANCE_LOCK_BASENAME}.lock`));
    try {
      await expect(takeInstanceLock(dataDir)).rejects.toThrow(/another device-builder process is running jobs on .*data/);
    } finally {
      holder.kill('SIGKILL');
      await new Promise((resolve) => holder.once('exit', resolve));
    }
    // The kernel dropped the dead holder's flock: nothing to clean up.
    const lock = await takeInstanceLock(dataDir);
    await expect(takeInstanceLock(dataDir)).rejects.toBeInstanceOf(InstanceLockBusyError);
    await lock.release();
    await (await takeInstanceLock(dataDir)).release();
  }, 30_000);

  it('refuses reclaim --yes while a server runs on the data dir (exit 2, nothing cleaned, no job written)', async () => {
    const dir = makeTempDir();
    const device = addDevice(dir, 'old', { files: 4, fileBytes: 10_000 });
    const longAgo = Math.floor(Date.now() / 1000) - 60 * 86_400;
    fs.writeFileSync(path.join(device.buildDir, 'build_info.json'), JSON.stringify({ config_hash: 1, build_time: longAgo }));
    const server = await startServer(dir);
    await server.server.refresher.whenIdle();
    const env = { PATH: `${FAKE_ESPHOME_BIN}${path.delimiter}${process.env['PATH'] ?? ''}` };
    const result = await runCli(['reclaim', dir, '--older-than', '30d', '--yes'], { env });
    expect(result.code, result.stdout).toBe(2);
    expect(result.stderr).toMatch(/--yes refused: another device-builder process is running jobs on /);
    expect(fs.existsSync(path.join(device.buildDir, '.pioenvs'))).toBe(true);
    const own = path.join(dir, '.esphome', OWN_STATE_FILE);
    const jobs = fs.existsSync(own) ? ((readJson(own) as Record<string, unknown>)[FIRMWARE_JOBS_KEY] ?? []) : [];
    expect(jobs).toEqual([]);
    // The preview still works beside the server.
    const preview = await runCli(['reclaim', dir, '--older-than', '30d'], { env });
    expect(preview.code, preview.stderr).toBe(0);
    expect(preview.stdout).toMatch(/old\.yaml/);
  }, 90_000);
});
