/**
 * What users feel: whole processes, timed from outside, beside the same
 * jobs done by `du -sb` and the Python reference, plus what a server cold
 * start costs in rescans, parses and writes.
 *
 * - Whole-process timings (fleet fixture): `node dist/src/cli.js sizes
 *   <config> --json` cold (every metadata file and its lock removed first,
 *   so all devices are walked; the page cache stays warm), `du -sb` over the
 *   build folders and the Python `os.walk` + `getsize` script, each as its
 *   own process, interleaved run by run after one untimed warm-up each.
 *   The Python reference is timed as a whole process here (interpreter
 *   start-up included), since that is what a user waits for; its internal
 *   walk time is shown beside it.
 * - Each process is started by a small Python runner that reads
 *   `time.perf_counter()` around `subprocess.run` and the
 *   `RUSAGE_CHILDREN` deltas: wall time without the runner's own start-up,
 *   and the child's CPU (user + sys, all its threads) and peak RSS.
 * - Start-up: `node -e 0`, `--help`, warm `sizes --json` on the fleet (0
 *   walked) and `serve` from spawn to its first HTTP 200 (`GET /healthz`
 *   on the URL it prints for `--port 0`), interleaved the same way.
 * - Cold-start counts: an in-process `DeviceBuilderServer` on 1,000
 *   compiled devices with no metadata files, until the refresher is idle.
 */
import { execFile } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { INSTANCE_STORE_FILE, OWN_STATE_FILE } from '../src/metadata/device-metadata.js';
import { DeviceBuilderServer } from '../src/server/server.js';
import { SIDECAR_FILE } from '../src/sidecar/sidecar-store.js';
import { resolveDataDir } from '../src/storage/data-dir.js';
import { lockPathOf } from '../src/util/file-lock.js';
import { createLogger } from '../src/util/log.js';
import type { Fixture } from './fixtures.js';
import { PYTHON_WALK } from './reference.js';
import { fmtInt, fmtMs, fmtRatio, renderTable, summarize, type Sample } from './stats.js';

const execFileAsync = promisify(execFile);
const MAX_BUFFER = 64 * 1024 * 1024;
/** The installed entry of the same build as this bench (`dist/bench/` → `dist/src/bin.js`), so a snapshot of `dist/` times itself. */
const CLI = path.join(import.meta.dirname, '..', 'src', 'bin.js');

/** The targets (issue 13, items 2 and 3). */
const TARGET_HELP_RATIO = 1.5;
const TARGET_WARM_SIZES_RATIO = 2;
const TARGET_COLD_DU_RATIO = 0.8;
const TARGET_COLD_PYTHON_SPEEDUP = 3;
/** The refresher's persist batch (src/refresher/build-size-refresher.ts, PERSIST_BATCH; not exported). */
const REFRESHER_PERSIST_BATCH = 32;

/** Runs argv[1] (a JSON argv) as a child; prints wall, CPU and peak RSS of it as JSON. */
const RUN_ONE = String.raw`
import json, resource, subprocess, sys, time
argv = json.loads(sys.argv[1])
before = resource.getrusage(resource.RUSAGE_CHILDREN)
start = time.perf_counter()
done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
wall = (time.perf_counter() - start) * 1000.0
after = resource.getrusage(resource.RUSAGE_CHILDREN)
json.dump({
    "wall_ms": wall,
    "user_ms": (after.ru_utime - before.ru_utime) * 1000.0,
    "sys_ms": (after.ru_stime - before.ru_stime) * 1000.0,
    "max_rss_kb": after.ru_maxrss,
    "rc": done.returncode,
    "stdout": done.stdout.decode("utf-8", "replace"),
    "stderr": done.stderr.decode("utf-8", "replace")[-2000:],
}, sys.stdout)
`;

/**
 * Spawns argv[1] (a JSON argv: a server that prints its URL on stdout),
 * polls GET argv[2] on that URL until 200, then SIGTERMs it and waits.
 * CPU to the first answer comes from /proc/<pid>/stat (10 ms ticks); the
 * rusage figures cover the whole life, shutdown included.
 */
