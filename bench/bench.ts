/**
 * `npm run bench`: how fast we size ESPHome build folders, against `du -sb`
 * and the Python Device Builder's `os.walk` + `os.path.getsize`.
 *
 * Methodology
 * - Fixtures (`.bench/`, reused while their parameters match): a fleet
 *   config dir of 20 devices × 25,000 files in realistic build trees
 *   (`.piolibdeps` several levels deep), and a sweep config dir of 1,000
 *   compiled devices with tiny build folders (the sweep never walks).
 * - Everything runs in this one process and on one warm page cache: a
 *   `sync` first (so writeback of fresh fixtures does not land in a timed
 *   run), then each tool runs once untimed before its timed runs, and the
 *   timed runs are interleaved (ours, du, python, ours, du, ...) so drift
 *   hits all alike.
 *   Reported figures are medians of `BENCH_RUNS` (default 5) runs.
 * - "Ours" is a persistent `WalkPool({ size: 2 })` (start-up reported
 *   separately, not in the walk times) with the walker the product picks:
 *   the native addon when it is built. The fleet is walked the way the
 *   product does it: one `pool.walk()` per device, in sequence, each spread
 *   over both workers. With the addon built, a second pool with the JS
 *   walker is timed in the same interleaved runs (what an install without a
 *   C compiler gets), and must agree on bytes and files.
 * - `du -sb` runs as one process over all build folders; its time includes
 *   process spawn (a few ms). The Python reference times its own walk with
 *   `time.perf_counter()` and that internal time is used for the ratio, so
 *   its interpreter start-up does not flatter us; the process time is shown
 *   beside it.
 * - The cold sizes pass is the full CLI path (`runSizesPass`: scan YAMLs,
 *   read StorageJSON, sweep, walk every device, persist each size) with
 *   every metadata file (shared sidecar, per-instance store, ours, and their
 *   locks) deleted before each run; the warm pass runs it again unchanged
 *   and must walk nothing.
 * - The warm sweep is what the server does on every check of a 1,000-device
 *   fleet: read the metadata (the three files, merged) and compare two stats
 *   per device with it.
 * - What users feel (process-times.ts), measured first: the CLI as a whole
 *   process (cold and warm `sizes --json`, beside `du -sb` and the Python
 *   script as whole processes, wall and CPU), start-up against `node -e 0`
 *   (`--help`, warm `sizes`, `serve` to its first HTTP 200), and what a
 *   server cold start on the 1,000-device sweep fixture costs in rescans,
 *   reloads, parses and persisted batches.
 *
 * Overrides (env): `BENCH_FILES_PER_DEVICE` (25000), `BENCH_DEVICES` (20),
 * `BENCH_RUNS` (5), `BENCH_SWEEP_DEVICES` (1000); `BENCH_ONLY=process` runs
 * only the process-times part (written to `.bench/results-process.json`),
 * `BENCH_ONLY=tree` only the size tree's cost (size-tree-cost.ts, written to
 * `.bench/results-tree.json`).
 * Results are printed and written to `.bench/results.json`. Exit code is 0
 * even when a target is missed: this is a measurement, not a test.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { findStaleBuildDirs, type BuildTarget } from '../src/build-size/build-size.js';
import { nativeWalkerStatus } from '../src/build-size/native-walker.js';
import { WalkPool } from '../src/build-size/walk-pool.js';
import { runSizesPass } from '../src/commands/sizes.js';
import { ConfigScanner } from '../src/config/config-scanner.js';
import { DeviceMetadata } from '../src/metadata/device-metadata.js';
import { resolveDataDir } from '../src/storage/data-dir.js';
import { createLogger } from '../src/util/log.js';
import { PACKAGE_ROOT } from '../src/util/package-root.js';
import { ensureFixture, type Fixture } from './fixtures.js';
import { measureProcessTimes, metadataFiles, renderProcessTimes } from './process-times.js';
import { measureServerLatency } from './server-latency.js';
import { measureSizeTreeCost, TARGET_FILE_BYTES } from './size-tree-cost.js';
import { pythonStartupMs, runDu, runPython, toolVersions } from './reference.js';
import { fmtInt, fmtMs, fmtRatio, median, renderTable, round, summarize, timed, type Sample } from './stats.js';

const POOL_SIZE = 2;
const MEAN_FILE_BYTES = 4096;
const FLEET_SEED = 1000;
const SWEEP_SEED = 500_000;
const SWEEP_FILES_PER_DEVICE = 2;
const MIN_SWEEP_RUNS = 20;

const TARGET_DU_RATIO = 1.0;
const TARGET_PYTHON_SPEEDUP = 2.5;
const TARGET_SWEEP_MS = 25;
const TARGET_SERVER_MS = 50;

/** A 1-minute load average above this on a 2-core box means the timings are noisy. */
const BUSY_LOAD = 0.5;

