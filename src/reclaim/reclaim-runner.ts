/**
 * Runs a reclaim plan exactly as previewed, one step at a time (issue 14).
 *
 * Why re-check every step: a plan is computed from cached figures and may
 * wait (a person reading the preview, a queue of clean jobs ahead of it).
 * Just before each step the runner asks again, and skips the step, recording
 * why, when:
 *
 * - device steps: the device is gone ("device no longer exists"), its build
 *   folder moved ("build folder changed since the preview"), a job is queued
 *   or running for it, its freshness pair differs from the step's ("compiled
 *   since the preview" when `build_info.json` moved or its `build_time` is
 *   newer, else "changed since the preview"), or `build_info.json`'s
 *   `build_time`, read fresh, is less than an hour old;
 * - unused steps: a device uses the folder again ("now used by a device"),
 *   or its pair differs ("changed since the preview").
 *
 * Devices are cleaned through the firmware job queue and unused folders
 * deleted through the delete guard, both behind {@link ReclaimPorts}, so this
 * module decides and records while the server (or the CLI) supplies the
 * real effects; tests build ports over real folders.
 *
 * What a step freed is measured, never assumed: the folder's size in the
 * plan (`folder_bytes`) minus its size re-measured after the step (floored
 * at 0). When the re-measure fails, the step still counts as done but frees
 * 0 bytes, with `error: "done; the bytes freed could not be measured"`: a
 * planned figure is never reported as freed.
 *
 * The record (reclaim-store.ts) is written before anything runs (the run
 * `running` with every step), after each step (its result), and at the end
 * (status, total, skips). A process that dies mid-run leaves a run whose
 * missing results are steps not done; the next start marks it
 * `interrupted`. Cancelling (the AbortSignal) stops after the current step;
 * the rest are recorded as not done. Status at the end: `completed` when
 * every step was done, `failed` when none was, else `partial`. One human log
 * line per run.
 */
import { formatBytes } from '../shared/format.js';
import {
  RECENT_COMPILE_GUARD_SECONDS,
  type ReclaimPlan,
  type ReclaimProgress,
  type ReclaimRun,
  type ReclaimSkip,
  type ReclaimStep,
  type ReclaimStepResult,
  type ReclaimTrigger,
} from '../shared/reclaim.js';
import type { Logger } from '../util/log.js';
import { SKIP_BUSY, SKIP_RECENT, type SignalPair } from './plan.js';
import { readBuildTime as defaultReadBuildTime, samePair } from './plan-inputs.js';
import type { ReclaimStore } from './reclaim-store.js';

export interface ReclaimPorts {
  /** Fresh freshness pair of a folder right now (two stats). */
  currentSignal(buildPath: string): Promise<SignalPair>;
  /** The device's current build path and whether a job is queued/running for it; null when the device is gone. */
  deviceState(configuration: string): Promise<{ build_path: string | null; busy: boolean } | null>;
  /** Whether the folder is still unused (no device points at it now). */
  isStillUnused(buildPath: string): Promise<boolean>;
  /** Runs `esphome clean` through the firmware job queue and resolves when the job ended. */
  cleanDevice(configuration: string, signal: AbortSignal): Promise<{ ok: boolean; job_id: string; error?: string }>;
  /** Deletes an unused folder through the delete guard (throws with a user-readable message when refused/failed). */
  deleteUnused(buildPath: string, signal: AbortSignal): Promise<void>;
  /** Re-measures a folder after its step (the refresher's walk) and returns its apparent bytes now (0 when gone), or null when it could not be measured. */
  measureAfter(step: ReclaimStep): Promise<number | null>;
}

/** A run is already in progress in this process. */
export class ReclaimBusyError extends Error {
  constructor(readonly runId: string) {
    super(`a reclaim run is already in progress (${runId})`);
    this.name = 'ReclaimBusyError';
  }
}

export const SKIP_GONE = 'device no longer exists';
export const SKIP_MOVED = 'build folder changed since the preview';
export const SKIP_COMPILED = 'compiled since the preview';
export const SKIP_CHANGED = 'changed since the preview';
export const SKIP_NOW_USED = 'now used by a device';
export const NOT_DONE_CANCELLED = 'not done: the run was cancelled';
export const FREED_NOT_MEASURED = 'done; the bytes freed could not be measured';

