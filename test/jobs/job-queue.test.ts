/**
 * The firmware job queue against the fake esphome CLI (test/fixtures/bin
 * first on PATH): command lines, line splitting, FIFO, cancel and SIGKILL
 * escalation, replacement, a missing CLI, sidecar history and shutdown.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { esphomeArgs, esphomeChildEnv, esphomeNotFoundMessage, resolveExecutable } from '../../src/jobs/esphome-command.js';
import {
  CANCELLED_BY_USER,
  FIRMWARE_JOBS_KEY,
  INTERRUPTED_ERROR,
  JOB_LOG_DIR,
  JobQueue,
  JobQueueError,
  PERSISTED_OUTPUT_LINES,
  QueueClosedError,
  SHUTDOWN_ERROR,
  type JobQueueOptions,
} from '../../src/jobs/job-queue.js';
import { LineSplitter } from '../../src/jobs/line-splitter.js';
import type { FirmwareJob, FirmwareJobSummary, JobEvent } from '../../src/shared/jobs.js';
import { SIDECAR_FILE, SidecarStore } from '../../src/sidecar/sidecar-store.js';
import { cleanupTempDirs, makeTempDir, readJson, silentLogger } from '../helpers/fs-fixtures.js';
import { jobSummary, pidGone } from '../helpers/jobs.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const FAKE_BIN = path.join(REPO, 'test', 'fixtures', 'bin');
const FAKE_ESPHOME = path.join(FAKE_BIN, 'esphome');
const BASE_PATH = process.env['PATH'] ?? '';

const queues: JobQueue[] = [];

afterEach(async () => {
  await Promise.all(queues.splice(0).map((q) => q.shutdown()));
  cleanupTempDirs();
});

function yamlText(name: string, extra = ''): string {
  return `esphome:\n  name: ${name}\nesp32:\n  board: esp32dev\n${extra}`;
}

function configWith(...names: string[]): string {
  const dir = makeTempDir('dbts-jobs-');
  for (const name of names) fs.writeFileSync(path.join(dir, `${name}.yaml`), yamlText(name));
  return dir;
}

function writeYaml(dir: string, name: string, extra = ''): void {
  fs.writeFileSync(path.join(dir, `${name}.yaml`), yamlText(name, extra));
}

function makeQueue(configDir: string, options: Partial<JobQueueOptions> & { extraEnv?: Record<string, string>; path?: string } = {}): JobQueue {
  const { extraEnv, path: searchPath, ...rest } = options;
  const queue = new JobQueue({
    configDir,
    dataDir: dataDirOf(configDir),
    esphomeCommand: ['esphome'],
    store: new SidecarStore(configDir, { logger: silentLogger }),
    logger: silentLogger,
    env: { ...process.env, PATH: searchPath ?? `${FAKE_BIN}${path.delimiter}${BASE_PATH}`, ...extraEnv },
    ...rest,
  });
  queues.push(queue);
  return queue;
}

/** An `esphome` in another folder that runs the fake (a symlink would break its repo lookup). */
function installWrapper(target: string): void {
  fs.writeFileSync(target, `#!/bin/sh\nexec '${FAKE_ESPHOME}' "$@"\n`, { mode: 0o755 });
}

function record(queue: JobQueue): JobEvent[] {
  const events: JobEvent[] = [];
  queue.subscribe((e) => events.push(e));
  return events;
}

function jobIdOf(event: JobEvent): string {
  return 'job_id' in event.data ? event.data.job_id : '';
}

/** Resolves with the first event matching `predicate` from now on. */
function nextEvent(queue: JobQueue, predicate: (e: JobEvent) => boolean, timeoutMs = 15_000): Promise<JobEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error('timed out waiting for a job event'));
    }, timeoutMs);
    const stop = queue.subscribe((e) => {
      if (!predicate(e)) return;
      clearTimeout(timer);
      stop();
      resolve(e);
    });
  });
}

function lineMatching(queue: JobQueue, jobId: string, pattern: RegExp): Promise<JobEvent> {
  return nextEvent(queue, (e) => e.event === 'job_output' && e.data.job_id === jobId && pattern.test(e.data.line));
}

async function finished(queue: JobQueue, jobId: string): Promise<FirmwareJob> {
  const done = await queue.waitFor(jobId);
  expect(done).toBeDefined();
  return queue.get(jobId) as FirmwareJob;
}

/** ESPHome's data dir for a config dir (no add-on, no ESPHOME_DATA_DIR), where job logs go. */
function dataDirOf(configDir: string): string {
  return path.join(configDir, '.esphome');
}

function logFile(configDir: string, jobId: string): string {
  return path.join(dataDirOf(configDir), JOB_LOG_DIR, `${jobId}.log`);
}

/** A job's log file as lines; null when there is none. */
function logLines(configDir: string, jobId: string): string[] | null {
  const file = logFile(configDir, jobId);
  if (!fs.existsSync(file)) return null;
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  expect(lines.pop()).toBe('');
  return lines;
}

function storedJobs(configDir: string): unknown {
  return (readJson(path.join(configDir, SIDECAR_FILE)) as Record<string, unknown>)[FIRMWARE_JOBS_KEY];
}

function writeSidecar(configDir: string, data: unknown): void {
  fs.writeFileSync(path.join(configDir, SIDECAR_FILE), JSON.stringify(data));
}

function storedJob(overrides: Partial<FirmwareJob>): FirmwareJob {
  return { ...jobSummary(), output: ['INFO Successfully compiled program.'], ...overrides };
}

