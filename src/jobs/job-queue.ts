/**
 * The firmware job queue: compile / upload / install / clean for one device,
 * reset_build_env for the fleet, run through the `esphome` CLI.
 *
 * - FIFO, one job running at a time (PlatformIO shares caches across
 *   devices, and two builds at once would mostly fight for the CPU).
 * - A new job for a device replaces that device's queued or running job:
 *   the old one is cancelled first (reason "replaced by a new <type> job").
 *   reset_build_env spans the fleet, so it replaces only another
 *   reset_build_env and never a device's job.
 * - Each job runs `esphome --dashboard <command> ...` (see esphome-command.ts)
 *   in its own process group with cwd = the config dir; stdout and stderr
 *   are merged into one line stream (split on `\n`, `\r\n` and `\r`, ANSI
 *   kept) published as `job_output` events and kept, bounded, on the job.
 * - Cancel sends SIGTERM to the whole group (esphome, PlatformIO, the
 *   compiler) and SIGKILL after a grace period; the job becomes cancelled
 *   once the process is gone, so the next job never overlaps it.
 * - A missing esphome executable fails the job at once with a message that
 *   says how to fix it; nothing here ever throws out of the queue, and the
 *   next job still runs.
 * - History lives in our per-instance state file under `_firmware_jobs` (newest first,
 *   bounded, output trimmed), written on every state change but never per
 *   output line; a job that was queued or running when the previous process
 *   died is marked failed by `init()`.
 *
 * The queue reports; it does not decide what a finished job triggers. The
 * caller listens with `onFinished` (a completed compile/upload/install/clean
 * asks the refresher for that device, a completed reset_build_env asks for a
 * fleet sweep; failed and cancelled jobs trigger nothing).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import path from 'node:path';
import type { MetadataStore } from '../metadata/device-metadata.js';
import {
  isFinished,
  JOB_STATUSES,
  JOB_TYPES,
  type FirmwareJob,
  type FirmwareJobSummary,
  type JobEvent,
  type JobStatus,
  type JobType,
} from '../shared/jobs.js';
import type { Logger } from '../util/log.js';
import { esphomeArgs, esphomeChildEnv, esphomeNotFoundMessage, resolveExecutable } from './esphome-command.js';
import { LineSplitter } from './line-splitter.js';

/** The key of the job history in our per-instance state file. */
export const FIRMWARE_JOBS_KEY = '_firmware_jobs';
/** Output lines kept per job in the job history file. */
export const PERSISTED_OUTPUT_LINES = 200;
export const DEFAULT_HISTORY_LIMIT = 50;
export const DEFAULT_OUTPUT_LIMIT = 5000;
export const DEFAULT_KILL_GRACE_MS = 3000;

export const INTERRUPTED_ERROR = 'the server stopped while this job was running';
export const CANCELLED_BY_USER = 'cancelled by user';
export const SHUTDOWN_ERROR = 'cancelled: the server is shutting down';

/**
 * How long to wait for stdout/stderr to close after the process exited
 * before giving up on them (a daemonised grandchild in another session can
 * hold the pipes open forever).
 */
const STREAM_CLOSE_GRACE_MS = 2000;
/** A long ERROR line is cut to this many characters in `error`. */
const MAX_ERROR_LINE = 300;

export class QueueClosedError extends Error {
  constructor() {
    super('the job queue is shutting down and accepts no new jobs');
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
  /** Base env for children (default `process.env`); the PATH lookup uses this env's PATH. */
  env?: NodeJS.ProcessEnv;
  /** Finished jobs kept (default 50). */
  historyLimit?: number;
  /** Lines kept per job in memory (default 5000); the history file keeps the last 200. */
  outputLimit?: number;
  /** SIGTERM → SIGKILL delay on cancel (default 3000). */
  killGraceMs?: number;
}

export type FollowHandle = { history: string[]; unsubscribe: () => void };

interface Follower {
  onLine: (line: string) => void;
  onEnd: (job: FirmwareJobSummary) => void;
}

/** A job plus what only the running process needs. */
interface Entry {
  job: FirmwareJob;
  /** Tie-break for jobs created in the same millisecond: higher is newer. */
  seq: number;
  child: ChildProcess | null;
  /** Set once a cancel was asked for; the reason becomes `error`. */
  cancelReason: string | null;
  killTimer: NodeJS.Timeout | null;
  /** The last `ERROR ...` line seen, ANSI stripped, for the failure message. */
  lastErrorLine: string | null;
  followers: Set<Follower>;
  /** Resolves when the job reaches a final state. */
  done: Promise<void>;
  resolveDone: () => void;
}

// eslint-disable-next-line no-control-regex
const ANSI_RE = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]/g;

