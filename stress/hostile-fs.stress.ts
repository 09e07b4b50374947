/**
 * The heavy hostile-file-system walks (docs/RELIABILITY.md, "Hostile and
 * odd file systems"), through the real WalkPool: a folder of 200,000
 * entries (files, then folders), and a 100,000-file tree churned by another
 * process for a minute while it is walked over and over. Figures are printed
 * for the record; the fast cases are in test/devices/hostile-fs.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WalkPool, type WalkResult } from '../src/build-size/walk-pool.js';
import { cleanupTempDirs, makeTempDir } from '../test/helpers/fs-fixtures.js';
import { WALKER_CASES } from '../test/helpers/walkers.js';
import { buildStableTree, capturingLogger, CHURN_FILE_BYTES, skippedLine, startChurn } from '../test/helpers/hostile-fs.js';

const capture = capturingLogger();
describe.each(WALKER_CASES)('%s', (_name, setup) => {
  let pool: WalkPool;

  beforeAll(() => {
    pool = new WalkPool({ size: 2, logger: capture.logger, ...setup.options });
  });
  afterAll(async () => {
    await pool.close();
  });
  afterEach(() => {
    capture.clear();
    cleanupTempDirs();
  });

  const ENTRIES = 200_000;

  function timed<T>(run: () => T): { value: T; ms: number } {
    const started = performance.now();
    const value = run();
    return { value, ms: Math.round(performance.now() - started) };
  }

  async function timedWalk(root: string): Promise<{ result: WalkResult; ms: number; rssMB: number }> {
    const rss = process.memoryUsage().rss;
    const started = performance.now();
    const result = await pool.walk(root);
    return { result, ms: Math.round(performance.now() - started), rssMB: Math.round((process.memoryUsage().rss - rss) / 1024 / 1024) };
  }

  describe(`a folder of ${ENTRIES.toLocaleString('en')} entries`, () => {
    it('of files, as the build folder itself and as a subfolder: exact totals', async () => {
      const dir = makeTempDir('stress-wide-');
      const big = path.join(dir, 'big');
      fs.mkdirSync(big);
      const created = timed(() => {
        for (let i = 0; i < ENTRIES; i++) fs.writeFileSync(path.join(big, `f${i}.o`), 'x'.repeat(i % 7));
      });
      const expected = Array.from({ length: ENTRIES }, (_, i) => i % 7).reduce((a, b) => a + b, 0);
      const asRoot = await timedWalk(big);
      const asChild = await timedWalk(dir);
      console.log(
        `wide files: created ${ENTRIES} in ${created.ms} ms; walk as build folder ${asRoot.ms} ms (rss +${asRoot.rssMB} MB), as a subfolder ${asChild.ms} ms (rss +${asChild.rssMB} MB)`,
      );
      for (const { result } of [asRoot, asChild]) {
        expect(result).toMatchObject({ bytes: expected, files: ENTRIES, skipped: 0 });
      }
      expect(asRoot.result.dirs).toBe(1);
      expect(asChild.result.breakdown.other).toBe(expected);
    });

    it('of folders (one file each): every piece is scheduled, counted once', async () => {
      const dir = makeTempDir('stress-wide-');
      const created = timed(() => {
        for (let i = 0; i < ENTRIES; i++) {
          const sub = path.join(dir, `d${i}`);
          fs.mkdirSync(sub);
          fs.writeFileSync(path.join(sub, 'f'), 'xy');
        }
      });
      const walk = await timedWalk(dir);
      console.log(`wide folders: created ${ENTRIES} in ${created.ms} ms; walk ${walk.ms} ms (rss +${walk.rssMB} MB)`);
      expect(walk.result).toMatchObject({ bytes: 2 * ENTRIES, files: ENTRIES, dirs: ENTRIES + 1, skipped: 0 });
    });
  });

  describe('files vanishing and appearing at scale', () => {
    const CHURN_SECONDS = Number(process.env['CHURN_SECONDS'] ?? 60);

    it(`a 100,000-file tree churned for ${CHURN_SECONDS} s while walked over and over: every walk ends within bounds`, async () => {
      const dir = makeTempDir('stress-churn-');
      const stable = buildStableTree(dir, 100, 1_000, 10);
      process.env['CHURN_MAX_ALIVE'] = '20000';
      const churn = await startChurn(dir, 11);
      delete process.env['CHURN_MAX_ALIVE'];
      const walks: { ms: number; bytes: number; skipped: number }[] = [];
      const started = performance.now();
      let created = 0;
      try {
        while (performance.now() - started < CHURN_SECONDS * 1_000) {
          const { result, ms } = await timedWalk(dir);
          walks.push({ ms, bytes: result.bytes, skipped: result.skipped });
        }
      } finally {
        created = await churn.stop();
      }
      const times = walks.map((walk) => walk.ms).sort((a, b) => a - b);
      const skippedWalks = walks.filter((walk) => walk.skipped > 0);
      console.log(
        `churn: ${walks.length} walks in ${CHURN_SECONDS} s over ${stable / 10} stable files while ${created} files were created; ` +
          `walk p50 ${times[Math.floor(times.length / 2)]} ms, max ${times.at(-1)} ms; ` +
          `${skippedWalks.length} walks skipped entries (max ${Math.max(0, ...walks.map((walk) => walk.skipped))}); ` +
          `bytes ${Math.min(...walks.map((walk) => walk.bytes))}..${Math.max(...walks.map((walk) => walk.bytes))}`,
      );
      for (const walk of walks) {
        expect(walk.bytes).toBeGreaterThanOrEqual(stable);
        expect(walk.bytes).toBeLessThanOrEqual(stable + CHURN_FILE_BYTES * created);
      }
      expect(walks.length).toBeGreaterThan(10);
      // What vanished mid-walk is reported at debug level.
      if (skippedWalks.length > 0) expect(skippedLine(capture.lines(), dir)).toBeDefined();
    });
  });
});