const logger = createLogger('silent');

interface Settings {
  filesPerDevice: number;
  devices: number;
  runs: number;
  sweepDevices: number;
  sweepRuns: number;
  /** `BENCH_ONLY=process`: the process-times part alone. */
  processOnly: boolean;
  /** `BENCH_ONLY=tree`: the size tree's cost alone. */
  treeOnly: boolean;
}

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return value;
}

function readOnly(): 'process' | 'tree' | null {
  const raw = process.env['BENCH_ONLY'];
  if (raw === undefined || raw === '') return null;
  if (raw === 'process' || raw === 'tree') return raw;
  throw new Error(`BENCH_ONLY must be "process", "tree" or unset, got ${JSON.stringify(raw)}`);
}

function readSettings(): Settings {
  const runs = envInt('BENCH_RUNS', 5);
  return {
    filesPerDevice: envInt('BENCH_FILES_PER_DEVICE', 25_000),
    devices: envInt('BENCH_DEVICES', 20),
    runs,
    sweepDevices: envInt('BENCH_SWEEP_DEVICES', 1000),
    sweepRuns: Math.max(MIN_SWEEP_RUNS, runs),
    processOnly: readOnly() === 'process',
    treeOnly: readOnly() === 'tree',
  };
}

const say = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

// ---------------------------------------------------------------------------
// Measurements

/** One walker-vs-references comparison over a set of build folders. */
interface Comparison {
  dirs: number;
  ours: Sample;
  /** The JS walker on the same folders, when ours is the native one (what an install without a compiler gets). */
  oursJs: Sample | null;
  du: Sample;
  pythonWalk: Sample;
  pythonProcess: Sample;
  oursBytes: number;
  oursFiles: number;
  oursFolders: number;
  duBytes: number;
  pythonBytes: number;
  pythonFiles: number;
}

async function compareWalkers(pool: WalkPool, jsPool: WalkPool | null, dirs: readonly string[], runs: number): Promise<Comparison> {
  // The product's way: one walk at a time, each spread over every worker.
  const walkAll = async (withPool: WalkPool = pool): Promise<{ bytes: number; files: number; folders: number }> => {
    const total = { bytes: 0, files: 0, folders: 0 };
    for (const dir of dirs) {
      const result = await withPool.walk(dir);
      total.bytes += result.bytes;
      total.files += result.files;
      total.folders += result.dirs;
    }
    return total;
  };

  // Warm-up, untimed: after this the page cache holds every inode and dentry.
  const ours = await walkAll();
  const fromJs = jsPool ? await walkAll(jsPool) : null;
  if (fromJs && (fromJs.bytes !== ours.bytes || fromJs.files !== ours.files)) {
    throw new Error(`the JS walker disagrees with the native one: ${JSON.stringify(fromJs)} vs ${JSON.stringify(ours)}`);
  }
  const du = await runDu(dirs);
  const python = await runPython(dirs);

  const times = { ours: [] as number[], oursJs: [] as number[], du: [] as number[], pythonWalk: [] as number[], pythonProcess: [] as number[] };
  for (let run = 0; run < runs; run++) {
    times.ours.push((await timed(() => walkAll())).ms);
    if (jsPool) times.oursJs.push((await timed(() => walkAll(jsPool))).ms);
    times.du.push((await runDu(dirs)).processMs);
    const py = await runPython(dirs);
    times.pythonWalk.push(py.walkMs);
    times.pythonProcess.push(py.processMs);
  }
  return {
    dirs: dirs.length,
    ours: summarize(times.ours),
    oursJs: jsPool ? summarize(times.oursJs) : null,
    du: summarize(times.du),
    pythonWalk: summarize(times.pythonWalk),
    pythonProcess: summarize(times.pythonProcess),
    oursBytes: ours.bytes,
    oursFiles: ours.files,
    oursFolders: ours.folders,
    duBytes: du.bytes,
    pythonBytes: python.bytes,
    pythonFiles: python.files,
  };
}