export interface ReclaimRunnerOptions {
  store: ReclaimStore;
  ports: ReclaimPorts;
  logger: Logger;
  /** Unix seconds now. */
  now?: () => number;
  /** `build_info.json`'s `build_time`, read fresh for the recent-compile guard (default plan-inputs.ts's). */
  readBuildTime?: (buildPath: string) => Promise<number | null>;
  onStarted?(run: ReclaimRun): void;
  onProgress?(progress: ReclaimProgress): void;
  onFinished?(run: ReclaimRun): void;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function newRunId(now: number): Promise<string> {
  // Loaded when a run starts: a preview (or `--help`) never pays for node:crypto.
  const { randomBytes } = await import('node:crypto');
  return `reclaim-${now.toString(36)}-${randomBytes(4).toString('hex')}`;
}

/** Who a step is about, in a log line. */
function nameOf(entry: { configuration?: string; build_path: string }): string {
  return entry.configuration ?? entry.build_path;
}

export class ReclaimRunner {
  private current: ReclaimRun | null = null;
  private readonly now: () => number;
  private readonly readBuildTime: (buildPath: string) => Promise<number | null>;

  constructor(private readonly options: ReclaimRunnerOptions) {
    this.now = options.now ?? (() => Math.floor(Date.now() / 1000));
    this.readBuildTime = options.readBuildTime ?? defaultReadBuildTime;
  }

  /** The run in progress (a copy), or null. */
  get running(): ReclaimRun | null {
    return this.current ? structuredClone(this.current) : null;
  }

  /**
   * Runs `plan`'s steps in order and resolves with the finished run.
   * @throws ReclaimBusyError when a run is already in progress here; the
   *   store's error when the run cannot be recorded (nothing runs then).
   */
  async run(plan: ReclaimPlan, trigger: ReclaimTrigger, reason: string, signal?: AbortSignal): Promise<ReclaimRun> {
    if (this.current) throw new ReclaimBusyError(this.current.run_id);
    const startedAt = this.now();
    const run: ReclaimRun = {
      run_id: '',
      trigger,
      started_at: startedAt,
      finished_at: null,
      status: 'running',
      reason,
      steps: plan.steps.map((step) => structuredClone(step)),
      results: [],
      freed_bytes: 0,
      skipped: plan.skipped.map((entry) => ({ ...entry })),
    };
    this.current = run;
    try {
      run.run_id = await newRunId(startedAt);
      await this.options.store.startRun(run);
    } catch (err) {
      this.current = null;
      throw err;
    }
    this.notify(() => this.options.onStarted?.(structuredClone(run)));
    // The steps see one signal: the caller's, or one nobody aborts.
    const stepSignal = signal ?? new AbortController().signal;
    for (const [index, step] of run.steps.entries()) {
      let result: ReclaimStepResult;
      let skip: ReclaimSkip | undefined;
      if (stepSignal.aborted) {
        result = {
          build_path: step.build_path,
          ...(step.configuration ? { configuration: step.configuration } : {}),
          ok: false,
          freed_bytes: 0,
          error: NOT_DONE_CANCELLED,
        };
      } else {
        ({ result, skip } = await this.runStep(step, stepSignal));
      }
      run.results.push(result);
      run.freed_bytes += result.freed_bytes;
      if (skip) run.skipped.push(skip);
      await this.options.store.recordStep(run.run_id, result, skip).catch((err: unknown) => {
        // The step happened either way; a missing result reads as "not done", the safe side.
        this.options.logger.error({ err, run_id: run.run_id, index }, 'could not record a reclaim step');
      });
      this.notify(() => this.options.onProgress?.({ run_id: run.run_id, index, total: run.steps.length, result: { ...result } }));
    }
    const done = run.results.filter((result) => result.ok).length;
    run.status = done === run.steps.length ? 'completed' : done === 0 ? 'failed' : 'partial';
    run.finished_at = this.now();
    await this.options.store
      .finishRun(run.run_id, { status: run.status, finished_at: run.finished_at, freed_bytes: run.freed_bytes, skipped: run.skipped })
      .catch((err: unknown) => this.options.logger.error({ err, run_id: run.run_id }, 'could not record the end of a reclaim run'));
    this.current = null;
    this.logRun(run, done);
    this.notify(() => this.options.onFinished?.(structuredClone(run)));
    return run;
  }

