import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WalkPool } from '../../src/build-size/walk-pool.js';
import { cleanupTempDirs, makeTempDir, silentLogger, writeFile } from '../helpers/fs-fixtures.js';
import { isRoot, permissionCasesRunnable, walkAsNobody } from '../helpers/hostile-fs.js';
import { WALKER_CASES, walkerEnv } from '../helpers/walkers.js';

describe.each(WALKER_CASES)('%s', (_name, setup) => {
  let pool: WalkPool;

  beforeAll(() => {
    pool = new WalkPool({ size: 2, logger: silentLogger, ...setup.options });
  });
  afterAll(async () => {
    await pool.close();
  });
  afterEach(cleanupTempDirs);

  describe('walk: what counts', () => {
    it('sums regular files recursively; folders add nothing', async () => {
      const dir = makeTempDir();
      writeFile(path.join(dir, 'a.txt'), 10);
      writeFile(path.join(dir, 'src', 'b.cpp'), 20);
      writeFile(path.join(dir, 'src', 'deep', 'er', 'c.h'), 30);
      fs.mkdirSync(path.join(dir, 'empty', 'nested'), { recursive: true });
      const result = await pool.walk(dir);
      expect(result.bytes).toBe(60);
      expect(result.files).toBe(3);
    });

    it('gives 0 for a missing folder and for an empty one', async () => {
      const dir = makeTempDir();
      expect((await pool.walk(path.join(dir, 'nope'))).bytes).toBe(0);
      expect((await pool.walk(dir)).bytes).toBe(0);
    });

    it('spreads a wide tree over the workers and still counts every file once', async () => {
      const dir = makeTempDir();
      let expected = 0;
      for (let d = 0; d < 40; d++) {
        for (let f = 0; f < 25; f++) {
          const bytes = d * 25 + f + 1;
          writeFile(path.join(dir, '.piolibdeps', 'kitchen', `lib${d}`, 'src', `f${f}.c`), bytes);
          expected += bytes;
        }
      }
      const result = await pool.walk(dir);
      expect(result.files).toBe(1000);
      expect(result.bytes).toBe(expected);
      expect(result.breakdown.piolibdeps).toBe(expected);
    });

    it('attributes bytes to .pioenvs, .piolibdeps, src, dependencies.lock and the rest', async () => {
      const dir = makeTempDir();
      writeFile(path.join(dir, '.pioenvs', 'k', 'firmware.bin'), 1000);
      writeFile(path.join(dir, '.piolibdeps', 'k', 'Lib', 'x.cpp'), 200);
      writeFile(path.join(dir, 'src', 'main.cpp'), 30);
      writeFile(path.join(dir, 'dependencies.lock'), 4);
      writeFile(path.join(dir, 'platformio.ini'), 5);
      writeFile(path.join(dir, 'include', 'x.h'), 6);
      const { breakdown, bytes } = await pool.walk(dir);
      expect(breakdown).toEqual({ pioenvs: 1000, piolibdeps: 200, src: 30, lock: 4, other: 11 });
      expect(bytes).toBe(1245);
    });

    it('walks 60 levels of nesting', async () => {
      const dir = makeTempDir();
      let deep = dir;
      for (let i = 0; i < 60; i++) deep = path.join(deep, 'd');
      writeFile(path.join(deep, 'leaf'), 7);
      expect((await pool.walk(dir)).bytes).toBe(7);
    });

    it('counts files whose names are not valid UTF-8 or contain newlines', async () => {
      const dir = makeTempDir();
      const sub = path.join(dir, 'sub');
      fs.mkdirSync(sub);
      fs.writeFileSync(Buffer.concat([Buffer.from(`${sub}/bad-`), Buffer.from([0xff, 0xfe]), Buffer.from('.o')]), 'x'.repeat(11));
      const badDir = Buffer.concat([Buffer.from(`${dir}/dir-`), Buffer.from([0xc3, 0x28])]);
      fs.mkdirSync(badDir);
      fs.writeFileSync(Buffer.concat([badDir, Buffer.from('/inner')]), 'y'.repeat(13));
      writeFile(path.join(dir, 'line\nbreak'), 5);
      const result = await pool.walk(dir);
      expect(result.bytes).toBe(29);
      expect(result.skipped).toBe(0);
    });

    it('counts a hard-linked inode once in the allocated size but per name in the apparent size', async () => {
      const dir = makeTempDir();
      writeFile(path.join(dir, 'a', 'big'), 64 * 1024);
      fs.linkSync(path.join(dir, 'a', 'big'), path.join(dir, 'b-link'));
      fs.mkdirSync(path.join(dir, 'c'));
      fs.linkSync(path.join(dir, 'a', 'big'), path.join(dir, 'c', 'again'));
      const result = await pool.walk(dir);
      expect(result.bytes).toBe(3 * 64 * 1024);
      const blocks = fs.statSync(path.join(dir, 'a', 'big')).blocks * 512;
      expect(result.diskBytes).toBe(blocks);
    });
  });

  describe('walk: never follows links (behaviour 9)', () => {
    it('costs a link to a file its own size, not its target size', async () => {
      const dir = makeTempDir();
      const outside = makeTempDir();
      writeFile(path.join(outside, 'huge.bin'), 1_000_000);
      fs.symlinkSync(path.join(outside, 'huge.bin'), path.join(dir, 'link'));
      const linkSize = fs.lstatSync(path.join(dir, 'link')).size;
      expect((await pool.walk(dir)).bytes).toBe(linkSize);
    });

    it('does not descend into a link to a folder, to the tree itself, or to /', async () => {
      const dir = makeTempDir();
      writeFile(path.join(dir, 'real', 'f'), 10);
      fs.symlinkSync(dir, path.join(dir, 'real', 'loop'));
      fs.symlinkSync('/', path.join(dir, 'root'));
      fs.symlinkSync('..', path.join(dir, 'real', 'up'));
      const result = await pool.walk(dir);
      const links = ['real/loop', 'root', 'real/up'].reduce((sum, p) => sum + fs.lstatSync(path.join(dir, p)).size, 0);
      expect(result.bytes).toBe(10 + links);
    });

    it('sizes a symlinked build folder as 0: its target is not ours to count', async () => {
      const target = makeTempDir();
      writeFile(path.join(target, 'f'), 100);
      const dir = makeTempDir();
      fs.symlinkSync(target, path.join(dir, 'build'));
      expect((await pool.walk(path.join(dir, 'build'))).bytes).toBe(0);
    });
  });

  describe('walk: odd entries and faults (behaviour 8)', () => {
    it('never opens FIFOs, sockets or device files, and never blocks on them', async () => {
      const dir = makeTempDir();
      writeFile(path.join(dir, 'f'), 3);
      execFileSync('mkfifo', [path.join(dir, 'fifo')]);
      const server = net.createServer();
      await new Promise<void>((resolve) => server.listen(path.join(dir, 'sock'), resolve));
      try {
        const result = await pool.walk(dir);
        expect(result.bytes).toBe(3);
        expect(result.files).toBe(1);
      } finally {
        server.close();
      }
    });

    it('returns the total it could see while files vanish under it', async () => {
      const dir = makeTempDir();
      for (let d = 0; d < 20; d++) for (let f = 0; f < 200; f++) writeFile(path.join(dir, `d${d}`, `f${f}`), 10);
      const walking = pool.walk(dir);
      for (let d = 0; d < 20; d += 2) fs.rmSync(path.join(dir, `d${d}`), { recursive: true, force: true });
      const result = await walking;
      expect(result.bytes).toBeGreaterThanOrEqual(20_000);
      expect(result.bytes).toBeLessThanOrEqual(40_000);
      expect(result.bytes % 10).toBe(0);
    });

    // Root reads everything, so the unreadable case runs the walk as `nobody`.
    it.runIf(isRoot && permissionCasesRunnable)('skips an unreadable subfolder and counts the rest', () => {
      const dir = makeTempDir();
      fs.chmodSync(dir, 0o755);
      writeFile(path.join(dir, 'ok', 'f'), 10);
      writeFile(path.join(dir, 'locked', 'secret'), 1000);
      fs.chmodSync(path.join(dir, 'ok'), 0o755);
      fs.chmodSync(path.join(dir, 'ok', 'f'), 0o644);
      fs.chmodSync(path.join(dir, 'locked'), 0o000);
      const { result } = walkAsNobody(dir, walkerEnv(setup));
      expect(result.bytes).toBe(10);
      expect(result.skipped).toBe(1);
    });
  });

  describe('signals', () => {
    it('reads the pair for many folders in order, 0 for missing paths', async () => {
      const dir = makeTempDir();
      writeFile(path.join(dir, 'a', 'build_info.json'), '{}');
      fs.utimesSync(path.join(dir, 'a', 'build_info.json'), 1_700_000_100.9, 1_700_000_100.9);
      fs.utimesSync(path.join(dir, 'a'), 1_700_000_000.5, 1_700_000_000.5);
      fs.mkdirSync(path.join(dir, 'b'));
      fs.utimesSync(path.join(dir, 'b'), 1_700_000_200, 1_700_000_200);
      const signals = await pool.signals([path.join(dir, 'a'), path.join(dir, 'missing'), path.join(dir, 'b')]);
      expect(signals).toMatchObject([
        { dirMtime: 1_700_000_000, infoMtime: 1_700_000_100 },
        { dirMtime: 0, infoMtime: 0, dirMtimeMs: 0, infoMtimeMs: 0 },
        { dirMtime: 1_700_000_200, infoMtime: 0 },
      ]);
      // The exact times ride along (never persisted) to catch same-second changes.
      expect(signals[0]?.dirMtimeMs).toBeCloseTo(1_700_000_000_500, -1);
      expect(signals[0]?.infoMtimeMs).toBeCloseTo(1_700_000_100_900, -1);

      // The CLI's way: the same pairs from the calling thread, and no worker started for them.
      const inline = new WalkPool({ size: 2, logger: silentLogger, ...setup.options, inlineSignals: true });
      try {
        expect(await inline.signals([path.join(dir, 'a'), path.join(dir, 'missing'), path.join(dir, 'b')])).toEqual(signals);
        expect(inline.workerCount).toBe(0);
      } finally {
        await inline.close();
      }
    });
  });

  describe('pool lifecycle', () => {
    it('fails queued work after close and refuses new work', async () => {
      const own = new WalkPool({ size: 1, logger: silentLogger, ...setup.options });
      const dir = makeTempDir();
      writeFile(path.join(dir, 'f'), 1);
      expect((await own.walk(dir)).bytes).toBe(1);
      await own.close();
      await expect(own.walk(dir)).rejects.toThrow(/closed/);
    });
  });
});
