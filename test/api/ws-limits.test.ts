/**
 * Resource limits across sockets (adversarial review, "medium"): each test
 * replays one part of the attack on a real server on 127.0.0.x and failed on
 * the code before the fix.
 *
 * - 1,000 pipelined `subscribe_events` on one socket opened 865 streams (the
 *   cap of 32 was checked when a handler finished, not when it started).
 * - No limit on sockets per address or in total.
 * - Every event was serialised once per stream (300 sockets × 32 streams:
 *   9,600 `JSON.stringify` per job line).
 * - No bound on what all sockets together may queue: each could hold 8 MiB
 *   or 5,000 frames (the attack's 1.5 GB; figures in docs/RELIABILITY.md,
 *   from `stress/ws-attack.stress.ts`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { ConnectionLimiter, OutboundBudget, type BudgetMember } from '../../src/api/ws-limits.js';
import { cleanupTempDirs, makeTempDir, writeFile } from '../helpers/fs-fixtures.js';
import { captureLog } from '../helpers/capture-log.js';
import { LoadClient, smallFleet, STUB_ESPHOME_CMD } from '../helpers/load.js';
import { startServer, stopServers } from '../helpers/server-fixture.js';
import { WsClient } from '../helpers/ws-client.js';
import { wsAttack } from '../helpers/ws-attack.js';

afterEach(async () => {
  vi.restoreAllMocks();
  await stopServers();
  cleanupTempDirs();
});

function oneDeviceDir(): string {
  const dir = makeTempDir();
  writeFile(path.join(dir, 'kitchen.yaml'), 'esphome:\n  name: kitchen\nesp32:\n  board: esp32dev\n');
  return dir;
}

/** Opens a socket; resolves with the HTTP status of a refused upgrade, the close code of a refused socket, or 'open'. */
function tryOpen(url: string, localAddress: string): Promise<{ outcome: 'open' | number; socket: WebSocket }> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, { localAddress });
    socket.on('error', () => undefined);
    socket.once('unexpected-response', (request, response) => {
      request.destroy();
      resolve({ outcome: response.statusCode ?? 0, socket });
    });
    // The first frame is the greeting: the socket was accepted.
    socket.once('message', () => resolve({ outcome: 'open', socket }));
    socket.once('close', (code) => resolve({ outcome: code, socket }));
  });
}

describe('streams are counted when their command arrives', () => {
  it('1,000 pipelined subscribe_events on one socket open at most 32 streams', async () => {
    const running = await startServer(oneDeviceDir());
    const client = await running.connect();
    for (let i = 0; i < 1000; i++) client.sendRaw(JSON.stringify({ command: 'subscribe_events', message_id: i }));
    await client.waitFor(() => client.frames.filter((f) => f.event === undefined && typeof f.message_id === 'number').length === 1000, 30_000);
    const replies = client.frames.filter((f) => f.event === undefined && typeof f.message_id === 'number');
    const opened = replies.filter((f) => 'result' in f);
    const refused = replies.filter((f) => f.error_code === 'invalid_args');
    expect(opened).toHaveLength(32);
    expect(refused).toHaveLength(968);
    expect(client.events('initial_state')).toHaveLength(32);
    // Unsubscribing frees a slot for the next one.
    await client.call('unsubscribe', { message_id: opened[0]?.message_id as number });
    expect((await client.request('subscribe_events')).result).toBeNull();
    expect((await client.request('subscribe_events')).error_code).toBe('invalid_args');
  });

  it('a stream whose command fails frees its slot; a message_id already streaming is refused', async () => {
    const running = await startServer(oneDeviceDir());
    const client = await running.connect();
    // Pipelined: 32 hold a slot while their handlers run (and then fail), the other 8 find none.
    for (let i = 0; i < 40; i++) client.sendRaw(JSON.stringify({ command: 'firmware/follow_job', message_id: `f${i}`, args: { job_id: 'none' } }));
    await client.waitFor(() => client.frames.filter((f) => String(f.message_id).startsWith('f')).length === 40);
    expect(client.frames.filter((f) => f.error_code === 'not_found')).toHaveLength(32);
    expect(client.frames.filter((f) => f.error_code === 'invalid_args')).toHaveLength(8);
    // The failed ones gave their slots back: 32 streams open again.
    for (let i = 0; i < 32; i++) client.sendRaw(JSON.stringify({ command: 'subscribe_events', message_id: `s${i}` }));
    await client.waitFor(() => client.frames.filter((f) => String(f.message_id).startsWith('s') && f.event === undefined).length === 32);
    expect(client.frames.filter((f) => String(f.message_id).startsWith('s') && 'result' in f)).toHaveLength(32);
    await Promise.all(Array.from({ length: 32 }, (_, i) => client.call('unsubscribe', { message_id: `s${i}` })));
    client.sendRaw(JSON.stringify({ command: 'subscribe_events', message_id: 'same' }));
    client.sendRaw(JSON.stringify({ command: 'subscribe_events', message_id: 'same' }));
    const refusal = await client.waitFor((f) => f.message_id === 'same' && f.error_code !== undefined);
    expect(refusal.error_code).toBe('invalid_args');
    expect(refusal.details).toMatch(/already open/);
  });
});

