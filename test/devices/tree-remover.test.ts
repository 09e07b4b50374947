/**
 * The build-folder remover (src/devices/tree-remover.ts, native/remove_tree.c)
 * on a real file system, for both engines: the native one (in a worker
 * thread) and GNU rm (a child process).
 *
 * The attack it pins (docs/RELIABILITY.md, "Attacks on the dashboard"): a
 * folder inside a build folder is swapped for a symlink to an outside tree
 * while the delete runs. With fs.rm the outside tree was emptied. Here the
 * swap happens for real in the middle of a real removal: the native remover
 * pauses in its worker after entering its first folder (a test hook on the
 * shared control array), rm is stopped with SIGSTOP once it has deleted
 * something; a subfolder not yet visited is renamed away and replaced by a
 * link, and the removal goes on.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  describeIncomplete,
  gnuRmUnavailable,
  nativeRemoverUnavailable,
  removeTree,
  removerChoiceFromEnv,
  type RemoveReport,
  type RemoverEngine,
} from '../../src/devices/tree-remover.js';
import { DeviceFiles } from '../../src/devices/device-files.js';
import { SidecarStore } from '../../src/sidecar/sidecar-store.js';
import { cleanupTempDirs, makeTempDir, silentLogger, writeFile } from '../helpers/fs-fixtures.js';
import { isRoot, NOBODY, permissionCasesRunnable } from '../helpers/hostile-fs.js';
import { REPO_ROOT } from '../helpers/run-cli.js';

const mounted: string[] = [];

afterEach(() => {
  for (const dir of mounted.splice(0)) spawnSync('umount', ['-l', dir]);
  cleanupTempDirs();
});

/** Native unless DEVICE_BUILDER_REMOVER=rm (a machine without a compiler); a missing addon fails here otherwise. */
const ENGINES: RemoverEngine[] = removerChoiceFromEnv() === 'rm' ? ['rm'] : ['native', 'rm'];

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Every entry under `dir` (names, file contents, link targets), hashed in a stable order. */
function checksum(dir: string): string {
  const hash = createHash('sha256');
  const walk = (current: string): void => {
    for (const name of fs.readdirSync(current).sort()) {
      const full = path.join(current, name);
      const stats = fs.lstatSync(full);
      hash.update(`${path.relative(dir, full)}\0${stats.mode}\0`);
      if (stats.isSymbolicLink()) hash.update(fs.readlinkSync(full));
      else if (stats.isDirectory()) walk(full);
      else hash.update(fs.readFileSync(full));
    }
  };
  walk(dir);
  return hash.digest('hex');
}

function countFiles(dir: string): number {
  let count = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) if (!entry.isDirectory()) count++;
  return count;
}

/** `root/s000..` with `files` small files each. */
function buildTree(root: string, dirs: number, files: number): string[] {
  const subs: string[] = [];
  for (let d = 0; d < dirs; d++) {
    const sub = path.join(root, `s${String(d).padStart(3, '0')}`);
    fs.mkdirSync(sub, { recursive: true });
    for (let f = 0; f < files; f++) fs.writeFileSync(path.join(sub, `f${f}`), `${d}/${f}\n`);
    subs.push(sub);
  }
  return subs;
}

/** A folder's entries in the order readdir returns them (the order both engines visit them). */
function readdirOrder(dir: string): string[] {
  const handle = fs.opendirSync(dir);
  const names: string[] = [];
  try {
    for (let entry = handle.readSync(); entry; entry = handle.readSync()) names.push(entry.name);
  } finally {
    handle.closeSync();
  }
  return names;
}

/** An outside tree the attack points the link at: 500 files in 5 folders. */
function sentinel(root: string): { dir: string; sum: string } {
  const dir = path.join(root, 'outside');
  buildTree(dir, 5, 100);
  return { dir, sum: checksum(dir) };
}

/** Replaces `sub` by a symlink to `target`; its contents move out of the tree. */
function swapForLink(sub: string, target: string, displaced: string): void {
  fs.renameSync(sub, displaced);
  fs.symlinkSync(target, sub);
}