describe('esphomeArgs', () => {
  const dir = '/config/esphome';
  it('builds the exact command line for every job type', () => {
    expect(esphomeArgs('compile', dir, 'kitchen.yaml', null)).toEqual(['--dashboard', 'compile', '/config/esphome/kitchen.yaml']);
    expect(esphomeArgs('upload', dir, 'kitchen.yaml', null)).toEqual(['--dashboard', 'upload', '/config/esphome/kitchen.yaml']);
    expect(esphomeArgs('upload', dir, 'kitchen.yaml', '/dev/ttyUSB0')).toEqual([
      '--dashboard',
      'upload',
      '--device',
      '/dev/ttyUSB0',
      '/config/esphome/kitchen.yaml',
    ]);
    expect(esphomeArgs('install', dir, 'kitchen.yaml', null)).toEqual(['--dashboard', 'run', '--no-logs', '/config/esphome/kitchen.yaml']);
    expect(esphomeArgs('install', dir, 'kitchen.yaml', '192.168.1.42')).toEqual([
      '--dashboard',
      'run',
      '--no-logs',
      '--device',
      '192.168.1.42',
      '/config/esphome/kitchen.yaml',
    ]);
    expect(esphomeArgs('clean', dir, 'kitchen.yaml', null)).toEqual(['--dashboard', 'clean', '/config/esphome/kitchen.yaml']);
    expect(esphomeArgs('reset_build_env', dir, 'esphome', null)).toEqual(['--dashboard', 'clean-all', '/config/esphome']);
  });

  it('ignores the port for jobs that take none, and an empty port', () => {
    expect(esphomeArgs('compile', dir, 'kitchen.yaml', '/dev/ttyUSB0')).toEqual(['--dashboard', 'compile', '/config/esphome/kitchen.yaml']);
    expect(esphomeArgs('clean', dir, 'kitchen.yaml', 'x')).toEqual(['--dashboard', 'clean', '/config/esphome/kitchen.yaml']);
    expect(esphomeArgs('reset_build_env', dir, 'esphome', 'x')).toEqual(['--dashboard', 'clean-all', '/config/esphome']);
    expect(esphomeArgs('upload', dir, 'kitchen.yaml', '')).toEqual(['--dashboard', 'upload', '/config/esphome/kitchen.yaml']);
  });

  it('makes the paths absolute', () => {
    const args = esphomeArgs('compile', 'relative/dir', 'kitchen.yaml', null);
    expect(args[2]).toBe(path.resolve('relative/dir', 'kitchen.yaml'));
  });
});

describe('esphome-command helpers', () => {
  it('adds the colour and unbuffered variables to the base env', () => {
    const env = esphomeChildEnv({ PATH: '/bin', FOO: 'bar' });
    expect(env).toMatchObject({
      PATH: '/bin',
      FOO: 'bar',
      PYTHONUNBUFFERED: '1',
      PLATFORMIO_FORCE_ANSI: 'true',
      FORCE_COLOR: '1',
      CLICOLOR_FORCE: '1',
    });
  });

  it('resolves a bare name on the given PATH and a path with a slash as is', () => {
    expect(resolveExecutable('esphome', { PATH: `/nonexistent${path.delimiter}${FAKE_BIN}` })).toBe(FAKE_ESPHOME);
    expect(resolveExecutable('esphome', { PATH: '/nonexistent' })).toBeNull();
    expect(resolveExecutable('esphome', {})).toBeNull();
    expect(resolveExecutable(FAKE_ESPHOME, { PATH: '' })).toBe(FAKE_ESPHOME);
    expect(resolveExecutable('./esphome', { PATH: '' }, FAKE_BIN)).toBe(FAKE_ESPHOME);
    // A folder or a file without the executable bit is not a command.
    expect(resolveExecutable('bin', { PATH: path.join(REPO, 'test', 'fixtures') })).toBeNull();
    expect(resolveExecutable('package.json', { PATH: REPO })).toBeNull();
  });

  it('explains how to fix a missing CLI', () => {
    const message = esphomeNotFoundMessage('esphome');
    expect(message).toContain('esphome CLI not found: "esphome" is not on PATH');
    expect(message).toContain('pip install esphome');
    expect(message).toContain('--esphome <command>');
  });
});

describe('LineSplitter', () => {
  function split(chunks: (string | Buffer)[]): string[] {
    const lines: string[] = [];
    const splitter = new LineSplitter((l) => lines.push(l));
    for (const chunk of chunks) splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    splitter.end();
    return lines;
  }

  it('splits on \\n, \\r\\n and lone \\r, keeping ANSI escapes', () => {
    expect(split(['a\nb\r\nc\rd\n'])).toEqual(['a', 'b', 'c', 'd']);
    expect(split(['Linking... 10%\rLinking... 50%\rLinking... 100%\n'])).toEqual(['Linking... 10%', 'Linking... 50%', 'Linking... 100%']);
    expect(split(['\x1b[32mINFO ok\x1b[0m\n'])).toEqual(['\x1b[32mINFO ok\x1b[0m']);
  });

  it('treats a \\r\\n split across chunks as one line end', () => {
    expect(split(['one\r', '\ntwo\n'])).toEqual(['one', 'two']);
    expect(split(['one\r', 'two\n'])).toEqual(['one', 'two']);
  });

  it('keeps blank \\n lines, drops empty \\r segments, flushes the last partial line', () => {
    expect(split(['a\n\nb\n'])).toEqual(['a', '', 'b']);
    expect(split(['a\n\rprogress\rdone'])).toEqual(['a', 'progress', 'done']);
    expect(split(['no newline at the end'])).toEqual(['no newline at the end']);
  });

  it('decodes UTF-8 split across chunks', () => {
    const bytes = Buffer.from('Température ✓ ok\n', 'utf8');
    const chunks = [...bytes].map((b) => Buffer.from([b]));
    expect(split(chunks)).toEqual(['Température ✓ ok']);
  });
});

