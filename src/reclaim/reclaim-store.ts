/**
 * The reclaim policy and the record of its runs, per instance, in
 * `<data>/.device-builder-ts-reclaim.json` (issue 14).
 *
 * Why its own file in the data dir, never the shared sidecar: the config
 * folder may be shared by several Device Builder instances (the add-on and a
 * desktop copy), each with its own data dir and its own disk; a policy that
 * cleans one instance's builds must not start cleaning the other's. And a
 * run record is rewritten after every step: keeping it out of our
 * per-instance metadata file keeps those writes from re-parsing a
 * 5,000-device file.
 *
 * Built on sidecar/json-object-store.ts (atomic writes, a versioned parse
 * cache, a corrupt file set aside before it is replaced) with its
 * cross-process lock, so a `device-builder reclaim --yes` run and the
 * server's own run never lose each other's records.
 *
 * Layout: `{"_policy": {...}, "_runs": [newest first, at most 50]}`.
 *
 * Reading back never crashes on what a person or a crash left there: the
 * policy and each run are checked with zod; a bad policy reads as
 * {@link DEFAULT_RECLAIM_POLICY} (off), a bad run is dropped, each with a
 * log line.
 *
 * A run's `results` are a prefix of its `steps`: `results[i]` is the outcome
 * of `steps[i]`, written when that step ended. A step without a result was
 * not done. {@link ReclaimStore.markInterrupted} (once, at start) turns runs
 * left `running` by a process that is gone into `interrupted` without adding
 * any result, so nothing half-done is ever reported as done. Each run also
 * stores the pid of the process running it (`owner_pid`, not on the wire), so
 * a server starting while a CLI run is in progress leaves that run alone.
 */
import path from 'node:path';
import { z } from 'zod';
import { JsonObjectStore, isJsonObject } from '../sidecar/json-object-store.js';
import { DEFAULT_RECLAIM_POLICY, type ReclaimPolicy, type ReclaimRun, type ReclaimSkip, type ReclaimStepResult } from '../shared/reclaim.js';
import type { FileLockOptions } from '../util/file-lock.js';
import { toPlainJson } from '../util/json-preserving.js';
import type { Logger } from '../util/log.js';
import { reclaimPolicySchema } from './policy.js';
import { RECLAIM_STATE_FILE } from './reclaim-file.js';

export { RECLAIM_STATE_FILE };

/** Runs kept in the record, newest first. */
export const MAX_RECORDED_RUNS = 50;

const POLICY_KEY = '_policy';
const RUNS_KEY = '_runs';

const signalSchema = z.tuple([z.number().nullable(), z.number().nullable()]);
const ruleSchema = z.enum(['cap', 'age', 'unused', 'free_space']);

const stepSchema = z.object({
  kind: z.enum(['device', 'unused']),
  configuration: z.string().optional(),
  build_path: z.string(),
  bytes: z.number(),
  folder_bytes: z.number(),
  rule: ruleSchema,
  last_compiled: z.number().nullable(),
  signal: signalSchema,
});

const resultSchema = z.object({
  build_path: z.string(),
  configuration: z.string().optional(),
  ok: z.boolean(),
  freed_bytes: z.number(),
  error: z.string().optional(),
  job_id: z.string().optional(),
});

const skipSchema = z.object({
  configuration: z.string().optional(),
  build_path: z.string(),
  reason: z.string(),
});

const runSchema = z.object({
  run_id: z.string().min(1),
  trigger: z.enum(['manual', 'schedule', 'free_space', 'cli']),
  started_at: z.number(),
  finished_at: z.number().nullable(),
  status: z.enum(['running', 'completed', 'partial', 'failed', 'interrupted']),
  reason: z.string(),
  steps: z.array(stepSchema),
  results: z.array(resultSchema),
  freed_bytes: z.number(),
  skipped: z.array(skipSchema),
});

/** A run as stored: the wire fields plus the pid of the process running it. */
interface StoredRun extends ReclaimRun {
  owner_pid?: number;
}

