import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_RECORDED_RUNS, RECLAIM_STATE_FILE, ReclaimStore } from '../../src/reclaim/reclaim-store.js';
import { DEFAULT_RECLAIM_POLICY, type ReclaimPolicy, type ReclaimRun, type ReclaimStep } from '../../src/shared/reclaim.js';
import { captureLog } from '../helpers/capture-log.js';
import { cleanupTempDirs, makeTempDir, silentLogger } from '../helpers/fs-fixtures.js';

afterEach(cleanupTempDirs);

const policy: ReclaimPolicy = {
  enabled: true,
  max_total_bytes: 20e9,
  older_than_seconds: 30 * 86_400,
  unused_older_than_seconds: null,
  min_free: { percent: 10 },
  schedule_hours: 24,
};

function step(name: string): ReclaimStep {
  return {
    kind: 'device',
    configuration: `${name}.yaml`,
    build_path: `/data/build/${name}`,
    bytes: 10,
    folder_bytes: 20,
    rule: 'age',
    last_compiled: 1,
    signal: [5, 6],
  };
}

function run(id: string, fields: Partial<ReclaimRun> = {}): ReclaimRun {
  return {
    run_id: id,
    trigger: 'manual',
    started_at: 100,
    finished_at: null,
    status: 'running',
    reason: 'test',
    steps: [step('a'), step('b')],
    results: [],
    freed_bytes: 0,
    skipped: [],
    ...fields,
  };
}

