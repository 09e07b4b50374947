/**
 * The adversarial review's attacks, replayed against a real server on
 * loopback: forged Host headers (DNS rebinding), password guessing from
 * rotating source addresses, a token still used after logout, and the small
 * leaks (first frame, /healthz, option-looking ports). Each test is the
 * attack as it was run; each failed (the attack worked) before the fix.
 */
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HostPolicy, originAllowed, parseAllowedHosts, parseHostPort } from '../../src/server/host-check.js';
import type { Device } from '../../src/shared/device.js';
import { cleanupTempDirs, makeTempDir, writeFile } from '../helpers/fs-fixtures.js';
import { startServer, stopServers, type RunningServer } from '../helpers/server-fixture.js';
import { WsClient } from '../helpers/ws-client.js';

afterEach(async () => {
  await stopServers();
  cleanupTempDirs();
});

function configDir(names: string[]): string {
  const dir = makeTempDir();
  for (const name of names) writeFile(path.join(dir, `${name}.yaml`), `esphome:\n  name: ${name}\nesp32:\n  board: esp32dev\n`);
  return dir;
}

function portOf(running: RunningServer): number {
  return Number(new URL(running.url).port);
}

/** A raw GET with exactly the headers given (Host included, or none with `host: null`). */
function rawGet(
  running: RunningServer,
  pathname: string,
  headers: Record<string, string | null>,
  localAddress?: string,
): Promise<{ status: number; body: string }> {
  const { host, ...rest } = headers;
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: '127.0.0.1',
        port: portOf(running),
        path: pathname,
        method: 'GET',
        setHost: false,
        localAddress,
        agent: false,
        headers: { ...(host === null || host === undefined ? {} : { host }), ...rest } as Record<string, string>,
      },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      },
    );
    request.setTimeout(5000, () => request.destroy(new Error('timed out')));
    request.on('error', reject);
    request.end();
  });
}

/** Sends `text` on a raw TCP connection and returns everything the server answers before closing. */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.end(text));
    let answer = '';
    socket.setEncoding('utf8');
    socket.setTimeout(5000, () => socket.destroy(new Error('timed out')));
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
  });
}

/** Opens `/ws` with a forged Host and Origin; resolves with the client or rejects with the HTTP status. */
function forgedSocket(running: RunningServer, host: string, origin?: string): Promise<WsClient> {
  return WsClient.connect(running.wsUrl, { headers: { host }, ...(origin ? { origin } : {}) });
}