/** The last subfolder in readdir order that still holds all its files: no engine has reached it yet. */
function unvisited(build: string, files: number): string | null {
  const names = readdirOrder(build).reverse();
  for (const name of names) {
    const full = path.join(build, name);
    if (fs.lstatSync(full).isDirectory() && fs.readdirSync(full).length === files) return full;
  }
  return null;
}

/** Pids of our removal's `rm`: the main thread's children (one small /proc file), by command line. */
function rmChildren(): number[] {
  let children: number[];
  try {
    children = fs.readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
  return children.filter((pid) => {
    try {
      // The removal's rm, not the `rm --version` asked once when the engine is chosen.
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('--one-file-system');
    } catch {
      return false;
    }
  });
}

async function waitStopped(pid: number): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      throw new Error('rm finished before the swap');
    }
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('T')) return;
    await sleep(1);
  }
  throw new Error(`rm ${pid} did not stop`);
}

interface SwapRun {
  report: RemoveReport;
  swapped: string;
}

/**
 * Removes `build` with `engine`, swapping an unvisited subfolder for a link
 * to `target` in the middle of the run; fails if the swap could not happen
 * mid-run (the removal finished first, or had not started).
 */
async function removeWithSwap(engine: RemoverEngine, build: string, files: number, target: string, displaced: string): Promise<SwapRun> {
  let swapped: string | null = null;
  const swap = (): void => {
    const sub = unvisited(build, files);
    if (!sub) throw new Error('no unvisited subfolder left to swap');
    swapForLink(sub, target, displaced);
    swapped = sub;
  };
  if (engine === 'native') {
    const report = await removeTree(build, { engine, pauseAfterDirs: 1, onPause: swap });
    if (!swapped) throw new Error('the native remover never paused');
    return { report, swapped };
  }
  const total = countFiles(build);
  const running = removeTree(build, { engine });
  let pid: number | undefined;
  for (let i = 0; i < 5000 && pid === undefined; i++) {
    pid = rmChildren()[0];
    if (pid === undefined) await new Promise((resolve) => setImmediate(resolve));
  }
  if (pid === undefined) throw new Error('rm never started');
  // Stop rm once it has deleted something, swap while it is stopped, let it
  // go on. Between looks it runs for a fraction of a millisecond, spun here
  // rather than slept, so a busy machine cannot let it finish unobserved.
  for (let i = 0; i < 100_000 && !swapped; i++) {
    process.kill(pid, 'SIGSTOP');
    await waitStopped(pid);
    if (countFiles(build) < total) swap();
    process.kill(pid, 'SIGCONT');
    if (!swapped) for (const until = performance.now() + 0.2; performance.now() < until;);
  }
  const report = await running;
  if (!swapped) throw new Error('rm finished before the swap');
  return { report, swapped };
}