describe('ReclaimStore', () => {
  it('the policy round-trips; with none saved it is the default (off)', async () => {
    const dataDir = makeTempDir();
    const store = new ReclaimStore({ dataDir, logger: silentLogger });
    expect(await store.readPolicy()).toEqual(DEFAULT_RECLAIM_POLICY);
    await store.writePolicy(policy);
    expect(await new ReclaimStore({ dataDir, logger: silentLogger }).readPolicy()).toEqual(policy);
    // Its own file in the data dir (and its lock), nothing else.
    expect(fs.readdirSync(dataDir)).toContain(RECLAIM_STATE_FILE);
    expect(fs.readdirSync(dataDir).every((name) => name === RECLAIM_STATE_FILE || name === `${RECLAIM_STATE_FILE}.lock`)).toBe(true);
  });

  it('refuses to save a policy out of range', async () => {
    const store = new ReclaimStore({ dataDir: makeTempDir(), logger: silentLogger });
    await expect(store.writePolicy({ ...policy, schedule_hours: 0 })).rejects.toThrow();
    expect(await store.readPolicy()).toEqual(DEFAULT_RECLAIM_POLICY);
  });

  it('a corrupt file reads as the default policy (off) and is set aside before the next write', async () => {
    const dataDir = makeTempDir();
    const file = path.join(dataDir, RECLAIM_STATE_FILE);
    fs.writeFileSync(file, '{"_policy": {"enabled": tr');
    const store = new ReclaimStore({ dataDir, logger: silentLogger });
    expect(await store.readPolicy()).toEqual(DEFAULT_RECLAIM_POLICY);
    expect(await store.listRuns()).toEqual([]);
    await store.writePolicy(policy);
    const aside = fs.readdirSync(dataDir).filter((name) => name.startsWith(`${RECLAIM_STATE_FILE}.corrupt-`));
    expect(aside).toHaveLength(1);
    expect(fs.readFileSync(path.join(dataDir, aside[0] as string), 'utf8')).toBe('{"_policy": {"enabled": tr');
    expect(await store.readPolicy()).toEqual(policy);
  });

  it('a hand-edited policy that is not valid reads as the default, with a log line', async () => {
    const dataDir = makeTempDir();
    fs.writeFileSync(path.join(dataDir, RECLAIM_STATE_FILE), JSON.stringify({ _policy: { ...policy, max_total_bytes: -5 } }));
    const log = captureLog();
    expect(await new ReclaimStore({ dataDir, logger: log.logger }).readPolicy()).toEqual(DEFAULT_RECLAIM_POLICY);
    expect(log.messages()).toContain('the saved reclaim policy is not valid; using the default (off)');
  });

  it('records a run step by step, newest first; a bad entry is dropped with a log line', async () => {
    const dataDir = makeTempDir();
    const log = captureLog();
    const store = new ReclaimStore({ dataDir, logger: log.logger });
    await store.startRun(run('r1'));
    await store.recordStep('r1', { build_path: '/data/build/a', configuration: 'a.yaml', ok: true, freed_bytes: 7, job_id: 'j1' });
    await store.recordStep(
      'r1',
      { build_path: '/data/build/b', configuration: 'b.yaml', ok: false, freed_bytes: 0, error: 'compiled since the preview' },
      {
        configuration: 'b.yaml',
        build_path: '/data/build/b',
        reason: 'compiled since the preview',
      },
    );
    await store.finishRun('r1', {
      status: 'partial',
      finished_at: 200,
      freed_bytes: 7,
      skipped: [{ configuration: 'b.yaml', build_path: '/data/build/b', reason: 'compiled since the preview' }],
    });
    await store.startRun(run('r2'));
    // A hand-edited entry in between.
    await store.file.updateGlobal('_runs', (current) => [...(current as unknown[]), { run_id: 'junk', status: 'maybe' }]);
    const runs = await store.listRuns();
    expect(runs.map((entry) => entry.run_id)).toEqual(['r2', 'r1']);
    expect(runs[1]).toMatchObject({ status: 'partial', finished_at: 200, freed_bytes: 7, results: [{ ok: true, job_id: 'j1' }, { ok: false }] });
    expect(runs[1]).not.toHaveProperty('owner_pid');
    expect(log.messages()).toContain('dropped a reclaim run record that is not valid');
  });

  it(`keeps the last ${MAX_RECORDED_RUNS} runs`, async () => {
    const store = new ReclaimStore({ dataDir: makeTempDir(), logger: silentLogger });
    for (let index = 0; index < MAX_RECORDED_RUNS + 5; index++) await store.startRun(run(`r${index}`, { status: 'completed', finished_at: 1 }));
    const runs = await store.listRuns();
    expect(runs).toHaveLength(MAX_RECORDED_RUNS);
    expect(runs[0]?.run_id).toBe(`r${MAX_RECORDED_RUNS + 4}`);
    expect(runs.at(-1)?.run_id).toBe('r5');
  });

  it('markInterrupted: running runs of a gone process become interrupted, results kept, nothing added', async () => {
    const dataDir = makeTempDir();
    const first = new ReclaimStore({ dataDir, logger: silentLogger });
    await first.startRun(run('old', { status: 'completed', finished_at: 50 }));
    await first.startRun(run('cut'));
    await first.recordStep('cut', { build_path: '/data/build/a', configuration: 'a.yaml', ok: true, freed_bytes: 7 });
    const second = new ReclaimStore({ dataDir, logger: silentLogger, now: () => 999 });
    const changed = await second.markInterrupted();
    expect(changed.map((entry) => entry.run_id)).toEqual(['cut']);
    const [cut, old] = await second.listRuns();
    expect(cut).toMatchObject({ status: 'interrupted', finished_at: 999, freed_bytes: 7 });
    expect(cut?.results).toHaveLength(1);
    expect(cut?.steps).toHaveLength(2);
    expect(old).toMatchObject({ status: 'completed', finished_at: 50 });
    expect(await second.markInterrupted()).toEqual([]);
  });

  it('markInterrupted leaves a run of another live process alone', async () => {
    const dataDir = makeTempDir();
    const store = new ReclaimStore({ dataDir, logger: silentLogger });
    await store.startRun(run('other'));
    // As another process (pid 1 is alive) would have written it.
    await store.file.updateGlobal('_runs', (current) => (current as Record<string, unknown>[]).map((entry) => ({ ...entry, owner_pid: 1 })));
    expect(await new ReclaimStore({ dataDir, logger: silentLogger, isProcessAlive: () => true }).markInterrupted()).toEqual([]);
    expect(await new ReclaimStore({ dataDir, logger: silentLogger, isProcessAlive: () => false }).markInterrupted()).toHaveLength(1);
  });
});
