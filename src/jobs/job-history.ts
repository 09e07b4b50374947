/**
 * Firmware job history on disk: what survives a restart of the server.
 *
 * - Metadata (id, type, status, times, exit code, port, error) lives in our
 *   per-instance state file under `_firmware_jobs`, newest first, written
 *   through the MetadataStore. That file is rewritten on every job state
 *   change, so it carries no output: a build prints thousands of lines.
 * - Each job's output lives in its own log file,
 *   `<data>/.device-builder-jobs/<job_id>.log` (one line per output line,
 *   `\n` terminated, ANSI kept), as the Python Device Builder keeps it. A
 *   running job's lines are appended in batches (never one write per line),
 *   so a job cut short by a crash still shows what it printed; when the job
 *   ends the file is replaced, atomically, by its bounded tail
 *   ({@link PERSISTED_OUTPUT_LINES} lines, {@link PERSISTED_OUTPUT_BYTES}).
 * - A stored entry is checked by a zod schema, one entry at a time: the
 *   identity fields (id, type, status, configuration, created_at) must be
 *   right or that entry alone is skipped; the rest fall back to empty
 *   values. Job ids become file names, so only ids of letters, digits,
 *   `.`, `_` and `-` (starting with a letter or digit) are accepted.
 * - Entries written by earlier versions carry `output` inline; it is moved
 *   into a log file on load and the entry is rewritten without it.
 * - Log files of jobs that left the history are deleted, and on load any
 *   log file no stored job names (a crash between the two writes) goes too.
 *
 * Every log-file operation runs on one serial chain, so a deletion can never
 * overtake the final write of the same job and leave a stray file behind.
 * Nothing here throws for bad stored content or a failed write: history is
 * a convenience, and a job must never fail because its log could not be
 * kept (failures are logged).
 */
import { constants as fsConstants, promises as fsp } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { MetadataStore } from '../metadata/device-metadata.js';
import { JOB_STATUSES, JOB_TYPES, type FirmwareJobSummary } from '../shared/jobs.js';
import type { Logger } from '../util/log.js';

/** The key of the job history in our per-instance state file. */
export const FIRMWARE_JOBS_KEY = '_firmware_jobs';
/** The folder in the data dir holding one `<job_id>.log` per job in history. */
export const JOB_LOG_DIR = '.device-builder-jobs';
/** Output lines kept per job in its log file. */
export const PERSISTED_OUTPUT_LINES = 200;
/** Bytes kept per job in its log file (the newest lines that fit). */
export const PERSISTED_OUTPUT_BYTES = 64 * 1024;
/**
 * A running job's log grows by appends; past this size it is rewritten to
 * its bounded tail before the next append, so a runaway build cannot fill
 * the disk through its log.
 */
export const RUNNING_LOG_MAX_BYTES = 1024 * 1024;
/** How long output lines wait before being appended together. */
export const LOG_FLUSH_MS = 250;

const LOG_SUFFIX = '.log';
const TEMP_MARK = '.tmp-';
const SAFE_JOB_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Whether a job id can name a file in the log folder: no separators, no dot files, at most 128 characters. */
export function isSafeJobId(id: unknown): id is string {
  return typeof id === 'string' && SAFE_JOB_ID.test(id);
}

/** A field that falls back to null when it is missing or has the wrong shape. */
const orNull = <T extends z.ZodType>(schema: T) => schema.nullable().catch(null);

/**
 * One stored job. Identity fields must parse; the others `catch` to null, so
 * a wrong `port` or `exit_code` never costs the whole entry. `output` is only
 * in entries written by earlier versions (non-strings in it are dropped).
 */
export const storedJobSchema = z.object({
  job_id: z.string().refine(isSafeJobId, 'not a safe job id'),
  configuration: z.string().min(1),
  job_type: z.enum(JOB_TYPES),
  status: z.enum(JOB_STATUSES),
  created_at: z.number(),
  started_at: orNull(z.number()),
  completed_at: orNull(z.number()),
  exit_code: orNull(z.int()),
  port: orNull(z.string().min(1)),
  error: orNull(z.string()),
  output: z
    .array(z.unknown())
    .transform((lines) => lines.filter((line): line is string => typeof line === 'string'))
    .optional()
    .catch(undefined),
});

