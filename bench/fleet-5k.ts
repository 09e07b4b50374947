/// <reference lib="dom" />
/**
 * `npm run bench:5k`: the dashboard with 5,000 compiled devices (issue 13,
 * item 4). Small devices (two files per build folder): what is measured is
 * the cost of the fleet's size in the server and the page, not of walks.
 *
 * - Fixture `.bench/fleet-5k/` (bench/fixtures.ts, reused while its
 *   parameters match): 5,000 YAMLs, their StorageJSON and tiny build
 *   folders with `build_info.json`.
 * - The server runs in a child process (`--serve <dir>`, this file), so its
 *   RSS is the server's alone, with `--expose-gc` so heap and RSS are read
 *   after a forced GC. The first child starts with every metadata file
 *   removed (a first start: every folder walked); a second one restarts on
 *   what the first persisted (the usual restart: nothing walked). The child
 *   answers line commands on stdin (`stats`, `sweep`, `serialize`, `quit`)
 *   with one JSON line each.
 * - `devices/list` and `subscribe_events` (chunked, as the page asks) are
 *   timed from this process over a loopback WebSocket: send to the arrival
 *   of the answer frame, before it is parsed. The server logs no
 *   per-command time, so these round trips are an upper bound on the
 *   server's own time; the child's `serialize` gives the serialisation part
 *   (what dominates both commands) measured inside the server process.
 * - Warm sweep: what the periodic timer asks (`device` and `platformio`
 *   sources), five times, median; the full sweep (every tenth tick adds the
 *   unused-folder scan) once, printed apart.
 * - The page in Chromium (playwright-core, Debian's /usr/bin/chromium): an
 *   init script (before navigation) records when the first `tr.device` is in
 *   the DOM and when it is laid out inside the viewport (relative to
 *   navigation start: `performance.now()`), and every long task
 *   (`PerformanceObserver`, type `longtask`). Then the page scrolls from top
 *   to bottom by one viewport per animation frame; the long tasks that fall
 *   in that span are reported.
 *
 * Env: `FLEET5K_DEVICES` (5000), `FLEET5K_RUNS` (10 round trips per
 * command), `FLEET5K_CPU_PROF=<dir>` (the restarted server child writes a
 * CPU profile there on quit), `FLEET5K_WEB_ROOT=<dir>` (another build of the
 * page, e.g. to compare before and after a change; default web/dist). Exit code 0 even when a target is missed: a measurement.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { PACKAGE_ROOT } from '../src/util/package-root.js';
import { ensureFixture } from './fixtures.js';
import { FIRST_ROW_MESSAGE, pageProbe, scrollThrough, type PageProbe } from './page-probe.js';
import { fmtInt, fmtMs, median, renderTable } from './stats.js';

const CHROMIUM = '/usr/bin/chromium';
const HERE = fileURLToPath(import.meta.url);
const MB = 1024 * 1024;

const TARGETS = {
  firstAnswerMs: 100,
  commandMs: 100,
  rssMb: 250,
  warmSweepMs: 100,
  firstRowsMs: 1500,
  longTaskMs: 100,
};

function envInt(name: string, fallback: number): number {
  const value = Number(process.env[name]);
  return Number.isInteger(value) && value > 0 ? value : fallback;
}

// ---------------------------------------------------------------------------
// The server child: `node --expose-gc fleet-5k.js --serve <configDir> <webRoot>`
// ---------------------------------------------------------------------------

interface ReadyLine {
  type: 'ready';
  url: string;
  /** Node start to the start of the imports of the server modules. */
  bootMs: number;
  importMs: number;
  /** `new DeviceBuilderServer()` (Fastify loads its schema compilers there). */
  constructMs: number;
  /** `server.start()` (listening; the first scan runs after it). */
  startMs: number;
  /** Before `start()` to the first HTTP 200 on `/`. */
  firstHttpMs: number;
}

interface SettledLine {
  type: 'settled';
  /** Before `start()` until the refresher is idle (first scan, sweep, walks, persists). */
  settleMs: number;
  walks: number;
  devices: number;
}