export interface ReclaimStoreOptions {
  dataDir: string;
  logger: Logger;
  /** The cross-process lock's options (tests shorten the wait); the lock itself is always used. */
  lock?: Omit<FileLockOptions, 'logger'>;
  /** Unix seconds now (tests). */
  now?: () => number;
  /** Whether a process is alive (tests); default `process.kill(pid, 0)`. */
  isProcessAlive?: (pid: number) => boolean;
}

function defaultIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, it is just not ours to signal.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A stored value with numbers kept as text by the preserving parse turned back into plain JSON. */
function plain(value: unknown): unknown {
  return toPlainJson(value);
}

export class ReclaimStore {
  readonly file: JsonObjectStore;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly isAlive: (pid: number) => boolean;
  /** What was last reported as dropped, so a bad entry is logged once, not on every read. */
  private readonly reported = new Set<string>();

  constructor(options: ReclaimStoreOptions) {
    this.log = options.logger;
    this.now = options.now ?? (() => Math.floor(Date.now() / 1000));
    this.isAlive = options.isProcessAlive ?? defaultIsAlive;
    this.file = new JsonObjectStore(path.join(options.dataDir, RECLAIM_STATE_FILE), {
      logger: options.logger,
      label: 'reclaim record',
      lock: { ...options.lock, logger: options.logger },
    });
  }

  /** The saved policy; the default (off) when none is saved or it is not valid. */
  async readPolicy(): Promise<ReclaimPolicy> {
    const stored = await this.file.readGlobal(POLICY_KEY);
    if (stored === undefined) return { ...DEFAULT_RECLAIM_POLICY };
    const parsed = reclaimPolicySchema.safeParse(stored);
    if (parsed.success) return { ...parsed.data, min_free: parsed.data.min_free ? { ...parsed.data.min_free } : null };
    this.reportOnce(`policy:${JSON.stringify(stored)}`, () =>
      this.log.warn({ path: this.file.path, problem: parsed.error.issues[0]?.message }, 'the saved reclaim policy is not valid; using the default (off)'),
    );
    return { ...DEFAULT_RECLAIM_POLICY };
  }

  async writePolicy(policy: ReclaimPolicy): Promise<void> {
    // Checked here too: whatever reaches the file reads back as written.
    const checked = reclaimPolicySchema.parse(policy);
    await this.file.updateGlobal(POLICY_KEY, () => checked);
  }

  /** Every recorded run, newest first; entries that do not parse are dropped (and logged once). */
  async listRuns(): Promise<ReclaimRun[]> {
    const stored = await this.file.readGlobal(RUNS_KEY);
    if (!Array.isArray(stored)) return [];
    const runs: ReclaimRun[] = [];
    for (const [index, entry] of stored.entries()) {
      const run = this.parseRun(entry, index);
      if (run) runs.push(run);
    }
    return runs;
  }

  /** Records a new run (normally `running` with all its steps) at the front. */
  async startRun(run: ReclaimRun): Promise<void> {
    const checked: StoredRun = { ...(runSchema.parse(run) as ReclaimRun), owner_pid: process.pid };
    await this.updateRuns((runs) => {
      const kept = runs.filter((entry) => !(isJsonObject(entry) && entry['run_id'] === run.run_id));
      return [checked, ...kept].slice(0, MAX_RECORDED_RUNS);
    });
  }

  /**
   * Appends the result of the run's next step (results are in step order),
   * adds `skip` to its skipped list when the step was skipped, and keeps the
   * run's freed total current so an interrupted run still says what it freed.
   */
  async recordStep(runId: string, result: ReclaimStepResult, skip?: ReclaimSkip): Promise<void> {
    const checkedResult = resultSchema.parse(result);
    await this.updateRun(runId, (run) => ({
      ...run,
      results: [...run.results, checkedResult],
      freed_bytes: run.freed_bytes + checkedResult.freed_bytes,
      skipped: skip ? [...run.skipped, skipSchema.parse(skip)] : run.skipped,
    }));
  }

