import { beforeEach, describe, expect, it } from 'vitest';
import { ApiClient, memoryTokens, RequestError, socketUrlFor, type ConnectionStatus } from '../../web/src/api/client.js';
import { FakeSocket, flush } from './fixtures.js';

interface Timer {
  fn: () => void;
  ms: number;
}

function makeClient(options: { token?: string | null } = {}) {
  const timers: Timer[] = [];
  const tokens = memoryTokens(options.token ?? null);
  const statuses: ConnectionStatus[] = [];
  const client = new ApiClient({
    url: 'ws://test/ws',
    socketFactory: (url) => new FakeSocket(url),
    tokens,
    random: () => 0.5,
    now: () => 1_000_000,
    setTimer: (fn, ms) => {
      const timer = { fn, ms };
      timers.push(timer);
      return timer;
    },
    clearTimer: (handle) => {
      const index = timers.indexOf(handle as Timer);
      if (index >= 0) timers.splice(index, 1);
    },
  });
  client.onStatus((status) => statuses.push(status));
  return { client, timers, tokens, statuses };
}

beforeEach(() => FakeSocket.reset());

describe('ApiClient', () => {
  it('derives the socket URL from the page URL', () => {
    expect(socketUrlFor({ href: 'http://host:6052/', protocol: 'http:' })).toBe('ws://host:6052/ws');
    expect(socketUrlFor({ href: 'https://ha.example/api/hassio_ingress/abc/?x=1#y', protocol: 'https:' })).toBe('wss://ha.example/api/hassio_ingress/abc/ws');
  });

  it('goes online after the server info and answers requests by message_id, in any order', async () => {
    const { client } = makeClient();
    let ready = 0;
    client.onReady(() => ready++);
    client.start();
    expect(client.status.phase).toBe('connecting');
    FakeSocket.last.open();
    expect(client.status.phase).toBe('online');
    expect(ready).toBe(1);

    const a = client.request('devices/list', {});
    const b = client.request('preferences/get', {});
    const socket = FakeSocket.last;
    socket.reply('preferences/get', { theme: 1 });
    socket.reply('devices/list', []);
    await expect(b).resolves.toEqual({ theme: 1 });
    await expect(a).resolves.toEqual([]);
    expect(socket.sent.map((f) => f['command'])).toEqual(['devices/list', 'preferences/get']);
    expect(socket.sent[0]).toMatchObject({ args: {} });
  });

  it('rejects with the server error code and details', async () => {
    const { client } = makeClient();
    client.start();
    FakeSocket.last.open();
    const request = client.request('firmware/cancel', { job_id: 'x' });
    FakeSocket.last.receive({ message_id: FakeSocket.last.lastSent('firmware/cancel')['message_id'], error_code: 'not_found', details: 'no job x' });
    await expect(request).rejects.toMatchObject({ code: 'not_found', message: 'no job x' });
  });

  it('delivers stream events that arrive before and after the result', async () => {
    const { client } = makeClient();
    client.start();
    FakeSocket.last.open();
    const events: string[] = [];
    const handle = client.stream('subscribe_events', {}, (event) => events.push(event));
    const socket = FakeSocket.last;
    const id = socket.lastSent('subscribe_events')['message_id'];
    socket.receive({ message_id: id, event: 'initial_state', data: { devices: [], firmware_jobs: [] } });
    socket.receive({ message_id: id, result: null });
    await handle.result;
    socket.receive({ message_id: id, event: 'device_added', data: {} });
    handle.close();
    socket.receive({ message_id: id, event: 'device_removed', data: {} });
    expect(events).toEqual(['initial_state', 'device_added']);
  });

  it('ends a closed stream on the server with unsubscribe, once its result is in', async () => {
    const { client } = makeClient();
    client.start();
    FakeSocket.last.open();
    const socket = FakeSocket.last;
    const unsubscribes = () => socket.sent.filter((f) => f['command'] === 'unsubscribe');

    // Closed after the result: unsubscribe at once.
    const follow = client.stream('firmware/follow_job', { job_id: 'j1' }, () => undefined);
    const followId = socket.lastSent('firmware/follow_job')['message_id'];
    socket.reply('firmware/follow_job', { job: null, history: [] });
    await follow.result;
    follow.close();
    follow.close(); // twice is once
    await flush();
    expect(unsubscribes().map((f) => f['args'])).toEqual([{ message_id: followId }]);

    // Closed before the result: the server may not have opened it yet, so wait for the result.
    const early = client.stream('firmware/follow_job', { job_id: 'j2' }, () => undefined);
    const earlyId = socket.lastSent('firmware/follow_job')['message_id'];
    early.close();
    await flush();
    expect(unsubscribes()).toHaveLength(1);
    socket.receive({ message_id: earlyId, result: { job: null, history: [] } });
    await flush();
    expect(unsubscribes().map((f) => f['args'])).toEqual([{ message_id: followId }, { message_id: earlyId }]);

    // A stream the server refused needs no unsubscribe.
    const refused = client.stream('firmware/follow_job', { job_id: 'nope' }, () => undefined);
    refused.result.catch(() => undefined);
    socket.receive({ message_id: socket.lastSent('firmware/follow_job')['message_id'], error_code: 'not_found', details: 'no job nope' });
    refused.close();
    await flush();
    expect(unsubscribes()).toHaveLength(2);
    // The server's answer to unsubscribe (or its not_found) is nothing to act on.
    socket.receive({ message_id: unsubscribes()[0]?.['message_id'], result: { unsubscribed: followId } });
    socket.receive({ message_id: unsubscribes()[1]?.['message_id'], error_code: 'not_found', details: 'gone' });
    await flush();
  });

  it('does not unsubscribe a stream of a connection that is gone', async () => {
    const { client } = makeClient();
    client.start();
    FakeSocket.last.open();
    const first = FakeSocket.last;
    const handle = client.stream('subscribe_events', {}, () => undefined);
    first.reply('subscribe_events', null);
    await handle.result;
    first.close();
    client.retryNow();
    FakeSocket.last.open();
    handle.close();
    await flush();
    expect(FakeSocket.last.sent.some((f) => f['command'] === 'unsubscribe')).toBe(false);
    expect(first.sent.some((f) => f['command'] === 'unsubscribe')).toBe(false);
  });

  it('refuses requests while offline and fails pending ones when the socket drops', async () => {
    const { client } = makeClient();
    await expect(client.request('devices/list', {})).rejects.toBeInstanceOf(RequestError);
    client.start();
    FakeSocket.last.open();
    const pending = client.request('devices/list', {});
    FakeSocket.last.close();
    await expect(pending).rejects.toMatchObject({ code: 'disconnected' });
    expect(client.status.phase).toBe('offline');
  });

  it('reconnects on the backoff schedule and resets it once connected', () => {
    const { client, timers, statuses } = makeClient();
    let ready = 0;
    client.onReady(() => ready++);
    client.start();
    FakeSocket.last.open();
    for (const expected of [500, 1000, 2000, 4000]) {
      FakeSocket.last.close();
      expect(client.status.phase).toBe('offline');
      expect(timers.map((t) => t.ms)).toEqual([expected]);
      expect(client.status.retryAt).toBe(1_000_000 + expected);
      timers.shift()?.fn();
    }
    FakeSocket.last.open();
    expect(ready).toBe(2);
    FakeSocket.last.close();
    expect(timers.map((t) => t.ms)).toEqual([500]);
    expect(statuses.some((s) => s.phase === 'offline' && s.everOnline)).toBe(true);
  });

  it('retries at once when asked', () => {
    const { client, timers } = makeClient();
    client.start();
    FakeSocket.last.close();
    expect(FakeSocket.instances).toHaveLength(1);
    client.retryNow();
    expect(timers).toHaveLength(0);
    expect(FakeSocket.instances).toHaveLength(2);
  });

  it('resumes a stored session with its token', async () => {
    const { client, tokens } = makeClient({ token: 'old' });
    client.start();
    FakeSocket.last.open({ requires_auth: true });
    expect(FakeSocket.last.lastSent('auth/login')['args']).toEqual({ token: 'old' });
    expect(client.status.phase).toBe('connecting');
    FakeSocket.last.reply('auth/login', { token: 'new', expires_at: 1 });
    await flush();
    expect(client.status.phase).toBe('online');
    expect(tokens.get()).toBe('new');
  });

  it('asks for the password when the stored token is refused, then logs in and out', async () => {
    const { client, tokens } = makeClient({ token: 'expired' });
    client.start();
    FakeSocket.last.open({ requires_auth: true });
    const socket = FakeSocket.last;
    socket.receive({ message_id: socket.lastSent('auth/login')['message_id'], error_code: 'not_authenticated', details: 'expired' });
    await flush();
    expect(client.status.phase).toBe('login');
    expect(tokens.get()).toBeNull();

    const wrong = client.login('nope');
    socket.receive({ message_id: socket.lastSent('auth/login')['message_id'], error_code: 'not_authenticated', details: 'bad' });
    await expect(wrong).rejects.toBeInstanceOf(RequestError);
    expect(client.status.loginError).toBe('Wrong password');

    const right = client.login('secret');
    expect(socket.lastSent('auth/login')['args']).toEqual({ password: 'secret' });
    socket.reply('auth/login', { token: 'tok', expires_at: 1 });
    await right;
    expect(client.status.phase).toBe('online');
    expect(tokens.get()).toBe('tok');

    const out = client.logout();
    socket.reply('auth/logout', { logged_out: true });
    await out;
    expect(tokens.get()).toBeNull();
    expect(client.status.phase).toBe('login');
  });

  it('takes the full server info from the login result (the first frame has none before login)', async () => {
    const { client } = makeClient({ token: 'old' });
    client.start();
    FakeSocket.last.open({ requires_auth: true });
    expect(client.status.serverInfo).toEqual({ server_version: '0.1.0', requires_auth: true });
    const info = {
      server_version: '0.1.0',
      esphome_version: '2026.11.0',
      requires_auth: true,
      demo: false,
      config_dir: '/config',
      data_dir: '/config/.esphome',
    };
    FakeSocket.last.reply('auth/login', { token: 'new', expires_at: 1, server_info: info });
    await flush();
    expect(client.status.phase).toBe('online');
    expect(client.status.serverInfo).toEqual(info);
  });

  it('asks for the password again when the server says the session ended elsewhere', async () => {
    const { client, tokens } = makeClient({ token: 'tok' });
    client.start();
    FakeSocket.last.open({ requires_auth: true });
    FakeSocket.last.reply('auth/login', { token: 'tok', expires_at: 1 });
    await flush();
    expect(client.status.phase).toBe('online');
    FakeSocket.last.receive({ message_id: null, error_code: 'not_authenticated', details: 'the session ended' });
    expect(client.status.phase).toBe('login');
    expect(client.status.loginError).toMatch(/session ended/);
    expect(tokens.get()).toBeNull();
  });

  it('shows the login without sending anything when there is no token', () => {
    const { client } = makeClient();
    client.start();
    FakeSocket.last.open({ requires_auth: true });
    expect(client.status.phase).toBe('login');
    expect(FakeSocket.last.sent).toEqual([]);
  });
});