interface StatsLine {
  type: 'stats';
  rssMb: number;
  heapUsedMb: number;
  heapTotalMb: number;
  externalMb: number;
  walks: number;
  sweeps: number;
  rescans: number;
  reloads: number;
  /** Metadata file parses (shared sidecar + per-instance store + ours). */
  parses: number;
}

interface SweepLine {
  type: 'sweep';
  /** Periodic sweep (device + platformio sources), each run. */
  runs: number[];
  walks: number;
  /** Every source, the unused-folder scan included. */
  allMs: number;
  allWalks: number;
}

interface SerializeLine {
  type: 'serialize';
  /** `JSON.stringify(catalog.list())`: the bulk of a `devices/list` answer. */
  listMs: number;
  listBytes: number;
  /** The chunked snapshot's first frame (`initial_state`). */
  initialStateMs: number;
  initialStateBytes: number;
}

type ChildLine = ReadyLine | SettledLine | StatsLine | SweepLine | SerializeLine;

function emit(line: ChildLine): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function firstHttp200(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      http
        .get(url, (res) => {
          res.resume();
          if (res.statusCode === 200) resolve();
          else setTimeout(attempt, 5);
        })
        .on('error', reject);
    };
    attempt();
  });
}

async function serve(configDir: string, webRoot: string): Promise<void> {
  const importStarted = performance.now();
  const [{ DeviceBuilderServer }, { DEVICE_SOURCE }, { PLATFORMIO_SOURCE }, { chunkedSnapshot }, { createLogger }] = await Promise.all([
    import('../src/server/server.js'),
    import('../src/refresher/build-size-refresher.js'),
    import('../src/platformio/platformio-cache.js'),
    import('../src/api/commands.js'),
    import('../src/util/log.js'),
  ]);
  const importMs = performance.now() - importStarted;
  const constructed = performance.now();
  const server = new DeviceBuilderServer({
    configDir,
    host: '127.0.0.1',
    port: 0,
    // A shell, not a Python start: only `esphome version` runs (at start).
    esphomeCommand: ['/bin/sh', '-c', 'echo "Version: 2026.11.0"', 'esphome'],
    password: null,
    logger: createLogger('silent'),
    webRoot,
    sweepIntervalMs: 0,
    env: { ...process.env, PLATFORMIO_CORE_DIR: path.join(configDir, '.no-platformio') },
  });
  const constructMs = performance.now() - constructed;
  const started = performance.now();
  const url = await server.start();
  const startMs = performance.now() - started;
  await firstHttp200(url);
  const firstHttpMs = performance.now() - started;
  emit({ type: 'ready', url, bootMs: importStarted, importMs, constructMs, startMs, firstHttpMs });

  await server.refresher.whenIdle();
  emit({ type: 'settled', settleMs: performance.now() - started, walks: server.refresher.stats.walks, devices: server.catalog.size });

  const gc = (globalThis as { gc?: () => void }).gc;
  const stats = (): StatsLine => {
    gc?.();
    gc?.();
    const memory = process.memoryUsage();
    const store = server.store;
    return {
      type: 'stats',
      rssMb: memory.rss / MB,
      heapUsedMb: memory.heapUsed / MB,
      heapTotalMb: memory.heapTotal / MB,
      externalMb: memory.external / MB,
      walks: server.refresher.stats.walks,
      sweeps: server.refresher.stats.sweeps,
      rescans: server.catalog.stats.rescans,
      reloads: server.catalog.stats.reloads,
      parses: store.shared.stats.parses + store.instance.stats.parses + store.own.stats.parses,
    };
  };

  const timedSweep = async (kinds?: string[]): Promise<number> => {
    const begun = performance.now();
    server.refresher.requestSweep(kinds);
    await server.refresher.whenIdle();
    return performance.now() - begun;
  };

  const lines = createInterface({ input: process.stdin });
  for await (const command of lines) {
    if (command === 'stats') emit(stats());
    else if (command === 'sweep') {
      const walksBefore = server.refresher.stats.walks;
      const runs: number[] = [];
      for (let i = 0; i < 5; i++) runs.push(await timedSweep([DEVICE_SOURCE, PLATFORMIO_SOURCE]));
      const walks = server.refresher.stats.walks - walksBefore;
      const allMs = await timedSweep();
      emit({ type: 'sweep', runs, walks, allMs, allWalks: server.refresher.stats.walks - walksBefore - walks });
    } else if (command === 'serialize') {
      const list: number[] = [];
      const first: number[] = [];
      let listBytes = 0;
      let initialStateBytes = 0;
      const rest = {
        firmware_jobs: server.jobs.list(),
        orphans: await server.orphans.list(),
        platformio: await server.platformio.summary(),
        disk: server.disk,
        reclaim: server.reclaim.state(),
      };
      for (let i = 0; i < 7; i++) {
        let begun = performance.now();
        listBytes = JSON.stringify(server.catalog.list()).length;
        list.push(performance.now() - begun);
        begun = performance.now();
        const frame = chunkedSnapshot(server.catalog.list(), rest).next();
        initialStateBytes = frame.done ? 0 : frame.value.json.length;
        first.push(performance.now() - begun);
      }
      emit({ type: 'serialize', listMs: median(list), listBytes, initialStateMs: median(first), initialStateBytes });
    } else if (command === 'quit') break;
  }
  await server.close();
  // A CPU profile (--cpu-prof) is written on a normal exit.
  process.exit(0);
}

