/**
 * The firmware job queue: compile / upload / install / clean for one device,
 * reset_build_env for the fleet. This module decides what runs when and
 * tells everyone; the process itself is job-runner.ts's, and what survives
 * a restart is job-history.ts's.
 *
 * - FIFO, one job running at a time (PlatformIO shares caches across
 *   devices, and two builds at once would mostly fight for the CPU).
 * - A new job for a device replaces that device's queued or running job:
 *   the old one is cancelled first (reason "replaced by a new <type> job").
 *   reset_build_env spans the fleet, so it replaces only another
 *   reset_build_env and never a device's job.
 * - Output lines are published as `job_output` events, kept (bounded) on
 *   the job for `follow()`, and appended to the job's log file.
 * - Cancel stops a running job's process group (TERM, then KILL after the
 *   grace period); the job becomes cancelled once the process is gone, so
 *   the next job never overlaps it.
 * - A missing esphome executable fails the job at once with a message that
 *   says how to fix it. Nothing here throws out of the queue once a job is
 *   accepted, and the next job still runs; `enqueue` refuses with a
 *   {@link JobQueueError} whose `code` says why (`invalid_args`, or
 *   `shutting_down` once the queue stopped accepting).
 * - History (metadata in `_firmware_jobs`, output in one log file per job)
 *   is written on every state change but never per output line; a job that
 *   was queued or running when the previous process died is marked failed
 *   by `init()`.
 *
 * The queue reports on the server's event bus (events/event-bus.ts); it
 * does not decide what a finished job triggers. The caller listens with
 * `onFinished` (a completed compile/upload/install/clean asks the refresher
 * for that device, a completed reset_build_env asks for a fleet sweep;
 * failed and cancelled jobs trigger nothing).
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { isSafeConfigurationName } from '../config/config-scanner.js';
import type { MetadataStore } from '../metadata/device-metadata.js';
import { EventBus } from '../events/event-bus.js';
import { JOB_EVENT_NAMES, type JobEvent, type JobFinishedEvent } from '../shared/events.js';
import { isFinished, JOB_TYPES, type FirmwareJob, type FirmwareJobSummary, type JobType } from '../shared/jobs.js';
import { resolveDataDir } from '../storage/data-dir.js';
import type { Logger } from '../util/log.js';
import { JobHistory, PERSISTED_OUTPUT_LINES, type JobLogWriter } from './job-history.js';
import { DEFAULT_KILL_GRACE_MS, JobRunner, type RunningJob, type RunResult } from './job-runner.js';

export { FIRMWARE_JOBS_KEY, JOB_LOG_DIR, PERSISTED_OUTPUT_LINES } from './job-history.js';
export { DEFAULT_KILL_GRACE_MS } from './job-runner.js';

export const DEFAULT_HISTORY_LIMIT = 50;
export const DEFAULT_OUTPUT_LIMIT = 5000;

export const INTERRUPTED_ERROR = 'the server stopped while this job was running';
export const CANCELLED_BY_USER = 'cancelled by user';
export const SHUTDOWN_ERROR = 'cancelled: the server is shutting down';

/** Why `enqueue` refused a job; the codes are the API's error codes. */
export type JobQueueErrorCode = 'invalid_args' | 'shutting_down';

export class JobQueueError extends Error {
  constructor(
    readonly code: JobQueueErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'JobQueueError';
  }
}

/** The queue stopped accepting jobs (the server is shutting down). */
export class QueueClosedError extends JobQueueError {
  constructor() {
    super('shutting_down', 'the job queue is shutting down and accepts no new jobs');
    this.name = 'QueueClosedError';
  }
}

export interface JobQueueOptions {
  /** Absolute; cwd of the child process and the clean-all argument. */
  configDir: string;
  /** e.g. `['esphome']` or `['python3', '-m', 'esphome']`. */
  esphomeCommand: string[];
  /** For `_firmware_jobs` history. */
  store: MetadataStore;
  logger: Logger;
  /** Where job logs go (`<dataDir>/.device-builder-jobs/`); default: ESPHome's data dir for configDir and env. */
  dataDir?: string;
  /** Base env for children (default `process.env`); the PATH lookup uses this env's PATH. */
  env?: NodeJS.ProcessEnv;
  /** Finished jobs kept (default 50). */
  historyLimit?: number;
  /** Lines kept per job in memory (default 5000); its log file keeps the last 200. */
  outputLimit?: number;
  /** SIGTERM → SIGKILL delay on cancel (default 3000). */
  killGraceMs?: number;
  /** Where job events are published (default: a bus of its own, for a queue used alone). */
  bus?: EventBus;
}

