/**
 * The adversarial review's resource attack, replayable at any size: many
 * sockets (spread over 127.0.0.x source addresses) each open many
 * `subscribe_events` streams and stop reading, while one firmware job
 * prints many lines. A healthy client subscribes too and times `devices/list`
 * round trips throughout. The server runs in its own process
 * (`attack-server.ts`) so its RSS is measured alone.
 *
 * Used by `test/api/ws-limits.test.ts` (small sizes) and
 * `stress/ws-attack.stress.ts` (the review's sizes, figures for
 * docs/RELIABILITY.md).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import type { ServerOptions } from '../../src/server/server.js';
import { makeTempDir, writeFile } from './fs-fixtures.js';
import { percentile } from './load.js';
import { REPO_ROOT, TSX_LOADER } from './run-cli.js';

export interface SpawnedServer {
  url: string;
  wsUrl: string;
  pid: number;
  /** Wall time from `new DeviceBuilderServer` to listening, as the child measured it. */
  listenMs: number;
  /** From spawn to the URL line (includes loading tsx and the sources). */
  spawnToUrlMs: number;
  /** The server process's resident set, in bytes. */
  rss(): number;
  metric(name: string): Promise<number>;
  close(): Promise<void>;
}

type ChildOptions = Partial<Omit<ServerOptions, 'logger'>> & { configDir: string };