export type StoredJob = z.infer<typeof storedJobSchema>;

/** One stored entry as a job summary plus any inline (legacy) output; null when the entry is not a job. */
export function parseStoredJob(value: unknown): { job: FirmwareJobSummary; legacyOutput: string[] | undefined } | null {
  const parsed = storedJobSchema.safeParse(value);
  if (!parsed.success) return null;
  const { output, ...job } = parsed.data;
  return { job, legacyOutput: output };
}

/** The newest lines that fit both bounds; a single line longer than the byte bound is cut from its start. */
export function boundedTail(lines: readonly string[], maxLines = PERSISTED_OUTPUT_LINES, maxBytes = PERSISTED_OUTPUT_BYTES): string[] {
  const kept: string[] = [];
  let bytes = 0;
  for (let i = lines.length - 1; i >= 0 && kept.length < maxLines; i--) {
    const line = lines[i] as string;
    const size = Buffer.byteLength(line, 'utf8') + 1;
    if (bytes + size > maxBytes) {
      if (kept.length === 0) {
        // Keep the end of the line (where an error message usually is), whole characters only.
        const buf = Buffer.from(line, 'utf8');
        kept.push(
          buf
            .subarray(buf.length - (maxBytes - 1))
            .toString('utf8')
            .replace(/^\uFFFD+/, ''),
        );
      }
      break;
    }
    kept.push(line);
    bytes += size;
  }
  return kept.reverse();
}