const JOB_EVENTS = JOB_EVENT_NAMES satisfies readonly JobEvent['event'][];
const FINISHED_EVENTS = ['job_completed', 'job_failed', 'job_cancelled'] as const satisfies readonly JobFinishedEvent['event'][];

export type FollowHandle = { history: string[]; unsubscribe: () => void };

interface Follower {
  onLine: (line: string) => void;
  onEnd: (job: FirmwareJobSummary) => void;
}

/** A job plus what only a live job needs. */
interface Entry {
  job: FirmwareJob;
  /** Tie-break for jobs created in the same millisecond: higher is newer. */
  seq: number;
  process: RunningJob | null;
  /** The running job's log file; null before it starts and after it ends. */
  log: JobLogWriter | null;
  /** Set once a cancel was asked for; the reason becomes `error`. */
  cancelReason: string | null;
  followers: Set<Follower>;
  /** Resolves when the job reaches a final state. */
  done: Promise<void>;
  resolveDone: () => void;
}

function now(): number {
  return Date.now() / 1000;
}

function positiveInt(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value >= 1 ? Math.floor(value) : fallback;
}

function summary(job: FirmwareJob): FirmwareJobSummary {
  const { output: _output, ...rest } = job;
  return { ...rest };
}

export class JobQueue {
  private readonly configDir: string;
  private readonly runner: JobRunner;
  private readonly history: JobHistory;
  private readonly log: Logger;
  private readonly historyLimit: number;
  private readonly outputLimit: number;

  /** Every job we know: active and finished history. */
  private readonly entries = new Map<string, Entry>();
  /** Queued job ids, oldest first. */
  private readonly queue: string[] = [];
  private running: Entry | null = null;
  private seq = 0;
  private accepting = true;
  private pumpScheduled = false;

  private readonly bus: EventBus;

  private shutdownPromise: Promise<void> | null = null;

  constructor(options: JobQueueOptions) {
    this.configDir = path.resolve(options.configDir);
    this.log = options.logger;
    this.bus = options.bus ?? new EventBus(this.log);
    const env = options.env ?? process.env;
    this.runner = new JobRunner({
      configDir: this.configDir,
      esphomeCommand: options.esphomeCommand,
      env,
      killGraceMs: options.killGraceMs !== undefined && options.killGraceMs >= 0 ? options.killGraceMs : DEFAULT_KILL_GRACE_MS,
      logger: this.log,
    });
    this.history = new JobHistory({
      store: options.store,
      dataDir: options.dataDir ?? resolveDataDir(this.configDir, env),
      logger: this.log,
      snapshot: () => this.sortedEntries().map((entry) => summary(entry.job)),
    });
    this.historyLimit =
      options.historyLimit !== undefined && Number.isFinite(options.historyLimit) && options.historyLimit >= 0
        ? Math.floor(options.historyLimit)
        : DEFAULT_HISTORY_LIMIT;
    this.outputLimit = positiveInt(options.outputLimit, DEFAULT_OUTPUT_LIMIT);
  }

  /**
   * Loads the history (see job-history.ts: bad entries are skipped one by
   * one, inline output of earlier versions moves to log files). Jobs left
   * queued or running by a previous process become failed ("the server
   * stopped while this job was running"), and that is written back; log
   * files of jobs not in history are deleted. Never throws for bad stored
   * content.
   */
  async init(): Promise<void> {
    const { jobs, changed: repaired } = await this.history.load();
    let changed = repaired;
    const loaded: FirmwareJob[] = [];
    for (const { job: stored, output } of jobs) {
      if (this.entries.has(stored.job_id)) {
        changed = true;
        continue;
      }
      const job: FirmwareJob = { ...stored, output };
      if (!isFinished(job.status)) {
        job.status = 'failed';
        job.error = INTERRUPTED_ERROR;
        job.completed_at ??= now();
        changed = true;
      }
      loaded.push(job);
    }
    // Stored newest first; give them sequence numbers older than anything live.
    const base = -loaded.length;
    loaded.forEach((job, i) => {
      const entry = this.makeEntry(job, base - i);
      entry.resolveDone();
      this.entries.set(job.job_id, entry);
    });
    if (this.trimHistory() > 0) changed = true;
    await this.history.sweep(new Set(this.entries.keys()));
    if (changed) {
      this.log.info({ jobs: loaded.length }, 'firmware job history loaded and repaired');
      await this.history.save();
    }
  }