describe.each(ENGINES)('removeTree, %s engine', (engine) => {
  it('a subfolder swapped for a link to an outside tree mid-removal: the link is removed, the outside tree is intact', async () => {
    const root = fs.realpathSync(makeTempDir('tree-remover-swap-'));
    const outside = sentinel(root);
    const build = path.join(root, 'build', 'kitchen');
    // Large enough that rm is still running when it is stopped.
    const files = engine === 'rm' ? 100 : 50;
    buildTree(build, 60, files);
    const displaced = path.join(root, 'displaced');
    const { report, swapped } = await removeWithSwap(engine, build, files, outside.dir, displaced);
    expect(checksum(outside.dir)).toBe(outside.sum);
    expect(countFiles(outside.dir)).toBe(500);
    expect(fs.existsSync(swapped) || isLink(swapped)).toBe(false);
    expect(fs.existsSync(build)).toBe(false);
    expect(report).toMatchObject({ engine, complete: true, errorCount: 0, mountPointCount: 0 });
    // The displaced folder was ours; it left the tree before it was reached, so it is untouched.
    expect(countFiles(displaced)).toBe(files);
  });

  it('links to outside present from the start (folder, file, /, dangling, a loop) are unlinked, never followed', async () => {
    const root = fs.realpathSync(makeTempDir('tree-remover-links-'));
    const outside = sentinel(root);
    const build = path.join(root, 'build', 'kitchen');
    buildTree(build, 3, 3);
    fs.symlinkSync(outside.dir, path.join(build, 'to-outside'));
    fs.symlinkSync(path.join(outside.dir, 's000', 'f0'), path.join(build, 's001', 'to-file'));
    fs.symlinkSync('/', path.join(build, 's002', 'to-root'));
    fs.symlinkSync(path.join(root, 'nowhere'), path.join(build, 'dangling'));
    fs.symlinkSync('loop', path.join(build, 'loop'));
    fs.symlinkSync('..', path.join(build, 's000', 'up'));
    const report = await removeTree(build, { engine });
    expect(fs.existsSync(build)).toBe(false);
    expect(checksum(outside.dir)).toBe(outside.sum);
    expect(report).toMatchObject({ engine, complete: true, errorCount: 0 });
    if (engine === 'native') expect(report).toMatchObject({ removedFiles: 9 + 6, removedDirs: 4 });
  });

  it('a build folder that is itself a link: only the link goes', async () => {
    const root = fs.realpathSync(makeTempDir('tree-remover-rootlink-'));
    const outside = sentinel(root);
    const link = path.join(root, 'kitchen');
    fs.symlinkSync(outside.dir, link);
    const report = await removeTree(link, { engine });
    expect(isLink(link)).toBe(false);
    expect(checksum(outside.dir)).toBe(outside.sum);
    expect(report).toMatchObject({ complete: true, rootWasLink: true });
  });

  it('a missing folder is nothing to do', async () => {
    const root = fs.realpathSync(makeTempDir('tree-remover-missing-'));
    await expect(removeTree(path.join(root, 'gone'), { engine })).resolves.toMatchObject({ complete: true, rootMissing: true });
  });

  it.runIf(isRoot)('a mount point inside is left alone with its contents, and reported', async () => {
    const root = fs.realpathSync(makeTempDir('tree-remover-mount-'));
    const build = path.join(root, 'build', 'kitchen');
    buildTree(build, 3, 3);
    const mountPoint = path.join(build, 's001', 'mnt');
    fs.mkdirSync(mountPoint);
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint], { encoding: 'utf8' });
    if (mount.status !== 0) {
      console.warn(`mount unavailable, case skipped: ${mount.stderr}`);
      return;
    }
    mounted.push(mountPoint);
    writeFile(path.join(mountPoint, 'precious'), 'keep me');
    const report = await removeTree(build, { engine });
    expect(fs.readFileSync(path.join(mountPoint, 'precious'), 'utf8')).toBe('keep me');
    expect(report).toMatchObject({ complete: false, mountPointCount: 1, mountPoints: [mountPoint] });
    expect(describeIncomplete(report)).toContain(mountPoint);
    // Everything else went; only the folders above the mount stay.
    expect(fs.readdirSync(build)).toEqual(['s001']);
    expect(fs.readdirSync(path.join(build, 's001'))).toEqual(['mnt']);
  });

  it.runIf(permissionCasesRunnable)('an unreadable subfolder is reported and kept; everything else goes', async () => {
    const root = fs.realpathSync(makeTempDir('tree-remover-perm-'));
    fs.chmodSync(root, 0o755);
    const build = path.join(root, 'kitchen');
    buildTree(build, 3, 3);
    writeFile(path.join(build, 'locked', 'secret'), 'x');
    let report: RemoveReport;
    if (isRoot) {
      // Root reads everything: remove as nobody, with the locked folder root's own.
      for (const entry of fs.readdirSync(build, { recursive: true })) fs.lchownSync(path.join(build, String(entry)), NOBODY, NOBODY);
      fs.lchownSync(build, NOBODY, NOBODY);
      fs.chownSync(path.join(build, 'locked'), 0, 0);
      fs.chmodSync(path.join(build, 'locked'), 0o000);
      report = removeAsNobody(build, engine);
    } else {
      fs.chmodSync(path.join(build, 'locked'), 0o000);
      try {
        report = await removeTree(build, { engine });
      } finally {
        fs.chmodSync(path.join(build, 'locked'), 0o755);
      }
    }
    expect(fs.readdirSync(build)).toEqual(['locked']);
    expect(fs.existsSync(path.join(build, 'locked', 'secret'))).toBe(true);
    expect(report.complete).toBe(false);
    expect(report.errorCount).toBeGreaterThanOrEqual(1);
    expect(report.errors.join('\n')).toMatch(engine === 'native' ? /locked: EACCES/ : /locked.*Permission denied/);
  });

  it('600 nested folders (far more than the native remover keeps open), a link to outside every 37 levels: all removed, nothing followed', async () => {
    const root = fs.realpathSync(makeTempDir('tree-remover-deep-'));
    const outside = sentinel(root);
    const build = path.join(root, 'kitchen');
    let dir = build;
    fs.mkdirSync(dir);
    for (let depth = 1; depth <= 600; depth++) {
      dir = path.join(dir, 'd');
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'leaf'), 'x');
      if (depth % 37 === 0) fs.symlinkSync(outside.dir, path.join(dir, 'link'));
    }
    const report = await removeTree(build, { engine });
    expect(fs.existsSync(build)).toBe(false);
    expect(checksum(outside.dir)).toBe(outside.sum);
    expect(report).toMatchObject({ complete: true, errorCount: 0 });
    if (engine === 'native') expect(report).toMatchObject({ removedDirs: 601, removedFiles: 600 + 16 });
  });

  it('a 100,000-entry tree: memory stays flat and the event loop keeps answering (figures logged, not asserted)', async () => {
    const root = fs.realpathSync(makeTempDir('tree-remover-big-'));
    const build = path.join(root, 'kitchen');
    // 100k empty files: one python process makes them far faster than 100k Node calls.
    const script =
      'import os,sys\nfor d in range(100):\n  p=os.path.join(sys.argv[1],"s%03d"%d); os.makedirs(p)\n  for f in range(1000): os.close(os.open(os.path.join(p,"f%d"%f), os.O_CREAT|os.O_WRONLY, 0o644))\n';
    const built = spawnSync('python3', ['-c', script, build], { encoding: 'utf8' });
    expect(built.status, built.stderr).toBe(0);
    const figures = await measureRemoval(build, engine);
    console.log(`[tree-remover] ${engine}, 100k entries: ${JSON.stringify(figures)}`);
    expect(fs.existsSync(build)).toBe(false);
    expect(figures.report).toMatchObject({ complete: true, errorCount: 0 });
    if (engine === 'native') expect(figures.report).toMatchObject({ removedFiles: 100_000, removedDirs: 101 });
    // fs.rm held the tree in memory (1.86 GB for 1M entries); the remover does not.
    expect(figures.rssGrowthMb).toBeLessThan(100);
  }, 300_000);
});

