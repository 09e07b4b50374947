import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readBuildDirSignal } from '../../src/build-size/freshness.js';
import { checkBuildFolderDeletable, defaultBuildRoots } from '../../src/devices/delete-guard.js';
import { removeTree } from '../../src/devices/tree-remover.js';
import { planReclaim, SKIP_BUSY, SKIP_RECENT } from '../../src/reclaim/plan.js';
import { gatherPlanInputs, signalPair } from '../../src/reclaim/plan-inputs.js';
import {
  FREED_NOT_MEASURED,
  NOT_DONE_CANCELLED,
  ReclaimBusyError,
  ReclaimRunner,
  SKIP_CHANGED,
  SKIP_COMPILED,
  SKIP_GONE,
  SKIP_MOVED,
  SKIP_NOW_USED,
  type ReclaimPorts,
} from '../../src/reclaim/reclaim-runner.js';
import { ReclaimStore } from '../../src/reclaim/reclaim-store.js';
import { DEFAULT_RECLAIM_POLICY, type ReclaimPlan, type ReclaimPolicy, type ReclaimProgress, type ReclaimStep } from '../../src/shared/reclaim.js';
import { captureLog } from '../helpers/capture-log.js';
import { cleanupTempDirs, makeTempDir, setMtime, silentLogger } from '../helpers/fs-fixtures.js';
import { cleanableOf, deviceFor, du, esphomeClean, makeBuild, writeBuildInfo } from './reclaim-fixtures.js';

afterEach(cleanupTempDirs);

const DAY = 86_400;
const now = (): number => Math.floor(Date.now() / 1000);

/**
 * A config dir, a data dir and the devices in it, with ports over the real
 * files: `esphome clean`'s effect for a clean, the real delete guard and
 * tree remover for unused folders, a real walk for the size after.
 */
class World {
  readonly configDir = makeTempDir('reclaim-config-');
  readonly dataDir = makeTempDir('reclaim-data-');
  /** configuration → its build folder now. */
  readonly devices = new Map<string, string | null>();
  readonly unused = new Set<string>();
  readonly busy = new Set<string>();
  readonly cleaned: string[] = [];
  readonly deleted: string[] = [];
  store = new ReclaimStore({ dataDir: this.dataDir, logger: silentLogger });

  device(name: string, compiledDaysAgo: number): string {
    const dir = makeBuild(this.dataDir, name, now() - compiledDaysAgo * DAY);
    this.devices.set(`${name}.yaml`, dir);
    return dir;
  }

  orphan(name: string, usedDaysAgo: number, root = this.dataDir): string {
    const dir = makeBuild(root, name, now() - usedDaysAgo * DAY);
    this.unused.add(dir);
    return dir;
  }

  ports(overrides: Partial<ReclaimPorts> = {}): ReclaimPorts {
    return {
      currentSignal: async (buildPath) => signalPair(readBuildDirSignal(buildPath)),
      deviceState: async (configuration) =>
        this.devices.has(configuration) ? { build_path: this.devices.get(configuration) ?? null, busy: this.busy.has(configuration) } : null,
      isStillUnused: async (buildPath) => ![...this.devices.values()].includes(buildPath),
      cleanDevice: async (configuration) => {
        this.cleaned.push(configuration);
        const dir = this.devices.get(configuration);
        if (dir) esphomeClean(dir);
        return { ok: true, job_id: `job-${configuration}` };
      },
      deleteUnused: async (buildPath) => {
        const verdict = checkBuildFolderDeletable(buildPath, {
          configDir: this.configDir,
          dataDir: this.dataDir,
          buildRoots: defaultBuildRoots(this.dataDir, {}),
        });
        if (!verdict.ok) throw new Error(`refused: ${verdict.reason}`);
        const report = await removeTree(verdict.path);
        if (!report.complete) throw new Error(`could not delete all of ${buildPath}`);
        this.deleted.push(buildPath);
      },
      measureAfter: async (step) => du(step.build_path),
      ...overrides,
    };
  }

  /** The preview: the plan from the cached figures, the cache being what the refresher measured just now. */
  async plan(policy: Partial<ReclaimPolicy>): Promise<ReclaimPlan> {
    const devices = [...this.devices].map(([configuration, dir]) => deviceFor(configuration, dir));
    const inputs = await gatherPlanInputs(
      {
        devices,
        orphans: [...this.unused].map((dir) => ({ build_path: dir, build_size_bytes: du(dir), build_disk_bytes: du(dir) })),
        isBusy: (configuration) => this.busy.has(configuration),
        signals: async (dirs) => dirs.map(readBuildDirSignal),
        cachedSignalOf: (configuration) => {
          const dir = this.devices.get(configuration);
          return dir ? signalPair(readBuildDirSignal(dir)) : [null, null];
        },
        orphanSignalOf: (dir) => signalPair(readBuildDirSignal(dir)),
      },
      null,
      now(),
    );
    return planReclaim({ ...DEFAULT_RECLAIM_POLICY, ...policy }, inputs, 'plan-1');
  }