const RUN_SERVER = String.raw`
import http.client, json, os, re, resource, signal, subprocess, sys, time
from urllib.parse import urlsplit
argv = json.loads(sys.argv[1])
probe = sys.argv[2]
tick = os.sysconf("SC_CLK_TCK")
def cpu_ms(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) * 1000.0 / tick, int(fields[12]) * 1000.0 / tick
before = resource.getrusage(resource.RUSAGE_CHILDREN)
start = time.perf_counter()
proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
url = None
while url is None:
    line = proc.stdout.readline()
    if not line:
        proc.wait()
        sys.exit("server exited before printing its URL (rc %s)" % proc.returncode)
    found = re.search(rb"http://\S+", line)
    if found:
        url = found.group(0).decode()
printed = time.perf_counter()
parts = urlsplit(url)
polls = 0
while True:
    polls += 1
    try:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        conn.request("GET", probe)
        status = conn.getresponse().status
        conn.close()
        if status == 200:
            break
    except OSError:
        pass
    if time.perf_counter() - start > 60:
        proc.kill()
        sys.exit("no 200 from %s%s within 60 s" % (url, probe))
    time.sleep(0.002)
answered = time.perf_counter()
user_ready, sys_ready = cpu_ms(proc.pid)
proc.send_signal(signal.SIGTERM)
try:
    rc = proc.wait(timeout=30)
except subprocess.TimeoutExpired:
    proc.kill()
    rc = proc.wait()
stopped = time.perf_counter()
after = resource.getrusage(resource.RUSAGE_CHILDREN)
json.dump({
    "wall_ms": (answered - start) * 1000.0,
    "url_ms": (printed - start) * 1000.0,
    "stop_ms": (stopped - answered) * 1000.0,
    "polls": polls,
    "user_ms": user_ready,
    "sys_ms": sys_ready,
    "life_user_ms": (after.ru_utime - before.ru_utime) * 1000.0,
    "life_sys_ms": (after.ru_stime - before.ru_stime) * 1000.0,
    "max_rss_kb": after.ru_maxrss,
    "rc": rc,
}, sys.stdout)
`;

export interface ProcessRun {
  wallMs: number;
  userMs: number;
  sysMs: number;
  maxRssKb: number;
  rc: number;
  stdout: string;
  stderr: string;
}

interface ServerRun {
  wallMs: number;
  urlMs: number;
  stopMs: number;
  polls: number;
  userMs: number;
  sysMs: number;
  rc: number;
}