function isLink(target: string): boolean {
  try {
    return fs.lstatSync(target).isSymbolicLink();
  } catch {
    return false;
  }
}

function removeAsNobody(dir: string, engine: RemoverEngine): RemoveReport {
  const run = spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'test', 'fixtures', 'remove-once.ts'), dir], {
    uid: NOBODY,
    gid: NOBODY,
    encoding: 'utf8',
    cwd: REPO_ROOT,
    timeout: 30_000,
    env: { ...process.env, DEVICE_BUILDER_REMOVER: engine, TSX_TSCONFIG_PATH: '' },
  });
  const out = JSON.parse(run.stdout) as { ok: boolean; report: RemoveReport; error?: string };
  if (!out.ok) throw new Error(`remove as nobody failed: ${out.error} ${run.stderr}`);
  return out.report;
}

interface Figures {
  report: RemoveReport;
  seconds: number;
  rssGrowthMb: number;
  worstTimerLateMs: number;
  worstHttpMs: number;
  httpRequests: number;
}

/** Removes `build` while sampling RSS and measuring a 5 ms timer's lateness and HTTP round trips on this event loop. */
async function measureRemoval(build: string, engine: RemoverEngine): Promise<Figures> {
  const server = http.createServer((_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const agent = new http.Agent({ keepAlive: true });
  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  let worstTimerLate = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    worstTimerLate = Math.max(worstTimerLate, now - last - 5);
    last = now;
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 5);
  let running = true;
  let worstHttp = 0;
  let requests = 0;
  const client = (async () => {
    while (running) {
      const start = performance.now();
      await new Promise<void>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, agent, path: '/' }, (res) => res.resume().on('end', resolve)).on('error', reject);
      });
      worstHttp = Math.max(worstHttp, performance.now() - start);
      requests++;
      await sleep(5);
    }
  })();
  const started = performance.now();
  try {
    const report = await removeTree(build, { engine });
    const seconds = (performance.now() - started) / 1000;
    return {
      report,
      seconds: Math.round(seconds * 100) / 100,
      rssGrowthMb: Math.round((peak - baseline) / 1e5) / 10,
      worstTimerLateMs: Math.round(worstTimerLate * 10) / 10,
      worstHttpMs: Math.round(worstHttp * 10) / 10,
      httpRequests: requests,
    };
  } finally {
    running = false;
    clearInterval(timer);
    await client;
    agent.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
}