function logText(lines: readonly string[]): string {
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

export interface LoadedJob {
  job: FirmwareJobSummary;
  /** From its log file (or inline, for an entry of an earlier version), bounded. */
  output: string[];
}

export interface LoadResult {
  /** Valid entries in stored order (newest first), duplicates dropped. */
  jobs: LoadedJob[];
  /** Something was skipped or migrated: the caller should write the history back. */
  changed: boolean;
}

export interface JobHistoryOptions {
  store: MetadataStore;
  /** The data dir; logs go to `<dataDir>/.device-builder-jobs/`. */
  dataDir: string;
  logger: Logger;
  /** What to write: every job to keep, newest first. Called at write time, so coalesced writes store the latest state. */
  snapshot: () => FirmwareJobSummary[];
}

export class JobHistory {
  readonly logDir: string;
  private readonly store: MetadataStore;
  private readonly log: Logger;
  private readonly snapshot: () => FirmwareJobSummary[];

  private saveDirty = false;
  private saving: Promise<void> | null = null;
  /** The serial chain of log-file operations; never rejects. */
  private io: Promise<void> = Promise.resolve();
  private tempSeq = 0;

  constructor(options: JobHistoryOptions) {
    this.store = options.store;
    this.log = options.logger;
    this.snapshot = options.snapshot;
    this.logDir = path.join(path.resolve(options.dataDir), JOB_LOG_DIR);
  }

  /** The log file of a job; throws for an id that is not a safe file name (callers check first). */
  logPath(jobId: string): string {
    if (!isSafeJobId(jobId)) throw new Error(`unsafe job id: ${JSON.stringify(jobId)}`);
    return path.join(this.logDir, `${jobId}${LOG_SUFFIX}`);
  }

  /**
   * Reads `_firmware_jobs` and each job's output. Entries that do not parse,
   * and repeated ids, are skipped one by one; inline output is migrated to
   * a log file. An unreadable store or a value that is not a list loads as
   * empty and unchanged (the next write replaces it). Never throws.
   */
  async load(): Promise<LoadResult> {
    let stored: unknown;
    try {
      stored = await this.store.readGlobal(FIRMWARE_JOBS_KEY);
    } catch (err) {
      this.log.warn({ err }, 'could not read firmware job history; starting empty');
      return { jobs: [], changed: false };
    }
    if (stored === undefined) return { jobs: [], changed: false };
    if (!Array.isArray(stored)) {
      this.log.warn({ type: typeof stored }, `stored ${FIRMWARE_JOBS_KEY} is not a list; ignoring it`);
      return { jobs: [], changed: false };
    }
    let changed = false;
    const seen = new Set<string>();
    const entries: { job: FirmwareJobSummary; legacyOutput: string[] | undefined }[] = [];
    for (const item of stored) {
      const parsed = parseStoredJob(item);
      if (parsed === null || seen.has(parsed.job.job_id)) {
        changed = true;
        continue;
      }
      seen.add(parsed.job.job_id);
      entries.push(parsed);
    }
    const jobs = await Promise.all(
      entries.map(async ({ job, legacyOutput }): Promise<LoadedJob> => {
        if (legacyOutput !== undefined) changed = true; // rewritten without it
        if (legacyOutput !== undefined && legacyOutput.length > 0) {
          const output = boundedTail(legacyOutput);
          await this.writeLog(job.job_id, output);
          return { job, output };
        }
        return { job, output: await this.readLog(job.job_id) };
      }),
    );
    return { jobs, changed };
  }

  /**
   * Writes the snapshot to `_firmware_jobs`. Coalesced: while a write is in
   * flight further requests only mark the history dirty, and one more write
   * (of the state at that time) follows. Never rejects.
   */
  save(): Promise<void> {
    this.saveDirty = true;
    if (this.saving === null) {
      const run = async (): Promise<void> => {
        try {
          while (this.saveDirty) {
            this.saveDirty = false;
            try {
              await this.store.updateGlobal(FIRMWARE_JOBS_KEY, () => this.snapshot());
            } catch (err) {
              this.log.warn({ err }, 'could not write firmware job history');
            }
          }
        } finally {
          this.saving = null;
        }
      };
      this.saving = run();
    }
    return this.saving;
  }

  /** A writer that appends a running job's lines to its log in batches; `finish()` leaves the bounded tail. */
  openLog(jobId: string): JobLogWriter {
    return new JobLogWriter(this, this.logPath(jobId));
  }

  /** Replaces a job's log with `lines` (bounded), atomically. Resolves when written (or failed and logged). */
  writeLog(jobId: string, lines: readonly string[]): Promise<void> {
    const file = this.logPath(jobId);
    return this.enqueue(() => this.replaceFile(file, logText(boundedTail(lines))), 'could not write a job log');
  }

  /** Deletes the log files of jobs that left the history. */
  removeLogs(jobIds: Iterable<string>): Promise<void> {
    const files = [...jobIds].filter(isSafeJobId).map((id) => this.logPath(id));
    if (files.length === 0) return this.io;
    return this.enqueue(async () => {
      for (const file of files) await fsp.rm(file, { force: true });
    }, 'could not delete a job log');
  }

  /** Deletes log files (and leftover temp files) of jobs not in `keep`. */
  sweep(keep: ReadonlySet<string>): Promise<void> {
    return this.enqueue(async () => {
      let names: string[];
      try {
        names = await fsp.readdir(this.logDir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      for (const name of names) {
        const stray = name.includes(TEMP_MARK) || (name.endsWith(LOG_SUFFIX) && !keep.has(name.slice(0, -LOG_SUFFIX.length)));
        if (stray) await fsp.rm(path.join(this.logDir, name), { force: true });
      }
    }, 'could not tidy the job log folder');
  }

  /** Resolves once every history and log write asked for so far is done. */
  async flush(): Promise<void> {
    for (;;) {
      if (this.saving !== null) {
        await this.saving;
        continue;
      }
      const io = this.io;
      await io;
      if (io === this.io && this.saving === null) return;
    }
  }

  /** Runs `op` after every log operation queued before it. */
  enqueue(op: () => Promise<void>, failure: string): Promise<void> {
    this.io = this.io.then(op).catch((err: unknown) => this.log.warn({ err }, failure));
    return this.io;
  }

  /** Appends text to a log file (never through a symlink), creating the folder as needed. Returns the file's new size. */
  async appendFile(file: string, text: string): Promise<number> {
    await fsp.mkdir(this.logDir, { recursive: true });
    const handle = await fsp.open(file, fsConstants.O_WRONLY | fsConstants.O_APPEND | fsConstants.O_CREAT | fsConstants.O_NOFOLLOW, 0o600);
    try {
      await handle.write(text);
      return (await handle.stat()).size;
    } finally {
      await handle.close();
    }
  }

  /** Temp file (exclusive create, so never through a symlink) + rename. */
  async replaceFile(file: string, text: string): Promise<void> {
    await fsp.mkdir(this.logDir, { recursive: true });
    const temp = `${file}${TEMP_MARK}${process.pid}-${this.tempSeq++}`;
    try {
      await fsp.writeFile(temp, text, { flag: 'wx', mode: 0o600 });
      await fsp.rename(temp, file);
    } catch (err) {
      await fsp.rm(temp, { force: true });
      throw err;
    }
  }

  /**
   * A job's stored output: the newest lines of its log file within the
   * bounds. A file left over-long (a crash while the job ran) is read from
   * its end only and rewritten to the bounded tail. Missing or unreadable: [].
   */
  private async readLog(jobId: string): Promise<string[]> {
    const file = this.logPath(jobId);
    let text: string;
    let oversized = false;
    try {
      // O_NONBLOCK: a FIFO planted as a log file must not hang the load.
      const handle = await fsp.open(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
      try {
        const stat = await handle.stat();
        if (!stat.isFile()) return [];
        const length = Math.min(stat.size, PERSISTED_OUTPUT_BYTES);
        oversized = stat.size > PERSISTED_OUTPUT_BYTES;
        const buffer = Buffer.alloc(length);
        const { bytesRead } = await handle.read(buffer, 0, length, stat.size - length);
        text = buffer.subarray(0, bytesRead).toString('utf8');
      } finally {
        await handle.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ err, job_id: jobId }, 'could not read a job log');
      return [];
    }
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop(); // after the last `\n`; an unterminated last line (a crash mid-append) is kept
    if (oversized) lines.shift(); // read from the middle of a line
    const output = boundedTail(lines);
    if (oversized || output.length < lines.length) void this.writeLog(jobId, output);
    return output;
  }
}

/**
 * A running job's log: lines are buffered and appended every
 * {@link LOG_FLUSH_MS}; the newest {@link PERSISTED_OUTPUT_LINES} are also
 * kept here, for compaction and the final bounded file.
 */
export class JobLogWriter {
  private pending: string[] = [];
  private readonly tail: string[] = [];
  private fileBytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly history: JobHistory,
    readonly file: string,
  ) {}

  append(line: string): void {
    if (this.closed) return;
    this.pending.push(line);
    this.tail.push(line);
    // Trimmed in batches so a chatty build does not shift the array on every line.
    if (this.tail.length >= PERSISTED_OUTPUT_LINES * 2) this.tail.splice(0, this.tail.length - PERSISTED_OUTPUT_LINES);
    if (this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.history.enqueue(() => this.writePending(), 'could not append to a job log');
      }, LOG_FLUSH_MS);
      this.timer.unref();
    }
  }

  /** Stops appending and replaces the file with the bounded tail. Resolves when written. */
  finish(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.pending = [];
    const text = logText(boundedTail(this.tail));
    return this.history.enqueue(() => this.history.replaceFile(this.file, text), 'could not write a job log');
  }

  private async writePending(): Promise<void> {
    if (this.closed || this.pending.length === 0) return;
    const text = logText(this.pending);
    this.pending = [];
    if (this.fileBytes + Buffer.byteLength(text, 'utf8') > RUNNING_LOG_MAX_BYTES) {
      const compact = logText(boundedTail(this.tail));
      await this.history.replaceFile(this.file, compact);
      this.fileBytes = Buffer.byteLength(compact, 'utf8');
      return;
    }
    this.fileBytes = await this.history.appendFile(this.file, text);
  }
}