async function runProcess(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<ProcessRun> {
  const { stdout } = await execFileAsync('python3', ['-c', RUN_ONE, JSON.stringify(argv)], { env, maxBuffer: MAX_BUFFER });
  const raw = JSON.parse(stdout) as { wall_ms: number; user_ms: number; sys_ms: number; max_rss_kb: number; rc: number; stdout: string; stderr: string };
  const run = { wallMs: raw.wall_ms, userMs: raw.user_ms, sysMs: raw.sys_ms, maxRssKb: raw.max_rss_kb, rc: raw.rc, stdout: raw.stdout, stderr: raw.stderr };
  if (run.rc !== 0) throw new Error(`${argv.join(' ')} exited ${run.rc}: ${run.stderr}`);
  return run;
}

async function runServer(argv: readonly string[], probe: string, env: NodeJS.ProcessEnv): Promise<ServerRun> {
  const { stdout } = await execFileAsync('python3', ['-c', RUN_SERVER, JSON.stringify(argv), probe], { env, maxBuffer: MAX_BUFFER });
  const raw = JSON.parse(stdout) as { wall_ms: number; url_ms: number; stop_ms: number; polls: number; user_ms: number; sys_ms: number; rc: number };
  return { wallMs: raw.wall_ms, urlMs: raw.url_ms, stopMs: raw.stop_ms, polls: raw.polls, userMs: raw.user_ms, sysMs: raw.sys_ms, rc: raw.rc };
}

/** Every metadata file `sizes` and `serve` read or write for `configDir`, with its lock. */
export function metadataFiles(configDir: string, env: NodeJS.ProcessEnv): string[] {
  const dataDir = resolveDataDir(configDir, env);
  const files = [path.join(configDir, SIDECAR_FILE), path.join(dataDir, INSTANCE_STORE_FILE), path.join(dataDir, OWN_STATE_FILE)];
  return files.flatMap((file) => [file, lockPathOf(file)]);
}

function removeMetadata(configDir: string, env: NodeJS.ProcessEnv): void {
  for (const file of metadataFiles(configDir, env)) rmSync(file, { force: true });
}

/** A timed thing: wall and CPU of each run. */
export interface Timing {
  wall: Sample;
  cpu: Sample;
  user: Sample;
  sys: Sample;
  peakRssMb: number;
}

class Recorder {
  private readonly wall: number[] = [];
  private readonly user: number[] = [];
  private readonly sys: number[] = [];
  private rssKb = 0;

  add(run: { wallMs: number; userMs: number; sysMs: number; maxRssKb?: number }): void {
    this.wall.push(run.wallMs);
    this.user.push(run.userMs);
    this.sys.push(run.sysMs);
    this.rssKb = Math.max(this.rssKb, run.maxRssKb ?? 0);
  }

  timing(): Timing {
    return {
      wall: summarize(this.wall),
      cpu: summarize(this.wall.map((_, i) => (this.user[i] ?? 0) + (this.sys[i] ?? 0))),
      user: summarize(this.user),
      sys: summarize(this.sys),
      peakRssMb: this.rssKb / 1024,
    };
  }
}

interface SizesJson {
  walked: number;
  total_bytes: number;
  devices: unknown[];
}

function parseSizes(run: ProcessRun): SizesJson {
  return JSON.parse(run.stdout) as SizesJson;
}

export interface WholeProcessResult {
  devices: number;
  cold: Timing;
  coldWalked: number[];
  coldTotalBytes: number;
  du: Timing;
  duBytes: number;
  python: Timing;
  /** The Python script's own walk time (interpreter start-up excluded). */
  pythonWalk: Sample;
  pythonBytes: number;
}

export interface StartupResult {
  nodeBaseline: Timing;
  help: Timing;
  warmSizes: Timing;
  warmWalked: number[];
  warmDevices: number;
  serve: Timing;
  /** Spawn to the URL line on stdout (listening). */
  serveUrl: Sample;
  /** SIGTERM to exit. */
  serveStop: Sample;
  serveExitCodes: number[];
}

export interface ColdStartCounts {
  devices: number;
  filesPerDevice: number;
  /** `new DeviceBuilderServer` to `start()` resolving (listening). */
  startMs: number;
  /** `new DeviceBuilderServer` to `refresher.whenIdle()` resolving. */
  settleMs: number;
  walks: number;
  sweeps: number;
  rescans: number;
  reloads: number;
  parses: { shared: number; instance: number; own: number };
  cacheHits: { shared: number; instance: number; own: number };
  /** Whether each file exists once settled (nothing writes the shared sidecar on a cold start of a migrated layout). */
  present: { shared: boolean; instance: boolean; own: boolean };
  /** `updateDevices` calls on the server's metadata (one per persisted batch of device sizes). */
  persistedBatches: number;
  persistedEntries: number;
  /** `updateDevice` / `updateGlobal` calls (single-device and `_` section writes: orphans, PlatformIO). */
  singleWrites: number;
  globalWrites: number;
  catalogSize: number;
}

export interface ProcessTimesResult {
  wholeProcess: WholeProcessResult;
  startup: StartupResult;
  coldStart: ColdStartCounts;
}

/** The environment every child gets: the fixture's own data dir, not the machine's PlatformIO folder. */
function childEnv(configDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PLATFORMIO_CORE_DIR: path.join(configDir, '.no-platformio') };
  delete env['ESPHOME_DATA_DIR'];
  delete env['ESPHOME_IS_HA_ADDON'];
  delete env['DEVICE_BUILDER_LOG_LEVEL'];
  delete env['DEVICE_BUILDER_WALKER'];
  return env;
}

