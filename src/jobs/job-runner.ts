/**
 * Runs one firmware job's `esphome` process and reports how it ended. The
 * queue decides what runs when; this module owns everything about the
 * child process, so the queue never touches a pid or a signal.
 *
 * - `esphome --dashboard <command> ...` (argv from esphome-command.ts) runs
 *   with cwd = the config dir, in its own process group (`detached`), so a
 *   stop reaches PlatformIO and the compilers it started, not just esphome.
 * - The executable is looked up again for every job: esphome may have been
 *   installed, removed or broken (a deleted virtualenv) since the last one.
 * - stdout and stderr are merged into one line stream, one LineSplitter per
 *   stream so they never splice mid-line (split on `\n`, `\r\n`, `\r`; ANSI
 *   kept). The last `ERROR ...` line, ANSI stripped, goes into the failure
 *   message, because that is what the user needs to read first.
 * - `stop(reason)` sends SIGTERM to the group and SIGKILL after the grace
 *   period; the job ends as cancelled only once the process has exited, so
 *   the queue never starts the next job on top of it.
 * - The end is reported once: after exit and the pipes closing, or
 *   {@link STREAM_CLOSE_GRACE_MS} after exit when something outside the
 *   group (a daemonised grandchild) holds the pipes open.
 */
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import path from 'node:path';
import { stripAnsi } from '../shared/ansi.js';
import type { FirmwareJobSummary } from '../shared/jobs.js';
import type { Logger } from '../util/log.js';
import { esphomeArgs, esphomeChildEnv, esphomeNotFoundMessage, resolveExecutable } from './esphome-command.js';
import { LineSplitter } from './line-splitter.js';

export const DEFAULT_KILL_GRACE_MS = 3000;
/**
 * How long to wait for stdout/stderr to close after the process exited
 * before giving up on them.
 */
export const STREAM_CLOSE_GRACE_MS = 2000;
/** A long ERROR line is cut to this many characters in `error`. */
const MAX_ERROR_LINE = 300;

/** How a job ended, as the queue records it. */
export interface RunResult {
  status: 'completed' | 'failed' | 'cancelled';
  exitCode: number | null;
  error: string | null;
}

export interface RunHandlers {
  /** One output line (stdout and stderr merged), in order. */
  onLine: (line: string) => void;
  /** Called exactly once; possibly synchronously from `run()` when the executable has vanished. */
  onEnd: (result: RunResult) => void;
}

/** A started job's process. */
export interface RunningJob {
  /** Undefined when the process could not be started. */
  readonly pid: number | undefined;
  /** TERM to the process group, KILL after the grace period; the first reason wins and becomes `error`. */
  stop(reason: string): void;
}

export interface JobRunnerOptions {
  /** Absolute; cwd of the child process and the clean-all argument. */
  configDir: string;
  /** e.g. `['esphome']` or `['python3', '-m', 'esphome']`. */
  esphomeCommand: string[];
  /** Base env for children; the PATH lookup uses this env's PATH. */
  env: NodeJS.ProcessEnv;
  /** SIGTERM → SIGKILL delay on stop. */
  killGraceMs: number;
  logger: Logger;
}

export type RunnableJob = Pick<FirmwareJobSummary, 'job_id' | 'job_type' | 'configuration' | 'port'>;