describe('DNS rebinding: the Host header is checked on every request and upgrade', () => {
  it('refuses a rebound page (Host and Origin evil.example) on /ws, so it cannot delete a device', async () => {
    const dir = configDir(['kitchen']);
    const running = await startServer(dir);
    const port = portOf(running);
    const attack = forgedSocket(running, `evil.example:${port}`, `http://evil.example:${port}`);
    // Before the fix the upgrade succeeded and devices/delete removed kitchen.yaml.
    const outcome = await attack.then(
      async (client) => {
        await client.request('devices/delete', { configuration: 'kitchen.yaml' });
        return 'connected';
      },
      (err: Error) => err.message,
    );
    expect(outcome).toMatch(/HTTP 403/);
    expect(fs.existsSync(path.join(dir, 'kitchen.yaml'))).toBe(true);
  });

  it.each(['/metrics', '/healthz', '/', '/ws', '/no-such-page'])('answers 403 on %s for a foreign, missing or malformed Host', async (pathname) => {
    const running = await startServer(configDir(['kitchen']));
    const port = portOf(running);
    for (const host of [
      `evil.example:${port}`,
      'evil.example',
      `127.0.0.1.evil.example:${port}`,
      `localhost.:${port + 1}`,
      '',
      'a b',
      `user@127.0.0.1:${port}`,
    ]) {
      const reply = await rawGet(running, pathname, { host });
      expect(reply.status, `Host ${host}`).toBe(403);
      expect(reply.body, `Host ${host}`).not.toMatch(/device_builder_|"ok"/);
    }
    // No Host at all: Node answers HTTP/1.1 with 400 itself; HTTP/1.0 (where Host is optional) reaches our check.
    expect((await rawGet(running, pathname, { host: null })).status).toBe(400);
    const http10 = await rawRequest(port, `GET ${pathname} HTTP/1.0\r\n\r\n`);
    expect(http10).toMatch(/^HTTP\/1\.1 403 /);
    expect(http10).not.toMatch(/device_builder_|"ok"/);
  });

  it('still answers loopback names, the listen address and the machine name with our port', async () => {
    const running = await startServer(configDir(['kitchen']));
    const port = portOf(running);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST.:${port}`, `127.1.2.3:${port}`, `[::1]:${port}`]) {
      expect((await rawGet(running, '/healthz', { host })).status, host).toBe(200);
      expect((await rawGet(running, '/metrics', { host })).status, host).toBe(200);
    }
    const client = await forgedSocket(running, `localhost:${port}`, `http://localhost:${port}`);
    expect(await client.call<Device[]>('devices/list')).toHaveLength(1);
    await client.close();
  });

  it('answers a host added with allowedHosts (a reverse proxy), with or without a fixed port', async () => {
    const running = await startServer(configDir([]), { allowedHosts: ['proxy.example', 'ha.example:8123'] });
    expect((await rawGet(running, '/healthz', { host: 'proxy.example' })).status).toBe(200);
    expect((await rawGet(running, '/healthz', { host: 'proxy.example:443' })).status).toBe(200);
    expect((await rawGet(running, '/healthz', { host: 'ha.example:8123' })).status).toBe(200);
    expect((await rawGet(running, '/healthz', { host: 'ha.example:8124' })).status).toBe(403);
    expect((await rawGet(running, '/healthz', { host: 'evil.example' })).status).toBe(403);
  });

  it('refuses an https Origin on our http server (scheme compared), and a null Origin', async () => {
    const running = await startServer(configDir([]));
    const host = new URL(running.url).host;
    await expect(forgedSocket(running, host, `https://${host}`)).rejects.toThrow(/403/);
    await expect(forgedSocket(running, host, 'null')).rejects.toThrow(/403/);
    await expect(forgedSocket(running, host, `http://${host}`)).resolves.toBeDefined();
  });
});

describe('HostPolicy and originAllowed', () => {
  const policy = new HostPolicy({ listenHost: '127.0.0.1', allowedHosts: ['Proxy.Example', 'ha.example:8123'], hostname: 'Builder-Box.lan' });

  it.each([
    ['127.0.0.1:6052', true],
    ['127.255.0.9:6052', true],
    ['localhost:6052', true],
    ['[::1]:6052', true],
    ['builder-box.lan:6052', true],
    ['builder-box:6052', true],
    ['builder-box.local:6052', true],
    ['proxy.example', true],
    ['proxy.example:9999', true],
    ['ha.example:8123', true],
    ['ha.example', false],
    ['localhost:6053', false],
    ['localhost', false],
    ['evil.example:6052', false],
    ['127.0.0.1.nip.io:6052', false],
    ['10.0.0.5:6052', false],
    ['[::2]:6052', false],
    ['::1', false],
    ['localhost:0', false],
    ['localhost:99999', false],
    ['localhost:6052/x', false],
  ])('Host %s → %s', (host, allowed) => {
    expect(policy.allows(host, '127.0.0.1', 6052)).toBe(allowed);
  });

  it('accepts the address a wildcard bind was reached at, and port 80 without a port', () => {
    const wildcard = new HostPolicy({ listenHost: '0.0.0.0', hostname: 'box' });
    expect(wildcard.allows('192.168.1.20:6052', '::ffff:192.168.1.20', 6052)).toBe(true);
    expect(wildcard.allows('192.168.1.21:6052', '::ffff:192.168.1.20', 6052)).toBe(false);
    expect(wildcard.allows('localhost', '127.0.0.1', 80)).toBe(true);
    expect(wildcard.allows(undefined, '127.0.0.1', 80)).toBe(false);
  });

  it('compares the Origin by scheme, host and port', () => {
    expect(originAllowed('http://127.0.0.1:6052', '127.0.0.1:6052', [])).toBe(true);
    expect(originAllowed('HTTP://LOCALHOST:6052', 'localhost:6052', [])).toBe(true);
    expect(originAllowed('http://localhost', 'localhost:80', [])).toBe(true);
    expect(originAllowed('https://127.0.0.1:6052', '127.0.0.1:6052', [])).toBe(false);
    expect(originAllowed('http://127.0.0.1:6053', '127.0.0.1:6052', [])).toBe(false);
    expect(originAllowed('null', '127.0.0.1:6052', [])).toBe(false);
    expect(originAllowed('https://ha.example:8123', '127.0.0.1:6052', ['https://ha.example:8123'])).toBe(true);
    expect(originAllowed(undefined, '127.0.0.1:6052', [])).toBe(true);
  });

  it('validates --allowed-host entries and the environment list', () => {
    expect(parseAllowedHosts(['a.example', 'B.example:81'], ' c.example, [::1]:9 ')).toEqual(['a.example', 'b.example:81', 'c.example', '[::1]:9']);
    for (const bad of ['*', 'http://x', 'x/y', '-x', 'x:0', '::1', 'a b']) expect(() => parseAllowedHosts([bad], undefined), bad).toThrow();
    expect(parseHostPort('Example.COM.:8080')).toEqual({ host: 'example.com', port: 8080 });
  });
});

