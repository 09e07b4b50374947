import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readBuildDirSignal } from '../../src/build-size/freshness.js';
import { cachedPairOfEntry, gatherPlanInputs, orphanCachedPair, readBuildTime, signalPair } from '../../src/reclaim/plan-inputs.js';
import { cleanupTempDirs, makeTempDir, setMtime, writeFile } from '../helpers/fs-fixtures.js';
import { deviceFor, makeBuild } from './reclaim-fixtures.js';

afterEach(cleanupTempDirs);

const NOW = 1_800_000_000;
const DAY = 86_400;

describe('readBuildTime', () => {
  it('reads build_info.json build_time', async () => {
    const dir = makeBuild(makeTempDir(), 'kitchen', NOW - DAY);
    expect(await readBuildTime(dir)).toBe(NOW - DAY);
  });

  it.each([
    ['missing', null],
    ['not JSON', '{"build_time": 17'],
    ['a string build_time', '{"build_time": "1700000000"}'],
    ['a fractional build_time', '{"build_time": 1700000000.5}'],
    ['a negative build_time', '{"build_time": -5}'],
    ['an array', '[1700000000]'],
  ] as const)('%s → null', async (_label, content) => {
    const dir = makeTempDir();
    if (content !== null) writeFile(path.join(dir, 'build_info.json'), content);
    expect(await readBuildTime(dir)).toBeNull();
  });

  it('a folder, a link or an oversized file at build_info.json → null', async () => {
    const folder = makeTempDir();
    fs.mkdirSync(path.join(folder, 'build_info.json'));
    expect(await readBuildTime(folder)).toBeNull();
    const linked = makeTempDir();
    writeFile(path.join(linked, 'real.json'), '{"build_time": 1700000000}');
    fs.symlinkSync(path.join(linked, 'real.json'), path.join(linked, 'build_info.json'));
    expect(await readBuildTime(linked)).toBeNull();
    const big = makeTempDir();
    writeFile(path.join(big, 'build_info.json'), `{"build_time": 1700000000, "pad": "${'x'.repeat(70 * 1024)}"}`);
    expect(await readBuildTime(big)).toBeNull();
  });
});

describe('the cached pairs', () => {
  it('signalPair turns missing halves (0) into null', () => {
    expect(signalPair({ dirMtime: 5, infoMtime: 0 })).toEqual([5, null]);
  });
  it('a device entry and the _orphan_builds section', () => {
    expect(cachedPairOfEntry({ build_size_dir_mtime: 10, build_size_info_mtime: 11 })).toEqual([10, 11]);
    expect(cachedPairOfEntry({})).toEqual([null, null]);
    const snapshot = { _orphan_builds: { '/x': { build_size_bytes: 5, build_size_dir_mtime: 20, build_size_info_mtime: 21 } } };
    expect(orphanCachedPair(snapshot, '/x')).toEqual([20, 21]);
    expect(orphanCachedPair(snapshot, '/y')).toEqual([null, null]);
    expect(orphanCachedPair({ _orphan_builds: 'junk' }, '/x')).toEqual([null, null]);
  });
});

describe('gatherPlanInputs over real folders', () => {
  it('devices from their cached figures and build_info.json; unused folders last used at the later of build_time and mtime', async () => {
    const dataDir = makeTempDir();
    const kitchen = makeBuild(dataDir, 'kitchen', NOW - 10 * DAY);
    const never = makeBuild(dataDir, 'nobuildinfo', NOW - 5 * DAY);
    fs.rmSync(path.join(never, 'build_info.json'));
    // Unused: compiled 40 days ago, but PlatformIO touched the folder 3 days ago.
    const touched = makeBuild(dataDir, 'touched', NOW - 40 * DAY);
    setMtime(touched, NOW - 3 * DAY);
    // Unused: compiled 2 days ago, folder mtime older.
    const rebuilt = makeBuild(dataDir, 'rebuilt', NOW - 2 * DAY);
    setMtime(rebuilt, NOW - 50 * DAY);
    const devices = [deviceFor('kitchen.yaml', kitchen), deviceFor('nobuildinfo.yaml', never), deviceFor('new.yaml', null)];
    const cached = new Map([[touched, signalPair(readBuildDirSignal(touched))]]);
    const inputs = await gatherPlanInputs(
      {
        devices,
        orphans: [
          { build_path: touched, build_size_bytes: 999, build_disk_bytes: 999 },
          { build_path: rebuilt, build_size_bytes: 5, build_disk_bytes: 5 },
        ],
        isBusy: (configuration) => configuration === 'kitchen.yaml',
        signals: async (dirs) => dirs.map(readBuildDirSignal),
        cachedSignalOf: (configuration) => (configuration === 'kitchen.yaml' ? [1, 2] : [null, null]),
        orphanSignalOf: (buildPath) => cached.get(buildPath) ?? [null, null],
      },
      { path: dataDir, free_bytes: 10, total_bytes: 100 },
      NOW,
    );
    expect(inputs.now).toBe(NOW);
    expect(inputs.disk).toEqual({ path: dataDir, free_bytes: 10, total_bytes: 100 });
    expect(inputs.devices).toEqual([
      {
        configuration: 'kitchen.yaml',
        build_path: kitchen,
        folder_bytes: devices[0]?.build_size_bytes,
        cleanable_bytes: 5100,
        last_compiled: NOW - 10 * DAY,
        signal: [1, 2],
        busy: true,
      },
      {
        configuration: 'nobuildinfo.yaml',
        build_path: never,
        folder_bytes: devices[1]?.build_size_bytes,
        cleanable_bytes: 5100,
        last_compiled: null,
        signal: [null, null],
        busy: false,
      },
      { configuration: 'new.yaml', build_path: null, folder_bytes: 0, cleanable_bytes: 0, last_compiled: null, signal: [null, null], busy: false },
    ]);
    expect(inputs.unused).toEqual([
      { build_path: touched, bytes: 999, last_used: NOW - 3 * DAY, signal: [NOW - 3 * DAY, NOW - 40 * DAY], stale: false },
      // Never measured: its cached pair is empty, so it is stale.
      { build_path: rebuilt, bytes: 5, last_used: NOW - 2 * DAY, signal: [null, null], stale: true },
    ]);
  });

  it('a size measured without our breakdown is "not measured" (null), an empty folder has nothing to clean', async () => {
    const dataDir = makeTempDir();
    const dir = makeBuild(dataDir, 'py', NOW - DAY);
    const python = { ...deviceFor('py.yaml', dir), build_size_breakdown: null };
    const empty = { ...deviceFor('empty.yaml', dir), build_size_bytes: 0, build_size_breakdown: null };
    const inputs = await gatherPlanInputs(
      {
        devices: [python, empty],
        orphans: [],
        isBusy: () => false,
        signals: async () => [],
        cachedSignalOf: () => [null, null],
        orphanSignalOf: () => [null, null],
      },
      null,
      NOW,
    );
    expect(inputs.devices.map((device) => device.cleanable_bytes)).toEqual([null, 0]);
  });
});