describe('connection limits', () => {
  it('refuses sockets past the per-address and total limits with 503 (1013 if they race past), and counts them', async () => {
    const running = await startServer(oneDeviceDir(), { maxConnectionsPerAddress: 3, maxConnections: 5 });
    const a = await Promise.all(Array.from({ length: 4 }, () => tryOpen(running.wsUrl, '127.0.0.2')));
    expect(a.filter((r) => r.outcome === 'open')).toHaveLength(3);
    expect(a.filter((r) => r.outcome === 503 || r.outcome === 1013)).toHaveLength(1);
    const b = await Promise.all(Array.from({ length: 3 }, () => tryOpen(running.wsUrl, '127.0.0.3')));
    expect(b.filter((r) => r.outcome === 'open')).toHaveLength(2);
    expect(b.filter((r) => r.outcome === 503 || r.outcome === 1013)).toHaveLength(1);
    // A closed socket frees its place.
    const first = a.find((r) => r.outcome === 'open');
    await new Promise<void>((resolve) => {
      first?.socket.once('close', () => resolve());
      first?.socket.close();
    });
    await expect.poll(() => running.server.limiter.size).toBe(4);
    const again = await tryOpen(running.wsUrl, '127.0.0.2');
    expect(again.outcome).toBe('open');
    const metrics = await running.server.metrics.registry.metrics();
    expect(metrics).toMatch(/device_builder_ws_connections_refused_total\{reason="per_address"\} 1/);
    expect(metrics).toMatch(/device_builder_ws_connections_refused_total\{reason="total"\} 1/);
    expect(metrics).toMatch(/device_builder_ws_connections 5/);
    for (const r of [...a, ...b, again]) r.socket.terminate();
  });

  it('counts streams per address and in total, across sockets', async () => {
    const running = await startServer(oneDeviceDir(), { maxStreamsPerAddress: 5, maxStreams: 7 });
    const open = async (localAddress: string): Promise<number> => {
      const client = await running.connect({ localAddress });
      const replies = await Promise.all(Array.from({ length: 4 }, () => client.request('subscribe_events')));
      return replies.filter((r) => 'result' in r).length;
    };
    expect(await open('127.0.0.2')).toBe(4);
    expect(await open('127.0.0.2')).toBe(1);
    expect(await open('127.0.0.3')).toBe(2);
  });

  it('defaults: 16 sockets per address (a real server process, 20 attackers from one address)', async () => {
    const report = await wsAttack({ sockets: 20, streamsPerSocket: 32, lines: 2000, perAddress: 20 });
    console.info(`20 sockets from one address: ${JSON.stringify(report)}`);
    expect(report.accepted).toBe(16);
    expect(report.refusedHttp + report.refusedClose).toBe(4);
    // 16 sockets × 32 asked for, 64 per address allowed.
    expect(report.streamsOpened).toBe(64);
    expect(report.healthy).toEqual({ lines: 2000, inOrder: true, ended: true, closeCode: null });
  }, 120_000);
});