describe('password guessing from rotating source addresses', () => {
  /** Sends `guesses` password logins, `perAddress` from each 127.0.0.x in turn; returns each outcome. */
  async function guess(running: RunningServer, guesses: number, perAddress: number, right: { at: number; password: string }): Promise<string[]> {
    const outcomes: string[] = [];
    for (let address = 0; outcomes.length < guesses; address++) {
      const client = await running.connect({ localAddress: `127.0.0.${address + 2}` });
      for (let i = 0; i < perAddress && outcomes.length < guesses; i++) {
        const password = outcomes.length === right.at ? right.password : `guess-${outcomes.length}`;
        const reply = await client.request('auth/login', { password });
        outcomes.push(reply.error_code ?? 'logged in');
      }
      await client.close();
    }
    return outcomes;
  }

  it('200 guesses from 127.0.0.x, 9 per address: refused after 30 failures, the right password (guess 150) too', async () => {
    const running = await startServer(configDir(['kitchen']), { password: 'hunter2-but-long' });
    // 9 guesses per address stays under the per-address limit of 10.
    const outcomes = await guess(running, 200, 9, { at: 150, password: 'hunter2-but-long' });
    // Before the fix: 199 × not_authenticated and 'logged in' at guess 150.
    expect(outcomes.slice(0, 30)).toEqual(Array(30).fill('not_authenticated'));
    expect(outcomes.slice(30)).toEqual(Array(170).fill('rate_limited'));
  });

  it('recovers: once the backoff is over the right password works again', async () => {
    const running = await startServer(configDir(['kitchen']), { password: 'pw-long-enough', loginLimits: { baseLockoutMs: 800 } });
    const outcomes = await guess(running, 31, 9, { at: 30, password: 'pw-long-enough' });
    expect(outcomes.at(-1)).toBe('rate_limited');
    const user = await running.connect({ localAddress: '127.0.0.99' });
    await expect
      .poll(async () => (await user.request('auth/login', { password: 'pw-long-enough' })).error_code ?? 'logged in', { timeout: 10_000, interval: 200 })
      .toBe('logged in');
    expect(await user.call<Device[]>('devices/list')).toHaveLength(1);
  });
});