function isDirectory(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

export class JobRunner {
  private readonly configDir: string;
  private readonly command: string[];
  private readonly env: NodeJS.ProcessEnv;
  private readonly killGraceMs: number;
  private readonly log: Logger;

  constructor(options: JobRunnerOptions) {
    if (options.esphomeCommand.length === 0 || options.esphomeCommand[0] === '') {
      throw new Error('esphomeCommand must name an executable');
    }
    this.configDir = path.resolve(options.configDir);
    this.command = [...options.esphomeCommand];
    this.env = options.env;
    this.killGraceMs = options.killGraceMs;
    this.log = options.logger;
  }

  /** The command name as given (`esphome`, or a path). */
  get commandName(): string {
    return this.command[0] as string;
  }

  /** null when the esphome executable can be found, else the user-facing error. */
  missingExecutableError(): string | null {
    const command = this.commandName;
    return resolveExecutable(command, this.env) === null ? esphomeNotFoundMessage(command) : null;
  }

  /**
   * Starts the job's process. Throws only when `spawn` itself throws; every
   * other failure (executable gone, exec error, non-zero exit, signal)
   * arrives through `onEnd`.
   */
  run(job: RunnableJob, handlers: RunHandlers): RunningJob {
    const command = this.commandName;
    const executable = resolveExecutable(command, this.env);
    if (executable === null) {
      handlers.onEnd({ status: 'failed', exitCode: null, error: esphomeNotFoundMessage(command) });
      return { pid: undefined, stop: () => undefined };
    }
    const args = [...this.command.slice(1), ...esphomeArgs(job.job_type, this.configDir, job.configuration, job.port)];
    this.log.info({ job_id: job.job_id, executable, args }, 'firmware job started');

    const child = spawn(executable, args, {
      cwd: this.configDir,
      env: esphomeChildEnv(this.env),
      // Own process group, so a stop reaches PlatformIO and the compilers too.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });

    let settled = false;
    let stopReason: string | null = null;
    let killTimer: NodeJS.Timeout | null = null;
    let exitCode: number | null = null;
    let exitSignal: NodeJS.Signals | null = null;
    let streamTimer: NodeJS.Timeout | null = null;
    let lastErrorLine: string | null = null;
    const splitters: LineSplitter[] = [];

    const onLine = (line: string): void => {
      // Most lines carry no ERROR; only those are stripped and checked.
      if (line.includes('ERROR')) {
        const plain = stripAnsi(line).trim();
        if (/^ERROR\b/.test(plain)) lastErrorLine = plain.length > MAX_ERROR_LINE ? `${plain.slice(0, MAX_ERROR_LINE)}…` : plain;
      }
      handlers.onLine(line);
    };

    const settle = (spawnError: NodeJS.ErrnoException | null): void => {
      if (settled) return;
      settled = true;
      if (streamTimer !== null) clearTimeout(streamTimer);
      if (killTimer !== null) clearTimeout(killTimer);
      for (const splitter of splitters) splitter.end();
      let result: RunResult;
      if (spawnError !== null) {
        result = { status: 'failed', exitCode: null, error: this.spawnErrorMessage(executable, spawnError) };
      } else if (stopReason !== null) {
        result = { status: 'cancelled', exitCode, error: stopReason };
      } else if (exitCode === 0) {
        result = { status: 'completed', exitCode: 0, error: null };
      } else {
        const base = exitCode !== null ? `esphome exited with code ${exitCode}` : `esphome was killed by ${exitSignal ?? 'a signal'}`;
        result = { status: 'failed', exitCode, error: lastErrorLine !== null ? `${base}: ${lastErrorLine}` : base };
      }
      handlers.onEnd(result);
    };

    for (const stream of [child.stdout, child.stderr]) {
      if (stream === null) continue;
      const splitter = new LineSplitter(onLine);
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

    const stop = (reason: string): void => {
      if (settled || stopReason !== null) return;
      stopReason = reason;
      const pid = child.pid;
      if (pid === undefined) return; // Never started: 'error' settles it as failed.
      this.log.info({ job_id: job.job_id, pid, reason }, 'stopping firmware job');
      this.signalGroup(pid, 'SIGTERM');
      killTimer = setTimeout(() => {
        killTimer = null;
        if (settled) return;
        this.log.warn({ job_id: job.job_id, pid }, 'esphome ignored SIGTERM; sending SIGKILL');
        this.signalGroup(pid, 'SIGKILL');
      }, this.killGraceMs);
      killTimer.unref();
    };

    return {
      get pid() {
        return settled ? undefined : child.pid;
      },
      stop,
    };
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

  private spawnErrorMessage(executable: string, err: NodeJS.ErrnoException): string {
    const command = this.commandName;
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
}
