/**
 * Walks over hostile and odd build folders, through the real WalkPool
 * (docs/RELIABILITY.md, "Hostile and odd file systems"): every walk
 * terminates, never follows a link, never blocks on a FIFO, returns the
 * total of what it could read and reports what it skipped in the debug log.
 * The heavy cases (a 200,000-entry folder, churn at scale) are in
 * stress/hostile-fs.stress.ts.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { WalkPool, type WalkResult } from '../../src/build-size/walk-pool.js';
import { cleanupTempDirs, makeTempDir, writeFile } from '../helpers/fs-fixtures.js';
import { WALKER_CASES, walkerEnv } from '../helpers/walkers.js';
import {
  buildDeepTree,
  buildStableTree,
  capturingLogger,
  CHURN_FILE_BYTES,
  isRoot,
  permissionCasesRunnable,
  removeDeepTree,
  skippedLine,
  startChurn,
  walkAsNobody,
} from '../helpers/hostile-fs.js';

const capture = capturingLogger();
describe.each(WALKER_CASES)('%s', (_name, setup) => {
  let pool: WalkPool;
  const servers: net.Server[] = [];

  beforeAll(() => {
    pool = new WalkPool({ size: 2, logger: capture.logger, ...setup.options });
  });
  afterAll(async () => {
    await pool.close();
  });
  beforeEach(() => capture.clear());
  afterEach(() => {
    for (const server of servers.splice(0)) server.close();
    cleanupTempDirs();
  });

  /** A walk that must finish within `ms`, or the test fails instead of hanging. */
  async function walkWithin(root: string, ms = 10_000): Promise<WalkResult> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`walk of ${root} did not finish within ${ms} ms`)), ms);
    });
    try {
      return await Promise.race([pool.walk(root), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  function linkSize(target: string): number {
    return fs.lstatSync(target).size;
  }

  async function listen(socketPath: string): Promise<void> {
    const server = net.createServer();
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  }

  describe('symbolic links are never followed', () => {
    it('loops, a link to /, to .., to the tree root and a self-link cost their own size and the walk ends', async () => {
      const dir = makeTempDir('hostile-');
      writeFile(path.join(dir, 'real', 'f'), 10);
      fs.symlinkSync('b', path.join(dir, 'real', 'a'));
      fs.symlinkSync('a', path.join(dir, 'real', 'b'));
      fs.symlinkSync('self', path.join(dir, 'real', 'self'));
      fs.symlinkSync('/', path.join(dir, 'root'));
      fs.symlinkSync('..', path.join(dir, 'real', 'up'));
      fs.symlinkSync(dir, path.join(dir, 'real', 'top'));
      fs.symlinkSync('/proc/self/root', path.join(dir, 'proc-root'));
      fs.symlinkSync('/dev/zero', path.join(dir, 'zero'));
      const links = ['real/a', 'real/b', 'real/self', 'root', 'real/up', 'real/top', 'proc-root', 'zero'];
      const result = await walkWithin(dir);
      expect(result.bytes).toBe(10 + links.reduce((sum, link) => sum + linkSize(path.join(dir, link)), 0));
      expect(result.files).toBe(1 + links.length);
      expect(result.dirs).toBe(2);
      expect(result.skipped).toBe(0);
    });

    it.each([
      ['a symlink to /', '/'],
      ['a symlink to itself', null],
      ['a dangling symlink', '/nonexistent/build'],
    ])('a build folder that is %s sizes 0 at once', async (_label, target) => {
      const dir = makeTempDir('hostile-');
      const root = path.join(dir, 'build');
      fs.symlinkSync(target ?? root, root);
      expect((await walkWithin(root, 5_000)).bytes).toBe(0);
    });
  });

  describe('FIFOs, sockets and device files are never opened', () => {
    it('are skipped without blocking, counted as skipped, and named in the debug log', async () => {
      const dir = makeTempDir('hostile-');
      writeFile(path.join(dir, 'f'), 3);
      writeFile(path.join(dir, 'sub', 'g'), 4);
      execFileSync('mkfifo', [path.join(dir, 'fifo')]);
      execFileSync('mkfifo', [path.join(dir, 'sub', 'build_info.json')]);
      await listen(path.join(dir, 'sub', 'sock'));
      const specials = 3 + (isRoot ? 2 : 0);
      if (isRoot) {
        // A /dev/null and a /dev/sda look-alike: reading either would hang or cost a disk.
        execFileSync('mknod', [path.join(dir, 'null'), 'c', '1', '3']);
        execFileSync('mknod', [path.join(dir, 'sub', 'disk'), 'b', '7', '200']);
      }
      const started = performance.now();
      const result = await walkWithin(dir, 5_000);
      expect(performance.now() - started).toBeLessThan(5_000);
      expect(result).toMatchObject({ bytes: 7, files: 2, skipped: specials });
      const line = skippedLine(capture.lines(), dir);
      expect(line).toMatchObject({ level: 20, skipped: specials });
      const samples = (line?.['samples'] as string[]).join('\n');
      expect(samples).toContain(`${path.join(dir, 'fifo')}: FIFO`);
      expect(samples).toContain(`${path.join(dir, 'sub', 'sock')}: socket`);
      if (isRoot) expect(samples).toContain(`${path.join(dir, 'null')}: device`);
    });

    it('a FIFO as build_info.json does not block the freshness pair', async () => {
      const dir = makeTempDir('hostile-');
      execFileSync('mkfifo', [path.join(dir, 'build_info.json')]);
      fs.utimesSync(path.join(dir, 'build_info.json'), 1_700_000_100, 1_700_000_100);
      fs.utimesSync(dir, 1_700_000_000, 1_700_000_000);
      expect(await pool.signal(dir)).toMatchObject({ dirMtime: 1_700_000_000, infoMtime: 1_700_000_100 });
    });

    it.each([
      ['a FIFO', (p: string) => execFileSync('mkfifo', [p])],
      ['a regular file', (p: string) => fs.writeFileSync(p, 'x')],
      ['a socket', (p: string) => listen(p)],
    ])('a build folder that is %s sizes 0 at once', async (_label, make) => {
      const dir = makeTempDir('hostile-');
      const root = path.join(dir, 'build');
      await make(root);
      expect(await walkWithin(root, 5_000)).toMatchObject({ bytes: 0, files: 0 });
    });

    it('/dev as a build folder: device nodes are skipped, never read', async () => {
      const result = await walkWithin('/dev', 10_000);
      expect(result.skipped).toBeGreaterThan(0);
      // Only links (e.g. /dev/fd, /dev/stdin) and regular files count; nothing was read through a device.
      expect(result.bytes).toBeLessThan(10 * 1024 * 1024);
    });
  });

  describe('unreadable folders and files (walked as another user when root)', () => {
    function lockedTree(): { dir: string; expectBytes: number; expectSkipped: number } {
      const dir = makeTempDir('hostile-perm-');
      fs.chmodSync(dir, 0o755);
      writeFile(path.join(dir, 'ok', 'f'), 10);
      writeFile(path.join(dir, 'unreadable-file'), 10);
      writeFile(path.join(dir, 'locked', 'secret'), 1000);
      writeFile(path.join(dir, 'locked', 'deeper', 'more'), 1000);
      writeFile(path.join(dir, 'list-only', 'a'), 100);
      writeFile(path.join(dir, 'list-only', 'b'), 100);
      writeFile(path.join(dir, 'search-only', 'c'), 100);
      for (const file of ['ok', 'ok/f', 'list-only/a', 'list-only/b', 'search-only/c']) {
        fs.chmodSync(path.join(dir, file), file.includes('/') ? 0o644 : 0o755);
      }
      fs.chmodSync(path.join(dir, 'unreadable-file'), 0o000);
      fs.chmodSync(path.join(dir, 'locked'), 0o000);
      // Names listable but not stat-able; stat-able but not listable.
      fs.chmodSync(path.join(dir, 'list-only'), 0o444);
      fs.chmodSync(path.join(dir, 'search-only'), 0o111);
      // ok/f and the unreadable file (lstat needs no read permission); locked,
      // list-only/a, list-only/b and search-only are skipped.
      return { dir, expectBytes: 20, expectSkipped: 4 };
    }

    function walkRestricted(dir: string): Promise<{ result: WalkResult; lines: ReturnType<typeof capture.lines> }> {
      if (isRoot) return Promise.resolve(walkAsNobody(dir, walkerEnv(setup)));
      return walkWithin(dir).then((result) => ({ result, lines: capture.lines() }));
    }

    it.runIf(permissionCasesRunnable)(
      'skips what it cannot list or stat, counts the rest, and logs each reason',
      async () => {
        const { dir, expectBytes, expectSkipped } = lockedTree();
        let walked;
        try {
          walked = await walkRestricted(dir);
        } finally {
          // So the cleanup can descend when the tests run as a normal user.
          for (const sub of ['locked', 'list-only', 'search-only']) fs.chmodSync(path.join(dir, sub), 0o755);
        }
        const { result, lines } = walked;
        expect(result).toMatchObject({ bytes: expectBytes, files: 2, skipped: expectSkipped });
        const line = skippedLine(lines, dir);
        expect(line).toMatchObject({ skipped: expectSkipped });
        const samples = (line?.['samples'] as string[]).sort();
        expect(samples).toEqual(
          [
            `${path.join(dir, 'list-only', 'a')}: EACCES`,
            `${path.join(dir, 'list-only', 'b')}: EACCES`,
            `${path.join(dir, 'locked')}: EACCES`,
            `${path.join(dir, 'search-only')}: EACCES`,
          ].sort(),
        );
      },
      30_000,
    );

    it.runIf(permissionCasesRunnable)(
      'an unreadable build folder sizes 0 and is reported as skipped, not as missing',
      async () => {
        const dir = makeTempDir('hostile-perm-');
        fs.chmodSync(dir, 0o755);
        const root = path.join(dir, 'build');
        writeFile(path.join(root, 'f'), 10);
        fs.chmodSync(root, 0o000);
        let walked;
        try {
          walked = await walkRestricted(root);
        } finally {
          fs.chmodSync(root, 0o755);
        }
        const { result, lines } = walked;
        expect(result).toMatchObject({ bytes: 0, skipped: 1 });
        expect(skippedLine(lines, root)?.['samples']).toEqual([`${root}: EACCES`]);
      },
      30_000,
    );
  });

  describe('odd names', () => {
    it('newlines, invalid UTF-8, a literal U+FFFD, spaces and 255-byte names all count; a skipped one is logged', async () => {
      const dir = makeTempDir('hostile-');
      writeFile(path.join(dir, 'new\nline', 'file\nname'), 1);
      writeFile(path.join(dir, 'replacement-\uFFFD-char'), 2);
      writeFile(path.join(dir, '   '), 3);
      writeFile(path.join(dir, 'n'.repeat(255)), 4);
      const badDir = Buffer.concat([Buffer.from(`${dir}/bad-`), Buffer.from([0xff, 0xfe, 0x0a])]);
      fs.mkdirSync(badDir);
      fs.writeFileSync(Buffer.concat([badDir, Buffer.from('/'), Buffer.from([0xc3, 0x28])]), 'x'.repeat(5));
      const nested = Buffer.concat([badDir, Buffer.from('/'), Buffer.from([0xe2, 0x82])]);
      fs.mkdirSync(nested);
      fs.writeFileSync(Buffer.concat([nested, Buffer.from('/ok')]), 'x'.repeat(6));
      // A FIFO whose name is not UTF-8 either, made from inside (a path of raw bytes cannot be an argument).
      execFileSync('bash', [
        '-c',
        `set -e; cd "$1"; printf -v a 'bad-\\xff\\xfe\\n'; cd "$a"; printf -v b '\\xe2\\x82'; cd "$b"; printf -v c 'pipe-\\xff'; mkfifo "$c"`,
        'mk',
        dir,
      ]);
      const result = await walkWithin(dir);
      expect(result.bytes).toBe(1 + 2 + 3 + 4 + 5 + 6);
      expect(result.files).toBe(6);
      // The FIFO is the one skip, and the log names it (lossily decoded).
      expect(result.skipped).toBe(1);
      expect((skippedLine(capture.lines(), dir)?.['samples'] as string[])[0]).toMatch(/\/pipe-\uFFFD: FIFO$/);
    });
  });

  describe('depth', () => {
    it('2,000 nested folders: explicit stack, every level counted', async () => {
      const dir = makeTempDir('hostile-deep-');
      try {
        buildDeepTree(dir, 2_000, 'd');
        const result = await walkWithin(dir);
        expect(result).toMatchObject({ bytes: 2_000, files: 2_000, dirs: 2_001, skipped: 0 });
      } finally {
        // Node's recursive rm recurses per level; rm -rf does not.
        removeDeepTree(dir);
      }
    });

    it('50 levels of 255-byte names (past PATH_MAX): the walk ends, counts what it can reach, logs ENAMETOOLONG', async () => {
      const dir = makeTempDir('hostile-deep-');
      try {
        const name = 'n'.repeat(255);
        buildDeepTree(dir, 50, name);
        const result = await walkWithin(dir);
        // A folder at level k has a path of |dir| + 256k bytes; Linux refuses paths of 4096 bytes and more.
        const reachable = Array.from({ length: 50 }, (_, i) => i + 1).filter((k) => dir.length + 256 * k + '/leaf'.length < 4096).length;
        expect(reachable).toBeGreaterThan(10);
        expect(result.bytes).toBe(reachable);
        expect(result.skipped).toBeGreaterThanOrEqual(1);
        const samples = skippedLine(capture.lines(), dir)?.['samples'] as string[];
        expect(samples.some((sample) => sample.endsWith('ENAMETOOLONG'))).toBe(true);
      } finally {
        removeDeepTree(dir);
      }
    });
  });

  describe('very wide folders (the 200,000-entry case at small scale)', () => {
    it('more subfolders than are handed back as pieces: all counted once, in the right buckets, hard links once', async () => {
      const dir = makeTempDir('hostile-wide-');
      const n = 1_500;
      for (let i = 0; i < n; i++) writeFile(path.join(dir, `lib${i}`, 'x.o'), 3);
      for (let i = 0; i < n; i++) writeFile(path.join(dir, '.piolibdeps', `lib${i}`, 'y.o'), 5);
      writeFile(path.join(dir, 'dependencies.lock'), 7);
      writeFile(path.join(dir, 'platformio.ini'), 11);
      // A hard link between a folder handed back and one walked in place.
      fs.linkSync(path.join(dir, 'lib0', 'x.o'), path.join(dir, `lib${n - 1}`, 'again.o'));
      const result = await walkWithin(dir);
      expect(result).toMatchObject({ files: 2 * n + 3, dirs: 2 * n + 2, skipped: 0 });
      expect(result.bytes).toBe(3 * n + 5 * n + 7 + 11 + 3);
      expect(result.breakdown).toEqual({ pioenvs: 0, piolibdeps: 5 * n, src: 0, lock: 7, other: 3 * n + 11 + 3 });
      const block = fs.statSync(path.join(dir, 'lib0', 'x.o')).blocks * 512;
      const single = fs.statSync(path.join(dir, 'lib1', 'x.o')).blocks * 512;
      expect(result.diskBytes).toBe(
        block +
          single * (2 * n - 1) +
          fs.statSync(path.join(dir, 'platformio.ini')).blocks * 512 +
          fs.statSync(path.join(dir, 'dependencies.lock')).blocks * 512,
      );
    });
  });

  describe('files vanishing and appearing during the walk', () => {
    it('a churn process creating, deleting and flipping files and folders: every walk ends within bounds', async () => {
      const dir = makeTempDir('hostile-churn-');
      const stable = buildStableTree(dir, 20, 50, 10);
      const churn = await startChurn(dir, 7);
      const results: WalkResult[] = [];
      const started = performance.now();
      try {
        while (performance.now() - started < 2_000) results.push(await walkWithin(dir));
      } finally {
        const created = await churn.stop();
        // Every walk saw all stable bytes, plus at most every churn file that ever existed.
        for (const result of results) {
          expect(result.bytes).toBeGreaterThanOrEqual(stable);
          expect(result.bytes).toBeLessThanOrEqual(stable + CHURN_FILE_BYTES * created);
        }
        expect(created).toBeGreaterThan(100);
      }
      expect(results.length).toBeGreaterThan(3);
    }, 30_000);
  });
});