describe('logout revokes the token on every socket', () => {
  it('socket B, resumed with the token A logged out, can no longer delete a device and loses its streams', async () => {
    const dir = configDir(['kitchen', 'porch']);
    const running = await startServer(dir, { password: 'pw' });
    const a = await running.connect();
    const { token } = await a.call<{ token: string }>('auth/login', { password: 'pw' });
    const b = await running.connect();
    await b.call('auth/login', { token });
    await b.call('subscribe_events');

    await a.call('auth/logout');
    // B is told at once (no message_id) and its stream is gone.
    await b.waitFor((frame) => frame.message_id === null && frame.error_code === 'not_authenticated', 5000);
    const mark = b.frames.length;
    // Before the fix this deleted kitchen.yaml.
    const refused = await b.request('devices/delete', { configuration: 'kitchen.yaml' });
    expect(refused.error_code).toBe('not_authenticated');
    expect(fs.existsSync(path.join(dir, 'kitchen.yaml'))).toBe(true);
    writeFile(path.join(dir, 'garage.yaml'), 'esphome:\n  name: garage\nesp32:\n  board: esp32dev\n');
    await running.server.catalog.rescan();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(b.frames.slice(mark).filter((frame) => frame.event !== undefined)).toEqual([]);
    // The token is dead for new sockets too, and a fresh login still works.
    expect((await b.request('auth/login', { token })).error_code).toBe('not_authenticated');
    await b.call('auth/login', { password: 'pw' });
    expect(await b.call<Device[]>('devices/list')).toHaveLength(3);
  });

  it('an expired session answers the next command not_authenticated', async () => {
    const running = await startServer(configDir(['kitchen']), { password: 'pw' });
    const a = await running.connect();
    const { token } = await a.call<{ token: string }>('auth/login', { password: 'pw' });
    // Expire it behind the socket's back, as 30 idle days would.
    const auth = running.server.auth as unknown as { store: { sessions(): Promise<Map<string, { expires_at: number }>> } };
    for (const record of (await auth.store.sessions()).values()) record.expires_at = 1;
    expect((await a.request('devices/list')).error_code).toBe('not_authenticated');
    expect((await a.request('auth/login', { token })).error_code).toBe('not_authenticated');
  });
});

describe('small leaks', () => {
  it('sends only server_version and requires_auth before login; the full info comes with the login result', async () => {
    const dir = configDir([]);
    const running = await startServer(dir, { password: 'pw' });
    const client = await running.connect();
    // Before the fix the first frame carried config_dir (and esphome_version, demo).
    expect(client.serverInfo).toEqual({ server_version: expect.any(String), requires_auth: true });
    expect(JSON.stringify(client.frames)).not.toContain(dir);
    const login = await client.call<{ server_info: Record<string, unknown> }>('auth/login', { password: 'pw' });
    expect(login.server_info).toMatchObject({ config_dir: dir, requires_auth: true, demo: false });

    const open = await startServer(configDir([]));
    const unprotected = await open.connect();
    expect(unprotected.serverInfo).toHaveProperty('config_dir');
  });

  it('/healthz says ok and nothing about the fleet', async () => {
    const running = await startServer(configDir(['kitchen', 'porch']));
    const reply = await fetch(`${running.url}healthz`);
    expect(reply.status).toBe(200);
    // Before the fix: {"ok":true,"devices":2}.
    expect(await reply.json()).toEqual({ ok: true });
  });

  it('refuses an upload/install port that esphome would read as an option (or is no port at all)', async () => {
    const dir = configDir(['kitchen']);
    const running = await startServer(dir);
    const client = await running.connect();
    for (const port of ['--help', '-q', '-', '--device=/dev/ttyUSB0', '/dev/../etc/passwd', 'a b', 'x;rm -rf /', '/tmp/serial', '']) {
      for (const command of ['firmware/upload', 'firmware/install']) {
        const reply = await client.request(command, { configuration: 'kitchen.yaml', port });
        expect(reply.error_code, `${command} ${JSON.stringify(port)}`).toBe('invalid_args');
        if (port !== '') expect(reply.details).toMatch(/host name, an IP address, a serial device path/);
      }
    }
    expect(await client.call('firmware/get_jobs')).toEqual([]);
    for (const port of ['OTA', '/dev/ttyUSB0', '/dev/serial/by-id/usb-Silicon_Labs_CP2102-if00-port0', '192.168.1.50', 'fe80::1', 'kitchen.local', 'COM3']) {
      const job = await client.call<{ port: string | null; job_id: string }>('firmware/upload', { configuration: 'kitchen.yaml', port });
      expect(job.port).toBe(port);
      await client.call('firmware/cancel', { job_id: job.job_id });
    }
  });
});