  /** One step: re-checked, then done through the ports, then measured. */
  private async runStep(step: ReclaimStep, signal: AbortSignal): Promise<{ result: ReclaimStepResult; skip?: ReclaimSkip }> {
    const who = { build_path: step.build_path, ...(step.configuration !== undefined ? { configuration: step.configuration } : {}) };
    let why: string | null;
    try {
      why = step.kind === 'device' ? await this.deviceSkipReason(step) : await this.unusedSkipReason(step);
    } catch (err) {
      return { result: { ...who, ok: false, freed_bytes: 0, error: `could not check it before the step: ${messageOf(err)}` } };
    }
    if (why !== null) return { result: { ...who, ok: false, freed_bytes: 0, error: why }, skip: { ...who, reason: why } };

    let ok: boolean;
    let error: string | undefined;
    let jobId: string | undefined;
    try {
      if (step.kind === 'device') {
        const outcome = await this.options.ports.cleanDevice(step.configuration ?? '', signal);
        ok = outcome.ok;
        jobId = outcome.job_id;
        if (!ok) error = outcome.error ?? 'the clean job did not complete';
      } else {
        await this.options.ports.deleteUnused(step.build_path, signal);
        ok = true;
      }
    } catch (err) {
      ok = false;
      error = messageOf(err);
    }
    // Measured even after a failure: a clean or delete cut short may still have freed something.
    let after: number | null;
    try {
      after = await this.options.ports.measureAfter(step);
    } catch (err) {
      this.options.logger.warn({ err, build_path: step.build_path }, 'could not measure a folder after its reclaim step');
      after = null;
    }
    const freed = after === null ? 0 : Math.max(0, step.folder_bytes - after);
    if (ok && after === null) error = FREED_NOT_MEASURED;
    return {
      result: { ...who, ok, freed_bytes: freed, ...(error !== undefined ? { error } : {}), ...(jobId !== undefined ? { job_id: jobId } : {}) },
    };
  }

  private async deviceSkipReason(step: ReclaimStep): Promise<string | null> {
    const state = await this.options.ports.deviceState(step.configuration ?? '');
    if (state === null) return SKIP_GONE;
    if (state.build_path !== step.build_path) return SKIP_MOVED;
    if (state.busy) return SKIP_BUSY;
    const current = await this.options.ports.currentSignal(step.build_path);
    const buildTime = await this.readBuildTime(step.build_path);
    if (!samePair(current, step.signal)) {
      const recompiled = current[1] !== step.signal[1] || (buildTime !== null && (step.last_compiled === null || buildTime > step.last_compiled));
      return recompiled ? SKIP_COMPILED : SKIP_CHANGED;
    }
    if (buildTime !== null && this.now() - buildTime < RECENT_COMPILE_GUARD_SECONDS) return SKIP_RECENT;
    return null;
  }

  private async unusedSkipReason(step: ReclaimStep): Promise<string | null> {
    if (!(await this.options.ports.isStillUnused(step.build_path))) return SKIP_NOW_USED;
    if (!samePair(await this.options.ports.currentSignal(step.build_path), step.signal)) return SKIP_CHANGED;
    return null;
  }

  /** `reclaim (schedule): 3 of 4 steps done, freed 412.3 MB; skipped kitchen.yaml: compiled since the preview` */
  private logRun(run: ReclaimRun, done: number): void {
    const problems = run.results
      .filter((result) => !result.ok)
      .map((result) => {
        const skipped = run.skipped.some(
          (entry) => entry.build_path === result.build_path && entry.configuration === result.configuration && entry.reason === result.error,
        );
        return `${skipped ? 'skipped' : 'failed'} ${nameOf(result)}: ${result.error ?? 'failed'}`;
      });
    const shown = problems.slice(0, 5);
    if (problems.length > shown.length) shown.push(`and ${problems.length - shown.length} more`);
    const line = `reclaim (${run.trigger}): ${done} of ${run.steps.length} steps done, freed ${formatBytes(run.freed_bytes)}${shown.length > 0 ? `; ${shown.join('; ')}` : ''}`;
    const fields = { run_id: run.run_id, status: run.status, freed_bytes: run.freed_bytes, reason: run.reason };
    if (run.status === 'completed') this.options.logger.info(fields, line);
    else this.options.logger.warn(fields, line);
  }

  /** Runs a listener; one that throws is logged, never stops the run. */
  private notify(call: () => void): void {
    try {
      call();
    } catch (err) {
      this.options.logger.error({ err }, 'a reclaim listener failed');
    }
  }
}