  /**
   * Queues a job and returns it (as queued, or as failed, see below). Synchronous; emits `job_queued`.
   * A device's queued or running job is cancelled first (replaced). When
   * the esphome executable cannot be found the job fails at once (after
   * `job_queued`, with `job_failed`) and replaces nothing.
   * Throws QueueClosedError (code `shutting_down`) after stopAccepting(),
   * and a JobQueueError with code `invalid_args` for an unknown type or a
   * configuration that is not a plain file name of at most 255 bytes.
   */
  enqueue(type: JobType, configuration: string, options: { port?: string | null } = {}): FirmwareJobSummary {
    if (!this.accepting) throw new QueueClosedError();
    if (!(JOB_TYPES as readonly string[]).includes(type)) throw new JobQueueError('invalid_args', `unknown job type: ${String(type)}`);
    if (!isSafeConfigurationName(configuration)) {
      throw new JobQueueError('invalid_args', `invalid configuration name: ${JSON.stringify(configuration)}`);
    }
    const port = type === 'upload' || type === 'install' ? options.port || null : null;
    const job: FirmwareJob = {
      job_id: randomUUID(),
      configuration,
      job_type: type,
      status: 'queued',
      created_at: now(),
      started_at: null,
      completed_at: null,
      exit_code: null,
      port,
      output: [],
      error: null,
    };
    const entry = this.makeEntry(job, this.seq++);

    const missing = this.runner.missingExecutableError();
    if (missing === null) {
      for (const other of this.replaceable(type, configuration)) {
        this.cancelEntry(other, `replaced by a new ${type} job`);
      }
    }

    this.entries.set(job.job_id, entry);
    this.emit({ event: 'job_queued', data: summary(job) });
    if (missing !== null) {
      this.log.warn({ job_id: job.job_id, command: this.runner.commandName }, 'esphome CLI not found');
      this.finish(entry, { status: 'failed', exitCode: null, error: missing });
      return summary(job);
    }
    this.queue.push(job.job_id);
    this.log.info({ job_id: job.job_id, type, configuration }, 'firmware job queued');
    void this.history.save();
    this.schedulePump();
    return summary(job);
  }

  /**
   * Cancels a job. Queued: cancelled at once. Running: SIGTERM to its
   * process group, SIGKILL after the grace period; the job becomes
   * cancelled once the process has exited. False when unknown or finished.
   */
  cancel(jobId: string): boolean {
    const entry = this.entries.get(jobId);
    if (entry === undefined || isFinished(entry.job.status)) return false;
    this.cancelEntry(entry, CANCELLED_BY_USER);
    return true;
  }

  get(jobId: string): FirmwareJob | undefined {
    const entry = this.entries.get(jobId);
    if (entry === undefined) return undefined;
    return { ...entry.job, output: this.outputOf(entry) };
  }

  /** Running, queued and recent finished jobs, newest first. */
  list(): FirmwareJobSummary[] {
    return this.sortedEntries().map((e) => summary(e.job));
  }

  /** The queued or running job for a device (the newest one, if a replaced job is still stopping). */
  activeJobFor(configuration: string): FirmwareJobSummary | undefined {
    for (const entry of this.sortedEntries()) {
      if (entry.job.configuration === configuration && !isFinished(entry.job.status)) return summary(entry.job);
    }
    return undefined;
  }

  /** Drops finished jobs from history (the history file and their log files); returns how many. */
  clear(): number {
    const removed: string[] = [];
    for (const [id, entry] of this.entries) {
      if (isFinished(entry.job.status)) {
        this.entries.delete(id);
        removed.push(id);
      }
    }
    if (removed.length > 0) {
      void this.history.save();
      void this.history.removeLogs(removed);
      this.emit({ event: 'jobs_cleared', data: { job_ids: removed } });
    }
    return removed.length;
  }

  /** Every job event, `job_output` included, from the bus. Returns an unsubscribe function. */
  subscribe(listener: (event: JobEvent) => void): () => void {
    return this.bus.on(this, JOB_EVENTS, listener);
  }