describe('choosing the engine', () => {
  it('DEVICE_BUILDER_REMOVER is validated: auto, native, rm; anything else is an error', () => {
    expect(removerChoiceFromEnv({})).toBe('auto');
    expect(removerChoiceFromEnv({ DEVICE_BUILDER_REMOVER: ' RM ' })).toBe('rm');
    expect(removerChoiceFromEnv({ DEVICE_BUILDER_REMOVER: 'native' })).toBe('native');
    expect(() => removerChoiceFromEnv({ DEVICE_BUILDER_REMOVER: 'fs' })).toThrow(/must be auto, native or rm/);
  });

  it('this machine has both engines (the addon is built, rm is GNU coreutils)', async () => {
    if (ENGINES.includes('native')) expect(nativeRemoverUnavailable()).toBeNull();
    await expect(gnuRmUnavailable()).resolves.toBeNull();
  });

  it('an rm that is not GNU coreutils is refused, not used: nothing is deleted', () => {
    const root = fs.realpathSync(makeTempDir('tree-remover-fakerm-'));
    fs.chmodSync(root, 0o755);
    const bin = path.join(root, 'bin');
    writeFile(path.join(bin, 'rm'), '#!/bin/sh\necho "rm (BusyBox) 1.36"\n[ "$1" = --version ] && exit 0\nexec /bin/rm "$@"\n');
    fs.chmodSync(path.join(bin, 'rm'), 0o755);
    const build = path.join(root, 'kitchen');
    buildTree(build, 2, 2);
    const run = spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'test', 'fixtures', 'remove-once.ts'), build], {
      encoding: 'utf8',
      cwd: REPO_ROOT,
      timeout: 30_000,
      env: { ...process.env, PATH: `${bin}:${process.env['PATH'] ?? ''}`, DEVICE_BUILDER_REMOVER: 'rm', TSX_TSCONFIG_PATH: '' },
    });
    const out = JSON.parse(run.stdout) as { ok: boolean; error?: string };
    expect(out.ok).toBe(false);
    expect(out.error).toMatch(/rm remover requested .* unusable: rm is not GNU coreutils/);
    expect(countFiles(build)).toBe(4);
  });
});

describe('native remover details', () => {
  it.runIf(ENGINES.includes('native'))('abort: the signal stops the removal at the next entry and the promise rejects', async () => {
    const root = fs.realpathSync(makeTempDir('tree-remover-abort-'));
    const build = path.join(root, 'kitchen');
    buildTree(build, 10, 10);
    const controller = new AbortController();
    const run = removeTree(build, { engine: 'native', signal: controller.signal, pauseAfterDirs: 1, onPause: () => controller.abort() });
    await expect(run).rejects.toThrow(/abort/i);
    expect(countFiles(build)).toBeGreaterThan(80);
  });

  it('refuses the file-system root and NUL bytes', async () => {
    await expect(removeTree('/')).rejects.toThrow(/file-system root/);
    await expect(removeTree('a\0b')).rejects.toThrow(/NUL/);
  });
});