// ---------------------------------------------------------------------------
// The parent: fixture, server children, WebSocket round trips, Chromium
// ---------------------------------------------------------------------------

class ServerChild {
  private readonly queue: ChildLine[] = [];
  private readonly waiters: ((line: ChildLine) => void)[] = [];
  readonly exited: Promise<number | null>;

  private constructor(readonly process: ChildProcess) {
    const lines = createInterface({ input: process.stdout as NodeJS.ReadableStream });
    lines.on('line', (text) => {
      let line: ChildLine;
      try {
        line = JSON.parse(text) as ChildLine;
      } catch {
        console.log(`  [server] ${text}`);
        return;
      }
      const waiter = this.waiters.shift();
      if (waiter) waiter(line);
      else this.queue.push(line);
    });
    process.stderr?.on('data', (chunk: Buffer) => console.error(`  [server] ${chunk.toString().trimEnd()}`));
    this.exited = new Promise((resolve) => process.once('exit', (code) => resolve(code)));
  }

  static spawn(configDir: string, webRoot: string, cpuProfDir: string | undefined): ServerChild {
    const flags = ['--expose-gc', ...(cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : [])];
    return new ServerChild(spawn(process.execPath, [...flags, HERE, '--serve', configDir, webRoot], { stdio: ['pipe', 'pipe', 'pipe'] }));
  }

  next<T extends ChildLine['type']>(type: T): Promise<Extract<ChildLine, { type: T }>> {
    const take = (line: ChildLine): Extract<ChildLine, { type: T }> => {
      if (line.type !== type) throw new Error(`server child: expected ${type}, got ${line.type}`);
      return line as Extract<ChildLine, { type: T }>;
    };
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(take(queued));
    return Promise.race([
      new Promise<Extract<ChildLine, { type: T }>>((resolve, reject) =>
        this.waiters.push((line) => {
          try {
            resolve(take(line));
          } catch (err) {
            reject(err as Error);
          }
        }),
      ),
      this.exited.then((code) => Promise.reject(new Error(`server child exited (${code}) before '${type}'`))),
    ]);
  }

  ask<T extends ChildLine['type']>(command: string, type: T): Promise<Extract<ChildLine, { type: T }>> {
    this.process.stdin?.write(`${command}\n`);
    return this.next(type);
  }