describe('JobQueue running the fake esphome', () => {
  it('runs a compile: events in order, output with \\r progress and ANSI, onFinished once', async () => {
    const dir = configWith('kitchen');
    const queue = makeQueue(dir);
    await queue.init();
    const events = record(queue);
    const finishedJobs: FirmwareJobSummary[] = [];
    queue.onFinished((j) => finishedJobs.push(j));

    const job = queue.enqueue('compile', 'kitchen.yaml');
    expect(job.status).toBe('queued');
    expect(job.job_type).toBe('compile');
    expect(job.configuration).toBe('kitchen.yaml');
    expect(job.created_at).toBeGreaterThan(1_600_000_000);
    expect(job.created_at).toBeLessThan(Date.now() / 1000 + 1);
    expect(job.started_at).toBeNull();
    expect(queue.activeJobFor('kitchen.yaml')?.job_id).toBe(job.job_id);

    const done = await finished(queue, job.job_id);
    expect(done.status).toBe('completed');
    expect(done.exit_code).toBe(0);
    expect(done.error).toBeNull();
    expect(done.started_at).toBeGreaterThanOrEqual(done.created_at);
    expect(done.completed_at).toBeGreaterThanOrEqual(done.started_at as number);
    expect(done.output.some((l) => l.includes('Successfully compiled'))).toBe(true);
    expect(done.output).toEqual(expect.arrayContaining(['Linking... 10%', 'Linking... 50%', 'Linking... 100%']));
    expect(done.output.some((l) => l.includes('\x1b[32m'))).toBe(true);
    expect(done.output.every((l) => !l.includes('\r') && !l.includes('\n'))).toBe(true);

    const kinds = events.map((e) => e.event);
    expect(kinds[0]).toBe('job_queued');
    expect(kinds[1]).toBe('job_started');
    expect(kinds.at(-1)).toBe('job_completed');
    expect(kinds.slice(2, -1).every((k) => k === 'job_output')).toBe(true);
    expect(kinds.filter((k) => k === 'job_output').length).toBe(done.output.length);
    expect(events.every((e) => jobIdOf(e) === job.job_id)).toBe(true);
    const outputLines = events.flatMap((e) => (e.event === 'job_output' ? [e.data.line] : []));
    expect(outputLines).toEqual(done.output);

    await queue.flush();
    expect(finishedJobs).toHaveLength(1);
    expect(finishedJobs[0]).toMatchObject({ job_id: job.job_id, status: 'completed', exit_code: 0 });
    expect(queue.activeJobFor('kitchen.yaml')).toBeUndefined();
    // The build really happened in the config dir.
    expect(fs.existsSync(path.join(dir, '.esphome', 'build', 'kitchen', 'build_info.json'))).toBe(true);
  });

  it('fails a compile with the exit code and the last ERROR line (env knob)', async () => {
    const dir = configWith('kitchen');
    const queue = makeQueue(dir, { extraEnv: { FAKE_ESPHOME_FAIL: '1' } });
    const events = record(queue);
    const finishedJobs: FirmwareJobSummary[] = [];
    queue.onFinished((j) => finishedJobs.push(j));
    const job = queue.enqueue('compile', 'kitchen.yaml');
    const done = await finished(queue, job.job_id);
    expect(done.status).toBe('failed');
    expect(done.exit_code).toBe(1);
    expect(done.error).toBe('esphome exited with code 1: ERROR Error while compiling');
    expect(events.at(-1)?.event).toBe('job_failed');
    expect(finishedJobs.map((j) => j.status)).toEqual(['failed']);
  });

  it('fails a compile whose YAML carries the fail marker', async () => {
    const dir = configWith('kitchen');
    writeYaml(dir, 'broken', '# fake-esphome: fail\n');
    const queue = makeQueue(dir);
    const bad = queue.enqueue('compile', 'broken.yaml');
    const good = queue.enqueue('compile', 'kitchen.yaml');
    const badDone = await finished(queue, bad.job_id);
    expect(badDone.status).toBe('failed');
    expect(badDone.error).toMatch(/exited with code 1/);
    expect((await finished(queue, good.job_id)).status).toBe('completed');
  });

  it('runs one job at a time, first in first out', async () => {
    const dir = configWith('a', 'b');
    const queue = makeQueue(dir, { extraEnv: { FAKE_ESPHOME_DELAY_MS: '300' } });
    const events = record(queue);
    const a = queue.enqueue('compile', 'a.yaml');
    const b = queue.enqueue('compile', 'b.yaml');
    await new Promise((r) => setTimeout(r, 100));
    expect(queue.get(a.job_id)?.status).toBe('running');
    expect(queue.get(b.job_id)?.status).toBe('queued');
    // list(): newest first.
    expect(queue.list().map((j) => j.job_id)).toEqual([b.job_id, a.job_id]);

    const bDone = await finished(queue, b.job_id);
    const aDone = queue.get(a.job_id) as FirmwareJob;
    expect(aDone.status).toBe('completed');
    expect(bDone.status).toBe('completed');
    const idx = (event: string, id: string) => events.findIndex((e) => e.event === event && jobIdOf(e) === id);
    expect(idx('job_started', b.job_id)).toBeGreaterThan(idx('job_completed', a.job_id));
    expect(idx('job_started', a.job_id)).toBeLessThan(idx('job_started', b.job_id));
    expect(bDone.started_at as number).toBeGreaterThanOrEqual(aDone.completed_at as number);
    // No output of b before a finished.
    const firstBLine = events.findIndex((e) => e.event === 'job_output' && jobIdOf(e) === b.job_id);
    expect(firstBLine).toBeGreaterThan(idx('job_completed', a.job_id));
  });

  it('records the port only for upload and install; a new job replaces the queued one', async () => {
    const dir = configWith('kitchen');
    const queue = makeQueue(dir);
    const compile = queue.enqueue('compile', 'kitchen.yaml', { port: '/dev/ttyUSB0' });
    expect(compile.port).toBeNull();
    const upload = queue.enqueue('upload', 'kitchen.yaml', { port: '/dev/ttyUSB0' });
    expect(upload.port).toBe('/dev/ttyUSB0');
    // The upload replaced the queued compile; nothing compiled yet, so upload fails for lack of firmware.
    expect(queue.get(compile.job_id)?.status).toBe('cancelled');
    expect(queue.get(compile.job_id)?.error).toBe('replaced by a new upload job');
    const failedUpload = await finished(queue, upload.job_id);
    expect(failedUpload.status).toBe('failed');
    expect(failedUpload.error).toBe('esphome exited with code 1: ERROR Firmware not found, please compile first');
  });

  it('passes --device to upload and install after a compile', async () => {
    const dir = configWith('kitchen');
    const queue = makeQueue(dir);
    expect((await finished(queue, queue.enqueue('compile', 'kitchen.yaml').job_id)).status).toBe('completed');
    const serial = await finished(queue, queue.enqueue('upload', 'kitchen.yaml', { port: '/dev/ttyUSB0' }).job_id);
    expect(serial.status).toBe('completed');
    expect(serial.output.some((l) => l.includes('via serial port /dev/ttyUSB0'))).toBe(true);
    expect(serial.output).toEqual(expect.arrayContaining(['Uploading: [=       ] 12%', 'Uploading: [========] 100% Done...']));

    const install = await finished(queue, queue.enqueue('install', 'kitchen.yaml', { port: '192.168.1.50' }).job_id);
    expect(install.status).toBe('completed');
    expect(install.port).toBe('192.168.1.50');
    expect(install.output.some((l) => l.includes('Connecting to 192.168.1.50'))).toBe(true);
    expect(install.output.some((l) => l.includes('Successfully compiled'))).toBe(true);

    const ota = await finished(queue, queue.enqueue('install', 'kitchen.yaml').job_id);
    expect(ota.port).toBeNull();
    expect(ota.output.some((l) => l.includes('Connecting to kitchen.local'))).toBe(true);
  });

  it('runs clean and reset_build_env with their command lines', async () => {
    const dir = configWith('kitchen');
    const queue = makeQueue(dir);
    expect((await finished(queue, queue.enqueue('compile', 'kitchen.yaml').job_id)).status).toBe('completed');
    const buildDir = path.join(dir, '.esphome', 'build', 'kitchen');
    expect(fs.existsSync(path.join(buildDir, '.pioenvs'))).toBe(true);

    const clean = await finished(queue, queue.enqueue('clean', 'kitchen.yaml').job_id);
    expect(clean.status).toBe('completed');
    expect(fs.existsSync(path.join(buildDir, '.pioenvs'))).toBe(false);
    expect(fs.existsSync(buildDir)).toBe(true);

    const reset = await finished(queue, queue.enqueue('reset_build_env', path.basename(dir)).job_id);
    expect(reset.status).toBe('completed');
    expect(reset.output.some((l) => l.includes(`Cleaning ${path.join(dir, '.esphome')}`))).toBe(true);
    expect(fs.existsSync(buildDir)).toBe(false);
    expect(fs.existsSync(path.join(dir, '.esphome', 'storage', 'kitchen.yaml.json'))).toBe(true);
  });
});