describe('device delete and archive use it', () => {
  it.runIf(ENGINES.includes('native'))(
    'devices/delete with a subfolder swapped for a link mid-delete: outside tree intact, link gone, build folder gone',
    async () => {
      const root = fs.realpathSync(makeTempDir('tree-remover-device-'));
      const outside = sentinel(root);
      const config = path.join(root, 'config');
      const data = path.join(config, '.esphome');
      const build = path.join(data, 'build', 'kitchen');
      writeFile(path.join(config, 'kitchen.yaml'), 'esphome:\n  name: kitchen\n');
      writeFile(path.join(data, 'storage', 'kitchen.yaml.json'), JSON.stringify({ storage_version: 1, name: 'kitchen', build_path: build }));
      buildTree(build, 20, 20);
      let swapped = '';
      const files = new DeviceFiles({
        configDir: config,
        dataDir: data,
        store: new SidecarStore(config, { logger: silentLogger }),
        logger: silentLogger,
        env: {},
        removeTree: (target, options) =>
          removeTree(target, {
            ...options,
            engine: 'native',
            pauseAfterDirs: 1,
            onPause: () => {
              swapped = unvisited(build, 20) as string;
              swapForLink(swapped, outside.dir, path.join(root, 'displaced'));
            },
          }),
      });
      await expect(files.delete('kitchen.yaml')).resolves.toEqual({ configuration: 'kitchen.yaml', build_folder: 'deleted' });
      expect(swapped).not.toBe('');
      expect(isLink(swapped)).toBe(false);
      expect(fs.existsSync(build)).toBe(false);
      expect(checksum(outside.dir)).toBe(outside.sum);
    },
  );
});

describe.runIf(spawnSync('cc', ['--version']).status === 0)('native/remove_tree.c under AddressSanitizer and UndefinedBehaviorSanitizer', () => {
  it('a hostile tree (deep, wide, links, FIFOs, a mount when root) is removed with no sanitizer report and no leak', () => {
    const root = fs.realpathSync(makeTempDir('tree-remover-asan-'));
    const binary = path.join(root, 'check');
    execFileSync('cc', [
      '-g',
      '-O1',
      '-Wall',
      '-Wextra',
      '-Werror',
      '-fsanitize=address,undefined',
      '-fno-sanitize-recover=all',
      '-DREMOVE_TREE_CORE_ONLY',
      path.join(REPO_ROOT, 'native', 'remove_tree.c'),
      path.join(REPO_ROOT, 'native', 'harness', 'remove_tree_check.c'),
      '-o',
      binary,
    ]);
    const outside = sentinel(root);
    const build = path.join(root, 'kitchen');
    buildTree(build, 20, 50);
    let dir = build;
    for (let depth = 0; depth < 300; depth++) {
      dir = path.join(dir, `level-${depth}`);
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'f'), 'x');
      if (depth % 30 === 0) {
        fs.symlinkSync(outside.dir, path.join(dir, 'out'));
        spawnSync('mkfifo', [path.join(dir, 'fifo')]);
      }
    }
    let mountPoint: string | null = null;
    if (isRoot) {
      mountPoint = path.join(dir, 'mnt');
      fs.mkdirSync(mountPoint);
      if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint]).status === 0) {
        mounted.push(mountPoint);
        fs.writeFileSync(path.join(mountPoint, 'keep'), 'x');
      } else mountPoint = null;
    }
    const lonely = path.join(root, 'lonely-file');
    fs.writeFileSync(lonely, 'x');
    const run = spawnSync(binary, [build, path.join(root, 'missing'), lonely], {
      encoding: 'utf8',
      env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=1', UBSAN_OPTIONS: 'halt_on_error=1' },
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const [tree, missing, file] = run.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, number>);
    expect(tree).toMatchObject({ removedFiles: 1000 + 300 + 10 + 10, errorCount: 0, mountPointCount: mountPoint ? 1 : 0, complete: mountPoint ? 0 : 1 });
    expect(missing).toMatchObject({ rootMissing: 1, complete: 1 });
    // A file as the root is unlinked as itself.
    expect(file).toMatchObject({ rootWasLink: 1, complete: 1 });
    expect(fs.existsSync(lonely)).toBe(false);
    if (mountPoint) expect(fs.readFileSync(path.join(mountPoint, 'keep'), 'utf8')).toBe('x');
    expect(checksum(outside.dir)).toBe(outside.sum);
  }, 60_000);
});