interface SizesPasses {
  cold: Sample;
  coldWalked: number[];
  warm: Sample;
  warmWalked: number[];
  totalBytes: number;
}

/** The machine's own PlatformIO folder is not part of the fleet being compared. */
function fixtureEnv(configDir: string): NodeJS.ProcessEnv {
  return { ...process.env, PLATFORMIO_CORE_DIR: path.join(configDir, '.no-platformio') };
}

/** The CLI path: cold (every metadata file deleted first, every device walked) then warm (nothing changed). */
async function measureSizesPasses(configDir: string, runs: number): Promise<SizesPasses> {
  const env = fixtureEnv(configDir);
  const pass = () => runSizesPass(configDir, { logger, poolSize: POOL_SIZE, env });
  const coldPass = async () => {
    // The sizes live in the per-instance store once migrated: removing the shared sidecar alone leaves them cached.
    for (const file of metadataFiles(configDir, env)) rmSync(file, { force: true });
    return timed(pass);
  };

  await coldPass(); // warm-up
  const cold: number[] = [];
  const coldWalked: number[] = [];
  let totalBytes = 0;
  for (let run = 0; run < runs; run++) {
    const { ms, value } = await coldPass();
    cold.push(ms);
    coldWalked.push(value.walked);
    totalBytes = value.totalBytes;
  }

  await pass(); // warm-up
  const warm: number[] = [];
  const warmWalked: number[] = [];
  for (let run = 0; run < runs; run++) {
    const { ms, value } = await timed(pass);
    warm.push(ms);
    warmWalked.push(value.walked);
  }
  return { cold: summarize(cold), coldWalked, warm: summarize(warm), warmWalked, totalBytes };
}

interface Sweep {
  devices: number;
  compiled: number;
  sidecarWarmupMs: number;
  sidecarWarmupWalked: number;
  time: Sample;
  staleCounts: number[];
}

/** The server's fleet check: metadata read + two stats per device, nothing stale. */
async function measureSweep(pool: WalkPool, configDir: string, runs: number): Promise<Sweep> {
  const env = fixtureEnv(configDir);
  // Make sure every device's pair is cached (walks only on the first run after generation).
  const warmup = await timed(() => runSizesPass(configDir, { logger, poolSize: POOL_SIZE, env }));

  // What the server reads: the three metadata files merged (sizes live in the per-instance store once migrated).
  const dataDir = resolveDataDir(configDir, env);
  const store = new DeviceMetadata(configDir, dataDir, { logger });
  const scanner = new ConfigScanner(configDir, dataDir);
  const devices = await scanner.scan(await store.read());
  const targets: BuildTarget[] = devices.map((device) => ({
    configuration: device.configuration,
    buildPath: device.build_path,
  }));
  const sweepOnce = async (): Promise<string[]> => findStaleBuildDirs(targets, await store.read(), (dirs) => pool.signals(dirs));

  await sweepOnce(); // warm-up
  const times: number[] = [];
  const staleCounts: number[] = [];
  for (let run = 0; run < runs; run++) {
    const { ms, value } = await timed(sweepOnce);
    times.push(ms);
    staleCounts.push(value.length);
  }
  return {
    devices: devices.length,
    compiled: targets.filter((target) => target.buildPath !== null).length,
    sidecarWarmupMs: warmup.ms,
    sidecarWarmupWalked: warmup.value.walked,
    time: summarize(times),
    staleCounts,
  };
}

// ---------------------------------------------------------------------------
// Report

interface Target {
  name: string;
  pass: boolean;
  detail: string;
}

function fmtLoad(load: readonly number[]): string {
  return load.map((value) => value.toFixed(2)).join(' / ');
}

function targetLine(target: Target): string {
  return `  ${target.pass ? 'PASS' : 'MISS'}  ${target.name}: ${target.detail}`;
}

