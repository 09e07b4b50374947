/**
 * Helpers for walks over hostile trees: a pino logger whose lines a test can
 * read, walks run as `nobody` (root reads everything, so permission cases
 * need another user), and a churn process that changes a tree mid-walk.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { WalkResult } from '../../src/build-size/walk-pool.js';
import { parseLogLines, type LogLine } from './capture-log.js';
import { REPO_ROOT } from './run-cli.js';

export const isRoot = process.getuid?.() === 0;
export const NOBODY = 65534;

/** Whether other users can reach and run `file` (every folder above it searchable). */
function othersCanReach(file: string, needExec: boolean): boolean {
  try {
    for (let dir = path.dirname(file); dir !== path.dirname(dir); dir = path.dirname(dir)) {
      if ((fs.statSync(dir).mode & 0o001) === 0) return false;
    }
    return !needExec || (fs.statSync(file).mode & 0o001) !== 0;
  } catch {
    return false;
  }
}

/**
 * Permission cases need a user the permissions apply to: as root they run
 * as `nobody`, which needs the Node binary and the repository reachable
 * (not so with npx's node under /root); otherwise they are skipped.
 */
export const permissionCasesRunnable = !isRoot || (othersCanReach(process.execPath, true) && othersCanReach(path.join(REPO_ROOT, 'package.json'), false));

// The one capturing logger, under the name these suites have always used.
export { captureLog as capturingLogger, type LogLine } from './capture-log.js';

/** The pool's "walk skipped entries" debug line for `root`, if any. */
export function skippedLine(lines: LogLine[], root: string): LogLine | undefined {
  return lines.find((line) => line.msg === 'walk skipped entries' && line['root'] === root);
}

/**
 * Walks `dir` with the real pool in a child process running as `nobody`,
 * logging at debug level; returns the result and the pool's log lines.
 * Every folder from `/` down to `dir` must be searchable by `nobody`.
 */
export function walkAsNobody(dir: string, env: Record<string, string> = {}): { result: WalkResult; lines: LogLine[] } {
  const run = spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'test', 'fixtures', 'walk-once.ts'), dir], {
    uid: NOBODY,
    gid: NOBODY,
    encoding: 'utf8',
    cwd: REPO_ROOT,
    timeout: 30_000,
    env: { ...process.env, ...env, WALK_LOG_LEVEL: 'debug', DEVICE_BUILDER_LOG_LEVEL: 'silent', TSX_TSCONFIG_PATH: '' },
  });
  if (run.status !== 0) throw new Error(`walk as nobody failed (${run.status} ${run.signal}): ${run.stderr}`);
  return { result: JSON.parse(run.stdout) as WalkResult, lines: parseLogLines(run.stderr) };
}

/** Writes `dirs` x `files` files of `bytes` each under `<root>/stable`; returns their total. */
export function buildStableTree(root: string, dirs: number, files: number, bytes: number): number {
  const content = Buffer.alloc(bytes, 1);
  for (let d = 0; d < dirs; d++) {
    const dir = path.join(root, 'stable', `s${d}`);
    fs.mkdirSync(dir, { recursive: true });
    for (let f = 0; f < files; f++) fs.writeFileSync(path.join(dir, `f${f}`), content);
  }
  return dirs * files * bytes;
}

export const CHURN_FILE_BYTES = 7;

export interface Churn {
  /** Stops the churn; resolves with how many 7-byte files it created. */
  stop(): Promise<number>;
}

/** Starts test/fixtures/fs-churn.mjs on `root`; resolves once it is churning. */
export function startChurn(root: string, seed = 1): Promise<Churn> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'test', 'fixtures', 'fs-churn.mjs'), root, String(seed)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    let started = false;
    const exited = new Promise<string>((done) => child.on('close', () => done(out)));
    child.on('error', reject);
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (!started && out.includes('ready\n')) {
        started = true;
        resolve({
          stop: async () => {
            child.kill('SIGTERM');
            const text = await exited;
            const match = /created (\d+)/.exec(text);
            if (!match) throw new Error(`churn did not report: ${text}`);
            return Number(match[1]);
          },
        });
      }
    });
  });
}

/** Removes a tree too deep for Node's path-based rm (beyond PATH_MAX). */
export function removeDeepTree(dir: string): void {
  spawnSync('rm', ['-rf', dir]);
}

/**
 * Builds `levels` nested folders named `name` under `dir`, a 1-byte `leaf`
 * file in each. Past PATH_MAX it builds from inside with `cd`, one level at
 * a time, since no path to the deep end can be passed to a system call.
 */
export function buildDeepTree(dir: string, levels: number, name: string): void {
  if (dir.length + levels * (name.length + 1) + '/leaf'.length < 4090) {
    let current = dir;
    for (let i = 0; i < levels; i++) {
      current = path.join(current, name);
      fs.mkdirSync(current);
      fs.writeFileSync(path.join(current, 'leaf'), 'x');
    }
    return;
  }
  const script = `set -e; cd "$1"; for i in $(seq 1 ${levels}); do mkdir "$2"; cd "$2"; printf x > leaf; done`;
  const run = spawnSync('bash', ['-c', script, 'deep', dir, name], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`could not build the deep tree: ${run.stderr}`);
}
