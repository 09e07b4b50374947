/**
 * The reclaim policy through the real server (issue 14): the `reclaim/*`
 * WebSocket commands end to end on real folders, the clean jobs on the real
 * job queue with the project's fake `esphome`, the free-space rule on a
 * simulated full disk (an injected DiskSpaceReader, the product path
 * otherwise untouched), the disk in `initial_state` and `/metrics`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { DiskSpaceReader } from '../../src/reclaim/disk-space.js';
import { RECLAIM_STATE_FILE } from '../../src/reclaim/reclaim-store.js';
import type { FirmwareJobSummary } from '../../src/shared/jobs.js';
import type { DiskSpace, ReclaimPlan, ReclaimProgress, ReclaimRun, ReclaimState } from '../../src/shared/reclaim.js';
import { cleanupTempDirs, makeTempDir, writeFile } from '../helpers/fs-fixtures.js';
import { startServer, stopServers } from '../helpers/server-fixture.js';
import { compiledDevice } from './reclaim-fixtures.js';

afterEach(async () => {
  await stopServers();
  cleanupTempDirs();
});

const DAY = 86_400;
const now = (): number => Math.floor(Date.now() / 1000);

function fleet(): { dir: string; old: string; mid: string; fresh: string } {
  const dir = makeTempDir();
  const old = compiledDevice(dir, 'old', 60);
  const mid = compiledDevice(dir, 'mid', 40);
  const fresh = compiledDevice(dir, 'fresh', 2);
  return { dir, old: old.buildDir, mid: mid.buildDir, fresh: fresh.buildDir };
}

function fixedDisk(disk: Omit<DiskSpace, 'path'>): DiskSpaceReader {
  return async (dataDir) => ({ path: dataDir, ...disk });
}

describe('reclaim over the WebSocket API', () => {
  it('previews, runs exactly the preview through clean jobs, and records the run', async () => {
    const { dir, old, mid, fresh } = fleet();
    const running = await startServer(dir);
    await running.server.refresher.whenIdle();
    const client = await running.connect();
    await client.call('subscribe_events');

    const initial = client.events('initial_state')[0]?.data as { disk: DiskSpace | null; reclaim: ReclaimState };
    expect(initial.disk?.path).toBe(path.join(dir, '.esphome'));
    expect(initial.disk?.total_bytes).toBeGreaterThan(0);
    expect(initial.reclaim).toEqual({ policy: expect.objectContaining({ enabled: false, older_than_seconds: null }), running: null, next_run_at: null });

    // A draft policy previews without being saved.
    const plan = await client.call<ReclaimPlan>('reclaim/preview', { policy: { older_than: '30d' } });
    expect(plan.steps.map((step) => [step.kind, step.configuration, step.rule])).toEqual([
      ['device', 'old.yaml', 'age'],
      ['device', 'mid.yaml', 'age'],
    ]);
    expect(plan.steps.map((step) => step.build_path)).toEqual([old, mid]);
    expect(plan.frees_bytes).toBe(2 * 4 * 10_000);
    expect(plan.disk?.path).toBe(path.join(dir, '.esphome'));
    expect((await client.call<ReclaimState>('reclaim/get_policy')).policy.older_than_seconds).toBeNull();

    const started = await client.call<ReclaimRun>('reclaim/run', { plan_id: plan.plan_id });
    expect(started.trigger).toBe('manual');
    expect(started.steps).toEqual(plan.steps);
    const finished = (await client.waitForEvent('reclaim_finished', (run: ReclaimRun) => run.run_id === started.run_id, { timeoutMs: 30_000 }))
      .data as ReclaimRun;
    expect(finished.status).toBe('completed');
    expect(finished.results.map((result) => [result.configuration, result.ok, result.freed_bytes])).toEqual([
      ['old.yaml', true, 4 * 10_000],
      ['mid.yaml', true, 4 * 10_000],
    ]);
    expect(finished.freed_bytes).toBe(plan.frees_bytes);

    // Through the job queue: each clean is a job, with its events.
    const cleanJobs = client.events('job_completed').map((frame) => frame.data as FirmwareJobSummary);
    expect(cleanJobs.filter((job) => job.job_type === 'clean').map((job) => job.configuration)).toEqual(['old.yaml', 'mid.yaml']);
    expect(finished.results.map((result) => result.job_id)).toEqual(cleanJobs.map((job) => job.job_id));
    expect(client.events('reclaim_started')).toHaveLength(1);
    expect(client.events('reclaim_progress').map((frame) => (frame.data as ReclaimProgress).index)).toEqual([0, 1]);
    expect(fs.existsSync(path.join(old, '.pioenvs'))).toBe(false);
    expect(fs.existsSync(path.join(mid, '.pioenvs'))).toBe(false);
    expect(fs.existsSync(path.join(fresh, '.pioenvs'))).toBe(true);

    // What the run freed is marked on the fleet's size-history chart.
    const marked = async (): Promise<boolean> =>
      (await client.call<{ reclaimed_bytes?: number }[]>('devices/size_history', {})).some((point) => point.reclaimed_bytes === plan.frees_bytes);
    for (let tries = 0; !(await marked()); tries++) {
      if (tries > 200) throw new Error('no reclaim marker in the fleet size history');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }

    const history = await client.call<ReclaimRun[]>('reclaim/history');
    expect(history.map((run) => [run.run_id, run.status, run.freed_bytes])).toEqual([[started.run_id, 'completed', plan.frees_bytes]]);
    // The plan id was used once; an unknown id asks for a new preview.
    const unknown = await client.request('reclaim/run', { plan_id: 'nope' });
    expect(unknown.error_code).toBe('not_found');
    expect(unknown.details).toMatch(/preview again/);
  }, 60_000);

  it('refuses bad policy values naming the field, and keeps the saved policy', async () => {
    const { dir } = fleet();
    const running = await startServer(dir);
    const client = await running.connect();
    const saved = await client.call<ReclaimState>('reclaim/set_policy', { policy: { max_total: '20GB', older_than: '30d' } });
    expect(saved.policy).toMatchObject({ max_total_bytes: 20e9, older_than_seconds: 30 * DAY, enabled: false });

    for (const [policy, field] of [
      [{ max_total: '20 GBs' }, 'max_total'],
      [{ older_than: 'soon' }, 'older_than'],
      [{ unused_older_than: -5 }, 'unused_older_than'],
      [{ min_free: '150%' }, 'min_free'],
      [{ schedule_hours: 0.5 }, 'schedule_hours'],
    ] as const) {
      const reply = await client.request('reclaim/set_policy', { policy });
      expect(reply.error_code, JSON.stringify(policy)).toBe('invalid_args');
      expect(reply.details).toContain(field);
    }
    // Unknown keys and wrong types are refused by the schema.
    expect((await client.request('reclaim/set_policy', { policy: { max_totl: '1GB' } })).error_code).toBe('invalid_args');
    expect((await client.request('reclaim/preview', { policy: { enabled: 'yes' } })).error_code).toBe('invalid_args');
    expect((await client.request('reclaim/run', { plan_id: 5 })).error_code).toBe('invalid_args');

    expect((await client.call<ReclaimState>('reclaim/get_policy')).policy).toEqual(saved.policy);
    // Saved per instance, in the data dir.
    const file = JSON.parse(fs.readFileSync(path.join(dir, '.esphome', RECLAIM_STATE_FILE), 'utf8')) as Record<string, unknown>;
    expect(file['_policy']).toMatchObject({ max_total_bytes: 20e9 });
  });

  it('never touches a device with a running job, and skips one compiled between preview and run', async () => {
    const dir = makeTempDir();
    const busy = compiledDevice(dir, 'busy', 90, { yamlExtra: '# fake-esphome: hang\n' });
    const recompiled = compiledDevice(dir, 'recompiled', 80);
    const idle = compiledDevice(dir, 'idle', 70);
    const running = await startServer(dir);
    await running.server.refresher.whenIdle();
    const client = await running.connect();
    await client.call('subscribe_events');

    const plan = await client.call<ReclaimPlan>('reclaim/preview', { policy: { older_than: '30d' } });
    expect(plan.steps.map((step) => step.configuration)).toEqual(['busy.yaml', 'recompiled.yaml', 'idle.yaml']);

    // After the preview: a job starts for one device, and another is compiled from a terminal.
    const job = await client.call<FirmwareJobSummary>('firmware/compile', { configuration: 'busy.yaml' });
    await client.waitForEvent('job_started', (started: FirmwareJobSummary) => started.job_id === job.job_id);
    const info = path.join(recompiled.buildDir, 'build_info.json');
    fs.writeFileSync(info, JSON.stringify({ config_hash: 2, build_time: now() }));
    writeFile(path.join(recompiled.buildDir, 'src', 'main.cpp'), 300);

    const started = await client.call<ReclaimRun>('reclaim/run', { plan_id: plan.plan_id });
    // One run at a time.
    expect((await client.request('reclaim/run', {})).error_code).toBe('busy');
    // The queue runs one job at a time: the clean of idle.yaml waits behind the hanging compile, which we then cancel.
    await client.waitForEvent('job_queued', (queued: FirmwareJobSummary) => queued.job_type === 'clean', { timeoutMs: 30_000 });
    expect(running.server.jobs.activeJobFor('busy.yaml')?.job_id).toBe(job.job_id);
    expect(
      running.server.jobs
        .list()
        .filter((entry) => entry.job_type === 'clean')
        .map((entry) => entry.configuration),
    ).toEqual(['idle.yaml']);
    running.server.jobs.cancel(job.job_id);
    const finished = (await client.waitForEvent('reclaim_finished', (run: ReclaimRun) => run.run_id === started.run_id, { timeoutMs: 30_000 }))
      .data as ReclaimRun;
    expect(finished.results.map((result) => [result.configuration, result.ok, result.error ?? null])).toEqual([
      ['busy.yaml', false, 'a job is queued or running'],
      ['recompiled.yaml', false, 'compiled since the preview'],
      ['idle.yaml', true, null],
    ]);
    expect(finished.status).toBe('partial');
    expect(finished.skipped.map((skip) => skip.configuration)).toEqual(expect.arrayContaining(['busy.yaml', 'recompiled.yaml']));
    expect(fs.existsSync(path.join(busy.buildDir, '.pioenvs'))).toBe(true);
    expect(fs.existsSync(path.join(recompiled.buildDir, '.pioenvs'))).toBe(true);
    expect(fs.existsSync(path.join(idle.buildDir, '.pioenvs'))).toBe(false);
    // The hanging compile was never replaced by a clean: it ended by our cancel.
    expect(running.server.jobs.get(job.job_id)).toMatchObject({ status: 'cancelled', error: 'cancelled by user' });
    expect(
      running.server.jobs
        .list()
        .filter((entry) => entry.job_type === 'clean')
        .map((entry) => entry.configuration),
    ).toEqual(['idle.yaml']);
  }, 60_000);
});

describe('restart and schedule', () => {
  /** A recorded run, as the reclaim record keeps it. */
  function recordedRun(fields: Partial<ReclaimRun> & Pick<ReclaimRun, 'run_id' | 'trigger' | 'status' | 'started_at'>, ownerPid?: number) {
    return { finished_at: null, reason: 'test', steps: [], results: [], freed_bytes: 0, skipped: [], ...fields, ...(ownerPid ? { owner_pid: ownerPid } : {}) };
  }

  it('a run left running by a process that is gone reads as interrupted, its missing steps not done', async () => {
    const { dir, old, mid } = fleet();
    const step = (configuration: string, buildPath: string) => ({
      kind: 'device',
      configuration,
      build_path: buildPath,
      bytes: 40_000,
      folder_bytes: 40_000,
      rule: 'age',
      last_compiled: null,
      signal: [null, null],
    });
    writeFile(
      path.join(dir, '.esphome', RECLAIM_STATE_FILE),
      JSON.stringify({
        _runs: [
          recordedRun(
            {
              run_id: 'reclaim-old',
              trigger: 'manual',
              status: 'running',
              started_at: now() - 60,
              steps: [step('old.yaml', old), step('mid.yaml', mid)] as ReclaimRun['steps'],
              results: [{ build_path: old, configuration: 'old.yaml', ok: true, freed_bytes: 40_000 }],
            },
            // A pid that is not running: the process that ran it is gone.
            2 ** 22 + 12345,
          ),
        ],
      }),
    );
    const running = await startServer(dir);
    const client = await running.connect();
    const [run] = await client.call<ReclaimRun[]>('reclaim/history');
    expect(run).toMatchObject({ run_id: 'reclaim-old', status: 'interrupted', finished_at: expect.any(Number) });
    expect(run?.results).toHaveLength(1);
    expect((await client.call<ReclaimState>('reclaim/get_policy')).running).toBeNull();
  });

  it('runs on its schedule when enabled: due at start when the last scheduled run is older than the period', async () => {
    const { dir, old } = fleet();
    writeFile(
      path.join(dir, '.esphome', RECLAIM_STATE_FILE),
      JSON.stringify({
        _policy: { enabled: true, max_total_bytes: null, older_than_seconds: 50 * DAY, unused_older_than_seconds: null, min_free: null, schedule_hours: 1 },
        _runs: [
          recordedRun({ run_id: 'reclaim-before', trigger: 'schedule', status: 'completed', started_at: now() - 2 * 3600, finished_at: now() - 2 * 3600 }),
        ],
      }),
    );
    const running = await startServer(dir);
    const client = await running.connect();
    // Due at start: it runs once the first scan and sweep have measured the fleet.
    let finished: ReclaimRun | undefined;
    for (let tries = 0; !finished; tries++) {
      if (tries > 600) throw new Error('no scheduled run');
      await new Promise((resolve) => setTimeout(resolve, 50));
      finished = (await client.call<ReclaimRun[]>('reclaim/history')).find((run) => run.run_id !== 'reclaim-before' && run.status !== 'running');
    }
    expect(finished).toMatchObject({ trigger: 'schedule', status: 'completed' });
    expect(finished.steps.map((s) => s.build_path)).toEqual([old]);
    // The next run is one period after this one.
    const state = await client.call<ReclaimState>('reclaim/get_policy');
    expect(state.next_run_at).toBeGreaterThanOrEqual(finished.started_at + 3600);
    expect(state.next_run_at).toBeLessThanOrEqual(now() + 3600);

    // Turned off: no next run.
    expect((await client.call<ReclaimState>('reclaim/set_policy', { policy: { enabled: false } })).next_run_at).toBeNull();
    expect((await client.call<ReclaimState>('reclaim/set_policy', { policy: { enabled: true } })).next_run_at).toBeGreaterThan(now() + 3500);
  }, 60_000);
});

