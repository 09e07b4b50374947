/**
 * The reference tools our walker is measured against, each run as its own
 * process:
 *
 * - `du -sb <dirs...>`: GNU du, apparent sizes, one process over all folders.
 *   Timed as a whole process (spawn costs a couple of ms, which we leave in).
 * - Python `os.walk` + `os.path.getsize`: what the Python Device Builder does.
 *   The script times its own walk with `time.perf_counter()` and the ratio
 *   uses that internal time, so interpreter start-up (measured and shown separately) does not
 *   flatter us; the whole-process time is reported beside it.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const MAX_BUFFER = 16 * 1024 * 1024;

export interface DuRun {
  processMs: number;
  bytes: number;
}

export interface PythonRun {
  processMs: number;
  /** The walk alone, as timed inside the interpreter. */
  walkMs: number;
  bytes: number;
  files: number;
}

/** Walks every folder given on the command line; prints `bytes files walk_ms`. */
export const PYTHON_WALK = [
  'import os, sys, time',
  'start = time.perf_counter()',
  'total = files = 0',
  'for top in sys.argv[1:]:',
  '    for dirpath, dirnames, filenames in os.walk(top):',
  '        for name in filenames:',
  '            try:',
  '                total += os.path.getsize(os.path.join(dirpath, name))',
  '            except OSError:',
  '                continue',
  '            files += 1',
  'elapsed_ms = (time.perf_counter() - start) * 1000.0',
  'print(total, files, elapsed_ms)',
].join('\n');

/** `du -sb` over `dirs` in one process; bytes are the sum of its per-folder lines. */
export async function runDu(dirs: readonly string[]): Promise<DuRun> {
  const started = performance.now();
  const { stdout } = await execFileAsync('du', ['-sb', ...dirs], { maxBuffer: MAX_BUFFER });
  const processMs = performance.now() - started;
  let bytes = 0;
  for (const line of stdout.split('\n')) {
    const value = Number.parseInt(line, 10);
    if (Number.isFinite(value)) bytes += value;
  }
  return { processMs, bytes };
}

export async function runPython(dirs: readonly string[]): Promise<PythonRun> {
  const started = performance.now();
  const { stdout } = await execFileAsync('python3', ['-c', PYTHON_WALK, ...dirs], { maxBuffer: MAX_BUFFER });
  const processMs = performance.now() - started;
  const [bytes, files, walkMs] = stdout.trim().split(/\s+/).map(Number);
  if (bytes === undefined || files === undefined || walkMs === undefined || !Number.isFinite(walkMs)) {
    throw new Error(`unexpected python output: ${stdout}`);
  }
  return { processMs, walkMs, bytes, files };
}

/** Wall time of `python3 -c pass`: the interpreter start-up the internal timing leaves out. */
export async function pythonStartupMs(): Promise<number> {
  const started = performance.now();
  await execFileAsync('python3', ['-c', 'pass']);
  return performance.now() - started;
}

export async function toolVersions(): Promise<{ python: string; du: string }> {
  const [python, du] = await Promise.all([
    execFileAsync('python3', ['--version']).then(({ stdout, stderr }) => (stdout || stderr).trim()),
    execFileAsync('du', ['--version']).then(({ stdout }) => stdout.split('\n')[0]?.trim() ?? 'du'),
  ]);
  return { python, du };
}