  async quit(): Promise<void> {
    this.process.stdin?.write('quit\n');
    const timer = setTimeout(() => this.process.kill('SIGKILL'), 30_000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** A bare `/ws` client: each frame with the time it arrived (taken before it is parsed). */
class Socket {
  private readonly queue: { text: string; at: number }[] = [];
  private readonly waiters: ((frame: { text: string; at: number }) => void)[] = [];
  private nextId = 1;

  private constructor(private readonly socket: import('ws').WebSocket) {
    socket.on('message', (raw: Buffer) => {
      const frame = { text: raw.toString(), at: performance.now() };
      const waiter = this.waiters.shift();
      if (waiter) waiter(frame);
      else this.queue.push(frame);
    });
  }

  static async open(url: string): Promise<Socket> {
    const { WebSocket } = await import('ws');
    const socket = new WebSocket(url);
    // Listening before the upgrade completes: the server info may come in the same read.
    const client = new Socket(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    await client.frame(); // server info
    return client;
  }

  frame(): Promise<{ text: string; at: number }> {
    const queued = this.queue.shift();
    return queued ? Promise.resolve(queued) : new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Sends a command; the frames until `done` says so, and the send time. */
  async exchange(command: string, args: Record<string, unknown> | undefined, done: (frame: Frame) => boolean): Promise<{ sent: number; frames: Timed[] }> {
    const id = `m${this.nextId++}`;
    const sent = performance.now();
    this.socket.send(JSON.stringify({ command, message_id: id, ...(args ? { args } : {}) }));
    const frames: Timed[] = [];
    for (;;) {
      const { text, at } = await this.frame();
      const frame = JSON.parse(text) as Frame;
      if (frame.message_id !== id) continue;
      frames.push({ frame, at, bytes: text.length });
      if (frame.error_code) throw new Error(`${command}: ${frame.error_code} ${String(frame['details'])}`);
      if (done(frame)) return { sent, frames };
    }
  }

  close(): void {
    this.socket.close();
  }
}

interface Frame {
  message_id?: string;
  event?: string;
  result?: unknown;
  error_code?: string;
  data?: { devices?: unknown[]; more?: boolean; devices_total?: number };
  [key: string]: unknown;
}

interface Timed {
  frame: Frame;
  at: number;
  bytes: number;
}

interface CommandTimes {
  listMs: number[];
  listBytes: number;
  initialStateMs: number[];
  initialStateBytes: number;
  allChunksMs: number[];
  chunks: number;
}

async function commandTimes(wsUrl: string, devices: number, runs: number): Promise<CommandTimes> {
  const client = await Socket.open(wsUrl);
  const listMs: number[] = [];
  let listBytes = 0;
  for (let i = 0; i < runs + 2; i++) {
    const { sent, frames } = await client.exchange('devices/list', undefined, (frame) => frame.result !== undefined);
    const reply = frames.at(-1) as Timed;
    if (!Array.isArray(reply.frame.result) || reply.frame.result.length !== devices) throw new Error('devices/list: wrong device count');
    if (i >= 2) listMs.push(reply.at - sent);
    listBytes = reply.bytes;
  }
  client.close();

  const initialStateMs: number[] = [];
  const allChunksMs: number[] = [];
  let initialStateBytes = 0;
  let chunks = 0;
  for (let i = 0; i < runs + 2; i++) {
    // A fresh socket per subscription, as a page load opens one.
    const sub = await Socket.open(wsUrl);
    let received = 0;
    let snapshotDone = false;
    let replied = false;
    const { sent, frames } = await sub.exchange('subscribe_events', { chunked: true }, (frame) => {
      if (frame.event === 'initial_state' || frame.event === 'devices_chunk') {
        received += frame.data?.devices?.length ?? 0;
        snapshotDone = frame.data?.more === false;
      }
      if (frame.result !== undefined) replied = true;
      return snapshotDone && replied;
    });
    if (received !== devices) throw new Error(`subscribe_events: ${received} devices, expected ${devices}`);
    const initial = frames.find((t) => t.frame.event === 'initial_state') as Timed;
    const last = frames.filter((t) => t.frame.event === 'initial_state' || t.frame.event === 'devices_chunk').at(-1) as Timed;
    if (i >= 2) {
      initialStateMs.push(initial.at - sent);
      allChunksMs.push(last.at - sent);
    }
    initialStateBytes = initial.bytes;
    chunks = frames.filter((t) => t.frame.event === 'devices_chunk').length;
    sub.close();
  }
  return { listMs, listBytes, initialStateMs, initialStateBytes, allChunksMs, chunks };
}

/** Time from the server's `ready` line to the first `devices/list` answer (it waits for the first scan). */
async function firstListAnswer(wsUrl: string): Promise<number> {
  const client = await Socket.open(wsUrl);
  const { frames } = await client.exchange('devices/list', undefined, (frame) => frame.result !== undefined);
  client.close();
  return (frames.at(-1) as Timed).at;
}

// ---- the page --------------------------------------------------------------

interface PagePerf {
  firstRowDomMs: number | null;
  firstRowVisibleMs: number | null;
  firstContentfulPaintMs: number | null;
  scrollMs: number;
  scrollFrames: number;
  slowestFrameMs: number;
  rowsRendered: number;
  longTasks: { start: number; duration: number }[];
}

async function measurePage(url: string, devices: number): Promise<PagePerf> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.addInitScript(pageProbe);
    // Playwright's own page-side helpers (a locator, waitForFunction) cost the page
    // tens of ms when first used: nothing is asked of the page until its first row showed.
    const shown = page.waitForEvent('console', { predicate: (message) => message.text() === FIRST_ROW_MESSAGE, timeout: 60_000 });
    await page.goto(url);
    await shown;
    await page.getByText(`${devices} devices`, { exact: true }).first().waitFor({ timeout: 60_000 });
    const first = await page.evaluate(() => {
      const probe = (window as unknown as { __pageProbe: PageProbe }).__pageProbe;
      const paint = performance.getEntriesByName('first-contentful-paint')[0];
      return { dom: probe.firstRowDom, visible: probe.firstRowVisible, fcp: paint ? paint.startTime : null };
    });
    const scroll = await page.evaluate(scrollThrough);
    if (errors.length > 0) console.log(`  page errors: ${errors.join('; ')}`);
    await context.close();
    return {
      firstRowDomMs: first.dom,
      firstRowVisibleMs: first.visible,
      firstContentfulPaintMs: first.fcp,
      scrollMs: scroll.scrollMs,
      scrollFrames: scroll.frames,
      slowestFrameMs: scroll.slowestFrameMs,
      rowsRendered: scroll.rows,
      longTasks: scroll.longTasks,
    };
  } finally {
    await browser.close();
  }
}

// ---- report -----------------------------------------------------------------

function removeMetadata(configDir: string): void {
  const dataDir = path.join(configDir, '.esphome');
  for (const file of [
    path.join(configDir, '.device-builder.json'),
    path.join(dataDir, '.device-builder-devices.json'),
    path.join(dataDir, '.device-builder-ts.json'),
  ]) {
    rmSync(file, { force: true });
    rmSync(`${file}.lock`, { force: true });
  }
}

function verdict(value: number | null, target: number): string {
  if (value === null) return 'MISS (none)';
  return value <= target ? 'PASS' : 'MISS';
}

function fmtLoad(): string {
  return os
    .loadavg()
    .map((value) => value.toFixed(2))
    .join(' / ');
}

async function main(): Promise<void> {
  const root = PACKAGE_ROOT;
  const devices = envInt('FLEET5K_DEVICES', 5000);
  const runs = envInt('FLEET5K_RUNS', 10);
  const cpuProfDir = process.env['FLEET5K_CPU_PROF'] ? path.resolve(process.env['FLEET5K_CPU_PROF']) : undefined;
  const webRoot = process.env['FLEET5K_WEB_ROOT'] ? path.resolve(process.env['FLEET5K_WEB_ROOT']) : path.join(root, 'web', 'dist');
  if (!existsSync(path.join(webRoot, 'index.html'))) throw new Error(`${webRoot} has no index.html: run npm run build first`);

  const say = (line = ''): void => console.log(line);
  say(`device-builder bench: a fleet of ${fmtInt(devices)} devices`);
  say(`node ${process.version}, ${os.cpus().length} cores; load average (1/5/15 min): ${fmtLoad()}`);

  const configDir = path.join(root, '.bench', devices === 5000 ? 'fleet-5k' : `fleet-${devices}`);
  const fixture = ensureFixture(configDir, { kind: 'sweep', devices, filesPerDevice: 2, meanFileBytes: 256, seedBase: 5_000_000 }, (line) => say(line));
  say(fixture.generatedMs === null ? `fixture: ${configDir} (reused)` : `fixture: ${configDir} (generated in ${fmtMs(fixture.generatedMs / 1000)} s)`);
  say();

  // First start: no metadata, every folder walked.
  say('first start (no metadata files: every build folder is walked) …');
  removeMetadata(configDir);
  const spawnedAt = performance.now();
  let child = ServerChild.spawn(configDir, webRoot, undefined);
  const cold = await child.next('ready');
  const readyAt = performance.now();
  const wsUrl = `${cold.url.replace(/^http/, 'ws')}ws`;
  const firstList = await firstListAnswer(wsUrl);
  const coldSettled = await child.next('settled');
  const coldStats = await child.ask('stats', 'stats');
  await child.quit();

  // Restart on what the first start persisted: the usual start.
  say('restart (sizes cached) …');
  const restartSpawnedAt = performance.now();
  child = ServerChild.spawn(configDir, webRoot, cpuProfDir);
  const warm = await child.next('ready');
  const restartReadyAt = performance.now();
  const warmUrl = `${warm.url.replace(/^http/, 'ws')}ws`;
  const restartFirstList = await firstListAnswer(warmUrl);
  const warmSettled = await child.next('settled');
  const settledStats = await child.ask('stats', 'stats');
  say('round trips, sweeps …');
  const times = await commandTimes(warmUrl, devices, runs);
  const serialized = await child.ask('serialize', 'serialize');
  const sweep = await child.ask('sweep', 'sweep');
  say('Chromium …');
  const page = await measurePage(warm.url, devices);
  const finalStats = await child.ask('stats', 'stats');
  await child.quit();
  say();

  const longest = page.longTasks.reduce((max, task) => Math.max(max, task.duration), 0);
  const listMs = median(times.listMs);
  const initialMs = median(times.initialStateMs);
  const warmSweepMs = median(sweep.runs);
  const rows: string[][] = [
    ['first start: spawn → first HTTP 200 on /', `${fmtMs(readyAt - spawnedAt)} ms`, '', ''],
    [
      '  in the server: start() / start() → 200 on /',
      `${fmtMs(cold.startMs)} / ${fmtMs(cold.firstHttpMs)} ms`,
      `≤ ${fmtInt(TARGETS.firstAnswerMs)} ms`,
      verdict(cold.firstHttpMs, TARGETS.firstAnswerMs),
    ],
    ['  before start(): node start + imports / new DeviceBuilderServer()', `${fmtMs(cold.bootMs + cold.importMs)} / ${fmtMs(cold.constructMs)} ms`, '', ''],
    ['  first devices/list answer (after the first scan), since spawn', `${fmtMs(firstList - spawnedAt)} ms`, '', ''],
    [`  settle: first scan + sweep + ${fmtInt(coldSettled.walks)} walks`, `${fmtMs(coldSettled.settleMs)} ms`, '', ''],
    [
      '  RSS / heap used after the start-up sweep (GC)',
      `${fmtMs(coldStats.rssMb)} / ${fmtMs(coldStats.heapUsedMb)} MB`,
      `≤ ${TARGETS.rssMb} MB`,
      verdict(coldStats.rssMb, TARGETS.rssMb),
    ],
    ['restart: spawn → first HTTP 200 on /', `${fmtMs(restartReadyAt - restartSpawnedAt)} ms`, '', ''],
    [
      '  in the server: start() / start() → 200 on /',
      `${fmtMs(warm.startMs)} / ${fmtMs(warm.firstHttpMs)} ms`,
      `≤ ${fmtInt(TARGETS.firstAnswerMs)} ms`,
      verdict(warm.firstHttpMs, TARGETS.firstAnswerMs),
    ],
    ['  first devices/list answer (after the first scan), since spawn', `${fmtMs(restartFirstList - restartSpawnedAt)} ms`, '', ''],
    [
      `  settle: first scan + sweep, walks`,
      `${fmtMs(warmSettled.settleMs)} ms, ${fmtInt(warmSettled.walks)}`,
      '0 walks',
      warmSettled.walks === 0 ? 'PASS' : 'MISS',
    ],
    [
      '  RSS / heap used after the start-up sweep (GC)',
      `${fmtMs(settledStats.rssMb)} / ${fmtMs(settledStats.heapUsedMb)} MB`,
      `≤ ${TARGETS.rssMb} MB`,
      verdict(settledStats.rssMb, TARGETS.rssMb),
    ],
    [
      `devices/list round trip, median of ${runs} (${fmtMs(times.listBytes / MB)} MB)`,
      `${fmtMs(listMs)} ms`,
      `≤ ${TARGETS.commandMs} ms`,
      verdict(listMs, TARGETS.commandMs),
    ],
    [
      `subscribe_events → initial_state round trip (${fmtMs(times.initialStateBytes / 1024)} KB)`,
      `${fmtMs(initialMs)} ms`,
      `≤ ${TARGETS.commandMs} ms`,
      verdict(initialMs, TARGETS.commandMs),
    ],
    [`  … → last of ${times.chunks} devices_chunk`, `${fmtMs(median(times.allChunksMs))} ms`, '', ''],
    ['  in the server: JSON of catalog.list() / of initial_state', `${fmtMs(serialized.listMs)} / ${fmtMs(serialized.initialStateMs)} ms`, '', ''],
    [
      `warm sweep (device + platformio), median of 5, walks`,
      `${fmtMs(warmSweepMs)} ms, ${fmtInt(sweep.walks)}`,
      `≤ ${TARGETS.warmSweepMs} ms, 0`,
      sweep.walks === 0 ? verdict(warmSweepMs, TARGETS.warmSweepMs) : 'MISS',
    ],
    ['  full sweep (+ unused folders, every 10th tick), walks', `${fmtMs(sweep.allMs)} ms, ${fmtInt(sweep.allWalks)}`, '', ''],
    ['page: first tr.device in the DOM since navigation', `${fmtMs(page.firstRowDomMs)} ms`, '', ''],
    [
      'page: first tr.device visible since navigation',
      `${fmtMs(page.firstRowVisibleMs)} ms`,
      `≤ ${fmtInt(TARGETS.firstRowsMs)} ms`,
      verdict(page.firstRowVisibleMs, TARGETS.firstRowsMs),
    ],
    ['  first contentful paint', `${fmtMs(page.firstContentfulPaintMs)} ms`, '', ''],
    [
      `page: scroll top → bottom (${fmtInt(page.scrollFrames)} frames, ${fmtMs(page.scrollMs)} ms), longest task`,
      `${fmtMs(longest)} ms`,
      `≤ ${TARGETS.longTaskMs} ms`,
      verdict(longest, TARGETS.longTaskMs),
    ],
    ['  long tasks > 50 ms during the scroll / slowest frame', `${page.longTasks.length} / ${fmtMs(page.slowestFrameMs)} ms`, '', ''],
    [
      '  the longest (duration @ start in the scroll)',
      [...page.longTasks]
        .sort((a, b) => b.duration - a.duration)
        .slice(0, 4)
        .map((task) => `${task.duration.toFixed(0)}@${(task.start / 1000).toFixed(1)}s`)
        .join(' '),
      '',
      '',
    ],
    ['server RSS / heap used at the end (GC)', `${fmtMs(finalStats.rssMb)} / ${fmtMs(finalStats.heapUsedMb)} MB`, '', ''],
    ['restart counts: rescans / reloads / metadata parses', `${settledStats.rescans} / ${settledStats.reloads} / ${settledStats.parses}`, '', ''],
  ];
  say(renderTable(['figure', 'measured', 'target', ''], rows));
  say();
  say(`load average after (1/5/15 min): ${fmtLoad()}`);
  say('Round trips are measured from this process over loopback, send to arrival before parsing: an upper bound on the server-side time.');
  if (cpuProfDir) say(`CPU profile of the restarted server: ${cpuProfDir}`);
}

const serveAt = process.argv.indexOf('--serve');
if (serveAt >= 0) {
  const [configDir, webRoot] = process.argv.slice(serveAt + 1);
  if (!configDir || !webRoot) throw new Error('--serve <configDir> <webRoot>');
  await serve(path.resolve(configDir), path.resolve(webRoot));
} else {
  await main();
}