describe('JobQueue when esphome is missing', () => {
  it('fails the job at once with install advice, and the queue keeps working', async () => {
    const dir = configWith('kitchen');
    const queue = makeQueue(dir, { esphomeCommand: ['definitely-not-esphome'] });
    const events = record(queue);
    const finishedJobs: FirmwareJobSummary[] = [];
    queue.onFinished((j) => finishedJobs.push(j));

    const job = queue.enqueue('compile', 'kitchen.yaml');
    // Synchronously: no job_started, no process.
    expect(job.status).toBe('failed');
    expect(events.map((e) => e.event)).toEqual(['job_queued', 'job_failed']);
    const failed = queue.get(job.job_id) as FirmwareJob;
    expect(failed.error).toBe(
      'esphome CLI not found: "definitely-not-esphome" is not on PATH. Install ESPHome (pip install esphome) or start the dashboard with --esphome <command>.',
    );
    expect(failed.started_at).toBeNull();
    expect(failed.completed_at).not.toBeNull();
    expect(failed.exit_code).toBeNull();
    expect(finishedJobs).toHaveLength(1);
    expect(queue.activeJobFor('kitchen.yaml')).toBeUndefined();
    await queue.flush();
    expect((storedJobs(dir) as FirmwareJob[])[0]).toMatchObject({ job_id: job.job_id, status: 'failed' });
  });

  it('runs later jobs once esphome appears on PATH (looked up per job)', async () => {
    const dir = configWith('kitchen');
    const bin = makeTempDir('dbts-bin-');
    const queue = makeQueue(dir, { path: `${bin}${path.delimiter}${BASE_PATH}` });
    const first = queue.enqueue('compile', 'kitchen.yaml');
    expect(first.status).toBe('failed');
    expect(queue.get(first.job_id)?.error).toContain('"esphome" is not on PATH');

    installWrapper(path.join(bin, 'esphome'));
    const second = queue.enqueue('compile', 'kitchen.yaml');
    expect(second.status).toBe('queued');
    expect((await finished(queue, second.job_id)).status).toBe('completed');
  });

  it('reports a path given with --esphome that does not exist', () => {
    const dir = configWith('kitchen');
    const queue = makeQueue(dir, { esphomeCommand: ['/nonexistent/venv/bin/esphome'] });
    const job = queue.enqueue('compile', 'kitchen.yaml');
    expect(queue.get(job.job_id)?.error).toContain('"/nonexistent/venv/bin/esphome" does not exist or is not executable');
  });

  it('fails (without throwing) when exec itself fails, e.g. a script whose interpreter is gone', async () => {
    const dir = configWith('kitchen');
    const bin = makeTempDir('dbts-bin-');
    const script = path.join(bin, 'esphome');
    fs.writeFileSync(script, '#!/nonexistent/python3\nprint("hi")\n', { mode: 0o755 });
    const queue = makeQueue(dir, { path: `${bin}${path.delimiter}${BASE_PATH}` });
    const job = queue.enqueue('compile', 'kitchen.yaml');
    expect(job.status).toBe('queued');
    const done = await finished(queue, job.job_id);
    expect(done.status).toBe('failed');
    expect(done.error).toContain('esphome CLI not found');
    expect(done.error).toContain('interpreter is missing');

    fs.rmSync(script);
    installWrapper(script);
    expect((await finished(queue, queue.enqueue('compile', 'kitchen.yaml').job_id)).status).toBe('completed');
  });
});

