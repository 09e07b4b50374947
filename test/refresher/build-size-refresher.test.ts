import { captureLog } from '../helpers/capture-log.js';
/**
 * The background refresher, behaviour items 5 and 14-19, with the real pool,
 * the real sidecar and real build folders; walks are wrapped only to count
 * them or hold them open.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { BuildTarget } from '../../src/build-size/build-size.js';
import { WalkPool, type WalkResult } from '../../src/build-size/walk-pool.js';
import { BuildSizeRefresher, type BuildSizeRefresherDeps } from '../../src/refresher/build-size-refresher.js';
import { SidecarStore } from '../../src/sidecar/sidecar-store.js';
import {
  addDevice,
  cleanupTempDirs,
  fixtureBytes,
  makeTempDir,
  pinSignal,
  readJson,
  setMtime,
  silentLogger,
  writeFile,
  type FixtureDevice,
} from '../helpers/fs-fixtures.js';

let pool: WalkPool;
beforeAll(() => {
  pool = new WalkPool({ logger: silentLogger });
});
afterAll(() => pool.close());

const running: BuildSizeRefresher[] = [];
afterEach(async () => {
  for (const refresher of running.splice(0)) await refresher.stop();
  cleanupTempDirs();
});

function deferred() {
  let release: () => void = () => undefined;
  const promise = new Promise<void>((resolve) => (release = resolve));
  return { promise, release };
}

interface Fleet {
  configDir: string;
  store: SidecarStore;
  devices: FixtureDevice[];
}

function makeFleet(count: number, files = 3): Fleet {
  const configDir = makeTempDir();
  const devices = Array.from({ length: count }, (_, i) => addDevice(configDir, `dev${i}`, { files }));
  return { configDir, store: new SidecarStore(configDir, { logger: silentLogger }), devices };
}

function makeRefresher(fleet: Fleet, overrides: Partial<BuildSizeRefresherDeps> = {}) {
  const refreshed: string[] = [];
  const walk = vi.fn((root: string) => pool.walk(root));
  const targets = (): BuildTarget[] => fleet.devices.map((d) => ({ configuration: d.configuration, buildPath: d.buildDir }));
  const deps: BuildSizeRefresherDeps = {
    store: fleet.store,
    walk,
    signals: (dirs) => pool.signals(dirs),
    listTargets: async () => targets(),
    buildPathOf: async (configuration) => targets().find((t) => t.configuration === configuration)?.buildPath ?? null,
    onRefreshed: (configuration) => {
      refreshed.push(configuration);
    },
    logger: silentLogger,
    ...overrides,
  };
  const refresher = new BuildSizeRefresher(deps);
  running.push(refresher);
  return { refresher, walk, refreshed };
}

function sidecarEntry(fleet: Fleet, configuration: string): Record<string, unknown> | undefined {
  const data = readJson(fleet.store.path) as Record<string, Record<string, unknown>>;
  return data[configuration];
}

describe('initial fleet sweep (item 17)', () => {
  it('walks every stale device on start, persists the triple and reports each once', async () => {
    const fleet = makeFleet(3, 5);
    pinSignal(fleet.devices[0]!.buildDir, 1_700_000_000, 1_700_000_005);
    const { refresher, walk, refreshed } = makeRefresher(fleet);
    refresher.start();
    await refresher.whenIdle();
    expect(walk).toHaveBeenCalledTimes(3);
    expect(refreshed.sort()).toEqual(['dev0.yaml', 'dev1.yaml', 'dev2.yaml']);
    const entry = sidecarEntry(fleet, 'dev0.yaml');
    expect(entry).toMatchObject({
      build_size_bytes: fixtureBytes(5),
      build_size_dir_mtime: 1_700_000_000,
      build_size_info_mtime: 1_700_000_005,
    });
    // The same walk also records the allocated size and the breakdown (no second walk).
    expect(entry?.['build_disk_bytes']).toBeGreaterThanOrEqual(6 * 4096 - 4096);
    expect(entry?.['build_size_breakdown']).toEqual({
      pioenvs: 500,
      piolibdeps: 0,
      src: 0,
      other: fixtureBytes(5) - 500,
      cleanable: 500,
    });
  });

  it('writes a cold fleet in batches, not one sidecar write per device, and reports each device once', async () => {
    const fleet = makeFleet(100, 1);
    const update = vi.spyOn(fleet.store, 'update');
    const { refresher, walk, refreshed } = makeRefresher(fleet);
    refresher.start();
    await refresher.whenIdle();
    expect(walk).toHaveBeenCalledTimes(100);
    expect(refreshed).toHaveLength(100);
    expect(update.mock.calls.length).toBeLessThanOrEqual(100 / 32 + 4);
    const data = readJson(fleet.store.path) as Record<string, Record<string, unknown>>;
    expect(fleet.devices.every((d) => data[d.configuration]?.['build_size_bytes'] === fixtureBytes(1))).toBe(true);
  });

  it('walks nothing and writes nothing on a second start with nothing changed', async () => {
    const fleet = makeFleet(3);
    const first = makeRefresher(fleet);
    first.refresher.start();
    await first.refresher.whenIdle();
    await first.refresher.stop();
    const before = fs.statSync(fleet.store.path).mtimeMs;
    const second = makeRefresher(fleet);
    second.refresher.start();
    await second.refresher.whenIdle();
    expect(second.walk).not.toHaveBeenCalled();
    expect(second.refreshed).toEqual([]);
    expect(fs.statSync(fleet.store.path).mtimeMs).toBe(before);
  });

  it('reads the sidecar once per sweep, not once per device (item 11)', async () => {
    const fleet = makeFleet(6);
    const read = vi.spyOn(fleet.store, 'read');
    const { refresher } = makeRefresher(fleet);
    refresher.start();
    await refresher.whenIdle();
    // One read for the sweep, one for the drain cycle that walks the six.
    expect(read).toHaveBeenCalledTimes(2);
  });
});

describe('requests (items 14-16)', () => {
  it('records a request synchronously and coalesces repeats into one walk', async () => {
    const fleet = makeFleet(1);
    const { refresher, walk } = makeRefresher(fleet);
    refresher.start();
    await refresher.whenIdle();
    walk.mockClear();
    writeFile(path.join(fleet.devices[0]!.buildDir, 'new.o'), 50);
    setMtime(fleet.devices[0]!.buildDir, 1_800_000_000);
    for (let i = 0; i < 10; i++) expect(refresher.request('dev0.yaml')).toBeUndefined();
    await refresher.whenIdle();
    expect(walk).toHaveBeenCalledTimes(1);
    expect(sidecarEntry(fleet, 'dev0.yaml')?.['build_size_bytes']).toBe(fixtureBytes(3) + 50);
  });

  it('checks a device once more when it was requested while being walked (item 15)', async () => {
    const fleet = makeFleet(1);
    const gate = deferred();
    const entered = deferred();
    let calls = 0;
    const { refresher, walk } = makeRefresher(fleet, {
      walk: async (root): Promise<WalkResult> => {
        calls++;
        if (calls === 1) {
          entered.release();
          await gate.promise;
        }
        return pool.walk(root);
      },
    });
    refresher.start();
    await entered.promise;
    // The tree changes under the first walk, and a request arrives meanwhile.
    const device = fleet.devices[0]!;
    writeFile(path.join(device.buildDir, 'late.o'), 7);
    setMtime(device.buildDir, 1_900_000_000);
    refresher.request(device.configuration);
    gate.release();
    await refresher.whenIdle();
    expect(calls).toBe(2);
    expect(walk).not.toHaveBeenCalled();
    expect(sidecarEntry(fleet, device.configuration)?.['build_size_dir_mtime']).toBe(1_900_000_000);
  });

  it('notices a change made in the same second as its last walk (exact mtimes kept in memory)', async () => {
    const fleet = makeFleet(1);
    const device = fleet.devices[0]!;
    pinSignal(device.buildDir, 1_700_000_000.2, 1_700_000_000.2);
    const { refresher, walk } = makeRefresher(fleet);
    refresher.start();
    await refresher.whenIdle();
    expect(walk).toHaveBeenCalledTimes(1);
    // `esphome clean` right after the compile: same whole second, folder changed.
    fs.rmSync(path.join(device.buildDir, '.pioenvs'), { recursive: true });
    pinSignal(device.buildDir, 1_700_000_000.7, 1_700_000_000.2);
    refresher.request(device.configuration);
    await refresher.whenIdle();
    expect(walk).toHaveBeenCalledTimes(2);
    expect(sidecarEntry(fleet, device.configuration)?.['build_size_bytes']).toBe(fixtureBytes(0));
    // Nothing moved since: no further walk, from a request or a sweep.
    refresher.request(device.configuration);
    refresher.requestSweep();
    await refresher.whenIdle();
    expect(walk).toHaveBeenCalledTimes(2);
  });

  it('walks one device at a time under a burst of requests (item 16)', async () => {
    const fleet = makeFleet(12);
    let active = 0;
    let peak = 0;
    const { refresher } = makeRefresher(fleet, {
      walk: async (root) => {
        active++;
        peak = Math.max(peak, active);
        try {
          return await pool.walk(root);
        } finally {
          active--;
        }
      },
    });
    refresher.start();
    for (const device of fleet.devices) refresher.request(device.configuration);
    await refresher.whenIdle();
    expect(peak).toBe(1);
  });

  it('clears the triple once when a cached folder vanished, then leaves it alone (item 5)', async () => {
    const fleet = makeFleet(1);
    const { refresher, walk, refreshed } = makeRefresher(fleet);
    refresher.start();
    await refresher.whenIdle();
    fs.rmSync(fleet.devices[0]!.buildDir, { recursive: true });
    walk.mockClear();
    refreshed.length = 0;
    refresher.request('dev0.yaml');
    refresher.requestSweep();
    await refresher.whenIdle();
    expect(walk).toHaveBeenCalledTimes(1);
    expect(refreshed).toEqual(['dev0.yaml']);
    expect(sidecarEntry(fleet, 'dev0.yaml')).toBeUndefined();
    refresher.request('dev0.yaml');
    refresher.requestSweep();
    await refresher.whenIdle();
    expect(walk).toHaveBeenCalledTimes(1);
    expect(refreshed).toEqual(['dev0.yaml']);
  });
});

describe('lifecycle (item 18)', () => {
  it('keeps one worker when started twice', async () => {
    const fleet = makeFleet(2);
    const listTargets = vi.fn(async () => fleet.devices.map((d) => ({ configuration: d.configuration, buildPath: d.buildDir })));
    const { refresher, walk } = makeRefresher(fleet, { listTargets });
    refresher.start();
    refresher.start();
    await refresher.whenIdle();
    expect(listTargets).toHaveBeenCalledTimes(1);
    expect(walk).toHaveBeenCalledTimes(2);
  });

  it('stop() without a worker is a no-op', async () => {
    const { refresher } = makeRefresher(makeFleet(0));
    await expect(refresher.stop()).resolves.toBeUndefined();
  });

  it('stop() cancels a worker held in a walk promptly and persists nothing after', async () => {
    const fleet = makeFleet(1);
    const entered = deferred();
    const { refresher } = makeRefresher(fleet, {
      walk: async () => {
        entered.release();
        return new Promise<WalkResult>(() => undefined);
      },
    });
    refresher.start();
    await entered.promise;
    await refresher.stop();
    expect(fs.existsSync(fleet.store.path)).toBe(false);
    refresher.request('dev0.yaml');
    expect(refresher.running).toBe(false);
  });
});

describe('error isolation (item 19)', () => {
  it('logs a failing device and goes on with the next', async () => {
    const fleet = makeFleet(3);
    const { logger, lines } = captureLog();
    const { refresher, refreshed } = makeRefresher(fleet, {
      logger,
      walk: async (root) => {
        if (root.endsWith('dev1')) throw new Error('disk on fire');
        return pool.walk(root);
      },
    });
    refresher.start();
    await refresher.whenIdle();
    expect(refreshed.sort()).toEqual(['dev0.yaml', 'dev2.yaml']);
    expect(lines().some((r) => r.level === 50 && r['configuration'] === 'dev1.yaml')).toBe(true);
  });

  it('logs a failing refreshed callback and goes on', async () => {
    const fleet = makeFleet(2);
    const { logger, lines } = captureLog();
    const seen: string[] = [];
    const { refresher, walk } = makeRefresher(fleet, {
      logger,
      onRefreshed: (configuration) => {
        seen.push(configuration);
        throw new Error('client went away');
      },
    });
    refresher.start();
    await refresher.whenIdle();
    expect(walk).toHaveBeenCalledTimes(2);
    expect(seen).toHaveLength(2);
    expect(sidecarEntry(fleet, 'dev1.yaml')?.['build_size_bytes']).toBe(fixtureBytes(3));
    expect(lines().filter((r) => r.level === 50)).toHaveLength(2);
  });

  it('logs a failing initial sweep and still serves later requests', async () => {
    const fleet = makeFleet(1);
    const { logger, lines } = captureLog();
    const { refresher, walk } = makeRefresher(fleet, {
      logger,
      listTargets: async () => {
        throw new Error('scan failed');
      },
    });
    refresher.start();
    await refresher.whenIdle();
    expect(walk).not.toHaveBeenCalled();
    expect(lines().some((r) => r.level === 50 && /sweep failed/.test(r.msg))).toBe(true);
    refresher.request('dev0.yaml');
    await refresher.whenIdle();
    expect(walk).toHaveBeenCalledTimes(1);
  });
});
