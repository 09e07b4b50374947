/**
 * The crash-safety harness shared by `npm test` (40 kills) and
 * `npm run stress` (1,000 kills): child processes that update the sidecar
 * in a loop (test/fixtures/sidecar-writer.ts) are SIGKILLed at random
 * moments, and after every kill the sidecar is checked the way the next
 * start would find it.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { SIDECAR_FILE, SidecarStore } from '../../src/sidecar/sidecar-store.js';
import { writeFileAtomic } from '../../src/util/atomic-file.js';
import { FileLockError, withFileLock } from '../../src/util/file-lock.js';
import { makeTempDir, silentLogger } from './fs-fixtures.js';
import { REPO_ROOT, TSX_LOADER } from './run-cli.js';
import { mulberry32 } from '../../src/util/prng.js';

export const WRITER = path.join(REPO_ROOT, 'test', 'fixtures', 'sidecar-writer.ts');
export const LOCK_FILE = `${SIDECAR_FILE}.lock`;

/** The values the writer stores for device N. */
export function deviceFields(n: number): Record<string, unknown> {
  return { build_size_bytes: n * 1000 + 1, build_size_dir_mtime: 1_700_000_000 + n, friendly_name: `Device ${n}` };
}

/**
 * Leftovers a crash can leave: sidecar temps, and anything beside the lock
 * file (a renamed lock, a lock temp) that the flock protocol must never make.
 * The lock file itself is not a leftover: it is permanent by design (the
 * Python tool's lock file too), and a dead holder's flock is gone with it.
 */
export function leftovers(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((name) => name.startsWith(`${SIDECAR_FILE}.tmp-`) || (name.startsWith(LOCK_FILE) && name !== LOCK_FILE))
    .sort();
}

/**
 * Whether some process holds the sidecar's flock right now: one
 * non-blocking attempt (taken and dropped at once when free).
 */
export async function lockHeldElsewhere(dir: string): Promise<boolean> {
  try {
    return await withFileLock(path.join(dir, SIDECAR_FILE), async () => false, { waitMs: 0 });
  } catch (err) {
    if (err instanceof FileLockError && err.code === 'ELOCKTIMEOUT') return true;
    throw err;
  }
}

export interface WriterRun {
  committed: number[];
  errors: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Spawn to first `committed` line; null when killed before it. */
  firstCommitMs: number | null;
  /** With `KillPlan.probeLockIn`: whether the lock was held (by the writer) just before the planned kill. */
  heldAtKill: boolean | null;
}

export interface KillPlan {
  /** Kill this long after spawn, whatever the child printed. */
  afterSpawnMs?: number;
  /** Kill this long after the first `committed` line. */
  afterFirstCommitMs?: number;
  /** Give up (kill, and report) when nothing was committed by then. */
  timeoutMs?: number;
  /** Probe this config dir's sidecar lock just before the planned kill (see {@link lockHeldElsewhere}). */
  probeLockIn?: string;
}

/** Runs the writer; resolves when it has exited (by itself or killed as planned). */
export function runWriter(args: string[], plan: KillPlan = {}): Promise<WriterRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['--import', TSX_LOADER, WRITER, ...args], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, DEVICE_BUILDER_LOG_LEVEL: 'silent' },
    });
    const run: WriterRun = { committed: [], errors: [], code: null, signal: null, firstCommitMs: null, heldAtKill: null };
    const timers: NodeJS.Timeout[] = [];
    const kill = (): void => {
      child.kill('SIGKILL');
    };
    const plannedKill = (): void => {
      if (plan.probeLockIn === undefined || child.exitCode !== null) return kill();
      lockHeldElsewhere(plan.probeLockIn).then(
        (held) => {
          run.heldAtKill = held;
          kill();
        },
        (err: unknown) => {
          run.errors.push(`lock probe failed: ${(err as Error).message}`);
          kill();
        },
      );
    };
    if (plan.afterSpawnMs !== undefined) timers.push(setTimeout(plannedKill, plan.afterSpawnMs));
    if (plan.timeoutMs !== undefined) {
      timers.push(
        setTimeout(() => {
          if (run.firstCommitMs === null) run.errors.push(`nothing committed within ${plan.timeoutMs} ms`);
          kill();
        }, plan.timeoutMs),
      );
    }
    let buffer = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        const match = /^committed (\d+)$/.exec(line);
        if (match) {
          run.committed.push(Number(match[1]));
          if (run.firstCommitMs === null) {
            run.firstCommitMs = performance.now() - started;
            if (plan.afterFirstCommitMs !== undefined) timers.push(setTimeout(plannedKill, plan.afterFirstCommitMs));
          }
        } else if (line.trim() !== '') run.errors.push(line);
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      for (const timer of timers) clearTimeout(timer);
      run.code = code;
      run.signal = signal;
      resolve(run);
    });
  });
}