async function measureWholeProcess(fleet: Fixture, runs: number): Promise<WholeProcessResult> {
  const env = childEnv(fleet.configDir);
  const sizesArgv = [process.execPath, CLI, 'sizes', fleet.configDir, '--json'];
  const duArgv = ['du', '-sb', ...fleet.buildDirs];
  const pythonArgv = ['python3', '-c', PYTHON_WALK, ...fleet.buildDirs];
  const coldSizes = async (): Promise<ProcessRun> => {
    removeMetadata(fleet.configDir, env);
    return runProcess(sizesArgv, env);
  };

  // Warm-up, untimed.
  await coldSizes();
  await runProcess(duArgv, env);
  await runProcess(pythonArgv, env);

  const cold = new Recorder();
  const du = new Recorder();
  const python = new Recorder();
  const coldWalked: number[] = [];
  const pythonWalk: number[] = [];
  let coldTotalBytes = 0;
  let duBytes = 0;
  let pythonBytes = 0;
  for (let run = 0; run < runs; run++) {
    const ours = await coldSizes();
    cold.add(ours);
    const report = parseSizes(ours);
    coldWalked.push(report.walked);
    coldTotalBytes = report.total_bytes;

    const duRun = await runProcess(duArgv, env);
    du.add(duRun);
    duBytes = duRun.stdout.split('\n').reduce((sum, line) => sum + (Number.parseInt(line, 10) || 0), 0);

    const pyRun = await runProcess(pythonArgv, env);
    python.add(pyRun);
    const [bytes, , walkMs] = pyRun.stdout.trim().split(/\s+/).map(Number);
    pythonBytes = bytes ?? 0;
    pythonWalk.push(walkMs ?? Number.NaN);
  }
  return {
    devices: fleet.buildDirs.length,
    cold: cold.timing(),
    coldWalked,
    coldTotalBytes,
    du: du.timing(),
    duBytes,
    python: python.timing(),
    pythonWalk: summarize(pythonWalk),
    pythonBytes,
  };
}

async function measureStartup(fleet: Fixture, runs: number): Promise<StartupResult> {
  const env = childEnv(fleet.configDir);
  const nodeArgv = [process.execPath, '-e', '0'];
  const helpArgv = [process.execPath, CLI, '--help'];
  const sizesArgv = [process.execPath, CLI, 'sizes', fleet.configDir, '--json'];
  const serveArgv = [process.execPath, CLI, 'serve', fleet.configDir, '--port', '0', '--host', '127.0.0.1', '--sweep-interval', '0'];

  // Warm-up, untimed: also makes sure the fleet's sizes are cached.
  await runProcess(nodeArgv, env);
  await runProcess(helpArgv, env);
  await runProcess(sizesArgv, env);
  await runServer(serveArgv, '/healthz', env);

  const node = new Recorder();
  const help = new Recorder();
  const warm = new Recorder();
  const serve = new Recorder();
  const warmWalked: number[] = [];
  const serveUrl: number[] = [];
  const serveStop: number[] = [];
  const serveExitCodes: number[] = [];
  let warmDevices = 0;
  for (let run = 0; run < runs; run++) {
    node.add(await runProcess(nodeArgv, env));
    help.add(await runProcess(helpArgv, env));
    const sizes = await runProcess(sizesArgv, env);
    warm.add(sizes);
    const report = parseSizes(sizes);
    warmWalked.push(report.walked);
    warmDevices = report.devices.length;
    const served = await runServer(serveArgv, '/healthz', env);
    serve.add(served);
    serveUrl.push(served.urlMs);
    serveStop.push(served.stopMs);
    serveExitCodes.push(served.rc);
  }
  return {
    nodeBaseline: node.timing(),
    help: help.timing(),
    warmSizes: warm.timing(),
    warmWalked,
    warmDevices,
    serve: serve.timing(),
    serveUrl: summarize(serveUrl),
    serveStop: summarize(serveStop),
    serveExitCodes,
  };
}

