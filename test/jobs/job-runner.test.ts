/**
 * The job runner (src/jobs/job-runner.ts) on its own, against the fake
 * esphome CLI: one process per job, merged output lines, exit → status,
 * stop → TERM to the group (KILL after the grace), and a vanished CLI.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { JobRunner, type RunResult } from '../../src/jobs/job-runner.js';
import { cleanupTempDirs, makeTempDir, silentLogger } from '../helpers/fs-fixtures.js';
import { pidGone } from '../helpers/jobs.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const FAKE_BIN = path.join(REPO, 'test', 'fixtures', 'bin');

afterEach(() => cleanupTempDirs());

function configWith(name: string, extra = ''): string {
  const dir = makeTempDir('dbts-runner-');
  fs.writeFileSync(path.join(dir, `${name}.yaml`), `esphome:\n  name: ${name}\nesp32:\n  board: esp32dev\n${extra}`);
  return dir;
}

function runner(configDir: string, env: Record<string, string> = {}, killGraceMs = 3000, command = ['esphome']): JobRunner {
  return new JobRunner({
    configDir,
    esphomeCommand: command,
    env: { ...process.env, PATH: `${FAKE_BIN}${path.delimiter}${process.env['PATH'] ?? ''}`, ...env },
    killGraceMs,
    logger: silentLogger,
  });
}

const compile = (configuration: string) => ({ job_id: 'j1', job_type: 'compile' as const, configuration, port: null });

function run(r: JobRunner, configuration: string, onLine?: (line: string) => void) {
  const lines: string[] = [];
  let resolveEnd!: (result: RunResult) => void;
  const ended = new Promise<RunResult>((resolve) => (resolveEnd = resolve));
  let ends = 0;
  const handle = r.run(compile(configuration), {
    onLine: (line) => {
      lines.push(line);
      onLine?.(line);
    },
    onEnd: (result) => {
      ends++;
      resolveEnd(result);
    },
  });
  return { handle, lines, ended, ends: () => ends };
}

describe('JobRunner', () => {
  it('a successful compile ends completed with exit code 0, lines split and ANSI kept', async () => {
    const dir = configWith('kitchen');
    const job = run(runner(dir), 'kitchen.yaml');
    expect(job.handle.pid).toBeGreaterThan(0);
    expect(await job.ended).toEqual({ status: 'completed', exitCode: 0, error: null });
    expect(job.lines).toEqual(expect.arrayContaining(['Linking... 10%', 'Linking... 100%']));
    expect(job.lines.some((l) => l.includes('\x1b['))).toBe(true);
    expect(job.handle.pid).toBeUndefined();
    expect(job.ends()).toBe(1);
  });

  it('a failure ends failed with the exit code and the last ERROR line (from stderr), ANSI stripped', async () => {
    const dir = configWith('kitchen');
    const job = run(runner(dir, { FAKE_ESPHOME_FAIL: '1' }), 'kitchen.yaml');
    expect(await job.ended).toEqual({ status: 'failed', exitCode: 1, error: 'esphome exited with code 1: ERROR Error while compiling' });
  });

  it('stop() sends TERM to the group, and KILL after the grace when TERM is ignored', async () => {
    const dir = configWith('stuck', '# fake-esphome: hang\n');
    let stopHandle: () => void = () => undefined;
    const job = run(runner(dir, { FAKE_ESPHOME_IGNORE_TERM: '1' }, 200), 'stuck.yaml', (line) => {
      if (/waiting/.test(line)) stopHandle();
    });
    const pid = job.handle.pid as number;
    stopHandle = () => {
      job.handle.stop('first reason');
      job.handle.stop('second reason');
    };
    expect(await job.ended).toEqual({ status: 'cancelled', exitCode: null, error: 'first reason' });
    expect(job.lines.some((l) => l.includes('Received SIGTERM, ignoring it'))).toBe(true);
    expect(pidGone(pid)).toBe(true);
    expect(job.ends()).toBe(1);
  });

  it('an executable that vanished ends failed at once, without a process', () => {
    const dir = configWith('kitchen');
    const r = runner(dir, { PATH: '/nonexistent' });
    expect(r.missingExecutableError()).toContain('"esphome" is not on PATH');
    const job = run(r, 'kitchen.yaml');
    expect(job.ends()).toBe(1);
    expect(job.handle.pid).toBeUndefined();
    job.handle.stop('nothing to stop');
  });

  it('refuses an empty command', () => {
    expect(() => runner(makeTempDir(), {}, 0, [])).toThrow(/must name an executable/);
    expect(() => runner(makeTempDir(), {}, 0, [''])).toThrow(/must name an executable/);
  });
});
