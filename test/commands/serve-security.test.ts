/**
 * `device-builder serve`'s security options as a real process:
 * `--password-file` (the password never on the command line), and
 * `--allowed-host` / `DEVICE_BUILDER_ALLOWED_HOSTS` (extra Host names past
 * the DNS-rebinding check), plus their refusals and `--help`.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupTempDirs, makeTempDir, writeFile } from '../helpers/fs-fixtures.js';
import { REPO_ROOT, runCli, TSX_LOADER } from '../helpers/run-cli.js';
import { FAKE_ESPHOME_BIN } from '../helpers/server-fixture.js';
import { WsClient } from '../helpers/ws-client.js';

afterEach(cleanupTempDirs);

function getStatus(url: string, host: string): Promise<number> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port, path: '/healthz', headers: { host }, agent: false }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    request.setTimeout(5000, () => request.destroy(new Error('timed out')));
    request.on('error', reject);
    request.end();
  });
}

describe('serve: password file and allowed hosts', () => {
  it('reads the password from --password-file (not on the command line) and answers --allowed-host and the env list', async () => {
    const dir = makeTempDir();
    writeFile(path.join(dir, 'kitchen.yaml'), 'esphome:\n  name: kitchen\nesp32:\n  board: x\n');
    const secret = path.join(makeTempDir(), 'password');
    fs.writeFileSync(secret, 'from the file\n', { mode: 0o600 });
    const child = spawn(
      process.execPath,
      [
        '--import',
        TSX_LOADER,
        path.join(REPO_ROOT, 'src', 'cli.ts'),
        'serve',
        dir,
        '--port',
        '0',
        '--password-file',
        secret,
        '--allowed-host',
        'proxy.example',
      ],
      {
        env: {
          ...process.env,
          PATH: `${FAKE_ESPHOME_BIN}${path.delimiter}${process.env['PATH'] ?? ''}`,
          DEVICE_BUILDER_LOG_LEVEL: 'warn',
          DEVICE_BUILDER_PASSWORD: '',
          DEVICE_BUILDER_ALLOWED_HOSTS: 'other.example:8443, third.example',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      let stdout = '';
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no URL printed: ${stdout}`)), 15_000);
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          const match = /http:\/\/127\.0\.0\.1:\d+\//.exec(stdout);
          if (match) {
            clearTimeout(timer);
            resolve(match[0]);
          }
        });
      });
      if (process.platform === 'linux') {
        expect(fs.readFileSync(`/proc/${child.pid}/cmdline`, 'utf8')).not.toContain('from the file');
      }
      const client = await WsClient.connect(`${url.replace('http', 'ws')}ws`);
      expect(client.serverInfo).toEqual({ server_version: expect.any(String), requires_auth: true });
      expect((await client.request('auth/login', { password: 'from the file\n' })).error_code).toBe('not_authenticated');
      await client.call('auth/login', { password: 'from the file' });
      await client.close();

      expect(await getStatus(url, 'proxy.example')).toBe(200);
      expect(await getStatus(url, 'other.example:8443')).toBe(200);
      expect(await getStatus(url, 'other.example:8444')).toBe(403);
      expect(await getStatus(url, 'third.example:443')).toBe(200);
      expect(await getStatus(url, 'evil.example')).toBe(403);
    } finally {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });

  it.each([
    [['--password', 'a', '--password-file', '/dev/null'], {}, /not both/],
    [['--password-file', '/nonexistent/password'], {}, /cannot read --password-file/],
    [['--password-file', '/dev/null'], {}, /cannot read --password-file|is empty/],
    [['--allowed-host', 'http://x.example'], {}, /invalid --allowed-host/],
    [['--allowed-host', '*'], {}, /invalid --allowed-host/],
    [[], { DEVICE_BUILDER_ALLOWED_HOSTS: 'ok.example,bad/host' }, /invalid --allowed-host "bad\/host"/],
  ])('rejects %j with exit code 2', async (args, env, message) => {
    const run = await runCli(['serve', makeTempDir(), '--port', '0', ...args], { env });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
  });

  it('refuses an empty password file', async () => {
    const file = path.join(makeTempDir(), 'empty');
    fs.writeFileSync(file, '\n', { mode: 0o600 });
    const run = await runCli(['serve', makeTempDir(), '--port', '0', '--password-file', file]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/is empty/);
  });

  it('--help names the new options and prefers the environment or the file to --password', async () => {
    const run = await runCli(['serve', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/--password-file <path>/);
    expect(run.stdout).toMatch(/--allowed-host <host\[:port\]>/);
    expect(run.stdout).toMatch(/prefer \$?DEVICE_BUILDER_PASSWORD or --password-file/);
    const top = await runCli(['--help']);
    expect(top.stdout).toMatch(/DEVICE_BUILDER_ALLOWED_HOSTS/);
  });
});