function comparisonCells(label: string, oursMs: number, reference: Comparison): string[] {
  return [
    label,
    fmtMs(oursMs),
    fmtMs(reference.du.median),
    `${fmtMs(reference.pythonWalk.median)} (${fmtMs(reference.pythonProcess.median)})`,
    fmtRatio(oursMs / reference.du.median),
    fmtRatio(reference.pythonWalk.median / oursMs),
  ];
}

function describeFixture(label: string, fixture: Fixture, devices: number, filesPerDevice: number): string {
  const how = fixture.generatedMs === null ? 'reused' : `generated in ${(fixture.generatedMs / 1000).toFixed(1)} s`;
  return (
    `${label}: ${fmtInt(devices)} devices × ${fmtInt(filesPerDevice)} files = ${fmtInt(fixture.treeFiles)} files, ` +
    `${(fixture.treeBytes / 1e9).toFixed(2)} GB (${how}) at ${fixture.configDir}`
  );
}

async function main(): Promise<void> {
  // The fixtures keep StorageJSON in `<config>/.esphome`; a data dir from the
  // environment would point the scanner somewhere else.
  delete process.env['ESPHOME_DATA_DIR'];

  const settings = readSettings();
  const root = PACKAGE_ROOT;
  const benchDir = path.join(root, '.bench');
  mkdirSync(benchDir, { recursive: true });
  const versions = await toolVersions();
  const loadBefore = os.loadavg();

  say('device-builder bench');
  say(`node ${process.version}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GB RAM, ` + `${versions.python}, ${versions.du}`);
  say(`runs: median of ${settings.runs} (sweep: ${settings.sweepRuns}), warm cache, pool size ${POOL_SIZE}`);
  say(`load average (1/5/15 min): ${fmtLoad(loadBefore)}`);
  if ((loadBefore[0] ?? 0) > BUSY_LOAD) {
    say(`  note: the machine is busy; a ${POOL_SIZE}-thread walker suffers more from that than single-threaded du.`);
  }
  say();

  // Fixtures ---------------------------------------------------------------
  say('Fixtures');
  const fleet = ensureFixture(
    path.join(benchDir, 'fleet'),
    {
      kind: 'fleet',
      devices: settings.devices,
      filesPerDevice: settings.filesPerDevice,
      meanFileBytes: MEAN_FILE_BYTES,
      seedBase: FLEET_SEED,
    },
    say,
  );
  say(describeFixture('  fleet', fleet, settings.devices, settings.filesPerDevice));
  if (settings.treeOnly) {
    const treePool = new WalkPool({ size: POOL_SIZE, logger });
    try {
      say(`Measuring: the size tree's cost (walker: ${treePool.engine}) …`);
      const sizeTree = await measureSizeTreeCost(treePool, fleet.buildDirs, settings.runs, say);
      const loadAfter = os.loadavg();
      say(`  (load average before ${fmtLoad(loadBefore)}, after ${fmtLoad(loadAfter)})`);
      const resultsPath = path.join(benchDir, 'results-tree.json');
      const results = {
        timestamp: new Date().toISOString(),
        environment: { loadAverageBefore: loadBefore, loadAverageAfter: loadAfter, node: process.version, cores: os.cpus().length },
        settings: { ...settings, poolSize: POOL_SIZE },
        walker: treePool.engine,
        sizeTree,
      };
      writeFileSync(resultsPath, `${JSON.stringify(results, null, 2)}\n`);
      say(`Results written to ${resultsPath}`);
    } finally {
      await treePool.close();
    }
    return;
  }
  const sweepFixture = ensureFixture(
    path.join(benchDir, `sweep${settings.sweepDevices}`),
    {
      kind: 'sweep',
      devices: settings.sweepDevices,
      filesPerDevice: SWEEP_FILES_PER_DEVICE,
      meanFileBytes: MEAN_FILE_BYTES,
      seedBase: SWEEP_SEED,
    },
    say,
  );
  say(describeFixture('  sweep', sweepFixture, settings.sweepDevices, SWEEP_FILES_PER_DEVICE));
  // Freshly generated trees leave gigabytes of dirty pages; their writeback
  // would land in the middle of the timed runs.
  const flushed = await timed(() => promisify(execFile)('sync'));
  say(`  sync (flush pending writeback before timing): ${fmtMs(flushed.ms)} ms`);
  say();

  // Whole processes first, before this process starts any worker threads.
  const processTimes = await measureProcessTimes({
    fleet,
    countsFixture: sweepFixture,
    countsFilesPerDevice: SWEEP_FILES_PER_DEVICE,
    runs: settings.runs,
    say,
  });
  const processReport = renderProcessTimes(processTimes);
  if (settings.processOnly) {
    say();
    for (const line of processReport.lines) say(line);
    say('Targets');
    for (const target of processReport.targets) say(targetLine(target));
    const loadAfter = os.loadavg();
    say(`  (load average before ${fmtLoad(loadBefore)}, after ${fmtLoad(loadAfter)})`);
    const resultsPath = path.join(benchDir, 'results-process.json');
    const results = {
      timestamp: new Date().toISOString(),
      environment: { loadAverageBefore: loadBefore, loadAverageAfter: loadAfter, node: process.version, cores: os.cpus().length, ...versions },
      settings,
      processTimes,
      targets: processReport.targets,
    };
    writeFileSync(resultsPath, `${JSON.stringify(results, null, 2)}\n`);
    say(`Results written to ${resultsPath}`);
    return;
  }

  // Pool start-up: construct and bring both workers up (two tasks at once).
  const startup = await timed(async () => {
    const created = new WalkPool({ size: POOL_SIZE, logger });
    await created.signals([fleet.configDir, fleet.configDir]);
    return created;
  });
  const pool = startup.value;
  // With the addon built, the JS walker is timed beside it: the figure an install without a C compiler gets.
  const jsPool = pool.engine === 'native' ? new WalkPool({ size: POOL_SIZE, logger, walker: 'js' }) : null;
  const walkerNote = nativeWalkerStatus();
  say(
    `Walker: ${pool.engine}` +
      (walkerNote.available
        ? ` (${path.relative(root, walkerNote.path)}); the JS fallback walker is timed beside it`
        : ` (native addon unavailable: ${walkerNote.reason})`),
  );
  say();

  try {
    say('Measuring: one device walk …');
    const one = await compareWalkers(pool, jsPool, fleet.buildDirs.slice(0, 1), settings.runs);
    say('Measuring: fleet walk …');
    const fleetWalk = await compareWalkers(pool, jsPool, fleet.buildDirs, settings.runs);
    say('Measuring: sizes pass (cold, then warm) …');
    const passes = await measureSizesPasses(fleet.configDir, settings.runs);
    say(`Measuring: warm sweep of ${fmtInt(settings.sweepDevices)} devices …`);
    const sweep = await measureSweep(pool, sweepFixture.configDir, settings.sweepRuns);
    say(`Measuring: server latency with ${fmtInt(settings.sweepDevices)} devices …`);
    const latency = await measureServerLatency(benchDir, settings.sweepDevices, settings.sweepRuns);
    await pythonStartupMs(); // warm-up
    const pyStartup: number[] = [];
    for (let run = 0; run < settings.runs; run++) pyStartup.push(await pythonStartupMs());
    const pythonStartup = median(pyStartup);
    say('Measuring: the size tree (file size, heap, walk with and without it) …');
    const sizeTree = await measureSizeTreeCost(pool, fleet.buildDirs, settings.runs, say);
    say();

    // Table ------------------------------------------------------------------
    const perDevice = fmtInt(settings.filesPerDevice);
    const rows = [
      comparisonCells(`one device walk (${perDevice} files)`, one.ours.median, one),
      comparisonCells(`fleet walk (${settings.devices} × ${perDevice} files)`, fleetWalk.ours.median, fleetWalk),
    ];
    if (one.oursJs && fleetWalk.oursJs) {
      rows.push(
        comparisonCells('  one device, JS fallback walker', one.oursJs.median, one),
        comparisonCells('  fleet, JS fallback walker', fleetWalk.oursJs.median, fleetWalk),
      );
    }
    rows.push(
      comparisonCells('cold sizes pass, fleet (CLI) ¹', passes.cold.median, fleetWalk),
      [`warm sizes pass, fleet (${Math.max(...passes.warmWalked)} walked)`, fmtMs(passes.warm.median), '—', '—', '—', '—'],
      [`warm sweep, ${fmtInt(sweep.devices)} devices (${Math.max(...sweep.staleCounts)} stale)`, fmtMs(sweep.time.median, 2), '—', '—', '—', '—'],
    );
    rows.push(
      [`devices/list, ${fmtInt(latency.devices)} devices (${fmtInt(latency.listBytes)} B)`, fmtMs(latency.listMs, 2), '—', '—', '—', '—'],
      [`subscribe_events → initial_state, ${fmtInt(latency.devices)} devices`, fmtMs(latency.subscribeMs, 2), '—', '—', '—', '—'],
    );
    say(renderTable(['', 'ours ms', 'du -sb ms', 'python ms walk (process)', 'ours/du', 'python/ours'], rows));
    say('  ¹ compared with the fleet du/python figures: the same job (size every build folder) from scratch,');
    say("    including YAML scan, StorageJSON, pool start-up and the batched, fsync'd sidecar writes.");
    say(
      `  python ratios use the interpreter's own walk time; process time adds start-up ` +
        `(python3 -c pass: ${fmtMs(pythonStartup)} ms). du times are whole processes.`,
    );
    say(`  pool start-up (2 workers, excluded from walk times): ${fmtMs(startup.ms)} ms; walker: ${pool.engine}`);
    say(
      `  sweep sidecar warm-up: runSizesPass walked ${fmtInt(sweep.sidecarWarmupWalked)} devices in ` +
        `${fmtMs(sweep.sidecarWarmupMs)} ms (${fmtInt(sweep.compiled)} of ${fmtInt(sweep.devices)} compiled)`,
    );
    say();

    for (const line of processReport.lines) say(line);

    // Sanity -----------------------------------------------------------------
    say('Byte totals (fleet)');
    say(
      `  ours ${fmtInt(fleetWalk.oursBytes)} (${fmtInt(fleetWalk.oursFiles)} files, ${fmtInt(fleetWalk.oursFolders)} folders)` +
        ` | du -sb ${fmtInt(fleetWalk.duBytes)} | python ${fmtInt(fleetWalk.pythonBytes)} (${fmtInt(fleetWalk.pythonFiles)} files)` +
        ` | sizes pass ${fmtInt(passes.totalBytes)}`,
    );
    const perFolder = fleetWalk.oursFolders > 0 ? (fleetWalk.duBytes - fleetWalk.oursBytes) / fleetWalk.oursFolders : 0;
    say(
      `  ours counts regular files + symlinks (own size); du -sb also counts each folder's own size ` +
        `(here +${fmtInt(fleetWalk.duBytes - fleetWalk.oursBytes)} B ≈ ${perFolder.toFixed(0)} B/folder) and hard links once; ` +
        `python getsize follows symlinks (none here).`,
    );
    say();

    // Targets ----------------------------------------------------------------
    const duRatio = fleetWalk.ours.median / fleetWalk.du.median;
    const pySpeedup = fleetWalk.pythonWalk.median / fleetWalk.ours.median;
    const sweepWalks = Math.max(...sweep.staleCounts);
    const warmWalks = Math.max(...passes.warmWalked);
    const targets: Target[] = [
      {
        name: `fleet walk ≤ ${TARGET_DU_RATIO.toFixed(1)}× du -sb`,
        pass: duRatio <= TARGET_DU_RATIO,
        detail: `${fmtMs(fleetWalk.ours.median)} ms vs ${fmtMs(fleetWalk.du.median)} ms = ${fmtRatio(duRatio)}`,
      },
      {
        name: `fleet walk ≥ ${TARGET_PYTHON_SPEEDUP}× faster than Python os.walk`,
        pass: pySpeedup >= TARGET_PYTHON_SPEEDUP,
        detail: `${fmtMs(fleetWalk.pythonWalk.median)} ms / ${fmtMs(fleetWalk.ours.median)} ms = ${fmtRatio(pySpeedup)}`,
      },
      {
        name: `warm sweep of ${fmtInt(sweep.devices)} devices ≤ ${TARGET_SWEEP_MS} ms with 0 walks`,
        pass: sweep.time.median <= TARGET_SWEEP_MS && sweepWalks === 0 && sweep.compiled === settings.sweepDevices,
        detail: `${fmtMs(sweep.time.median, 2)} ms, ${sweepWalks} stale of ${fmtInt(sweep.compiled)} compiled`,
      },
      {
        name: 'cold sizes pass walks every device (the bench really starts cold)',
        pass: passes.coldWalked.every((walked) => walked === settings.devices),
        detail: `walked ${passes.coldWalked.join(', ')} of ${settings.devices}`,
      },
      {
        name: 'warm sizes pass walks nothing',
        pass: warmWalks === 0,
        detail: `walked ${passes.warmWalked.join(', ')} (cold passes walked ${passes.coldWalked.join(', ')})`,
      },
      {
        name: `devices/list and subscribe_events with ${fmtInt(latency.devices)} devices ≤ ${TARGET_SERVER_MS} ms`,
        pass: latency.listMs <= TARGET_SERVER_MS && latency.subscribeMs <= TARGET_SERVER_MS,
        detail: `${fmtMs(latency.listMs, 2)} ms and ${fmtMs(latency.subscribeMs, 2)} ms (loopback round trips, client parse included)`,
      },
      {
        name: 'ours and python agree on bytes and files',
        pass: fleetWalk.oursBytes === fleetWalk.pythonBytes && fleetWalk.oursFiles === fleetWalk.pythonFiles,
        detail: `${fmtInt(fleetWalk.oursBytes)} B / ${fmtInt(fleetWalk.oursFiles)} files vs ${fmtInt(fleetWalk.pythonBytes)} B / ${fmtInt(fleetWalk.pythonFiles)} files`,
      },
      {
        name: `size tree + ${100} history points ≤ ${fmtInt(TARGET_FILE_BYTES)} B a device`,
        pass: sizeTree.fileBytes.max <= TARGET_FILE_BYTES,
        detail: `largest ${fmtInt(sizeTree.fileBytes.max)} B (median ${fmtInt(sizeTree.fileBytes.median)} B); walk with/without the tree ${fmtRatio(sizeTree.walk.overhead)}`,
      },
      ...processReport.targets,
    ];
    say('Targets');
    for (const target of targets) say(targetLine(target));
    const loadAfter = os.loadavg();
    say(
      `  (noise check: best-of-${settings.runs} fleet ours/du ${fmtRatio(fleetWalk.ours.min / fleetWalk.du.min)}, ` +
        `python/ours ${fmtRatio(fleetWalk.pythonWalk.min / fleetWalk.ours.min)}; ` +
        `load average before ${fmtLoad(loadBefore)}, after ${fmtLoad(loadAfter)})`,
    );
    const peakRssMb = process.resourceUsage().maxRSS / 1024;
    say();
    say(`Peak RSS of the bench process (main thread + walk workers): ${peakRssMb.toFixed(0)} MB`);

    const resultsPath = path.join(benchDir, 'results.json');
    const results = {
      timestamp: new Date().toISOString(),
      environment: {
        loadAverageBefore: loadBefore,
        loadAverageAfter: loadAfter,
        node: process.version,
        cores: os.cpus().length,
        totalMemBytes: os.totalmem(),
        python: versions.python,
        du: versions.du,
      },
      settings: { ...settings, poolSize: POOL_SIZE, meanFileBytes: MEAN_FILE_BYTES },
      fixtures: {
        fleet: { ...fleet, buildDirs: fleet.buildDirs.length },
        sweep: { ...sweepFixture, buildDirs: sweepFixture.buildDirs.length },
      },
      walker: pool.engine,
      poolStartupMs: round(startup.ms, 2),
      pythonStartupMs: round(pythonStartup, 2),
      oneDevice: one,
      fleet: fleetWalk,
      sizesPass: passes,
      sweep,
      serverLatency: latency,
      sizeTree,
      processTimes,
      ratios: {
        oneDeviceOursOverDu: one.ours.median / one.du.median,
        oneDevicePythonOverOurs: one.pythonWalk.median / one.ours.median,
        fleetOursOverDu: duRatio,
        fleetPythonOverOurs: pySpeedup,
        fleetJsOverDu: fleetWalk.oursJs ? fleetWalk.oursJs.median / fleetWalk.du.median : null,
        fleetPythonOverJs: fleetWalk.oursJs ? fleetWalk.pythonWalk.median / fleetWalk.oursJs.median : null,
      },
      targets,
      peakRssMb: round(peakRssMb, 1),
    };
    writeFileSync(resultsPath, `${JSON.stringify(results, null, 2)}\n`);
    say(`Results written to ${resultsPath}`);
  } finally {
    await pool.close();
    await jsPool?.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