export interface CrashOptions {
  rounds: number;
  /** Independent config dirs killed in parallel (each its own sequence of rounds). */
  lanes?: number;
  seed?: number;
  /** Share of rounds killed at a random moment after spawn (mostly before the first commit). */
  earlyKillRatio?: number;
}

export interface CrashReport {
  seed: number;
  kills: number;
  earlyKills: number;
  killedBeforeFirstCommit: number;
  commits: number;
  /**
   * Rounds that started right after the previous writer was killed while it
   * held the lock (probed just before the kill). The kernel drops a dead
   * holder's flock, so these must cost the next writer nothing.
   */
  startedOnStaleLock: number;
  /** Rounds that started with a sidecar temp left by the previous writer. */
  startedOnStaleTemp: number;
  cleanups: number;
  removedByCleanup: number;
  /** `maxOnStaleLock`: the slowest first commit of a round counted in `startedOnStaleLock`. */
  firstCommitMs: { p50: number; p95: number; max: number; maxOnStaleLock: number };
  elapsedMs: number;
  failures: string[];
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))] ?? 0;
}

/** Checks what a crash must never break; returns what is wrong. */
export function checkSidecar(dir: string, committed: ReadonlySet<number>): string[] {
  const file = path.join(dir, SIDECAR_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    return committed.size === 0 ? [] : [`sidecar unreadable after ${committed.size} commits: ${(err as Error).message}`];
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    return [`sidecar does not parse (${text.length} bytes): ${(err as Error).message}`];
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return ['sidecar is not a JSON object'];
  const problems: string[] = [];
  for (const n of committed) {
    const entry = (data as Record<string, unknown>)[`dev${n}.yaml`];
    if (!isDeepStrictEqual(entry, deviceFields(n))) problems.push(`committed dev${n}.yaml is ${JSON.stringify(entry)}`);
  }
  return problems;
}

const KEEP_AFTER_TRIM = 100;
const TRIM_ABOVE = 300;

/** Keeps the sidecar small across hundreds of rounds: only the newest committed entries stay. */
async function trim(dir: string, committed: Set<number>): Promise<void> {
  if (committed.size <= TRIM_ABOVE) return;
  const keep = [...committed].sort((a, b) => a - b).slice(-KEEP_AFTER_TRIM);
  committed.clear();
  const data: Record<string, unknown> = {};
  for (const n of keep) {
    committed.add(n);
    data[`dev${n}.yaml`] = deviceFields(n);
  }
  await writeFileAtomic(path.join(dir, SIDECAR_FILE), `${JSON.stringify(data, null, 2)}\n`);
}

/**
 * Runs `rounds` kill rounds. Every round: spawn a writer, kill it (after a
 * random 20-300 ms once it committed, or at a random moment after spawn),
 * check the sidecar parses and holds every committed entry. Every other
 * round then runs `cleanStaleTemps()` as the next start would and checks
 * nothing is left; the rounds in between start on whatever the kill left
 * (a held lock, a temp), so the writer's own recovery is exercised too.
 */
export async function runCrashRounds(options: CrashOptions): Promise<CrashReport> {
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const random = mulberry32(seed);
  const lanes = options.lanes ?? 1;
  const earlyKillRatio = options.earlyKillRatio ?? 0.1;
  const report: CrashReport = {
    seed,
    kills: 0,
    earlyKills: 0,
    killedBeforeFirstCommit: 0,
    commits: 0,
    startedOnStaleLock: 0,
    startedOnStaleTemp: 0,
    cleanups: 0,
    removedByCleanup: 0,
    firstCommitMs: { p50: 0, p95: 0, max: 0, maxOnStaleLock: 0 },
    elapsedMs: 0,
    failures: [],
  };
  const firstCommits: number[] = [];
  const started = performance.now();
  let roundsLeft = options.rounds;

  const lane = async (laneId: number): Promise<void> => {
    const dir = makeTempDir(`crash-lane${laneId}-`);
    const store = new SidecarStore(dir, { logger: silentLogger });
    const committed = new Set<number>();
    let next = 0;
    let previousHeldAtKill = false;
    for (let round = 0; roundsLeft > 0; round++) {
      roundsLeft--;
      const before = fs.readdirSync(dir);
      const staleLock = previousHeldAtKill;
      if (staleLock) {
        report.startedOnStaleLock++;
        // The previous writer died holding the lock and has exited: the kernel must
        // have released it already, so the next writer finds nothing to wait for.
        if (await lockHeldElsewhere(dir)) {
          report.failures.push(`lane ${laneId} round ${round} (seed ${seed}): a dead writer's lock was still held after it exited`);
        }
      }
      if (before.some((name) => name.startsWith(`${SIDECAR_FILE}.tmp-`))) report.startedOnStaleTemp++;
      const early = random() < earlyKillRatio;
      const plan: KillPlan = early
        ? { afterSpawnMs: Math.floor(random() * 600), timeoutMs: 15_000 }
        : { afterFirstCommitMs: 20 + Math.floor(random() * 281), timeoutMs: 15_000 };
      const lockInode = fs.existsSync(path.join(dir, LOCK_FILE)) ? fs.statSync(path.join(dir, LOCK_FILE)).ino : null;
      const run = await runWriter([dir, 'devices', String(next), '0'], { ...plan, probeLockIn: dir });
      previousHeldAtKill = run.heldAtKill === true;
      // The lock file is created once and never removed or replaced.
      if (lockInode !== null && fs.statSync(path.join(dir, LOCK_FILE)).ino !== lockInode) {
        report.failures.push(`lane ${laneId} round ${round} (seed ${seed}): the lock file was replaced`);
      }
      report.kills++;
      if (early) report.earlyKills++;
      if (run.firstCommitMs === null) report.killedBeforeFirstCommit++;
      else {
        firstCommits.push(run.firstCommitMs);
        if (staleLock) report.firstCommitMs.maxOnStaleLock = Math.max(report.firstCommitMs.maxOnStaleLock, run.firstCommitMs);
      }
      const where = `lane ${laneId} round ${round} (seed ${seed})`;
      for (const error of run.errors) report.failures.push(`${where}: writer said: ${error}`);
      if (run.signal !== 'SIGKILL') report.failures.push(`${where}: writer exited with code ${run.code}, not by SIGKILL`);
      for (const n of run.committed) committed.add(n);
      report.commits += run.committed.length;
      next = Math.max(next, ...run.committed.map((n) => n + 1));
      for (const problem of checkSidecar(dir, committed)) report.failures.push(`${where}: ${problem}`);
      if (round % 2 === 1) {
        report.cleanups++;
        report.removedByCleanup += await store.cleanStaleTemps();
        const left = leftovers(dir);
        if (left.length > 0) report.failures.push(`${where}: left after cleanStaleTemps: ${left.join(', ')}`);
        // The cleanup must not have cost a committed entry either.
        for (const problem of checkSidecar(dir, committed)) report.failures.push(`${where} after cleanup: ${problem}`);
      }
      await trim(dir, committed);
    }
    report.removedByCleanup += await store.cleanStaleTemps();
    const left = leftovers(dir);
    if (left.length > 0) report.failures.push(`lane ${laneId} at the end: left ${left.join(', ')}`);
  };

  await Promise.all(Array.from({ length: lanes }, (_, id) => lane(id)));
  firstCommits.sort((a, b) => a - b);
  report.firstCommitMs.p50 = Math.round(percentile(firstCommits, 0.5));
  report.firstCommitMs.p95 = Math.round(percentile(firstCommits, 0.95));
  report.firstCommitMs.max = Math.round(firstCommits.at(-1) ?? 0);
  report.firstCommitMs.maxOnStaleLock = Math.round(report.firstCommitMs.maxOnStaleLock);
  report.elapsedMs = Math.round(performance.now() - started);
  return report;
}
