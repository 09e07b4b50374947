/**
 * Load scenarios shared by `test/server/load.test.ts` (small sizes, in `npm test`)
 * and `stress/load.stress.ts` (full sizes): request bursts over a big fleet,
 * event fan-out to many subscribed clients with one that stops reading.
 */
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import type { CatalogEvent } from '../../src/catalog/device-catalog.js';
import { INSTANCE_STORE_FILE } from '../../src/metadata/device-metadata.js';
import { captureLog } from './capture-log.js';
import { addDevice, makeTempDir, setMtime, writeFile } from './fs-fixtures.js';
import { startServer, type RunningServer } from './server-fixture.js';
import { mulberry32 } from '../../src/util/prng.js';

/** An esphome stand-in that costs a shell, not a node start (no jobs run in these scenarios). */
export const STUB_ESPHOME_CMD = ['/bin/sh', '-c', 'if [ "$1" = version ]; then echo "Version: 2026.11.0"; fi', 'esphome'];

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

export const ms = (value: number): string => `${value.toFixed(1)} ms`;

export function deviceNameOf(index: number): string {
  return `node${String(index).padStart(4, '0')}`;
}

/** A config dir of `count` compiled devices with tiny build folders (`files` files each). */
export function smallFleet(count: number, files = 2): { configDir: string; buildDirs: string[]; configurations: string[] } {
  const configDir = makeTempDir('dbts-load-');
  const buildDirs: string[] = [];
  const configurations: string[] = [];
  for (let i = 0; i < count; i++) {
    const device = addDevice(configDir, deviceNameOf(i), { files, fileBytes: 64 });
    buildDirs.push(device.buildDir);
    configurations.push(device.configuration);
  }
  return { configDir, buildDirs, configurations };
}

/**
 * Makes a device's build folder look rebuilt: a new file (so its size, and
 * so the Device, changes) and a folder mtime moved to `seconds` (so the
 * freshness pair moves whatever the clock's whole second is).
 */
export function touchBuild(buildDir: string, seconds: number, extraBytes: number): void {
  writeFile(path.join(buildDir, 'extra.bin'), extraBytes);
  setMtime(buildDir, seconds);
}

/** A lean subscribed client: keeps device_updated events with receive times and nothing else. */
export class LoadClient {
  readonly updates: { configuration: string; at: number }[] = [];
  replies = 0;
  /** `job_output` lines of the form `... unit <n>`: how many, and whether n always went up by one. */
  jobLines = 0;
  jobLinesInOrder = true;
  jobEnded = false;
  closeCode: number | null = null;
  private ready = false;
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (raw) => {
      const frame = JSON.parse(raw.toString()) as {
        event?: string;
        data?: { device?: { configuration: string }; line?: string };
        result?: unknown;
        error_code?: string;
      };
      if (frame.event === 'job_output') {
        const n = /unit (\d+)$/.exec(frame.data?.line ?? '');
        if (n) {
          if (Number(n[1]) !== this.jobLines + 1) this.jobLinesInOrder = false;
          this.jobLines++;
        }
      } else if (frame.event === 'job_completed' || frame.event === 'job_failed') {
        this.jobEnded = true;
      } else if (frame.event === 'device_updated' && frame.data?.device) {
        this.updates.push({ configuration: frame.data.device.configuration, at: performance.now() });
      } else if (frame.event === undefined && ('result' in frame || 'error_code' in frame)) {
        this.replies++;
      } else if (frame.event === undefined) {
        this.ready = true;
      }
      this.wakeAll();
    });
    socket.on('close', (code) => {
      this.closeCode = code;
      this.wakeAll();
    });
    socket.on('error', () => undefined);
  }

  static async open(url: string): Promise<LoadClient> {
    const client = new LoadClient(new WebSocket(url));
    await client.until(() => client.ready, 10_000);
    return client;
  }

  private wakeAll(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }

  async until(done: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!done()) {
      const left = deadline - performance.now();
      if (left <= 0) throw new Error('timed out');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  send(command: string, id: string | number, args?: Record<string, unknown>): void {
    this.socket.send(JSON.stringify({ command, message_id: id, ...(args ? { args } : {}) }));
  }

  async subscribe(): Promise<void> {
    const before = this.replies;
    this.send('subscribe_events', 'sub');
    await this.until(() => this.replies > before, 20_000);
  }

  close(): void {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) this.socket.terminate();
  }
}