  async finishRun(runId: string, fields: Pick<ReclaimRun, 'status' | 'finished_at' | 'freed_bytes' | 'skipped'>): Promise<void> {
    await this.updateRun(runId, (run) => ({ ...run, ...fields }));
  }

  /**
   * Called once when a process that runs reclaims starts: every run still
   * `running` whose process is gone (or is this very process, which has not
   * started one yet) becomes `interrupted`, finished now, its recorded
   * results kept as they are. Returns the runs it changed.
   */
  async markInterrupted(): Promise<ReclaimRun[]> {
    const changed: ReclaimRun[] = [];
    const now = this.now();
    await this.updateRuns((runs) =>
      runs.map((entry, index) => {
        if (!isJsonObject(entry) || entry['status'] !== 'running') return entry;
        const run = this.parseRun(entry, index);
        if (!run) return entry;
        const owner = entry['owner_pid'];
        if (typeof owner === 'number' && owner !== process.pid && this.isAlive(owner)) return entry;
        const interrupted: StoredRun = { ...run, status: 'interrupted', finished_at: now };
        changed.push(interrupted);
        return interrupted;
      }),
    );
    for (const run of changed) {
      const done = run.results.filter((result) => result.ok).length;
      this.log.warn(
        { run_id: run.run_id, trigger: run.trigger, done, not_done: run.steps.length - run.results.length },
        `reclaim (${run.trigger}) was interrupted: ${done} of ${run.steps.length} steps done, the other ${run.steps.length - done} not done`,
      );
    }
    return changed;
  }

  /** Rewrites the runs list with what `next` returns (at most {@link MAX_RECORDED_RUNS}). */
  private async updateRuns(next: (runs: unknown[]) => unknown[]): Promise<void> {
    await this.file.updateGlobal(RUNS_KEY, (current) => {
      const runs = Array.isArray(current) ? (plain(current) as unknown[]) : [];
      return next(runs).slice(0, MAX_RECORDED_RUNS);
    });
  }

  /**
   * Replaces one running run with what `change` makes of it. A run no longer
   * recorded (dropped as invalid, or past the bound) or already ended is left
   * as it is, with a log line.
   */
  private async updateRun(runId: string, change: (run: StoredRun) => StoredRun): Promise<void> {
    let found = false;
    let ended = false;
    await this.updateRuns((runs) =>
      runs.map((entry, index) => {
        if (!isJsonObject(entry) || entry['run_id'] !== runId) return entry;
        const run = this.parseRun(entry, index);
        if (!run) return entry;
        found = true;
        // An ended run is final: a process that was thought gone (and its run marked interrupted) never adds to it.
        if (run.status !== 'running') {
          ended = true;
          return entry;
        }
        const owner = entry['owner_pid'];
        return { ...change(run), ...(typeof owner === 'number' ? { owner_pid: owner } : {}) };
      }),
    );
    if (!found) this.log.warn({ run_id: runId, path: this.file.path }, 'a reclaim run is no longer in the record; its update was not saved');
    else if (ended) this.log.warn({ run_id: runId, path: this.file.path }, 'a reclaim run was already recorded as ended; its update was not saved');
  }

  private parseRun(entry: unknown, index: number): ReclaimRun | null {
    const parsed = runSchema.safeParse(entry);
    if (parsed.success) return parsed.data;
    const id = isJsonObject(entry) && typeof entry['run_id'] === 'string' ? entry['run_id'] : `#${index}`;
    this.reportOnce(`run:${id}:${JSON.stringify(entry)}`, () =>
      this.log.warn({ path: this.file.path, run_id: id, problem: parsed.error.issues[0]?.message }, 'dropped a reclaim run record that is not valid'),
    );
    return null;
  }

  private reportOnce(key: string, emit: () => void): void {
    if (this.reported.has(key)) return;
    if (this.reported.size > 200) this.reported.clear();
    this.reported.add(key);
    emit();
  }
}
