/**
 * `device-builder reclaim`, run as a real process against real folders with
 * the project's fake `esphome` on PATH: a preview changes nothing, `--yes`
 * runs the plan through clean jobs and records it, bad values exit 2 naming
 * the option, and `--json` has exactly the shape.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FIRMWARE_JOBS_KEY } from '../../src/jobs/job-history.js';
import { RECLAIM_STATE_FILE } from '../../src/reclaim/reclaim-store.js';
import type { ReclaimRun } from '../../src/shared/reclaim.js';
import { OWN_STATE_FILE } from '../../src/metadata/device-metadata.js';
import { cleanupTempDirs, makeTempDir, readJson, writeFile } from '../helpers/fs-fixtures.js';
import { runCli } from '../helpers/run-cli.js';
import { FAKE_ESPHOME_BIN } from '../helpers/server-fixture.js';
import { compiledDevice } from './reclaim-fixtures.js';

afterEach(cleanupTempDirs);

const DAY = 86_400;
const now = (): number => Math.floor(Date.now() / 1000);
const env = { PATH: `${FAKE_ESPHOME_BIN}${path.delimiter}${process.env['PATH'] ?? ''}` };

function fleet() {
  const dir = makeTempDir();
  const old = compiledDevice(dir, 'old', 60);
  const mid = compiledDevice(dir, 'mid', 40);
  const fresh = compiledDevice(dir, 'fresh', 2);
  // An unused folder, untouched for 20 days.
  const unused = path.join(dir, '.esphome', 'build', 'gone');
  writeFile(path.join(unused, '.pioenvs', 'gone', 'firmware.bin'), 7000);
  writeFile(path.join(unused, 'build_info.json'), '{}');
  const longAgo = now() - 20 * DAY;
  for (const target of [path.join(unused, 'build_info.json'), path.join(unused, '.pioenvs', 'gone'), path.join(unused, '.pioenvs'), unused])
    fs.utimesSync(target, longAgo, longAgo);
  return { dir, old, mid, fresh, unused };
}

function runs(dir: string): ReclaimRun[] {
  const file = path.join(dir, '.esphome', RECLAIM_STATE_FILE);
  return fs.existsSync(file) ? ((readJson(file) as { _runs?: ReclaimRun[] })._runs ?? []) : [];
}

describe('device-builder reclaim', () => {
  it('previews by default: prints the plan and changes nothing', async () => {
    const { dir, old, mid, unused } = fleet();
    const result = await runCli(['reclaim', dir, '--older-than', '30d', '--unused-older-than', '7d'], { env });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('Rules: older than 30d · unused after 7d (from the options; not saved)');
    const lines = result.stdout.split('\n');
    const table = lines.slice(
      lines.findIndex((line) => line.startsWith('#')),
      lines.findIndex((line) => line.startsWith('Total:')),
    );
    expect(table[1]).toMatch(/^1 {2}delete {2}.*gone +unused +unknown +6\.8 KB$/);
    expect(table[2]).toMatch(/^2 {2}clean +old\.yaml +age +\d{4}-\d\d-\d\d +39\.1 KB$/);
    expect(table[3]).toMatch(/^3 {2}clean +mid\.yaml +age/);
    expect(result.stdout).toMatch(/Total: 85\.0 KB in 3 steps/);
    expect(result.stdout).toMatch(/Disk: .* free of .* → about .* free after \(data dir /);
    expect(result.stdout).toContain('This is a preview: nothing was changed. Run it with --yes.');
    for (const folder of [path.join(old.buildDir, '.pioenvs'), path.join(mid.buildDir, '.pioenvs'), unused]) expect(fs.existsSync(folder)).toBe(true);
    expect(runs(dir)).toEqual([]);
  }, 60_000);

  it('--yes runs the plan through clean jobs and the delete guard, records it, exits 0; --json has the documented shape', async () => {
    const { dir, old, mid, fresh, unused } = fleet();
    const result = await runCli(['reclaim', dir, '--older-than', '30d', '--unused-older-than', '7d', '--yes', '--json'], { env });
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(Object.keys(report)).toEqual(['steps', 'frees_bytes', 'disk', 'executed', 'results']);
    expect(report).toEqual({
      steps: [
        { kind: 'unused', build_path: unused, bytes: 7002, rule: 'unused', last_compiled: null },
        { kind: 'device', configuration: 'old.yaml', build_path: old.buildDir, bytes: 40_000, rule: 'age', last_compiled: old.buildTime },
        { kind: 'device', configuration: 'mid.yaml', build_path: mid.buildDir, bytes: 40_000, rule: 'age', last_compiled: mid.buildTime },
      ],
      frees_bytes: 87_002,
      disk: { path: path.join(dir, '.esphome'), free_bytes: expect.any(Number), total_bytes: expect.any(Number) },
      executed: true,
      results: [
        { build_path: unused, ok: true, freed_bytes: 7002 },
        { build_path: old.buildDir, ok: true, freed_bytes: 40_000 },
        { build_path: mid.buildDir, ok: true, freed_bytes: 40_000 },
      ],
    });
    // Progress went to stderr, one line per step.
    expect(result.stderr).toMatch(/\[3\/3\] mid\.yaml: freed 39\.1 KB/);
    expect(fs.existsSync(unused)).toBe(false);
    expect(fs.existsSync(path.join(old.buildDir, '.pioenvs'))).toBe(false);
    expect(fs.existsSync(path.join(old.buildDir, 'build_info.json'))).toBe(true);
    expect(fs.existsSync(path.join(fresh.buildDir, '.pioenvs'))).toBe(true);
    // Recorded as a cli run, and the clean jobs are in the job history `serve` shows.
    expect(runs(dir).map((run) => [run.trigger, run.status, run.freed_bytes])).toEqual([['cli', 'completed', 87_002]]);
    const jobs = (readJson(path.join(dir, '.esphome', OWN_STATE_FILE)) as Record<string, { job_type: string; configuration: string; status: string }[]>)[
      FIRMWARE_JOBS_KEY
    ];
    expect(jobs?.map((job) => [job.job_type, job.configuration, job.status]).sort()).toEqual([
      ['clean', 'mid.yaml', 'completed'],
      ['clean', 'old.yaml', 'completed'],
    ]);

    // A dry run in JSON: no results, executed false; nothing left to do now.
    const again = await runCli(['reclaim', dir, '--older-than', '30d', '--json'], { env });
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({ steps: [], frees_bytes: 0, disk: expect.any(Object), executed: false });
  }, 90_000);

  it('bad input exits 2 with the option named, before anything is touched', async () => {
    const { dir } = fleet();
    const bad = await runCli(['reclaim', dir, '--max-total', '20 GBs'], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^device-builder: --max-total: "20 GBs" is not a size/);
    expect(bad.stdout).toBe('');
    const age = await runCli(['reclaim', dir, '--older-than', '3 fortnights'], { env });
    expect(age.code).toBe(2);
    expect(age.stderr).toContain('--older-than: "3 fortnights" is not an age');
    const pct = await runCli(['reclaim', dir, '--min-free', '120%'], { env });
    expect(pct.code).toBe(2);
    expect(pct.stderr).toContain('--min-free:');
    const both = await runCli(['reclaim', dir, '--older-than', '30d', '--dry-run', '--yes'], { env });
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--dry-run and --yes');
    expect(fs.existsSync(path.join(dir, '.esphome', RECLAIM_STATE_FILE))).toBe(false);
  }, 60_000);

  it('without rule options uses the saved policy, and says how to set one when it has none', async () => {
    const { dir, old } = fleet();
    const none = await runCli(['reclaim', dir], { env });
    expect(none.code, none.stderr).toBe(0);
    expect(none.stdout).toContain('The saved policy has no rule');
    expect(none.stdout).toContain('device-builder reclaim --older-than 30d');

    writeFile(
      path.join(dir, '.esphome', RECLAIM_STATE_FILE),
      JSON.stringify({
        _policy: { enabled: false, max_total_bytes: null, older_than_seconds: 50 * DAY, unused_older_than_seconds: null, min_free: null, schedule_hours: null },
      }),
    );
    const saved = await runCli(['reclaim', dir, '--json'], { env });
    expect(saved.code, saved.stderr).toBe(0);
    expect((JSON.parse(saved.stdout) as { steps: { build_path: string }[] }).steps.map((step) => step.build_path)).toEqual([old.buildDir]);
    const human = await runCli(['reclaim', dir], { env });
    expect(human.stdout).toContain('Using the saved policy: older than 50d');
  }, 60_000);

  it('--help describes the rules, --yes and the exit codes; the top-level help lists the command', async () => {
    const help = await runCli(['reclaim', '--help']);
    expect(help.code).toBe(0);
    for (const option of ['--max-total <size>', '--older-than <age>', '--unused-older-than <age>', '--min-free <size|pct>', '--dry-run', '--yes', '--json']) {
      expect(help.stdout).toContain(option);
    }
    expect(help.stdout).toMatch(/run it only with --yes/);
    expect(help.stdout).toMatch(/2 bad input/);
    const top = await runCli(['--help']);
    expect(top.stdout).toMatch(/reclaim \[options\] \[config_dir\]/);
  });
});