describe('JobQueue cancel and replace', () => {
  it('cancels a queued job at once', async () => {
    const dir = configWith('b');
    writeYaml(dir, 'a', '# fake-esphome: hang\n');
    const queue = makeQueue(dir);
    const events = record(queue);
    const a = queue.enqueue('compile', 'a.yaml');
    const b = queue.enqueue('compile', 'b.yaml');
    expect(queue.cancel(b.job_id)).toBe(true);
    const bJob = queue.get(b.job_id) as FirmwareJob;
    expect(bJob.status).toBe('cancelled');
    expect(bJob.error).toBe(CANCELLED_BY_USER);
    expect(bJob.started_at).toBeNull();
    expect(events.filter((e) => jobIdOf(e) === b.job_id).map((e) => e.event)).toEqual(['job_queued', 'job_cancelled']);
    expect(queue.cancel(b.job_id)).toBe(false);
    expect(queue.cancel('no-such-job')).toBe(false);

    expect(queue.cancel(a.job_id)).toBe(true);
    expect((await finished(queue, a.job_id)).status).toBe('cancelled');
    // b never ran.
    expect(events.some((e) => e.event === 'job_started' && jobIdOf(e) === b.job_id)).toBe(false);
  });

  it('cancels a running job: SIGTERM to the group, process gone, status cancelled', async () => {
    const dir = configWith('next');
    writeYaml(dir, 'stuck', '# fake-esphome: hang\n');
    const queue = makeQueue(dir);
    const finishedJobs: FirmwareJobSummary[] = [];
    queue.onFinished((j) => finishedJobs.push(j));
    const job = queue.enqueue('compile', 'stuck.yaml');
    await lineMatching(queue, job.job_id, /waiting \(fake-esphome hang knob\)/);
    const pid = queue.childPid(job.job_id) as number;
    expect(pid).toBeGreaterThan(0);
    expect(pidGone(pid)).toBe(false);

    const next = queue.enqueue('compile', 'next.yaml');
    const started = Date.now();
    expect(queue.cancel(job.job_id)).toBe(true);
    // Still running until the process has exited; a second cancel is a no-op that says yes.
    expect(queue.get(job.job_id)?.status).toBe('running');
    expect(queue.cancel(job.job_id)).toBe(true);
    const done = await finished(queue, job.job_id);
    expect(Date.now() - started).toBeLessThan(2500);
    expect(done.status).toBe('cancelled');
    expect(done.error).toBe(CANCELLED_BY_USER);
    expect(done.exit_code).toBeNull();
    expect(pidGone(pid)).toBe(true);
    expect(queue.childPid(job.job_id)).toBeUndefined();
    expect((await finished(queue, next.job_id)).status).toBe('completed');
    expect(finishedJobs.map((j) => [j.job_id, j.status])).toEqual([
      [job.job_id, 'cancelled'],
      [next.job_id, 'completed'],
    ]);
  });

  it('escalates to SIGKILL when esphome ignores SIGTERM', async () => {
    const dir = makeTempDir('dbts-jobs-');
    writeYaml(dir, 'stuck', '# fake-esphome: hang\n');
    const queue = makeQueue(dir, { extraEnv: { FAKE_ESPHOME_IGNORE_TERM: '1' }, killGraceMs: 300 });
    const job = queue.enqueue('compile', 'stuck.yaml');
    await lineMatching(queue, job.job_id, /waiting \(fake-esphome hang knob\)/);
    const pid = queue.childPid(job.job_id) as number;
    const started = Date.now();
    queue.cancel(job.job_id);
    const done = await finished(queue, job.job_id);
    const elapsed = Date.now() - started;
    expect(done.status).toBe('cancelled');
    expect(elapsed).toBeGreaterThanOrEqual(280);
    expect(elapsed).toBeLessThan(5000);
    expect(done.output.some((l) => l.includes('Received SIGTERM, ignoring it'))).toBe(true);
    expect(pidGone(pid)).toBe(true);
  });

  it('a new job for a device replaces its running job, then runs', async () => {
    const dir = makeTempDir('dbts-jobs-');
    writeYaml(dir, 'kitchen', '# fake-esphome: hang\n');
    const queue = makeQueue(dir);
    const events = record(queue);
    const first = queue.enqueue('compile', 'kitchen.yaml');
    await lineMatching(queue, first.job_id, /waiting/);
    const pid = queue.childPid(first.job_id) as number;
    writeYaml(dir, 'kitchen'); // no hang this time

    const second = queue.enqueue('compile', 'kitchen.yaml');
    expect(queue.activeJobFor('kitchen.yaml')?.job_id).toBe(second.job_id);
    const secondDone = await finished(queue, second.job_id);
    const firstDone = queue.get(first.job_id) as FirmwareJob;
    expect(firstDone.status).toBe('cancelled');
    expect(firstDone.error).toBe('replaced by a new compile job');
    expect(secondDone.status).toBe('completed');
    expect(pidGone(pid)).toBe(true);
    // The replacement starts only after the old process is gone.
    const idx = (event: string, id: string) => events.findIndex((e) => e.event === event && jobIdOf(e) === id);
    expect(idx('job_started', second.job_id)).toBeGreaterThan(idx('job_cancelled', first.job_id));
  });

  it('replaces queued jobs per device; reset_build_env replaces only reset_build_env', async () => {
    const dir = configWith('b', 'c');
    writeYaml(dir, 'a', '# fake-esphome: hang\n');
    const queue = makeQueue(dir);
    const a = queue.enqueue('compile', 'a.yaml');
    const b1 = queue.enqueue('compile', 'b.yaml');
    const c = queue.enqueue('compile', 'c.yaml');
    const reset1 = queue.enqueue('reset_build_env', path.basename(dir));
    const b2 = queue.enqueue('clean', 'b.yaml');
    expect(queue.get(b1.job_id)?.status).toBe('cancelled');
    expect(queue.get(b1.job_id)?.error).toBe('replaced by a new clean job');
    expect(queue.get(c.job_id)?.status).toBe('queued');
    expect(queue.get(reset1.job_id)?.status).toBe('queued');

    const reset2 = queue.enqueue('reset_build_env', path.basename(dir));
    expect(queue.get(reset1.job_id)?.status).toBe('cancelled');
    expect(queue.get(reset1.job_id)?.error).toBe('replaced by a new reset_build_env job');
    expect(queue.get(c.job_id)?.status).toBe('queued');
    expect(queue.get(b2.job_id)?.status).toBe('queued');
    expect(queue.get(a.job_id)?.status).not.toBe('cancelled');

    expect(queue.list().map((j) => j.job_id)).toEqual([reset2, b2, reset1, c, b1, a].map((j) => j.job_id));
    queue.cancel(a.job_id);
    expect((await finished(queue, reset2.job_id)).status).toBe('completed');
    expect(queue.get(c.job_id)?.status).toBe('completed');
    expect(queue.get(b2.job_id)?.status).toBe('completed');
  });
});