  runner(ports = this.ports(), extra: { logger?: ReturnType<typeof captureLog>['logger']; onProgress?: (p: ReclaimProgress) => void } = {}): ReclaimRunner {
    return new ReclaimRunner({ store: this.store, ports, logger: extra.logger ?? silentLogger, onProgress: extra.onProgress });
  }
}

const OLD = { older_than_seconds: 30 * DAY };

describe('ReclaimRunner over real folders', () => {
  it('runs the plan in order, measures what each step freed, records it and logs one line', async () => {
    const world = new World();
    const a = world.device('a', 90);
    const b = world.device('b', 60);
    world.device('young', 2);
    const gone = world.orphan('gone', 40);
    const goneBytes = du(gone);
    const [cleanA, cleanB, aBefore] = [cleanableOf(a), cleanableOf(b), du(a)];
    const plan = await world.plan({ ...OLD, unused_older_than_seconds: 7 * DAY });
    expect(plan.steps.map((step) => step.configuration ?? step.build_path)).toEqual([gone, 'a.yaml', 'b.yaml']);
    const log = captureLog();
    const progress: ReclaimProgress[] = [];
    const run = await world.runner(world.ports(), { logger: log.logger, onProgress: (p) => progress.push(p) }).run(plan, 'manual', 'Run now');
    expect(run.status).toBe('completed');
    expect(run.results).toEqual([
      { build_path: gone, ok: true, freed_bytes: goneBytes },
      { build_path: a, configuration: 'a.yaml', ok: true, freed_bytes: cleanA, job_id: 'job-a.yaml' },
      { build_path: b, configuration: 'b.yaml', ok: true, freed_bytes: cleanB, job_id: 'job-b.yaml' },
    ]);
    expect(run.freed_bytes).toBe(goneBytes + cleanA + cleanB);
    expect(fs.existsSync(gone)).toBe(false);
    expect(fs.existsSync(path.join(a, '.pioenvs'))).toBe(false);
    expect(fs.existsSync(path.join(a, 'src', 'main.cpp'))).toBe(true);
    expect(du(a)).toBe(aBefore - cleanA);
    expect(world.cleaned).toEqual(['a.yaml', 'b.yaml']);
    expect(progress.map((p) => [p.index, p.total, p.result.ok])).toEqual([
      [0, 3, true],
      [1, 3, true],
      [2, 3, true],
    ]);
    expect(await world.store.listRuns()).toEqual([run]);
    const lines = log.messages().filter((message) => message.startsWith('reclaim (manual)'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^reclaim \(manual\): 3 of 3 steps done, freed \d+(\.\d)? KB$/);
  });

  it('the run is recorded as running, with every step, before the first step runs', async () => {
    const world = new World();
    world.device('a', 90);
    world.device('b', 60);
    const plan = await world.plan(OLD);
    let seen: unknown;
    const base = world.ports();
    await world
      .runner(
        world.ports({
          cleanDevice: async (configuration, signal) => {
            seen ??= (await world.store.listRuns())[0];
            return base.cleanDevice(configuration, signal);
          },
        }),
      )
      .run(plan, 'schedule', 'every 24h');
    expect(seen).toMatchObject({ status: 'running', finished_at: null, results: [], trigger: 'schedule', reason: 'every 24h' });
    expect((seen as { steps: unknown[] }).steps).toHaveLength(2);
  });

  it('a device compiled between the preview and the run is skipped and reported; its folder is untouched', async () => {
    const world = new World();
    const kitchen = world.device('kitchen', 90);
    const other = world.device('other', 60);
    const plan = await world.plan(OLD);
    expect(plan.steps.map((step) => step.configuration)).toEqual(['kitchen.yaml', 'other.yaml']);
    // A compile two hours ago (outside the recent guard): build_info.json rewritten, its mtime moves.
    writeBuildInfo(kitchen, now() - 7200);
    const before = du(kitchen);
    const log = captureLog();
    const run = await world.runner(world.ports(), { logger: log.logger }).run(plan, 'schedule', 'age');
    expect(run.status).toBe('partial');
    expect(run.results[0]).toEqual({ build_path: kitchen, configuration: 'kitchen.yaml', ok: false, freed_bytes: 0, error: SKIP_COMPILED });
    expect(run.results[1]).toMatchObject({ configuration: 'other.yaml', ok: true });
    expect(run.skipped).toContainEqual({ configuration: 'kitchen.yaml', build_path: kitchen, reason: SKIP_COMPILED });
    expect(world.cleaned).toEqual(['other.yaml']);
    expect(du(kitchen)).toBe(before);
    expect(fs.existsSync(path.join(other, '.pioenvs'))).toBe(false);
    expect(log.messages()).toContain(
      `reclaim (schedule): 1 of 2 steps done, freed ${run.freed_bytes >= 1024 ? (run.freed_bytes / 1024).toFixed(1) + ' KB' : `${run.freed_bytes} B`}; skipped kitchen.yaml: compiled since the preview`,
    );
  });

  it('a folder changed since the preview (only its mtime moved) is skipped as changed', async () => {
    const world = new World();
    const kitchen = world.device('kitchen', 90);
    const plan = await world.plan(OLD);
    setMtime(kitchen, now() - 5 * DAY);
    const run = await world.runner().run(plan, 'manual', 'x');
    expect(run.status).toBe('failed');
    expect(run.results[0]?.error).toBe(SKIP_CHANGED);
    expect(world.cleaned).toEqual([]);
  });

  it('the recent-compile guard reads build_time fresh, even when the pair did not move', async () => {
    const world = new World();
    const kitchen = world.device('kitchen', 90);
    const plan = await world.plan(OLD);
    const info = path.join(kitchen, 'build_info.json');
    const mtime = fs.statSync(info).mtimeMs / 1000;
    const dirMtime = fs.statSync(kitchen).mtimeMs / 1000;
    writeBuildInfo(kitchen, now() - 60);
    setMtime(info, mtime);
    setMtime(kitchen, dirMtime);
    const run = await world.runner().run(plan, 'manual', 'x');
    expect(run.results[0]?.error).toBe(SKIP_RECENT);
    expect(world.cleaned).toEqual([]);
  });

  it('a busy device is never touched: not planned when busy at the preview, skipped when busy at the run', async () => {
    const world = new World();
    const early = world.device('early', 90);
    const late = world.device('late', 80);
    world.busy.add('early.yaml');
    const plan = await world.plan(OLD);
    expect(plan.steps.map((step) => step.configuration)).toEqual(['late.yaml']);
    expect(plan.skipped).toEqual([{ configuration: 'early.yaml', build_path: early, reason: SKIP_BUSY }]);
    world.busy.add('late.yaml');
    const before = du(late);
    const run = await world.runner().run(plan, 'manual', 'x');
    expect(run.results).toEqual([{ build_path: late, configuration: 'late.yaml', ok: false, freed_bytes: 0, error: SKIP_BUSY }]);
    expect(run.skipped.map((entry) => entry.configuration)).toEqual(['early.yaml', 'late.yaml']);
    expect(world.cleaned).toEqual([]);
    expect(du(late)).toBe(before);
  });

  it('a device gone or moved since the preview is skipped', async () => {
    const world = new World();
    world.device('gone', 90);
    world.device('moved', 80);
    const plan = await world.plan(OLD);
    world.devices.delete('gone.yaml');
    world.devices.set('moved.yaml', path.join(world.dataDir, 'build', 'elsewhere'));
    const run = await world.runner().run(plan, 'manual', 'x');
    expect(run.results.map((result) => result.error)).toEqual([SKIP_GONE, SKIP_MOVED]);
    expect(run.status).toBe('failed');
  });

  it('an unused folder used again, or one the delete guard refuses, is left alone', async () => {
    const world = new World();
    const reused = world.orphan('reused', 40);
    // A "build folder" inside the config dir: never deletable.
    const outside = world.orphan('outside', 50, world.configDir);
    const plan = await world.plan({ unused_older_than_seconds: 7 * DAY });
    expect(plan.steps.map((step) => step.build_path)).toEqual([outside, reused]);
    world.devices.set('reused.yaml', reused);
    const run = await world.runner().run(plan, 'manual', 'x');
    expect(run.status).toBe('failed');
    expect(run.results[0]).toMatchObject({ build_path: outside, ok: false, freed_bytes: 0 });
    expect(run.results[0]?.error).toMatch(/^refused: /);
    expect(run.results[1]).toMatchObject({ build_path: reused, ok: false, error: SKIP_NOW_USED });
    expect(fs.existsSync(path.join(outside, 'src', 'main.cpp'))).toBe(true);
    expect(fs.existsSync(path.join(reused, '.pioenvs'))).toBe(true);
    expect(world.deleted).toEqual([]);
  });

  it('without a measurement after the step, nothing is reported as freed', async () => {
    const world = new World();
    world.device('a', 90);
    const plan = await world.plan(OLD);
    const run = await world.runner(world.ports({ measureAfter: async () => null })).run(plan, 'manual', 'x');
    expect(run.results[0]).toMatchObject({ ok: true, freed_bytes: 0, error: FREED_NOT_MEASURED });
    expect(run.freed_bytes).toBe(0);
    expect(run.status).toBe('completed');
  });

  it('a failed clean is a failed step, its bytes still measured', async () => {
    const world = new World();
    const a = world.device('a', 90);
    const plan = await world.plan(OLD);
    const run = await world
      .runner(
        world.ports({
          cleanDevice: async () => {
            // Cut short: .pioenvs went, the rest did not.
            fs.rmSync(path.join(a, '.pioenvs'), { recursive: true });
            return { ok: false, job_id: 'j9', error: 'esphome exited with 1' };
          },
        }),
      )
      .run(plan, 'manual', 'x');
    expect(run.results[0]).toEqual({ build_path: a, configuration: 'a.yaml', ok: false, freed_bytes: 3000, error: 'esphome exited with 1', job_id: 'j9' });
    expect(run.status).toBe('failed');
  });

  it('cancelling stops after the current step; the rest are recorded as not done', async () => {
    const world = new World();
    world.device('a', 90);
    const b = world.device('b', 80);
    const c = world.device('c', 70);
    const plan = await world.plan(OLD);
    const controller = new AbortController();
    const base = world.ports();
    const run = await world
      .runner(
        world.ports({
          cleanDevice: async (configuration, signal) => {
            const outcome = await base.cleanDevice(configuration, signal);
            controller.abort();
            return outcome;
          },
        }),
      )
      .run(plan, 'manual', 'x', controller.signal);
    expect(run.results.map((result) => [result.configuration, result.ok, result.error])).toEqual([
      ['a.yaml', true, undefined],
      ['b.yaml', false, NOT_DONE_CANCELLED],
      ['c.yaml', false, NOT_DONE_CANCELLED],
    ]);
    expect(run.status).toBe('partial');
    expect(fs.existsSync(path.join(b, '.pioenvs'))).toBe(true);
    expect(fs.existsSync(path.join(c, '.pioenvs'))).toBe(true);
  });

  it('refuses a second run while one is in progress', async () => {
    const world = new World();
    world.device('a', 90);
    const plan = await world.plan(OLD);
    let release: () => void = () => undefined;
    let waiting = false;
    const base = world.ports();
    const runner = world.runner(
      world.ports({
        cleanDevice: async (configuration, signal) => {
          waiting = true;
          await new Promise<void>((resolve) => (release = resolve));
          return base.cleanDevice(configuration, signal);
        },
      }),
    );
    const first = runner.run(plan, 'manual', 'x');
    await waitFor(() => waiting);
    expect(runner.running?.status).toBe('running');
    await expect(runner.run(plan, 'manual', 'y')).rejects.toBeInstanceOf(ReclaimBusyError);
    release();
    expect((await first).status).toBe('completed');
    expect(runner.running).toBeNull();
  });

  it('restart mid-run: the run becomes interrupted, and the step in flight is never reported as done', async () => {
    const world = new World();
    const a = world.device('a', 90);
    const b = world.device('b', 80);
    const plan = await world.plan(OLD);
    let release: () => void = () => undefined;
    let hung = false;
    const base = world.ports();
    const runner = world.runner(
      world.ports({
        cleanDevice: async (configuration, signal) => {
          if (configuration === 'b.yaml') {
            hung = true;
            // The process "dies" here: this clean never ends (until the test lets it, after the restart).
            await new Promise<void>((resolve) => (release = resolve));
          }
          return base.cleanDevice(configuration, signal);
        },
      }),
    );
    const pending = runner.run(plan, 'schedule', 'age');
    await waitFor(() => hung);
    // The restart: a new store and runner on the same data dir.
    const restarted = new ReclaimStore({ dataDir: world.dataDir, logger: silentLogger });
    const marked = await restarted.markInterrupted();
    expect(marked).toHaveLength(1);
    const [record] = await restarted.listRuns();
    expect(record?.status).toBe('interrupted');
    expect(record?.finished_at).not.toBeNull();
    expect(record?.steps.map((step: ReclaimStep) => step.configuration)).toEqual(['a.yaml', 'b.yaml']);
    expect(record?.results).toEqual([{ build_path: a, configuration: 'a.yaml', ok: true, freed_bytes: expect.any(Number) as number, job_id: 'job-a.yaml' }]);
    expect(record?.results.some((result) => result.build_path === b)).toBe(false);
    // The old process coming back to life cannot rewrite the ended record.
    release();
    await pending;
    const [after] = await restarted.listRuns();
    expect(after?.status).toBe('interrupted');
    expect(after?.results).toHaveLength(1);
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  for (let attempt = 0; attempt < 2000 && !condition(); attempt++) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(condition()).toBe(true);
}
