/** `device-builder serve` as a real process: start-up checks, URL, clean shutdown. */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OWN_STATE_FILE } from '../../src/metadata/device-metadata.js';
import { cleanupTempDirs, makeTempDir, writeFile } from '../helpers/fs-fixtures.js';
import { REPO_ROOT, runCli, TSX_LOADER } from '../helpers/run-cli.js';
import { FAKE_ESPHOME_BIN } from '../helpers/server-fixture.js';
import { WsClient } from '../helpers/ws-client.js';

afterEach(cleanupTempDirs);

describe('serve: refusals', () => {
  it('refuses a non-loopback address without a password', async () => {
    const dir = makeTempDir();
    const run = await runCli(['serve', dir, '--host', '0.0.0.0', '--port', '0'], { env: { DEVICE_BUILDER_PASSWORD: '' } });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/refusing to listen on 0\.0\.0\.0 without a password/);
  });

  it.each([
    [['--port', 'http'], /invalid port/],
    [['--port', '70000'], /invalid port/],
    [['--trusted-origin', 'not a url'], /invalid --trusted-origin/],
  ])('rejects bad options %j with exit code 2', async (args, message) => {
    const run = await runCli(['serve', makeTempDir(), ...args]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
  });

  it('fails with exit code 2 for a config dir that does not exist', async () => {
    const run = await runCli(['serve', path.join(makeTempDir(), 'missing'), '--port', '0']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/cannot read config dir/);
  });
});

describe('serve: life cycle', () => {
  it('prints its URL, serves the API, and on SIGTERM cancels the running job and exits 0', async () => {
    const dir = makeTempDir();
    writeFile(path.join(dir, 'hang.yaml'), 'esphome:\n  name: hang\nesp32:\n  board: x\n# fake-esphome: hang\n');
    const child = spawn(process.execPath, ['--import', TSX_LOADER, path.join(REPO_ROOT, 'src', 'cli.ts'), 'serve', dir, '--port', '0'], {
      env: { ...process.env, PATH: `${FAKE_ESPHOME_BIN}${path.delimiter}${process.env['PATH'] ?? ''}`, DEVICE_BUILDER_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no URL printed: ${stdout}`)), 15_000);
      child.stdout.on('data', () => {
        const match = /http:\/\/127\.0\.0\.1:\d+\//.exec(stdout);
        if (match) {
          clearTimeout(timer);
          resolve(match[0]);
        }
      });
    });
    const client = await WsClient.connect(`${url.replace('http', 'ws')}ws`);
    await client.call('subscribe_events');
    const job = await client.call<{ job_id: string }>('firmware/compile', { configuration: 'hang.yaml' });
    await client.waitForEvent('job_started', (data: { job_id: string }) => data.job_id === job.job_id);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    // Job history is ours alone: kept in the data dir, not in the shared sidecar.
    const own = JSON.parse(fs.readFileSync(path.join(dir, '.esphome', OWN_STATE_FILE), 'utf8')) as { _firmware_jobs: { job_id: string; status: string }[] };
    expect(own._firmware_jobs.find((j) => j.job_id === job.job_id)?.status).toBe('cancelled');
  });
});