describe('JobQueue history in the sidecar', () => {
  it('persists history and a new queue on the same config dir reloads it', async () => {
    const dir = configWith('kitchen');
    const queue = makeQueue(dir);
    await queue.init();
    const job = queue.enqueue('compile', 'kitchen.yaml');
    const done = await finished(queue, job.job_id);
    await queue.flush();

    const stored = storedJobs(dir) as FirmwareJob[];
    expect(stored).toHaveLength(1);
    // Metadata in the history file, output in the job's own log file.
    const { output, ...metadata } = done;
    expect(stored[0]).toEqual(metadata);
    expect(output.length).toBeGreaterThan(10);
    expect(logLines(dir, job.job_id)).toEqual(output);

    const reloaded = makeQueue(dir);
    await reloaded.init();
    expect(reloaded.list()).toHaveLength(1);
    expect(reloaded.get(job.job_id)).toEqual(done);
    // Reloaded jobs are history: no onFinished, cancel says no.
    expect(reloaded.cancel(job.job_id)).toBe(false);
  });

  it('writes state changes, not every output line, and keeps other sidecar keys', async () => {
    const dir = configWith('kitchen');
    writeSidecar(dir, { 'kitchen.yaml': { friendly_name: 'Kitchen' }, _preferences: { theme: 'dark' } });
    const store = new SidecarStore(dir, { logger: silentLogger });
    let writes = 0;
    const original = store.updateGlobal.bind(store);
    store.updateGlobal = async (key, next) => {
      writes++;
      await original(key, next);
    };
    const queue = makeQueue(dir, { store });
    await queue.init();
    const job = queue.enqueue('compile', 'kitchen.yaml');
    const done = await finished(queue, job.job_id);
    await queue.flush();
    expect(done.output.length).toBeGreaterThan(10);
    expect(writes).toBeGreaterThanOrEqual(1);
    expect(writes).toBeLessThanOrEqual(3); // queued, started, finished (coalesced when overlapping)
    const data = readJson(path.join(dir, SIDECAR_FILE)) as Record<string, unknown>;
    expect(data['kitchen.yaml']).toEqual({ friendly_name: 'Kitchen' });
    expect(data['_preferences']).toEqual({ theme: 'dark' });
    expect((data[FIRMWARE_JOBS_KEY] as FirmwareJob[])[0]?.status).toBe('completed');
  });

  it('marks jobs left queued or running by a dead server as failed, and writes that back', async () => {
    const dir = configWith('kitchen');
    writeSidecar(dir, {
      [FIRMWARE_JOBS_KEY]: [
        storedJob({ job_id: 'queued-1', status: 'queued', created_at: 1714900030, started_at: null, completed_at: null, exit_code: null, output: [] }),
        storedJob({ job_id: 'running-1', status: 'running', created_at: 1714900020, completed_at: null, exit_code: null }),
        storedJob({ job_id: 'done-1' }),
      ],
    });
    const queue = makeQueue(dir);
    const finishedJobs: FirmwareJobSummary[] = [];
    queue.onFinished((j) => finishedJobs.push(j));
    await queue.init();

    const running = queue.get('running-1') as FirmwareJob;
    expect(running.status).toBe('failed');
    expect(running.error).toBe(INTERRUPTED_ERROR);
    expect(running.completed_at).toBeGreaterThan(1714900020);
    expect(running.output).toEqual(['INFO Successfully compiled program.']);
    expect(queue.get('queued-1')).toMatchObject({ status: 'failed', error: INTERRUPTED_ERROR });
    expect(queue.get('done-1')).toMatchObject({ status: 'completed', error: null });
    expect(queue.list().map((j) => j.job_id)).toEqual(['queued-1', 'running-1', 'done-1']);
    expect(queue.activeJobFor('kitchen.yaml')).toBeUndefined();
    expect(finishedJobs).toHaveLength(0);

    const stored = storedJobs(dir) as FirmwareJob[];
    expect(stored.map((j) => [j.job_id, j.status])).toEqual([
      ['queued-1', 'failed'],
      ['running-1', 'failed'],
      ['done-1', 'completed'],
    ]);
  });

  it('skips malformed entries one by one and never crashes init', async () => {
    const dir = configWith('kitchen');
    writeSidecar(dir, {
      [FIRMWARE_JOBS_KEY]: [
        1,
        'x',
        null,
        [],
        { job_id: 5 },
        storedJob({ job_id: 'bad-type', job_type: 'flash' as never }),
        storedJob({ job_id: 'bad-status', status: 'exploded' as never }),
        storedJob({ job_id: 'bad-created', created_at: 'yesterday' as never }),
        { ...storedJob({ job_id: 'loose' }), output: 'not a list', exit_code: '0', port: 7, error: {}, started_at: 'x' },
        storedJob({ job_id: 'good' }),
        storedJob({ job_id: 'good' }),
      ],
    });
    const queue = makeQueue(dir);
    await queue.init();
    expect(
      queue
        .list()
        .map((j) => j.job_id)
        .sort(),
    ).toEqual(['good', 'loose']);
    expect(queue.get('loose')).toMatchObject({ output: [], exit_code: null, port: null, error: null, started_at: null });
    expect((storedJobs(dir) as FirmwareJob[]).map((j) => j.job_id).sort()).toEqual(['good', 'loose']);
  });

  it.each([
    ['an object', { job_id: 'x' }],
    ['a string', 'jobs'],
    ['a number', 42],
    ['null', null],
  ])('treats _firmware_jobs that is %s as empty', async (_what, value) => {
    const dir = configWith('kitchen');
    writeSidecar(dir, { [FIRMWARE_JOBS_KEY]: value });
    const queue = makeQueue(dir);
    await queue.init();
    expect(queue.list()).toEqual([]);
    const job = queue.enqueue('compile', 'kitchen.yaml');
    await finished(queue, job.job_id);
    await queue.flush();
    expect((storedJobs(dir) as FirmwareJob[]).map((j) => j.job_id)).toEqual([job.job_id]);
  });

  it('survives an unreadable or corrupt sidecar', async () => {
    const dir = configWith('kitchen');
    fs.writeFileSync(path.join(dir, SIDECAR_FILE), '{not json');
    const queue = makeQueue(dir);
    await queue.init();
    expect(queue.list()).toEqual([]);
  });

  it('keeps at most historyLimit finished jobs, in memory and in the sidecar', async () => {
    const dir = configWith('a', 'b', 'c', 'd', 'e');
    // A missing CLI finishes jobs instantly, which makes history cheap to fill.
    const queue = makeQueue(dir, { esphomeCommand: ['definitely-not-esphome'], historyLimit: 3 });
    const ids = ['a', 'b', 'c', 'd', 'e'].map((n) => queue.enqueue('compile', `${n}.yaml`).job_id);
    expect(queue.list().map((j) => j.job_id)).toEqual(ids.slice(2).reverse());
    expect(queue.get(ids[0] as string)).toBeUndefined();
    await queue.flush();
    expect((storedJobs(dir) as FirmwareJob[]).map((j) => j.job_id)).toEqual(ids.slice(2).reverse());

    const reloaded = makeQueue(dir, { historyLimit: 2 });
    await reloaded.init();
    expect(reloaded.list().map((j) => j.job_id)).toEqual(ids.slice(3).reverse());
  });

  it('bounds output in memory by outputLimit and in the sidecar by 200 lines', async () => {
    const dir = configWith('kitchen');
    const queue = makeQueue(dir, { outputLimit: 5 });
    const lines: string[] = [];
    queue.subscribe((e) => {
      if (e.event === 'job_output') lines.push(e.data.line);
    });
    const done = await finished(queue, queue.enqueue('compile', 'kitchen.yaml').job_id);
    expect(lines.length).toBeGreaterThan(5);
    expect(done.output).toEqual(lines.slice(-5));

    const big = makeTempDir('dbts-jobs-');
    const output = Array.from({ length: 300 }, (_, i) => `line ${i}`);
    writeSidecar(big, { [FIRMWARE_JOBS_KEY]: [storedJob({ job_id: 'big', output })] });
    const reloaded = makeQueue(big);
    await reloaded.init();
    expect(reloaded.get('big')?.output).toEqual(output.slice(-PERSISTED_OUTPUT_LINES));
  });

  it('clear() drops finished jobs and keeps active ones', async () => {
    const dir = configWith('a', 'b');
    writeYaml(dir, 'stuck', '# fake-esphome: hang\n');
    const queue = makeQueue(dir);
    await finished(queue, queue.enqueue('compile', 'a.yaml').job_id);
    await finished(queue, queue.enqueue('clean', 'a.yaml').job_id);
    const stuck = queue.enqueue('compile', 'stuck.yaml');
    const b = queue.enqueue('compile', 'b.yaml');
    expect(queue.list()).toHaveLength(4);
    const finishedIds = queue
      .list()
      .filter((j) => j.status === 'completed')
      .map((j) => j.job_id);
    const events = record(queue);
    expect(queue.clear()).toBe(2);
    // Subscribers (other tabs) learn which jobs left the history.
    const cleared = events.filter((e) => e.event === 'jobs_cleared');
    expect(cleared).toHaveLength(1);
    expect((cleared[0]?.data as { job_ids: string[] }).job_ids.sort()).toEqual(finishedIds.sort());
    expect(queue.list().map((j) => j.job_id)).toEqual([b.job_id, stuck.job_id]);
    expect(queue.clear()).toBe(0);
    await queue.flush();
    expect((storedJobs(dir) as FirmwareJob[]).map((j) => j.job_id)).toEqual([b.job_id, stuck.job_id]);
  });
});