export interface FanOutOptions {
  devices: number;
  clients: number;
  /** Add one subscribed client that stops reading and floods its own replies until the server drops it. */
  slowClient: boolean;
  /** `devices/list` requests the slow client sends without reading (each answer is the whole list). */
  floodRequests?: number;
  timeoutMs?: number;
}

export interface FanOutReport {
  devices: number;
  clients: number;
  /** The configurations in the order the catalog emitted device_updated. */
  emitted: string[];
  /** Per client: did it get exactly `emitted`, in order? */
  exact: boolean[];
  /** Emit → receive, over every (client, event). */
  latency: { p50: number; p99: number; max: number };
  /** From the first change to the last client's last event. */
  totalMs: number;
  slow: {
    dropped: number;
    closeCode: number | null;
    /** What the server logged when it dropped the client: frames not yet flushed to the kernel, bytes buffered. */
    atDrop: { pending: number; buffered: number } | null;
    requestsSent: number;
    /** Replies the slow client still read after it resumed (what the kernel had buffered for it). */
    repliesRead: number;
  } | null;
}

async function droppedCount(running: RunningServer): Promise<number> {
  const metric = await running.server.metrics.slowClientsDropped.get();
  return metric.values[0]?.value ?? 0;
}

/**
 * `clients` subscribed clients (plus, optionally, one that stops reading);
 * every one of `devices` devices changes once (new file, folder mtime moved,
 * `refresher.request`); every reading client must receive every
 * device_updated exactly once, in the catalog's emit order.
 */
export async function fanOut(options: FanOutOptions): Promise<FanOutReport> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const fleet = smallFleet(options.devices);
  const { logger, lines } = captureLog('warn');
  // Every client comes from 127.0.0.1: lift the per-address socket and stream limits (16 and 64 by default).
  const running = await startServer(fleet.configDir, {
    esphomeCommand: STUB_ESPHOME_CMD,
    sweepIntervalMs: 0,
    rescanIntervalMs: 5000,
    logger,
    maxConnectionsPerAddress: 1000,
    maxConnections: 1000,
    maxStreamsPerAddress: 10_000,
    maxStreams: 10_000,
  });
  const clients: LoadClient[] = [];
  let slow: LoadClient | null = null;
  try {
    await running.server.refresher.whenIdle();
    const emitted: { configuration: string; at: number }[] = [];
    const unsubscribe = running.server.catalog.subscribe((event: CatalogEvent) => {
      if (event.event === 'device_updated') emitted.push({ configuration: event.data.device.configuration, at: performance.now() });
    });
    for (let i = 0; i < options.clients; i += 20) {
      const batch = await Promise.all(Array.from({ length: Math.min(20, options.clients - i) }, () => LoadClient.open(running.wsUrl)));
      clients.push(...batch);
    }
    await Promise.all(clients.map((client) => client.subscribe()));

    let requestsSent = 0;
    if (options.slowClient) {
      slow = await LoadClient.open(running.wsUrl);
      await slow.subscribe();
      slow.socket.pause();
      // Its own answers pile up behind the paused socket: the kernel's buffers
      // fill first, then the server's, until the limit trips.
      const flood = options.floodRequests ?? 400;
      for (let i = 0; i < flood; i++) slow.send('devices/list', `flood-${i}`);
      requestsSent = flood;
    }

    const started = performance.now();
    const base = Math.floor(Date.now() / 1000) + 10_000;
    fleet.buildDirs.forEach((dir, i) => touchBuild(dir, base + i, 10 + i));
    for (const configuration of fleet.configurations) running.server.refresher.request(configuration);

    const all = options.devices;
    await Promise.all(clients.map((client) => client.until(() => client.updates.length >= all, timeoutMs)));
    await running.server.refresher.whenIdle();
    // Anything doubled would arrive now.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const totalMs = Math.max(...clients.map((client) => client.updates.at(-1)?.at ?? started)) - started;
    unsubscribe();

    const order = emitted.map((e) => e.configuration);
    const emitAt = new Map(emitted.map((e) => [e.configuration, e.at]));
    const latencies: number[] = [];
    for (const client of clients) for (const update of client.updates) latencies.push(update.at - (emitAt.get(update.configuration) ?? update.at));

    let slowReport: FanOutReport['slow'] = null;
    if (slow) {
      const dropped = await droppedCount(running);
      const record = lines().find((r) => r.msg.includes('fell too far behind'));
      const atDrop = record ? { pending: Number(record['pending']), buffered: Number(record['buffered']) } : null;
      slow.socket.resume();
      const s = slow;
      await s.until(() => s.closeCode !== null, 15_000).catch(() => undefined);
      slowReport = { dropped, closeCode: s.closeCode, atDrop, requestsSent, repliesRead: s.replies };
    }
    return {
      devices: options.devices,
      clients: options.clients,
      emitted: order,
      exact: clients.map((client) => client.updates.length === order.length && client.updates.every((u, i) => u.configuration === order[i])),
      latency: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: Math.max(0, ...latencies) },
      totalMs,
      slow: slowReport,
    };
  } finally {
    for (const client of clients) client.close();
    slow?.close();
    await running.close();
    fs.rmSync(fleet.configDir, { recursive: true, force: true });
  }
}