function stripAnsi(text: string): string {
  return text.replace(ANSI_RE, '');
}

function isDirectory(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
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

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function finiteOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/**
 * One persisted job, validated field by field. Identity fields (id, type,
 * status, configuration, created_at) must be right or the entry is skipped;
 * the rest fall back to empty values.
 */
function parseStoredJob(value: unknown): FirmwareJob | null {
  if (!isObject(value)) return null;
  const { job_id, configuration, job_type, status, created_at } = value;
  if (typeof job_id !== 'string' || job_id === '') return null;
  if (typeof configuration !== 'string' || configuration === '') return null;
  if (typeof job_type !== 'string' || !(JOB_TYPES as readonly string[]).includes(job_type)) return null;
  if (typeof status !== 'string' || !(JOB_STATUSES as readonly string[]).includes(status)) return null;
  const created = finiteOrNull(created_at);
  if (created === null) return null;
  const exitCode = finiteOrNull(value['exit_code']);
  const output = Array.isArray(value['output']) ? value['output'].filter((l): l is string => typeof l === 'string') : [];
  return {
    job_id,
    configuration,
    job_type: job_type as JobType,
    status: status as JobStatus,
    created_at: created,
    started_at: finiteOrNull(value['started_at']),
    completed_at: finiteOrNull(value['completed_at']),
    exit_code: exitCode !== null && Number.isInteger(exitCode) ? exitCode : null,
    port: typeof value['port'] === 'string' && value['port'] !== '' ? value['port'] : null,
    output: output.slice(-PERSISTED_OUTPUT_LINES),
    error: typeof value['error'] === 'string' ? value['error'] : null,
  };
}

export class JobQueue {
  private readonly configDir: string;
  private readonly command: string[];
  private readonly store: MetadataStore;
  private readonly log: Logger;
  private readonly env: NodeJS.ProcessEnv;
  private readonly historyLimit: number;
  private readonly outputLimit: number;
  private readonly killGraceMs: number;

  /** Every job we know: active and finished history. */
  private readonly entries = new Map<string, Entry>();
  /** Queued job ids, oldest first. */
  private readonly queue: string[] = [];
  private running: Entry | null = null;
  private seq = 0;
  private accepting = true;
  private pumpScheduled = false;

  private readonly listeners = new Set<(event: JobEvent) => void>();
  private readonly finishedListeners = new Set<(job: FirmwareJobSummary) => void>();

  private persistDirty = false;
  private persisting: Promise<void> | null = null;
  private shutdownPromise: Promise<void> | null = null;

  constructor(options: JobQueueOptions) {
    if (options.esphomeCommand.length === 0 || options.esphomeCommand[0] === '') {
      throw new Error('esphomeCommand must name an executable');
    }
    this.configDir = path.resolve(options.configDir);
    this.command = [...options.esphomeCommand];
    this.store = options.store;
    this.log = options.logger;
    this.env = options.env ?? process.env;
    this.historyLimit =
      options.historyLimit !== undefined && Number.isFinite(options.historyLimit) && options.historyLimit >= 0
        ? Math.floor(options.historyLimit)
        : DEFAULT_HISTORY_LIMIT;
    this.outputLimit = positiveInt(options.outputLimit, DEFAULT_OUTPUT_LIMIT);
    this.killGraceMs = options.killGraceMs !== undefined && options.killGraceMs >= 0 ? options.killGraceMs : DEFAULT_KILL_GRACE_MS;
  }

  /**
   * Loads `_firmware_jobs`. Entries that do not look like jobs are skipped
   * one by one; jobs left queued or running by a previous process become
   * failed ("the server stopped while this job was running"), and that is
   * written back. Never throws for bad stored content.
   */
  async init(): Promise<void> {
    let stored: unknown;
    try {
      stored = await this.store.readGlobal(FIRMWARE_JOBS_KEY);
    } catch (err) {
      this.log.warn({ err }, 'could not read firmware job history; starting empty');
      return;
    }
    if (stored === undefined) return;
    let changed = false;
    if (!Array.isArray(stored)) {
      this.log.warn({ type: typeof stored }, `stored ${FIRMWARE_JOBS_KEY} is not a list; ignoring it`);
      // Left in place: the next state change replaces it with a proper list.
      return;
    }
    const loaded: FirmwareJob[] = [];
    for (const item of stored) {
      const job = parseStoredJob(item);
      if (job === null || this.entries.has(job.job_id) || loaded.some((j) => j.job_id === job.job_id)) {
        changed = true;
        continue;
      }
      if (!isFinished(job.status)) {
        job.status = 'failed';
        job.error = INTERRUPTED_ERROR;
        job.completed_at ??= now();
        changed = true;
      }
      loaded.push(job);
    }
    if (loaded.length > 0) {
      // Stored newest first; give them sequence numbers older than anything live.
      const base = -loaded.length;
      loaded.forEach((job, i) => {
        const entry = this.makeEntry(job, base - i);
        entry.resolveDone();
        this.entries.set(job.job_id, entry);
      });
    }
    if (this.trimHistory() > 0) changed = true;
    if (changed) {
      this.log.info({ jobs: loaded.length }, 'firmware job history loaded and repaired');
      await this.persist();
    }
  }

  /**
   * Queues a job and returns it (as queued, or as failed, see below). Synchronous; emits `job_queued`.
   * A device's queued or running job is cancelled first (replaced). When
   * the esphome executable cannot be found the job fails at once (after
   * `job_queued`, with `job_failed`) and replaces nothing.
   * Throws QueueClosedError after stopAccepting(), and a plain Error for an
   * unknown type or a configuration that is not a plain file name.
   */
  enqueue(type: JobType, configuration: string, options: { port?: string | null } = {}): FirmwareJobSummary {
    if (!this.accepting) throw new QueueClosedError();
    if (!(JOB_TYPES as readonly string[]).includes(type)) throw new Error(`unknown job type: ${String(type)}`);
    if (
      typeof configuration !== 'string' ||
      configuration === '' ||
      configuration === '.' ||
      configuration === '..' ||
      /[/\\\0]/.test(configuration)
    ) {
      throw new Error(`invalid configuration name: ${JSON.stringify(configuration)}`);
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

    const missing = this.missingExecutableError();
    if (missing === null) {
      for (const other of this.replaceable(type, configuration)) {
        this.cancelEntry(other, `replaced by a new ${type} job`);
      }
    }

    this.entries.set(job.job_id, entry);
    this.emit({ event: 'job_queued', data: summary(job) });
    if (missing !== null) {
      this.log.warn({ job_id: job.job_id, command: this.command[0] }, 'esphome CLI not found');
      this.finish(entry, 'failed', null, missing);
      return summary(job);
    }
    this.queue.push(job.job_id);
    this.log.info({ job_id: job.job_id, type, configuration }, 'firmware job queued');
    void this.persist();
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

  /** Drops finished jobs from history (and the history file); returns how many. */
  clear(): number {
    const removed: string[] = [];
    for (const [id, entry] of this.entries) {
      if (isFinished(entry.job.status)) {
        this.entries.delete(id);
        removed.push(id);
      }
    }
    if (removed.length > 0) {
      void this.persist();
      this.emit({ event: 'jobs_cleared', data: { job_ids: removed } });
    }
    return removed.length;
  }

  /** Every job event, `job_output` included. Returns an unsubscribe function. */
  subscribe(listener: (event: JobEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Called once for each job that reaches completed, failed or cancelled in this process. */
  onFinished(listener: (job: FirmwareJobSummary) => void): () => void {
    this.finishedListeners.add(listener);
    return () => this.finishedListeners.delete(listener);
  }

  /**
   * Output so far, then live lines, then `onEnd` when the job finishes.
   * For a job already finished: the history is returned and `onEnd` runs
   * right after (in a microtask), with no live lines. Undefined for an
   * unknown job.
   */
  follow(
    jobId: string,
    listener: (line: string) => void,
    onEnd: (job: FirmwareJobSummary) => void,
  ): FollowHandle | undefined {
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
   * and for history to be written. Safe to call more than once.
   */
  shutdown(): Promise<void> {
    this.shutdownPromise ??= this.doShutdown();
    return this.shutdownPromise;
  }

  /** Resolves once every history write asked for so far is done. */
  async flush(): Promise<void> {
    while (this.persisting !== null) await this.persisting;
  }

  /** The running job's child pid, for tests and diagnostics. */
  childPid(jobId: string): number | undefined {
    return this.entries.get(jobId)?.child?.pid;
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
    await this.persist();
    await this.flush();
  }

  private makeEntry(job: FirmwareJob, seq: number): Entry {
    let resolveDone!: () => void;
    const done = new Promise<void>((resolve) => (resolveDone = resolve));
    return {
      job,
      seq,
      child: null,
      cancelReason: null,
      killTimer: null,
      lastErrorLine: null,
      followers: new Set(),
      done,
      resolveDone,
    };
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

  /** null when the esphome executable can be found, else the user-facing error. */
  private missingExecutableError(): string | null {
    const command = this.command[0] as string;
    return resolveExecutable(command, this.env) === null ? esphomeNotFoundMessage(command) : null;
  }

  private cancelEntry(entry: Entry, reason: string): void {
    const job = entry.job;
    if (isFinished(job.status)) return;
    if (job.status === 'queued') {
      const index = this.queue.indexOf(job.job_id);
      if (index >= 0) this.queue.splice(index, 1);
      this.finish(entry, 'cancelled', null, reason);
      return;
    }
    // Running: the first reason wins; a second cancel changes nothing.
    if (entry.cancelReason !== null) return;
    entry.cancelReason = reason;
    const child = entry.child;
    if (child === null || child.pid === undefined) return;
    this.log.info({ job_id: job.job_id, pid: child.pid, reason }, 'stopping firmware job');
    this.signalGroup(child.pid, 'SIGTERM');
    entry.killTimer = setTimeout(() => {
      entry.killTimer = null;
      if (isFinished(job.status)) return;
      this.log.warn({ job_id: job.job_id, pid: child.pid }, 'esphome ignored SIGTERM; sending SIGKILL');
      if (child.pid !== undefined) this.signalGroup(child.pid, 'SIGKILL');
    }, this.killGraceMs);
    entry.killTimer.unref();
  }

  private signalGroup(pid: number, signal: NodeJS.Signals): void {
    try {
      // Negative pid: the whole process group (esphome, PlatformIO, compilers).
      process.kill(-pid, signal);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ESRCH') return; // Already gone.
      this.log.warn({ err, pid, signal }, 'could not signal the esphome process group; signalling the process');
      try {
        process.kill(pid, signal);
      } catch {
        // Gone, or not ours to signal; the exit handler settles the job either way.
      }
    }
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
        if (!isFinished(entry.job.status)) this.finish(entry, 'failed', null, `could not start esphome: ${(err as Error).message}`);
      }
    }
  }

  private start(entry: Entry): void {
    const job = entry.job;
    this.running = entry;
    job.status = 'running';
    job.started_at = now();
    this.emit({ event: 'job_started', data: summary(job) });
    void this.persist();

    const command = this.command[0] as string;
    // Looked up again per job: esphome may have been installed (or removed) since.
    const executable = resolveExecutable(command, this.env);
    if (executable === null) {
      this.finish(entry, 'failed', null, esphomeNotFoundMessage(command));
      return;
    }
    const args = [...this.command.slice(1), ...esphomeArgs(job.job_type, this.configDir, job.configuration, job.port)];
    this.log.info({ job_id: job.job_id, executable, args }, 'firmware job started');

    const child = spawn(executable, args, {
      cwd: this.configDir,
      env: esphomeChildEnv(this.env),
      // Own process group, so a cancel reaches PlatformIO and the compilers too.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    entry.child = child;

    let settled = false;
    let exitCode: number | null = null;
    let exitSignal: NodeJS.Signals | null = null;
    let streamTimer: NodeJS.Timeout | null = null;
    const splitters: LineSplitter[] = [];

    const settle = (spawnError: NodeJS.ErrnoException | null): void => {
      if (settled) return;
      settled = true;
      if (streamTimer !== null) clearTimeout(streamTimer);
      for (const splitter of splitters) splitter.end();
      if (entry.killTimer !== null) {
        clearTimeout(entry.killTimer);
        entry.killTimer = null;
      }
      if (spawnError !== null) {
        this.finish(entry, 'failed', null, this.spawnErrorMessage(command, executable, spawnError));
      } else if (entry.cancelReason !== null) {
        this.finish(entry, 'cancelled', exitCode, entry.cancelReason);
      } else if (exitCode === 0) {
        this.finish(entry, 'completed', 0, null);
      } else {
        this.finish(entry, 'failed', exitCode, this.failureMessage(entry, exitCode, exitSignal));
      }
    };

    for (const stream of [child.stdout, child.stderr]) {
      if (stream === null) continue;
      const splitter = new LineSplitter((line) => this.addLine(entry, line));
      splitters.push(splitter);
      stream.on('data', (chunk: Buffer) => {
        if (!settled) splitter.push(chunk);
      });
      stream.on('error', (err) => this.log.debug({ err, job_id: job.job_id }, 'esphome output stream error'));
    }

    child.on('error', (err: NodeJS.ErrnoException) => {
      if (child.pid === undefined) {
        settle(err);
      } else {
        this.log.warn({ err, job_id: job.job_id }, 'esphome child process error');
      }
    });
    child.on('exit', (code, signal) => {
      exitCode = code;
      exitSignal = signal;
      // 'close' follows once the pipes drain; if something outside the
      // group keeps them open, do not wait forever.
      streamTimer = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        settle(null);
      }, STREAM_CLOSE_GRACE_MS);
      streamTimer.unref();
    });
    child.on('close', (code, signal) => {
      if (child.pid === undefined) return; // Spawn failure: 'error' settles it.
      exitCode ??= code;
      exitSignal ??= signal;
      settle(null);
    });

    // A cancel that arrived between `running` and spawn (cannot happen today,
    // spawn is synchronous) would otherwise be lost.
    if (entry.cancelReason !== null && child.pid !== undefined) {
      const reason = entry.cancelReason;
      entry.cancelReason = null;
      this.cancelEntry(entry, reason);
    }
  }

  private spawnErrorMessage(command: string, executable: string, err: NodeJS.ErrnoException): string {
    if (err.code === 'ENOENT') {
      if (!isDirectory(this.configDir)) return `config directory ${this.configDir} does not exist`;
      // The file is there but exec said ENOENT: its `#!` interpreter is gone
      // (typically the Python of a deleted virtualenv).
      if (resolveExecutable(command, this.env) === executable) {
        return esphomeNotFoundMessage(command, `(${executable}) could not be started: its interpreter is missing`);
      }
      return esphomeNotFoundMessage(command);
    }
    if (err.code === 'EACCES') return esphomeNotFoundMessage(command, 'cannot be run (permission denied)');
    return `could not start esphome: ${err.message}`;
  }

  private failureMessage(entry: Entry, code: number | null, signal: NodeJS.Signals | null): string {
    const base = code !== null ? `esphome exited with code ${code}` : `esphome was killed by ${signal ?? 'a signal'}`;
    return entry.lastErrorLine !== null ? `${base}: ${entry.lastErrorLine}` : base;
  }

  private addLine(entry: Entry, line: string): void {
    const out = entry.job.output;
    out.push(line);
    // Trim in batches so a chatty build does not shift the array on every line.
    if (out.length >= this.outputLimit + Math.max(64, this.outputLimit >> 2)) out.splice(0, out.length - this.outputLimit);
    const plain = stripAnsi(line).trim();
    if (/^ERROR\b/.test(plain)) {
      entry.lastErrorLine = plain.length > MAX_ERROR_LINE ? `${plain.slice(0, MAX_ERROR_LINE)}…` : plain;
    }
    this.emit({ event: 'job_output', data: { job_id: entry.job.job_id, line } });
    for (const follower of entry.followers) this.safeCall(() => follower.onLine(line), 'follow listener');
  }

  /** Moves a job to a final state, tells everyone, persists, and starts the next one. */
  private finish(entry: Entry, status: 'completed' | 'failed' | 'cancelled', exitCode: number | null, error: string | null): void {
    const job = entry.job;
    if (isFinished(job.status)) return;
    if (job.output.length > this.outputLimit) job.output.splice(0, job.output.length - this.outputLimit);
    job.status = status;
    job.completed_at = now();
    job.exit_code = exitCode;
    job.error = error;
    entry.child = null;
    if (this.running === entry) this.running = null;
    this.log.info({ job_id: job.job_id, status, exit_code: exitCode, error }, 'firmware job finished');

    const final = summary(job);
    this.emit({ event: `job_${status}`, data: final });
    const followers = [...entry.followers];
    entry.followers.clear();
    for (const follower of followers) this.safeCall(() => follower.onEnd({ ...final }), 'follow onEnd');
    for (const listener of [...this.finishedListeners]) this.safeCall(() => listener({ ...final }), 'onFinished listener');
    entry.resolveDone();

    this.trimHistory();
    void this.persist();
    this.schedulePump();
  }

  /** Drops the finished jobs beyond historyLimit, earliest finished first; returns how many. */
  private trimHistory(): number {
    const finished = this.sortedEntries()
      .filter((e) => isFinished(e.job.status))
      .sort((a, b) => (b.job.completed_at ?? b.job.created_at) - (a.job.completed_at ?? a.job.created_at));
    const excess = finished.slice(this.historyLimit);
    for (const entry of excess) this.entries.delete(entry.job.job_id);
    return excess.length;
  }

  private emit(event: JobEvent): void {
    for (const listener of [...this.listeners]) this.safeCall(() => listener(event), 'job event listener');
  }

  private safeCall(fn: () => void, what: string): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ err }, `${what} threw`);
    }
  }

  /** What goes into `_firmware_jobs`: active jobs and bounded history, newest first, output trimmed. */
  private snapshot(): FirmwareJob[] {
    return this.sortedEntries().map((entry) => ({
      ...entry.job,
      output: entry.job.output.slice(-PERSISTED_OUTPUT_LINES),
    }));
  }

  /**
   * Writes the snapshot. Coalesced: while a write is in flight further
   * requests just mark the history dirty, and one more write (of the state
   * at that time) follows. Never rejects; failures are logged.
   */
  private persist(): Promise<void> {
    this.persistDirty = true;
    if (this.persisting === null) {
      const run = async (): Promise<void> => {
        try {
          while (this.persistDirty) {
            this.persistDirty = false;
            try {
              await this.store.updateGlobal(FIRMWARE_JOBS_KEY, () => this.snapshot());
            } catch (err) {
              this.log.warn({ err }, 'could not write firmware job history');
            }
          }
        } finally {
          this.persisting = null;
        }
      };
      this.persisting = run();
    }
    return this.persisting;
  }
}