  /**
   * Called once for each job that reaches completed, failed or cancelled in
   * this process. A bus listener on the three final events, not a second
   * channel: it runs in bus order with every other listener, and gets its
   * own copy of the job (the event object is shared and must stay as sent).
   */
  onFinished(listener: (job: FirmwareJobSummary) => void): () => void {
    return this.bus.on(this, FINISHED_EVENTS, (event) => listener({ ...event.data }));
  }

  /**
   * Output so far, then live lines, then `onEnd` when the job finishes.
   * For a job already finished: the history is returned and `onEnd` runs
   * right after (in a microtask), with no live lines. Undefined for an
   * unknown job.
   */
  follow(jobId: string, listener: (line: string) => void, onEnd: (job: FirmwareJobSummary) => void): FollowHandle | undefined {
    const entry = this.entries.get(jobId);
    if (entry === undefined) return undefined;
    const history = this.outputOf(entry);
    if (isFinished(entry.job.status)) {
      let active = true;
      const final = summary(entry.job);
      queueMicrotask(() => {
        if (active) this.safeCall(() => onEnd(final), 'follow onEnd');
      });
      return { history, unsubscribe: () => void (active = false) };
    }
    const follower: Follower = { onLine: listener, onEnd };
    entry.followers.add(follower);
    return { history, unsubscribe: () => void entry.followers.delete(follower) };
  }

  /** Refuses new jobs from now on; queued and running jobs carry on. */
  stopAccepting(): void {
    this.accepting = false;
  }

  /**
   * Stops accepting, cancels every queued job and the running one (TERM to
   * its group, KILL after the grace period), waits for the process to exit
   * and for history and logs to be written. Safe to call more than once.
   */
  shutdown(): Promise<void> {
    this.shutdownPromise ??= this.doShutdown();
    return this.shutdownPromise;
  }

  /** Resolves once every history and log write asked for so far is done. */
  flush(): Promise<void> {
    return this.history.flush();
  }

  /** The running job's child pid, for tests and diagnostics. */
  childPid(jobId: string): number | undefined {
    return this.entries.get(jobId)?.process?.pid;
  }

  /** Resolves when the job reaches a final state (immediately if finished or unknown). */
  async waitFor(jobId: string): Promise<FirmwareJobSummary | undefined> {
    const entry = this.entries.get(jobId);
    if (entry === undefined) return undefined;
    await entry.done;
    return summary(entry.job);
  }

  // --- internals -----------------------------------------------------------

  private async doShutdown(): Promise<void> {
    this.stopAccepting();
    for (const id of [...this.queue]) {
      const entry = this.entries.get(id);
      if (entry !== undefined) this.cancelEntry(entry, SHUTDOWN_ERROR);
    }
    const running = this.running;
    if (running !== null) {
      this.cancelEntry(running, SHUTDOWN_ERROR);
      await running.done;
    }
    await this.history.save();
    await this.flush();
  }

  private makeEntry(job: FirmwareJob, seq: number): Entry {
    let resolveDone!: () => void;
    const done = new Promise<void>((resolve) => (resolveDone = resolve));
    return { job, seq, process: null, log: null, cancelReason: null, followers: new Set(), done, resolveDone };
  }

  private sortedEntries(): Entry[] {
    return [...this.entries.values()].sort((a, b) => b.job.created_at - a.job.created_at || b.seq - a.seq);
  }

  private outputOf(entry: Entry): string[] {
    const out = entry.job.output;
    return out.length > this.outputLimit ? out.slice(-this.outputLimit) : [...out];
  }

  /** Active jobs the new one replaces: same device, or another reset_build_env. */
  private replaceable(type: JobType, configuration: string): Entry[] {
    const result: Entry[] = [];
    for (const entry of this.entries.values()) {
      const job = entry.job;
      if (isFinished(job.status) || entry.cancelReason !== null) continue;
      const fleet = job.job_type === 'reset_build_env';
      if (type === 'reset_build_env' ? fleet : !fleet && job.configuration === configuration) result.push(entry);
    }
    return result;
  }