export interface BurstOptions {
  devices: number;
  changed: number;
  requests: number;
  seed: number;
}

export interface BurstReport {
  settleMs: number;
  initialWalks: number;
  /** Time inside the 1,000 initial walks themselves (refresher stats); the rest of the settle is persisting and reloading. */
  initialWalkMs: number;
  burstMs: number;
  /** Wall time of the 10,000 synchronous `request()` calls themselves. */
  requestCallsMs: number;
  walks: number;
  changed: string[];
  persisted: number;
  distinctRequested: number;
}

/**
 * `devices` devices, settled (every one walked once); then `changed` of them
 * get a moved folder mtime and `requests` `request()` calls fire in one
 * synchronous burst over all devices (random order, repeats). Only the
 * changed devices may be walked, and each must be persisted.
 */
export async function requestBurst(options: BurstOptions): Promise<BurstReport> {
  const fleet = smallFleet(options.devices);
  const running = await startServer(fleet.configDir, { esphomeCommand: STUB_ESPHOME_CMD, sweepIntervalMs: 0 });
  try {
    const refresher = running.server.refresher;
    const settleStarted = performance.now();
    await refresher.whenIdle();
    const settleMs = performance.now() - settleStarted;
    const initialWalks = refresher.stats.walks;
    const initialWalkMs = refresher.stats.walkSeconds * 1000;

    const random = mulberry32(options.seed);
    const indexes = fleet.configurations.map((_, i) => i);
    for (let i = indexes.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [indexes[i], indexes[j]] = [indexes[j] as number, indexes[i] as number];
    }
    const changedIdx = indexes.slice(0, options.changed);
    const base = Math.floor(Date.now() / 1000) + 20_000;
    for (const [n, i] of changedIdx.entries()) setMtime(fleet.buildDirs[i] as string, base + n);

    // Every device once (so every changed one is asked for), then random repeats, shuffled.
    const burst = [...fleet.configurations];
    while (burst.length < options.requests) burst.push(fleet.configurations[Math.floor(random() * fleet.configurations.length)] as string);
    for (let i = burst.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [burst[i], burst[j]] = [burst[j] as string, burst[i] as string];
    }
    const started = performance.now();
    for (const configuration of burst) refresher.request(configuration);
    const requestCallsMs = performance.now() - started;
    await refresher.whenIdle();
    const burstMs = performance.now() - started;

    const sidecar = JSON.parse(fs.readFileSync(path.join(fleet.configDir, '.esphome', INSTANCE_STORE_FILE), 'utf8')) as Record<string, Record<string, unknown>>;
    const changed = changedIdx.map((i) => fleet.configurations[i] as string);
    const persisted = changedIdx.filter((i, n) => sidecar[fleet.configurations[i] as string]?.['build_size_dir_mtime'] === base + n).length;
    return {
      settleMs,
      initialWalks,
      initialWalkMs,
      burstMs,
      requestCallsMs,
      walks: refresher.stats.walks - initialWalks,
      changed,
      persisted,
      distinctRequested: new Set(burst).size,
    };
  } finally {
    await running.close();
    fs.rmSync(fleet.configDir, { recursive: true, force: true });
  }
}