describe('events are serialised once for every stream', () => {
  it('a device_added reaching 10 sockets × 5 streams is stringified once', async () => {
    const dir = oneDeviceDir();
    const running = await startServer(dir);
    const clients: WsClient[] = [];
    for (let i = 0; i < 10; i++) {
      const client = await running.connect();
      for (let s = 0; s < 5; s++) await client.call('subscribe_events');
      clients.push(client);
    }
    writeFile(path.join(dir, 'marker-device.yaml'), 'esphome:\n  name: marker-device\nesp32:\n  board: esp32dev\n');
    const stringify = vi.spyOn(JSON, 'stringify');
    await running.server.catalog.reload('marker-device.yaml');
    const arrived = (client: WsClient): number =>
      client.events('device_added').filter((f) => (f.data as { device: { name: string } }).device.name === 'marker-device').length;
    await expect.poll(() => clients.every((client) => arrived(client) === 5), { timeout: 10_000 }).toBe(true);
    // Frames or event data that hold the device; the catalog's own change check stringifies bare Devices (`{"name":…`).
    const serialisedMarker = stringify.mock.results.filter(
      (r) => typeof r.value === 'string' && r.value.includes('marker-device') && !r.value.startsWith('{"name":'),
    ).length;
    stringify.mockRestore();
    expect(serialisedMarker).toBe(1);
    // Each stream still gets its own message_id.
    for (const client of clients) {
      const ids = client.events('device_added').map((f) => f.message_id);
      expect(new Set(ids).size).toBe(5);
    }
  });
});

describe('server-wide outbound budget', () => {
  it('drops the socket holding the most once all sockets together queue past the budget; a reading client is not touched', async () => {
    const fleet = smallFleet(200);
    const { logger, lines } = captureLog('warn');
    const records = (): Record<string, unknown>[] => lines();
    const running = await startServer(fleet.configDir, { esphomeCommand: STUB_ESPHOME_CMD, sweepIntervalMs: 0, logger, maxQueuedBytes: 2 * 1024 * 1024 });
    try {
      await running.server.refresher.whenIdle();
      const reader = await LoadClient.open(running.wsUrl);
      await reader.subscribe();
      const stalled: LoadClient[] = [];
      for (let i = 0; i < 3; i++) {
        const client = await LoadClient.open(running.wsUrl);
        await client.subscribe();
        client.socket.pause();
        stalled.push(client);
      }
      // Each answer is the whole 200-device list (~56 KB); 120 of them (~6.7 MB) stay under the
      // 8 MiB per-socket limit even with nothing taken by the kernel: only the budget can drop them.
      for (const client of stalled) for (let i = 0; i < 120; i++) client.send('devices/list', `flood-${i}`);
      await expect.poll(() => records().some((r) => String(r['msg']).includes('too much unsent data')), { timeout: 20_000 }).toBe(true);
      const shed = records().filter((r) => String(r['msg']).includes('too much unsent data'));
      expect(shed.every((r) => r['code'] === 1013)).toBe(true);
      expect(records().some((r) => String(r['msg']).includes('fell too far behind'))).toBe(false);
      // The reader still works.
      const before = reader.replies;
      reader.send('devices/list', 'still-here');
      await reader.until(() => reader.replies > before, 10_000);
      expect(reader.closeCode).toBeNull();
      expect((await running.server.metrics.slowClientsDropped.get()).values[0]?.value).toBeGreaterThanOrEqual(1);
      reader.close();
      for (const client of stalled) client.close();
    } finally {
      await running.close();
      fs.rmSync(fleet.configDir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('limit helpers', () => {
  it('ConnectionLimiter counts per address and in total, and releases', () => {
    const limiter = new ConnectionLimiter(2, 3);
    expect(limiter.acquire('a')).toBeNull();
    expect(limiter.acquire('a')).toBeNull();
    expect(limiter.acquire('a')).toBe('per_address');
    expect(limiter.acquire('b')).toBeNull();
    expect(limiter.acquire('c')).toBe('total');
    limiter.release('a');
    expect(limiter.acquire('c')).toBeNull();
    expect(limiter.size).toBe(3);
  });

  it('OutboundBudget sheds the member with the most queued bytes, not one holding only exempt bytes', () => {
    const budget = new OutboundBudget(1000);
    const shed: string[] = [];
    const member = (name: string, queuedBytes: number, holding: number): BudgetMember => {
      const m: BudgetMember = { queuedBytes, shed: () => (shed.push(name), budget.leave(m, holding)) };
      budget.join(m);
      return m;
    };
    member('snapshot-only', 0, 600);
    member('small', 100, 100);
    member('big', 300, 300);
    budget.add(600 + 100 + 300);
    expect(shed).toEqual([]);
    budget.add(50);
    expect(shed).toEqual(['big']);
    expect(budget.overloaded).toBe(false);
  });
});