async function measureColdStart(fixture: Fixture, filesPerDevice: number): Promise<ColdStartCounts> {
  const env = childEnv(fixture.configDir);
  removeMetadata(fixture.configDir, env);
  const started = performance.now();
  const server = new DeviceBuilderServer({
    configDir: fixture.configDir,
    host: '127.0.0.1',
    port: 0,
    esphomeCommand: ['esphome'],
    password: null,
    logger: createLogger('silent'),
    webRoot: null,
    sweepIntervalMs: 0,
    env,
  });
  // Count the metadata writes from outside: the refresher calls these on the
  // server's store object at call time, so wrapping the instance sees them all.
  const writes = { batches: 0, entries: 0, single: 0, global: 0 };
  const store = server.store;
  const updateDevices = store.updateDevices.bind(store);
  const updateDevice = store.updateDevice.bind(store);
  const updateGlobal = store.updateGlobal.bind(store);
  store.updateDevices = (updates) => {
    writes.batches++;
    writes.entries += updates.size;
    return updateDevices(updates);
  };
  store.updateDevice = (configuration, fields) => {
    writes.single++;
    return updateDevice(configuration, fields);
  };
  store.updateGlobal = (key, next) => {
    writes.global++;
    return updateGlobal(key, next);
  };
  try {
    await server.start();
    const startMs = performance.now() - started;
    await server.refresher.whenIdle();
    const settleMs = performance.now() - started;
    return {
      devices: fixture.buildDirs.length,
      filesPerDevice,
      startMs,
      settleMs,
      walks: server.refresher.stats.walks,
      sweeps: server.refresher.stats.sweeps,
      rescans: server.catalog.stats.rescans,
      reloads: server.catalog.stats.reloads,
      parses: { shared: store.shared.stats.parses, instance: store.instance.stats.parses, own: store.own.stats.parses },
      cacheHits: { shared: store.shared.stats.cacheHits, instance: store.instance.stats.cacheHits, own: store.own.stats.cacheHits },
      present: { shared: existsSync(store.shared.path), instance: existsSync(store.instance.path), own: existsSync(store.own.path) },
      persistedBatches: writes.batches,
      persistedEntries: writes.entries,
      singleWrites: writes.single,
      globalWrites: writes.global,
      catalogSize: server.catalog.size,
    };
  } finally {
    await server.close();
  }
}

export async function measureProcessTimes(options: {
  fleet: Fixture;
  countsFixture: Fixture;
  countsFilesPerDevice: number;
  runs: number;
  say: (line: string) => void;
}): Promise<ProcessTimesResult> {
  options.say('Measuring: whole processes (cold sizes --json, du -sb, python) …');
  const wholeProcess = await measureWholeProcess(options.fleet, options.runs);
  options.say('Measuring: start-up (node -e 0, --help, warm sizes --json, serve to first 200) …');
  const startup = await measureStartup(options.fleet, options.runs);
  options.say(`Measuring: server cold start on ${fmtInt(options.countsFixture.buildDirs.length)} compiled devices …`);
  const coldStart = await measureColdStart(options.countsFixture, options.countsFilesPerDevice);
  return { wholeProcess, startup, coldStart };
}

// ---------------------------------------------------------------------------
// Report

export interface ProcessTarget {
  name: string;
  pass: boolean;
  detail: string;
}

function absent(present: boolean): string {
  return present ? '' : ' (absent ²)';
}

function cpuCell(timing: Timing): string {
  return `${fmtMs(timing.cpu.median)} (${fmtMs(timing.user.median)} + ${fmtMs(timing.sys.median)})`;
}