  private cancelEntry(entry: Entry, reason: string): void {
    const job = entry.job;
    if (isFinished(job.status)) return;
    if (job.status === 'queued') {
      const index = this.queue.indexOf(job.job_id);
      if (index >= 0) this.queue.splice(index, 1);
      this.finish(entry, { status: 'cancelled', exitCode: null, error: reason });
      return;
    }
    // Running: the first reason wins; a second cancel changes nothing.
    if (entry.cancelReason !== null) return;
    entry.cancelReason = reason;
    entry.process?.stop(reason);
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Starts the next queued job when nothing is running. */
  private pump(): void {
    while (this.running === null && this.queue.length > 0) {
      const id = this.queue.shift() as string;
      const entry = this.entries.get(id);
      if (entry === undefined || entry.job.status !== 'queued') continue;
      try {
        this.start(entry);
      } catch (err) {
        // Never let one job wedge the queue.
        this.log.error({ err, job_id: id }, 'firmware job could not start');
        if (!isFinished(entry.job.status)) {
          this.finish(entry, { status: 'failed', exitCode: null, error: `could not start esphome: ${(err as Error).message}` });
        }
      }
    }
  }

  private start(entry: Entry): void {
    const job = entry.job;
    this.running = entry;
    job.status = 'running';
    job.started_at = now();
    this.emit({ event: 'job_started', data: summary(job) });
    void this.history.save();
    entry.log = this.history.openLog(job.job_id);
    const running = this.runner.run(job, {
      onLine: (line) => this.addLine(entry, line),
      onEnd: (result) => this.finish(entry, result),
    });
    if (isFinished(job.status)) return; // The executable vanished: already failed.
    entry.process = running;
    // A cancel that arrived before the process existed (cannot happen today,
    // run() is synchronous) would otherwise be lost.
    if (entry.cancelReason !== null) running.stop(entry.cancelReason);
  }

  private addLine(entry: Entry, line: string): void {
    const out = entry.job.output;
    out.push(line);
    // Trim in batches so a chatty build does not shift the array on every line.
    if (out.length >= this.outputLimit + Math.max(64, this.outputLimit >> 2)) out.splice(0, out.length - this.outputLimit);
    entry.log?.append(line);
    this.emit({ event: 'job_output', data: { job_id: entry.job.job_id, line } });
    for (const follower of entry.followers) this.safeCall(() => follower.onLine(line), 'follow listener');
  }

  /** Moves a job to a final state, tells everyone, persists, and starts the next one. */
  private finish(entry: Entry, result: RunResult): void {
    const job = entry.job;
    if (isFinished(job.status)) return;
    if (job.output.length > this.outputLimit) job.output.splice(0, job.output.length - this.outputLimit);
    job.status = result.status;
    job.completed_at = now();
    job.exit_code = result.exitCode;
    job.error = result.error;
    entry.process = null;
    if (entry.log !== null) {
      void entry.log.finish();
      entry.log = null;
    }
    if (this.running === entry) this.running = null;
    this.log.info({ job_id: job.job_id, status: job.status, exit_code: job.exit_code, error: job.error }, 'firmware job finished');

    const final = summary(job);
    this.emit({ event: `job_${result.status}`, data: final });
    const followers = [...entry.followers];
    entry.followers.clear();
    for (const follower of followers) this.safeCall(() => follower.onEnd({ ...final }), 'follow onEnd');
    entry.resolveDone();

    if (job.job_type === 'reset_build_env' && job.started_at !== null) this.restoreLogs(entry);
    this.trimHistory();
    void this.history.save();
    this.schedulePump();
  }

  /**
   * `esphome clean-all` empties the data dir except `storage/` and top-level
   * `.json` files, so it takes `.device-builder-jobs/` with it. The output
   * of every job in history is still in memory: write it back.
   */
  private restoreLogs(reset: Entry): void {
    for (const entry of this.entries.values()) {
      if (entry === reset || !isFinished(entry.job.status) || entry.job.started_at === null) continue;
      void this.history.writeLog(entry.job.job_id, entry.job.output.slice(-PERSISTED_OUTPUT_LINES));
    }
  }

  /** Drops the finished jobs beyond historyLimit, earliest finished first, with their logs; returns how many. */
  private trimHistory(): number {
    const finished = this.sortedEntries()
      .filter((e) => isFinished(e.job.status))
      .sort((a, b) => (b.job.completed_at ?? b.job.created_at) - (a.job.completed_at ?? a.job.created_at));
    const excess = finished.slice(this.historyLimit);
    for (const entry of excess) this.entries.delete(entry.job.job_id);
    if (excess.length > 0) void this.history.removeLogs(excess.map((e) => e.job.job_id));
    return excess.length;
  }

  private emit(event: JobEvent): void {
    this.bus.publish(event);
  }

  private safeCall(fn: () => void, what: string): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ err }, `${what} threw`);
    }
  }
}