export interface JobFloodReport {
  lines: number;
  readers: number;
  /** Per reader: every line, once, in order. */
  exact: boolean[];
  ms: number;
  slow: { dropped: number; closeCode: number | null; atDrop: { pending: number; buffered: number } | null; linesRead: number } | null;
}

/**
 * Event-only back-pressure: `readers` subscribed clients and one that stops
 * reading, while one firmware job prints `lines` output lines (a shell
 * stand-in for esphome). No requests: only the event stream can fill the
 * slow client's buffers.
 */
export async function jobOutputFlood(options: { lines: number; readers: number; slowClient?: boolean; timeoutMs?: number }): Promise<JobFloodReport> {
  const fleet = smallFleet(1);
  const { logger, lines } = captureLog('warn');
  const script = `if [ "$1" = version ]; then echo "Version: 2026.11.0"; exit 0; fi; seq 1 ${options.lines} | sed "s/^/INFO compiling unit /"`;
  const running = await startServer(fleet.configDir, { esphomeCommand: ['/bin/sh', '-c', script, 'esphome'], sweepIntervalMs: 0, logger });
  const readers: LoadClient[] = [];
  let slow: LoadClient | null = null;
  try {
    await running.server.refresher.whenIdle();
    for (let i = 0; i < options.readers; i++) readers.push(await LoadClient.open(running.wsUrl));
    await Promise.all(readers.map((r) => r.subscribe()));
    if (options.slowClient ?? true) {
      slow = await LoadClient.open(running.wsUrl);
      await slow.subscribe();
      slow.socket.pause();
    }
    const started = performance.now();
    readers[0]?.send('firmware/compile', 'compile', { configuration: fleet.configurations[0] as string });
    await Promise.all(readers.map((r) => r.until(() => r.jobEnded, options.timeoutMs ?? 120_000)));
    const took = performance.now() - started;
    const dropped = (await running.server.metrics.slowClientsDropped.get()).values[0]?.value ?? 0;
    const record = lines().find((r) => r.msg.includes('fell too far behind'));
    const s = slow;
    if (s) {
      s.socket.resume();
      await s.until(() => s.closeCode !== null, 15_000).catch(() => undefined);
    }
    return {
      lines: options.lines,
      readers: options.readers,
      exact: readers.map((r) => r.jobLines === options.lines && r.jobLinesInOrder),
      ms: took,
      slow: s
        ? {
            dropped,
            closeCode: s.closeCode,
            atDrop: record ? { pending: Number(record['pending']), buffered: Number(record['buffered']) } : null,
            linesRead: s.jobLines,
          }
        : null,
    };
  } finally {
    for (const r of readers) r.close();
    slow?.close();
    await running.close();
    fs.rmSync(fleet.configDir, { recursive: true, force: true });
  }
}