export async function spawnServer(options: ChildOptions, env: NodeJS.ProcessEnv = {}): Promise<SpawnedServer> {
  const full = {
    host: '127.0.0.1',
    port: 0,
    esphomeCommand: ['/bin/sh', '-c', 'if [ "$1" = version ]; then echo "Version: 2026.11.0"; fi', 'esphome'],
    password: null,
    webRoot: null,
    sweepIntervalMs: 0,
    env: { ...process.env, PLATFORMIO_CORE_DIR: path.join(options.configDir, '.platformio-test') },
    ...options,
  };
  const spawned = performance.now();
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', TSX_LOADER, path.join(REPO_ROOT, 'test', 'helpers', 'attack-server.ts'), JSON.stringify(full)],
    {
      env: { ...process.env, DEVICE_BUILDER_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    if (stderr.length < 200_000) stderr += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const { url, listenMs } = await new Promise<{ url: string; listenMs: number }>((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${stdout} ${stderr.slice(0, 2000)}`)), 180_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /URL (\S+) (\d+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve({ url: match[1] as string, listenMs: Number(match[2]) });
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code}: ${stderr.slice(0, 2000)}`)));
  });
  const spawnToUrlMs = performance.now() - spawned;
  const pid = child.pid as number;
  return {
    url,
    wsUrl: `${url.replace(/^http/, 'ws')}ws`,
    pid,
    listenMs,
    spawnToUrlMs,
    rss: () => {
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
    },
    metric: async (name) => {
      const text = await (await fetch(`${url}metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
      return line ? Number(line.split(' ').at(-1)) : 0;
    },
    close: async () => {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

interface AnyFrame {
  message_id?: string | number | null;
  event?: string;
  result?: unknown;
  error_code?: string;
  data?: { line?: string };
  server_version?: string;
}

/** A client that reads everything: counts job lines in order and times request round trips. */
export class HealthyClient {
  jobLines = 0;
  inOrder = true;
  jobEnded = false;
  closeCode: number | null = null;
  readonly roundTrips: number[] = [];
  private readonly sentAt = new Map<string, number>();
  private greeted = false;
  private subscribed = false;
  private nextId = 0;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (raw) => {
      const frame = JSON.parse(raw.toString()) as AnyFrame;
      if (frame.server_version !== undefined) this.greeted = true;
      if (frame.event === 'job_output') {
        const n = /unit (\d+)$/.exec(frame.data?.line ?? '');
        if (n) {
          if (Number(n[1]) !== this.jobLines + 1) this.inOrder = false;
          this.jobLines++;
        }
      } else if (frame.event === 'job_completed' || frame.event === 'job_failed') {
        this.jobEnded = true;
      } else if (frame.event === undefined && typeof frame.message_id === 'string') {
        if (frame.message_id === 'sub') this.subscribed = true;
        const at = this.sentAt.get(frame.message_id);
        if (at !== undefined) {
          this.roundTrips.push(performance.now() - at);
          this.sentAt.delete(frame.message_id);
        }
      }
    });
    socket.on('close', (code) => (this.closeCode = code));
    socket.on('error', () => undefined);
  }

  static async open(wsUrl: string): Promise<HealthyClient> {
    const client = new HealthyClient(new WebSocket(wsUrl));
    await waitUntil(() => client.greeted || client.closeCode !== null, 30_000);
    if (!client.greeted) throw new Error(`healthy client refused (close ${client.closeCode})`);
    client.send('subscribe_events', 'sub');
    await waitUntil(() => client.subscribed || client.closeCode !== null, 60_000);
    return client;
  }

  send(command: string, id: string, args?: Record<string, unknown>): void {
    this.socket.send(JSON.stringify({ command, message_id: id, ...(args ? { args } : {}) }));
  }

  /** Sends `devices/list` and records its round trip when the answer comes. */
  ping(): void {
    if (this.sentAt.size > 0 || this.socket.readyState !== WebSocket.OPEN) return;
    const id = `ping-${this.nextId++}`;
    this.sentAt.set(id, performance.now());
    this.send('devices/list', id);
  }

  get pendingSince(): number | null {
    const first = this.sentAt.values().next();
    return first.done ? null : first.value;
  }
}

export async function waitUntil(done: () => boolean, timeoutMs: number, stepMs = 20): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
}

interface Attacker {
  socket: WebSocket;
  opened: boolean;
  refusedStatus: number | null;
  closeCode: number | null;
  streams: number;
  refusedStreams: number;
}

function openAttacker(wsUrl: string, localAddress: string, streams: number): Promise<Attacker> {
  return new Promise((resolve) => {
    const socket = new WebSocket(wsUrl, { localAddress });
    const attacker: Attacker = { socket, opened: false, refusedStatus: null, closeCode: null, streams: 0, refusedStreams: 0 };
    let answered = 0;
    const done = (): void => resolve(attacker);
    const timer = setTimeout(done, 60_000);
    socket.on('unexpected-response', (request, response) => {
      attacker.refusedStatus = response.statusCode ?? 0;
      request.destroy();
      clearTimeout(timer);
      done();
    });
    socket.on('error', () => undefined);
    socket.on('close', (code) => {
      attacker.closeCode = code;
      clearTimeout(timer);
      done();
    });
    let greeted = false;
    socket.on('message', (raw) => {
      if (!greeted) {
        greeted = true;
        attacker.opened = true;
        // Pipelined: all requests leave before any answer.
        for (let i = 0; i < streams; i++) socket.send(JSON.stringify({ command: 'subscribe_events', message_id: i }));
        return;
      }
      const frame = JSON.parse(raw.toString()) as AnyFrame;
      if (frame.event !== undefined) return;
      if ('result' in frame) attacker.streams++;
      else if (frame.error_code) attacker.refusedStreams++;
      if (++answered === streams) {
        clearTimeout(timer);
        // Stop reading: from now on everything the server sends this socket piles up.
        socket.pause();
        done();
      }
    });
  });
}

export interface AttackOptions {
  sockets: number;
  streamsPerSocket: number;
  lines: number;
  /** Sockets per 127.0.0.x source address (the review used many addresses). */
  perAddress: number;
  serverOptions?: Partial<Omit<ServerOptions, 'logger' | 'configDir'>>;
}

export interface AttackReport {
  accepted: number;
  refusedHttp: number;
  refusedClose: number;
  streamsOpened: number;
  rssBaseline: number;
  rssPeak: number;
  rssAfterClose: number;
  roundTrip: { count: number; p50: number; p99: number; max: number };
  healthy: { lines: number; inOrder: boolean; ended: boolean; closeCode: number | null };
  dropped: number;
  jobMs: number;
}

const MB = 1024 * 1024;
export const mb = (bytes: number): string => `${(bytes / MB).toFixed(0)} MB`;

export async function wsAttack(options: AttackOptions): Promise<AttackReport> {
  const configDir = makeTempDir('dbts-attack-');
  writeFile(path.join(configDir, 'kitchen.yaml'), 'esphome:\n  name: kitchen\nesp32:\n  board: esp32dev\n');
  const script = `if [ "$1" = version ]; then echo "Version: 2026.11.0"; exit 0; fi; seq 1 ${options.lines} | sed "s/^/INFO compiling unit /"`;
  const server = await spawnServer({ configDir, esphomeCommand: ['/bin/sh', '-c', script, 'esphome'], ...options.serverOptions });
  const attackers: Attacker[] = [];
  let healthy: HealthyClient | null = null;
  let sampler: NodeJS.Timeout | null = null;
  try {
    healthy = await HealthyClient.open(server.wsUrl);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const rssBaseline = server.rss();
    let rssPeak = rssBaseline;
    sampler = setInterval(() => {
      try {
        rssPeak = Math.max(rssPeak, server.rss());
      } catch {
        // exited
      }
    }, 50);
    for (let i = 0; i < options.sockets; i += 20) {
      const batch = Array.from({ length: Math.min(20, options.sockets - i) }, (_, k) => {
        const n = i + k;
        return openAttacker(server.wsUrl, `127.0.0.${2 + Math.floor(n / options.perAddress)}`, options.streamsPerSocket);
      });
      attackers.push(...(await Promise.all(batch)));
    }
    const h = healthy;
    const started = performance.now();
    h.send('firmware/compile', 'compile', { configuration: 'kitchen.yaml' });
    const pinger = setInterval(() => h.ping(), 100);
    try {
      await waitUntil(() => h.jobEnded || h.closeCode !== null, 300_000, 50);
      // The last round trip, after the job.
      h.ping();
      await waitUntil(() => h.pendingSince === null || h.closeCode !== null, 60_000);
    } finally {
      clearInterval(pinger);
    }
    const jobMs = performance.now() - started;
    const dropped = await server.metric('device_builder_ws_slow_clients_dropped_total');
    for (const attacker of attackers) attacker.socket.terminate();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const rssAfterClose = server.rss();
    return {
      accepted: attackers.filter((a) => a.opened).length,
      refusedHttp: attackers.filter((a) => a.refusedStatus !== null).length,
      refusedClose: attackers.filter((a) => !a.opened && a.refusedStatus === null && a.closeCode !== null).length,
      streamsOpened: attackers.reduce((n, a) => n + a.streams, 0),
      rssBaseline,
      rssPeak,
      rssAfterClose,
      roundTrip: {
        count: h.roundTrips.length,
        p50: percentile(h.roundTrips, 50),
        p99: percentile(h.roundTrips, 99),
        max: Math.max(0, ...h.roundTrips),
      },
      healthy: { lines: h.jobLines, inOrder: h.inOrder, ended: h.jobEnded, closeCode: h.closeCode },
      dropped,
      jobMs,
    };
  } finally {
    if (sampler) clearInterval(sampler);
    for (const attacker of attackers) attacker.socket.terminate();
    healthy?.socket.terminate();
    await server.close();
    fs.rmSync(configDir, { recursive: true, force: true });
  }
}