describe('JobQueue follow, shutdown and listeners', () => {
  it('follow() gives the output so far, then live lines, then onEnd', async () => {
    const dir = configWith('kitchen');
    const queue = makeQueue(dir, { extraEnv: { FAKE_ESPHOME_DELAY_MS: '300' } });
    const job = queue.enqueue('compile', 'kitchen.yaml');
    await lineMatching(queue, job.job_id, /Reading configuration/);

    const live: string[] = [];
    let ended: FirmwareJobSummary | null = null;
    const handle = queue.follow(
      job.job_id,
      (line) => live.push(line),
      (j) => (ended = j),
    );
    expect(handle).toBeDefined();
    expect(handle?.history.length).toBeGreaterThanOrEqual(2);
    expect(handle?.history.some((l) => l.includes('Reading configuration'))).toBe(true);
    expect(ended).toBeNull();

    const done = await finished(queue, job.job_id);
    expect(live.length).toBeGreaterThan(0);
    expect([...(handle?.history ?? []), ...live]).toEqual(done.output);
    expect(ended).toMatchObject({ job_id: job.job_id, status: 'completed' });

    // Already finished: history, then onEnd right after, nothing live.
    const lateLive: string[] = [];
    const lateEnd: FirmwareJobSummary[] = [];
    const late = queue.follow(
      job.job_id,
      (l) => lateLive.push(l),
      (j) => lateEnd.push(j),
    );
    expect(late?.history).toEqual(done.output);
    expect(lateEnd).toHaveLength(0);
    await Promise.resolve();
    expect(lateEnd).toHaveLength(1);
    expect(lateEnd[0]?.status).toBe('completed');
    expect(lateLive).toEqual([]);

    expect(
      queue.follow(
        'no-such-job',
        () => undefined,
        () => undefined,
      ),
    ).toBeUndefined();
  });

  it('follow() unsubscribe stops live lines and onEnd', async () => {
    const dir = configWith('kitchen');
    const queue = makeQueue(dir, { extraEnv: { FAKE_ESPHOME_DELAY_MS: '200' } });
    const job = queue.enqueue('compile', 'kitchen.yaml');
    const live: string[] = [];
    let ends = 0;
    const handle = queue.follow(
      job.job_id,
      (l) => live.push(l),
      () => ends++,
    );
    expect(handle?.history).toEqual([]);
    handle?.unsubscribe();
    await finished(queue, job.job_id);
    expect(live).toEqual([]);
    expect(ends).toBe(0);
  });

  it('shutdown() cancels queued and running jobs, waits for the process, and closes the queue', async () => {
    const dir = configWith('next');
    writeYaml(dir, 'stuck', '# fake-esphome: hang\n');
    const queue = makeQueue(dir);
    const running = queue.enqueue('compile', 'stuck.yaml');
    const queued = queue.enqueue('compile', 'next.yaml');
    await lineMatching(queue, running.job_id, /waiting/);
    const pid = queue.childPid(running.job_id) as number;

    await queue.shutdown();
    expect(queue.get(running.job_id)).toMatchObject({ status: 'cancelled', error: SHUTDOWN_ERROR });
    expect(queue.get(queued.job_id)).toMatchObject({ status: 'cancelled', error: SHUTDOWN_ERROR, started_at: null });
    expect(pidGone(pid)).toBe(true);
    expect(() => queue.enqueue('compile', 'next.yaml')).toThrow(QueueClosedError);
    const stored = storedJobs(dir) as FirmwareJob[];
    expect(stored.map((j) => j.status)).toEqual(['cancelled', 'cancelled']);
    // Idempotent.
    await queue.shutdown();
  });

  it('stopAccepting() refuses new jobs but lets queued ones run', async () => {
    const dir = configWith('kitchen');
    const queue = makeQueue(dir);
    const job = queue.enqueue('compile', 'kitchen.yaml');
    queue.stopAccepting();
    expect(() => queue.enqueue('clean', 'kitchen.yaml')).toThrow(QueueClosedError);
    expect((await finished(queue, job.job_id)).status).toBe('completed');
  });

  it('rejects configurations that are not plain file names', () => {
    const queue = makeQueue(configWith('kitchen'));
    for (const bad of ['', '.', '..', '../x.yaml', 'a/b.yaml', 'a\\b.yaml', 'x\0.yaml']) {
      expect(() => queue.enqueue('compile', bad)).toThrow(/invalid configuration/);
    }
    expect(() => queue.enqueue('flash' as never, 'kitchen.yaml')).toThrow(/unknown job type/);
    expect(queue.list()).toEqual([]);
  });

  it('uses the one configuration-name guard: 255 bytes pass, 256 bytes are refused with invalid_args', () => {
    const queue = makeQueue(configWith('kitchen'), { esphomeCommand: ['definitely-not-esphome'] });
    // 'é' is two bytes: 126 of them + '.yaml' is 257 bytes but only 131 characters.
    const multiByte = `${'é'.repeat(126)}.yaml`;
    const longest = `${'a'.repeat(250)}.yaml`;
    for (const bad of [`${'a'.repeat(251)}.yaml`, multiByte]) {
      expect(Buffer.byteLength(bad)).toBeGreaterThan(255);
      const err = (() => {
        try {
          queue.enqueue('compile', bad);
        } catch (e) {
          return e;
        }
        return null;
      })();
      expect(err).toBeInstanceOf(JobQueueError);
      expect(err).toMatchObject({ code: 'invalid_args', message: expect.stringMatching(/invalid configuration/) });
    }
    expect(queue.list()).toEqual([]);
    expect(Buffer.byteLength(longest)).toBe(255);
    expect(queue.enqueue('compile', longest).configuration).toBe(longest);
  });

  it('refusals carry the API code: shutting_down after stopAccepting()', () => {
    const queue = makeQueue(configWith('kitchen'));
    queue.stopAccepting();
    let caught: unknown;
    try {
      queue.enqueue('compile', 'kitchen.yaml');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(QueueClosedError);
    expect(caught).toBeInstanceOf(JobQueueError);
    expect((caught as JobQueueError).code).toBe('shutting_down');
  });

  it('a throwing listener does not break the queue', async () => {
    const dir = configWith('kitchen');
    const queue = makeQueue(dir);
    queue.subscribe(() => {
      throw new Error('boom');
    });
    queue.onFinished(() => {
      throw new Error('boom');
    });
    const events = record(queue);
    const done = await finished(queue, queue.enqueue('compile', 'kitchen.yaml').job_id);
    expect(done.status).toBe('completed');
    expect(events.at(-1)?.event).toBe('job_completed');
  });

  it('unsubscribe functions stop delivery', async () => {
    const dir = configWith('kitchen');
    const queue = makeQueue(dir, { esphomeCommand: ['definitely-not-esphome'] });
    const events: JobEvent[] = [];
    const finishedJobs: FirmwareJobSummary[] = [];
    const stopEvents = queue.subscribe((e) => events.push(e));
    const stopFinished = queue.onFinished((j) => finishedJobs.push(j));
    stopEvents();
    stopFinished();
    queue.enqueue('compile', 'kitchen.yaml');
    expect(events).toEqual([]);
    expect(finishedJobs).toEqual([]);
  });
});
