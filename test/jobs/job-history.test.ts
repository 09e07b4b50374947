/**
 * Job history on disk (src/jobs/job-history.ts): the zod schema of a stored
 * job, metadata-only `_firmware_jobs`, bounded per-job log files, their
 * removal with the history, and entries of earlier versions with inline
 * output. The queue-level view of the same (reload, trim, clear) is in
 * job-queue.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  boundedTail,
  FIRMWARE_JOBS_KEY,
  isSafeJobId,
  JOB_LOG_DIR,
  JobHistory,
  LOG_FLUSH_MS,
  parseStoredJob,
  PERSISTED_OUTPUT_BYTES,
  PERSISTED_OUTPUT_LINES,
} from '../../src/jobs/job-history.js';
import { JobQueue } from '../../src/jobs/job-queue.js';
import type { FirmwareJob, FirmwareJobSummary } from '../../src/shared/jobs.js';
import { SIDECAR_FILE, SidecarStore } from '../../src/sidecar/sidecar-store.js';
import { cleanupTempDirs, makeTempDir, readJson, silentLogger } from '../helpers/fs-fixtures.js';
import { jobSummary as summaryOf } from '../helpers/jobs.js';

afterEach(() => cleanupTempDirs());

interface Setup {
  dir: string;
  dataDir: string;
  logDir: string;
  history: JobHistory;
  jobs: FirmwareJobSummary[];
}

function setup(stored?: unknown): Setup {
  const dir = makeTempDir('dbts-history-');
  if (stored !== undefined) fs.writeFileSync(path.join(dir, SIDECAR_FILE), JSON.stringify({ [FIRMWARE_JOBS_KEY]: stored }));
  const dataDir = path.join(dir, 'data');
  const jobs: FirmwareJobSummary[] = [];
  const history = new JobHistory({
    store: new SidecarStore(dir, { logger: silentLogger }),
    dataDir,
    logger: silentLogger,
    snapshot: () => jobs,
  });
  return { dir, dataDir, logDir: path.join(dataDir, JOB_LOG_DIR), history, jobs };
}

function storedOf(dir: string): unknown {
  return (readJson(path.join(dir, SIDECAR_FILE)) as Record<string, unknown>)[FIRMWARE_JOBS_KEY];
}

function readLines(file: string): string[] {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  expect(lines.pop()).toBe('');
  return lines;
}

describe('the stored-job schema', () => {
  it('accepts a job and drops unknown keys', () => {
    const parsed = parseStoredJob({ ...summaryOf(), extra: 1 });
    expect(parsed).toEqual({ job: summaryOf(), legacyOutput: undefined });
  });

  it.each([
    ['not an object', 'x'],
    ['an array', []],
    ['no id', { ...summaryOf(), job_id: undefined }],
    ['an empty id', summaryOf({ job_id: '' })],
    ['an id with a slash', summaryOf({ job_id: '../../etc/passwd' })],
    ['an id with a backslash', summaryOf({ job_id: 'a\\b' })],
    ['a dot-file id', summaryOf({ job_id: '.hidden' })],
    ['an id of 129 characters', summaryOf({ job_id: 'a'.repeat(129) })],
    ['an unknown type', summaryOf({ job_type: 'flash' as never })],
    ['an unknown status', summaryOf({ status: 'exploded' as never })],
    ['an empty configuration', summaryOf({ configuration: '' })],
    ['a created_at that is text', summaryOf({ created_at: 'yesterday' as never })],
    ['a created_at of null', summaryOf({ created_at: null as never })],
  ])('rejects an entry with %s', (_what, value) => {
    expect(parseStoredJob(value)).toBeNull();
  });

  it('falls back to empty values for the non-identity fields', () => {
    const parsed = parseStoredJob({ ...summaryOf(), exit_code: 1.5, port: '', error: {}, started_at: 'x', completed_at: undefined });
    expect(parsed?.job).toMatchObject({ exit_code: null, port: null, error: null, started_at: null, completed_at: null });
    expect(parseStoredJob({ ...summaryOf(), output: 'not a list' })?.legacyOutput).toBeUndefined();
    expect(parseStoredJob({ ...summaryOf(), output: ['a', 1, null, 'b'] })?.legacyOutput).toEqual(['a', 'b']);
  });

  it('accepts the ids earlier versions wrote (UUIDs) and refuses path-like ones', () => {
    expect(isSafeJobId('0b3f4a52-6f1e-4c55-9a4e-2f1f0c3d9e11')).toBe(true);
    expect(isSafeJobId('job-1')).toBe(true);
    for (const bad of ['', '.', '..', 'a/b', 'a\0b', '.log', 42, null]) expect(isSafeJobId(bad)).toBe(false);
  });
});

describe('boundedTail', () => {
  it('keeps the newest lines within the line and byte bounds', () => {
    const lines = Array.from({ length: 500 }, (_, i) => `line ${i}`);
    expect(boundedTail(lines)).toEqual(lines.slice(-PERSISTED_OUTPUT_LINES));
    const wide = Array.from({ length: 100 }, (_, i) => `${i}`.padEnd(1000, 'x'));
    const kept = boundedTail(wide);
    expect(kept.length).toBeLessThan(100);
    expect(kept.at(-1)).toBe(wide.at(-1));
    expect(kept.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0)).toBeLessThanOrEqual(PERSISTED_OUTPUT_BYTES);
  });

  it('cuts a single over-long line to its end, whole characters only', () => {
    const [cut] = boundedTail([`${'é'.repeat(PERSISTED_OUTPUT_BYTES)}END`]);
    expect(cut?.endsWith('END')).toBe(true);
    expect(cut).not.toContain('\uFFFD');
    expect(Buffer.byteLength(cut as string) + 1).toBeLessThanOrEqual(PERSISTED_OUTPUT_BYTES);
  });
});

describe('JobHistory load', () => {
  it('skips bad entries one by one, keeps the rest in order, and asks for a rewrite', async () => {
    const { history } = setup([1, summaryOf({ job_id: 'a' }), { job_id: 'x/y' }, summaryOf({ job_id: 'b' }), summaryOf({ job_id: 'a' })]);
    const { jobs, changed } = await history.load();
    expect(jobs.map((j) => j.job.job_id)).toEqual(['a', 'b']);
    expect(changed).toBe(true);
  });

  it('reports no change for a clean history, and empty for a missing or non-list one', async () => {
    const clean = setup([summaryOf()]);
    expect(await clean.history.load()).toEqual({ jobs: [{ job: summaryOf(), output: [] }], changed: false });
    expect(await setup().history.load()).toEqual({ jobs: [], changed: false });
    expect(await setup({ job_id: 'x' }).history.load()).toEqual({ jobs: [], changed: false });
  });

  it('moves inline output of earlier versions into a bounded log file', async () => {
    const output = Array.from({ length: 300 }, (_, i) => `\x1b[32mline ${i}\x1b[0m`);
    const { history, logDir } = setup([
      { ...summaryOf({ job_id: 'old' }), output },
      { ...summaryOf({ job_id: 'empty' }), output: [] },
    ]);
    const { jobs, changed } = await history.load();
    expect(changed).toBe(true);
    expect(jobs[0]?.output).toEqual(output.slice(-PERSISTED_OUTPUT_LINES));
    expect(jobs[1]?.output).toEqual([]);
    await history.flush();
    expect(readLines(path.join(logDir, 'old.log'))).toEqual(output.slice(-PERSISTED_OUTPUT_LINES));
    expect(fs.existsSync(path.join(logDir, 'empty.log'))).toBe(false);
  });

  it('reads each job output from its log file, and compacts a log a crash left over-long', async () => {
    const { history, logDir } = setup([summaryOf({ job_id: 'short' }), summaryOf({ job_id: 'long' })]);
    fs.mkdirSync(logDir, { recursive: true });
    fs.writeFileSync(path.join(logDir, 'short.log'), 'one\n\nthree\n');
    const long = Array.from({ length: 20_000 }, (_, i) => `building file ${i}`);
    fs.writeFileSync(path.join(logDir, 'long.log'), `${long.join('\n')}\nunterminated`);
    const { jobs } = await history.load();
    expect(jobs[0]?.output).toEqual(['one', '', 'three']);
    expect(jobs[1]?.output).toEqual([...long, 'unterminated'].slice(-PERSISTED_OUTPUT_LINES));
    await history.flush();
    expect(readLines(path.join(logDir, 'long.log'))).toEqual(jobs[1]?.output);
  });

  it('never reads a log through a symlink', async () => {
    const { history, logDir, dir } = setup([summaryOf({ job_id: 'linked' })]);
    fs.mkdirSync(logDir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'secret.txt'), 'secret\n');
    fs.symlinkSync(path.join(dir, 'secret.txt'), path.join(logDir, 'linked.log'));
    const { jobs } = await history.load();
    expect(jobs[0]?.output).toEqual([]);
  });
});

describe('JobHistory writes', () => {
  it('saves metadata only, never output', async () => {
    const { history, jobs, dir } = setup();
    jobs.push(summaryOf());
    await history.save();
    expect(storedOf(dir)).toEqual([summaryOf()]);
  });

  it('appends a running job in batches, then leaves the bounded tail', async () => {
    const { history, logDir } = setup();
    const writer = history.openLog('run-1');
    const file = path.join(logDir, 'run-1.log');
    writer.append('first');
    writer.append('second');
    expect(fs.existsSync(file)).toBe(false); // batched, not per line
    await new Promise((resolve) => setTimeout(resolve, LOG_FLUSH_MS * 2));
    await history.flush();
    expect(readLines(file)).toEqual(['first', 'second']); // visible while running: survives a crash
    const lines = Array.from({ length: 1000 }, (_, i) => `line ${i}`);
    for (const line of lines) writer.append(line);
    await writer.finish();
    expect(readLines(file)).toEqual(lines.slice(-PERSISTED_OUTPUT_LINES));
    writer.append('after the end');
    await new Promise((resolve) => setTimeout(resolve, LOG_FLUSH_MS * 2));
    await history.flush();
    expect(readLines(file)).toEqual(lines.slice(-PERSISTED_OUTPUT_LINES));
  });

  it('removes log files, and sweeps those of jobs not in history', async () => {
    const { history, logDir } = setup();
    await history.writeLog('keep', ['a']);
    await history.writeLog('gone', ['b']);
    await history.writeLog('stray', ['c']);
    fs.writeFileSync(path.join(logDir, 'keep.log.tmp-1-1'), 'half');
    fs.writeFileSync(path.join(logDir, 'notes.txt'), 'not ours to judge');
    await history.removeLogs(['gone', '../escape']);
    expect(fs.existsSync(path.join(logDir, 'gone.log'))).toBe(false);
    await history.sweep(new Set(['keep']));
    expect(fs.readdirSync(logDir).sort()).toEqual(['keep.log', 'notes.txt']);
  });

  it('refuses an unsafe id as a file name', () => {
    const { history } = setup();
    expect(() => history.logPath('../x')).toThrow(/unsafe job id/);
    expect(() => history.openLog('a/b')).toThrow(/unsafe job id/);
  });
});

describe('the queue keeps log files with its history', () => {
  it('deletes a job log when the job leaves history (trim and clear), and sweeps strays at init', async () => {
    const { dir, dataDir, logDir } = setup([
      summaryOf({ job_id: 'old-1', created_at: 1, completed_at: 2 }),
      summaryOf({ job_id: 'old-2', created_at: 3, completed_at: 4 }),
      summaryOf({ job_id: 'old-3', created_at: 5, completed_at: 6 }),
    ]);
    fs.mkdirSync(logDir, { recursive: true });
    for (const id of ['old-1', 'old-2', 'old-3', 'orphan']) fs.writeFileSync(path.join(logDir, `${id}.log`), `${id}\n`);
    const queue = new JobQueue({
      configDir: dir,
      dataDir,
      esphomeCommand: ['definitely-not-esphome'],
      store: new SidecarStore(dir, { logger: silentLogger }),
      logger: silentLogger,
      historyLimit: 2,
      env: { PATH: '' },
    });
    await queue.init();
    await queue.flush();
    expect(queue.list().map((j) => j.job_id)).toEqual(['old-3', 'old-2']);
    expect(queue.get('old-3')?.output).toEqual(['old-3']);
    expect(fs.readdirSync(logDir).sort()).toEqual(['old-2.log', 'old-3.log']);
    expect((storedOf(dir) as FirmwareJob[]).every((j) => !('output' in j))).toBe(true);

    expect(queue.clear()).toBe(2);
    await queue.flush();
    expect(fs.readdirSync(logDir)).toEqual([]);
    await queue.shutdown();
  });
});