describe('the free-space guard', () => {
  it('a full disk runs the policy on a sweep when enabled, and not when disabled', async () => {
    const { dir, old } = fleet();
    // 1 GB disk with 10 MB free: below 10 %.
    const running = await startServer(dir, { diskSpace: fixedDisk({ free_bytes: 10e6, total_bytes: 1e9 }), sweepIntervalMs: 100 });
    await running.server.refresher.whenIdle();
    const client = await running.connect();
    await client.call('subscribe_events');

    await client.call('reclaim/set_policy', { policy: { enabled: false, min_free: '10%' } });
    // Several sweeps go by with the rule off: nothing runs.
    const sweeps = running.server.refresher.stats.sweeps;
    await until(() => running.server.refresher.stats.sweeps >= sweeps + 4);
    await running.server.refresher.whenIdle();
    await running.server.reclaim.whenIdle();
    expect(await client.call<ReclaimRun[]>('reclaim/history')).toEqual([]);

    const state = await client.call<ReclaimState>('reclaim/set_policy', { policy: { enabled: true } });
    expect(state.policy).toMatchObject({ enabled: true, min_free: { percent: 10 } });
    const finished = (await client.waitForEvent('reclaim_finished', () => true, { timeoutMs: 30_000 })).data as ReclaimRun;
    expect(finished.trigger).toBe('free_space');
    expect(finished.reason).toMatch(/free space/);
    // The disk stays "full" (the reader is fixed): every device that can be cleaned is, oldest first.
    expect(finished.steps.map((step) => [step.configuration, step.rule])).toEqual([
      ['old.yaml', 'free_space'],
      ['mid.yaml', 'free_space'],
      ['fresh.yaml', 'free_space'],
    ]);
    expect(fs.existsSync(path.join(old, '.pioenvs'))).toBe(false);
    // The cooldown: the next sweeps do not start another run on the same full disk.
    const after = running.server.refresher.stats.sweeps;
    await until(() => running.server.refresher.stats.sweeps >= after + 4);
    await running.server.reclaim.whenIdle();
    expect(await client.call<ReclaimRun[]>('reclaim/history')).toHaveLength(1);
  }, 60_000);

  it('reports the disk in initial_state, disk_updated and /metrics', async () => {
    const { dir } = fleet();
    let free = 5e9;
    const running = await startServer(dir, { diskSpace: async (dataDir) => ({ path: dataDir, free_bytes: free, total_bytes: 32e9 }), sweepIntervalMs: 100 });
    const client = await running.connect();
    await client.call('subscribe_events');
    const dataDir = path.join(dir, '.esphome');
    expect((client.events('initial_state')[0]?.data as { disk: DiskSpace }).disk).toEqual({ path: dataDir, free_bytes: 5e9, total_bytes: 32e9 });

    const metrics = await (await fetch(`${running.url}metrics`)).text();
    expect(metrics).toContain(`device_builder_disk_free_bytes{path="${dataDir}"} 5000000000`);
    expect(metrics).toContain(`device_builder_disk_total_bytes{path="${dataDir}"} 32000000000`);

    // A change under a MiB is not news; a larger one is.
    free -= 1000;
    const sweeps = running.server.refresher.stats.sweeps;
    await until(() => running.server.refresher.stats.sweeps >= sweeps + 3);
    expect(client.events('disk_updated')).toEqual([]);
    free = 4e9;
    const updated = await client.waitForEvent('disk_updated');
    expect(updated.data).toEqual({ disk: { path: dataDir, free_bytes: 4e9, total_bytes: 32e9 } });
  }, 30_000);
});

async function until(check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
