/**
 * 1,000 SIGKILLs of sidecar writers at random moments (docs/RELIABILITY.md,
 * "Crash safety"): after every kill the sidecar parses and holds every
 * committed entry; every other round `cleanStaleTemps()` runs as the next
 * start would and must leave no temp or lock behind. The figures are printed
 * for the record. `npm test` runs the same harness with 40 kills.
 */
import { afterAll, expect, it } from 'vitest';
import { cleanupTempDirs } from '../test/helpers/fs-fixtures.js';
import { runCrashRounds } from '../test/helpers/sidecar-crash.js';

afterAll(cleanupTempDirs);

const KILLS = Number(process.env['CRASH_KILLS'] ?? 1_000);

it(`${KILLS} random SIGKILLs: no torn sidecar, no lost commit, no temp pile-up`, async () => {
  const report = await runCrashRounds({ rounds: KILLS, lanes: 2, earlyKillRatio: 0.1 });
  const { failures, ...figures } = report;
  console.log(`crash-safety: ${JSON.stringify(figures, null, 2)}`);
  if (failures.length > 0) console.log(`failures (first 20 of ${failures.length}):\n${failures.slice(0, 20).join('\n')}`);
  expect(failures).toEqual([]);
  expect(report.kills).toBe(KILLS);
  expect(report.firstCommitMs.maxOnStaleLock).toBeLessThan(5_000);
});