export function renderProcessTimes(result: ProcessTimesResult): { lines: string[]; targets: ProcessTarget[] } {
  const { wholeProcess: w, startup: s, coldStart: c } = result;
  const lines: string[] = [];

  lines.push(`Whole processes, fleet (${w.devices} build folders), each started by a Python runner (its start-up excluded)`);
  const wholeRows = [
    ['ours: sizes --json, cold (metadata removed)', w.cold, `${Math.min(...w.coldWalked)}-${Math.max(...w.coldWalked)} walked`],
    ['du -sb <build dirs>', w.du, ''],
    ['python os.walk + getsize (whole process)', w.python, `walk alone ${fmtMs(w.pythonWalk.median)} ms`],
    [`ours: sizes --json, warm (${Math.max(...s.warmWalked)} walked)`, s.warmSizes, 'same runs as the start-up table'],
  ] as const;
  lines.push(
    renderTable(
      ['', 'wall median ms', 'wall best ms', 'CPU median ms (user + sys)', 'peak RSS MB', 'note'],
      wholeRows.map(([label, timing, note]) => [label, fmtMs(timing.wall.median), fmtMs(timing.wall.min), cpuCell(timing), timing.peakRssMb.toFixed(0), note]),
    ),
  );
  const duRatio = w.cold.wall.median / w.du.wall.median;
  const duRatioBest = w.cold.wall.min / w.du.wall.min;
  const pySpeedup = w.python.wall.median / w.cold.wall.median;
  const pySpeedupBest = w.python.wall.min / w.cold.wall.min;
  lines.push(
    `  ours/du: ${fmtRatio(duRatio)} median, ${fmtRatio(duRatioBest)} best; python/ours: ${fmtRatio(pySpeedup)} median, ${fmtRatio(pySpeedupBest)} best` +
      ` (python walk alone / ours: ${fmtRatio(w.pythonWalk.median / w.cold.wall.median)})`,
  );
  lines.push(
    `  CPU ours/du: ${fmtRatio(w.cold.cpu.median / w.du.cpu.median)}; CPU python/ours: ${fmtRatio(w.python.cpu.median / w.cold.cpu.median)}` +
      ` (CPU above wall = more than one core busy)`,
  );
  lines.push(`  bytes: ours ${fmtInt(w.coldTotalBytes)}, du -sb ${fmtInt(w.duBytes)} (adds folder sizes), python ${fmtInt(w.pythonBytes)}`);
  lines.push('');

  const base = s.nodeBaseline.wall.median;
  const baseBest = s.nodeBaseline.wall.min;
  lines.push(`Start-up (medians and best of ${s.nodeBaseline.wall.runs.length}; ratio to node -e 0)`);
  const startRows = [
    ['node -e 0 (baseline)', s.nodeBaseline, ''],
    ['device-builder --help', s.help, `≤ ${TARGET_HELP_RATIO}×`],
    [`sizes --json, warm fleet of ${s.warmDevices} (${Math.max(...s.warmWalked)} walked)`, s.warmSizes, `≤ ${TARGET_WARM_SIZES_RATIO}×`],
    ['serve --port 0 → first 200 on /healthz ¹', s.serve, ''],
  ] as const;
  lines.push(
    renderTable(
      ['', 'wall median ms', 'wall best ms', 'ratio median', 'ratio best', 'CPU median ms (user + sys)', 'target'],
      startRows.map(([label, timing, target]) => [
        label,
        fmtMs(timing.wall.median),
        fmtMs(timing.wall.min),
        fmtRatio(timing.wall.median / base),
        fmtRatio(timing.wall.min / baseBest),
        cpuCell(timing),
        target,
      ]),
    ),
  );
  lines.push(
    `  ¹ on the fleet config dir (warm metadata), --sweep-interval 0; URL printed after ${fmtMs(s.serveUrl.median)} ms (median); ` +
      `CPU to the first answer from /proc (10 ms ticks); SIGTERM to exit ${fmtMs(s.serveStop.median)} ms, exit codes ${[...new Set(s.serveExitCodes)].join(', ')}`,
  );
  lines.push('');

  const parses = c.parses.shared + c.parses.instance + c.parses.own;
  const batchLowerBound = Math.ceil(c.walks / REFRESHER_PERSIST_BATCH);
  lines.push(`Server cold start: ${fmtInt(c.devices)} compiled devices × ${c.filesPerDevice} files, no metadata files, in-process`);
  lines.push(
    renderTable(
      ['', 'count', 'goal'],
      [
        ['catalog rescans', fmtInt(c.rescans), '1'],
        ['catalog reloads', fmtInt(c.reloads), ''],
        ['walks', fmtInt(c.walks), fmtInt(c.devices)],
        ['refresher sweeps', fmtInt(c.sweeps), ''],
        [
          'persisted batches (updateDevices calls)',
          `${fmtInt(c.persistedBatches)} (${fmtInt(c.persistedEntries)} entries)`,
          `≥ ${batchLowerBound} (${fmtInt(c.walks)} walks / ${REFRESHER_PERSIST_BATCH})`,
        ],
        ['other writes (updateDevice / updateGlobal)', `${c.singleWrites} / ${c.globalWrites}`, ''],
        [`parses, shared sidecar${absent(c.present.shared)}`, fmtInt(c.parses.shared), `≤ ${c.persistedBatches + 1}`],
        [`parses, per-instance store${absent(c.present.instance)}`, fmtInt(c.parses.instance), `≤ ${c.persistedBatches + 1}`],
        [`parses, our state file${absent(c.present.own)}`, fmtInt(c.parses.own), `≤ ${c.persistedBatches + 1}`],
        ['parses, total (cache hits)', `${fmtInt(parses)} (${fmtInt(c.cacheHits.shared + c.cacheHits.instance + c.cacheHits.own)})`, ''],
        ['listening after (ms)', fmtMs(c.startMs), ''],
        ['settled after (ms, refresher idle)', fmtMs(c.settleMs), ''],
      ],
    ),
  );
  if (!c.present.shared || !c.present.instance || !c.present.own) {
    lines.push('  ² the file does not exist once settled (its reads find nothing to parse)');
  }
  lines.push('');

  const perFileLimit = c.persistedBatches + 1;
  const helpRatio = s.help.wall.median / base;
  const warmRatio = s.warmSizes.wall.median / base;
  const targets: ProcessTarget[] = [
    {
      name: `--help ≤ ${TARGET_HELP_RATIO}× node -e 0`,
      pass: helpRatio <= TARGET_HELP_RATIO,
      detail: `${fmtMs(s.help.wall.median)} ms vs ${fmtMs(base)} ms = ${fmtRatio(helpRatio)} (best ${fmtRatio(s.help.wall.min / baseBest)})`,
    },
    {
      name: `warm sizes --json (0 walked) ≤ ${TARGET_WARM_SIZES_RATIO}× node -e 0`,
      pass: warmRatio <= TARGET_WARM_SIZES_RATIO && Math.max(...s.warmWalked) === 0,
      detail: `${fmtMs(s.warmSizes.wall.median)} ms vs ${fmtMs(base)} ms = ${fmtRatio(warmRatio)} (best ${fmtRatio(s.warmSizes.wall.min / baseBest)}), walked ${s.warmWalked.join(', ')}`,
    },
    {
      name: `cold fleet sizes --json (whole process) ≤ ${TARGET_COLD_DU_RATIO}× du -sb`,
      pass: duRatio <= TARGET_COLD_DU_RATIO,
      detail: `${fmtMs(w.cold.wall.median)} ms vs ${fmtMs(w.du.wall.median)} ms = ${fmtRatio(duRatio)} (best ${fmtRatio(duRatioBest)})`,
    },
    {
      name: `cold fleet sizes --json ≥ ${TARGET_COLD_PYTHON_SPEEDUP}× faster than the Python reference (whole processes)`,
      pass: pySpeedup >= TARGET_COLD_PYTHON_SPEEDUP,
      detail: `${fmtMs(w.python.wall.median)} ms / ${fmtMs(w.cold.wall.median)} ms = ${fmtRatio(pySpeedup)} (best ${fmtRatio(pySpeedupBest)})`,
    },
    {
      name: `server cold start on ${fmtInt(c.devices)} devices: 1 catalog rescan`,
      pass: c.rescans === 1,
      detail: `${c.rescans} rescans, ${fmtInt(c.reloads)} reloads`,
    },
    {
      name: 'server cold start: parses ≤ persisted batches + 1, per file',
      pass: c.parses.shared <= perFileLimit && c.parses.instance <= perFileLimit && c.parses.own <= perFileLimit,
      detail: `shared ${c.parses.shared}, per-instance ${c.parses.instance}, own ${c.parses.own}; ${c.persistedBatches} batches (limit ${perFileLimit} each)`,
    },
  ];
  return { lines, targets };
}
