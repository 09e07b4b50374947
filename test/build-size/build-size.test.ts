/**
 * The build-size engine and freshness pair, behaviour items 1-13 and 28,
 * on the real file system with mtimes pinned by `utimes`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { findStaleBuildDirs, refreshBuildSizeIfStale, type SignalsFn } from '../../src/build-size/build-size.js';
import { cachedSignal, NO_SIGNAL, readBuildDirSignal, signalsEqual, wholeSeconds } from '../../src/build-size/freshness.js';
import { WalkPool } from '../../src/build-size/walk-pool.js';
import { addDevice, cleanupTempDirs, fixtureBytes, makeTempDir, pinSignal, setMtime, silentLogger, writeFile } from '../helpers/fs-fixtures.js';

let pool: WalkPool;
beforeAll(() => {
  pool = new WalkPool({ logger: silentLogger });
});
afterAll(() => pool.close());
afterEach(cleanupTempDirs);

/** The real pool's functions, wrapped so tests can count calls. */
function spies() {
  const walk = vi.fn((root: string) => pool.walk(root));
  const signals = vi.fn<SignalsFn>((dirs) => pool.signals(dirs));
  return { walk, signals };
}

describe('freshness pair (items 1, 6, 28)', () => {
  it('is (folder mtime, build_info.json mtime) floored to whole seconds', () => {
    const dir = makeTempDir();
    const { buildDir } = addDevice(dir, 'kitchen');
    setMtime(path.join(buildDir, 'build_info.json'), 1_714_900_050.999);
    setMtime(buildDir, 1_714_900_000.4);
    expect(wholeSeconds(readBuildDirSignal(buildDir))).toEqual({ dirMtime: 1_714_900_000, infoMtime: 1_714_900_050 });
  });

  it('gives 0 for a missing folder and 0 for a missing build_info.json', () => {
    const dir = makeTempDir();
    expect(readBuildDirSignal(path.join(dir, 'nope'))).toEqual({ ...NO_SIGNAL, dirMtimeMs: 0, infoMtimeMs: 0 });
    fs.mkdirSync(path.join(dir, 'b'));
    setMtime(path.join(dir, 'b'), 1_700_000_000);
    expect(wholeSeconds(readBuildDirSignal(path.join(dir, 'b')))).toEqual({ dirMtime: 1_700_000_000, infoMtime: 0 });
  });

  it('matches a whole-second cache after sub-second drift (FAT32, NFS, CIFS)', async () => {
    const dir = makeTempDir();
    const { buildDir } = addDevice(dir, 'kitchen');
    pinSignal(buildDir, 1_700_000_000.9, 1_700_000_001.2);
    const { walk, signals } = spies();
    const cached = { dirMtime: 1_700_000_000, infoMtime: 1_700_000_001 };
    expect(await refreshBuildSizeIfStale(buildDir, cached, signals, walk)).toBeNull();
    expect(walk).not.toHaveBeenCalled();
  });

  it('compares exact times only when both sides know them', () => {
    const seconds = { dirMtime: 5, infoMtime: 6 };
    expect(signalsEqual({ ...seconds, dirMtimeMs: 5200, infoMtimeMs: 6000 }, seconds)).toBe(true);
    expect(signalsEqual({ ...seconds, dirMtimeMs: 5200, infoMtimeMs: 6000 }, { ...seconds, dirMtimeMs: 5200, infoMtimeMs: 6000 })).toBe(true);
    expect(signalsEqual({ ...seconds, dirMtimeMs: 5200, infoMtimeMs: 6000 }, { ...seconds, dirMtimeMs: 5700, infoMtimeMs: 6000 })).toBe(false);
    expect(signalsEqual({ ...seconds, dirMtimeMs: 5200, infoMtimeMs: 6000 }, { ...seconds, dirMtimeMs: 5200, infoMtimeMs: 6400 })).toBe(false);
  });

  it('reads the cached pair defensively from a sidecar entry', () => {
    expect(cachedSignal({ build_size_dir_mtime: '1714900000', build_size_info_mtime: 12.9 })).toEqual({
      dirMtime: 1_714_900_000,
      infoMtime: 12,
    });
    expect(cachedSignal({ build_size_dir_mtime: '12.7', build_size_info_mtime: {} })).toEqual(NO_SIGNAL);
  });
});

describe('refreshBuildSizeIfStale (items 2-7, 10)', () => {
  it('does not walk when the cached pair equals the current one', async () => {
    const dir = makeTempDir();
    const { buildDir } = addDevice(dir, 'kitchen');
    pinSignal(buildDir, 1_700_000_000, 1_700_000_010);
    const { walk, signals } = spies();
    const result = await refreshBuildSizeIfStale(buildDir, { dirMtime: 1_700_000_000, infoMtime: 1_700_000_010 }, signals, walk);
    expect(result).toBeNull();
    expect(walk).not.toHaveBeenCalled();
  });

  it.each([
    ['the folder mtime moved (PlatformIO sibling churn)', { dirMtime: 1_699_999_999, infoMtime: 1_700_000_010 }],
    ['the build_info.json mtime moved (recompile, rewritten in place)', { dirMtime: 1_700_000_000, infoMtime: 1_700_000_009 }],
    ['nothing was cached', NO_SIGNAL],
  ])('walks when %s', async (_what, cached) => {
    const dir = makeTempDir();
    const { buildDir } = addDevice(dir, 'kitchen', { files: 4, fileBytes: 250 });
    pinSignal(buildDir, 1_700_000_000, 1_700_000_010);
    const { walk, signals } = spies();
    const result = await refreshBuildSizeIfStale(buildDir, cached, signals, walk);
    expect(walk).toHaveBeenCalledTimes(1);
    expect(result?.sizeBytes).toBe(fixtureBytes(4, 250));
    expect(wholeSeconds(result!.signal)).toEqual({ dirMtime: 1_700_000_000, infoMtime: 1_700_000_010 });
  });

  it('is a no-op for a missing folder with nothing cached, however often asked (no churn)', async () => {
    const dir = makeTempDir();
    const { walk, signals } = spies();
    for (let i = 0; i < 5; i++) {
      expect(await refreshBuildSizeIfStale(path.join(dir, 'gone'), NO_SIGNAL, signals, walk)).toBeNull();
    }
    expect(walk).not.toHaveBeenCalled();
  });

  it('walks once to 0 when the folder vanished while a size was cached', async () => {
    const dir = makeTempDir();
    const { walk, signals } = spies();
    const result = await refreshBuildSizeIfStale(path.join(dir, 'gone'), { dirMtime: 5, infoMtime: 6 }, signals, walk);
    expect(result).toMatchObject({ sizeBytes: 0, signal: NO_SIGNAL });
    expect(walk).toHaveBeenCalledTimes(1);
  });

  it('treats a folder without build_info.json as (dir mtime, 0), then stable', async () => {
    const dir = makeTempDir();
    const buildDir = path.join(dir, 'build');
    writeFile(path.join(buildDir, 'x.o'), 10);
    setMtime(buildDir, 1_700_000_000);
    const { walk, signals } = spies();
    const first = await refreshBuildSizeIfStale(buildDir, NO_SIGNAL, signals, walk);
    expect(wholeSeconds(first!.signal)).toEqual({ dirMtime: 1_700_000_000, infoMtime: 0 });
    expect(await refreshBuildSizeIfStale(buildDir, first!.signal, signals, walk)).toBeNull();
    expect(walk).toHaveBeenCalledTimes(1);
  });

  it('has nothing to walk for a device without a build folder (no or corrupt StorageJSON)', async () => {
    const { walk, signals } = spies();
    expect(await refreshBuildSizeIfStale(null, NO_SIGNAL, signals, walk)).toBeNull();
    expect(await refreshBuildSizeIfStale(null, { dirMtime: 1, infoMtime: 2 }, signals, walk)).toBeNull();
    expect(signals).not.toHaveBeenCalled();
    expect(walk).not.toHaveBeenCalled();
  });
});

describe('findStaleBuildDirs (items 11-13)', () => {
  it('returns devices whose pair moved, in the order given, skipping ones without a build folder', async () => {
    const dir = makeTempDir();
    const a = addDevice(dir, 'a');
    const b = addDevice(dir, 'b');
    const c = addDevice(dir, 'c');
    for (const device of [a, b, c]) pinSignal(device.buildDir, 1_700_000_000, 1_700_000_001);
    const sidecar = {
      'a.yaml': { build_size_dir_mtime: 1_700_000_000, build_size_info_mtime: 1_700_000_001, build_size_bytes: 5 },
      'b.yaml': { build_size_dir_mtime: 1_600_000_000, build_size_info_mtime: 1_700_000_001, build_size_bytes: 5 },
    };
    const targets = [
      { configuration: 'c.yaml', buildPath: c.buildDir },
      { configuration: 'none.yaml', buildPath: null },
      { configuration: 'b.yaml', buildPath: b.buildDir },
      { configuration: 'a.yaml', buildPath: a.buildDir },
    ];
    const { signals } = spies();
    expect(await findStaleBuildDirs(targets, sidecar, signals)).toEqual(['c.yaml', 'b.yaml']);
    expect(signals).toHaveBeenCalledTimes(1);
    expect(signals.mock.calls[0]?.[0]).toEqual([c.buildDir, b.buildDir, a.buildDir]);
  });

  it('treats every compiled device as stale when the sidecar is unreadable (empty snapshot)', async () => {
    const dir = makeTempDir();
    const a = addDevice(dir, 'a');
    const b = addDevice(dir, 'b');
    const targets = [a, b].map((d) => ({ configuration: d.configuration, buildPath: d.buildDir }));
    expect(await findStaleBuildDirs(targets, {}, spies().signals)).toEqual(['a.yaml', 'b.yaml']);
  });

  it('returns at once without touching the disk when there are no devices', async () => {
    const { signals } = spies();
    expect(await findStaleBuildDirs([], {}, signals)).toEqual([]);
    expect(await findStaleBuildDirs([{ configuration: 'x.yaml', buildPath: null }], {}, signals)).toEqual([]);
    expect(signals).not.toHaveBeenCalled();
  });

  it('flags a vanished folder whose size is still cached, so the worker can clear it', async () => {
    const dir = makeTempDir();
    const sidecar = { 'a.yaml': { build_size_bytes: 10, build_size_dir_mtime: 5, build_size_info_mtime: 6 } };
    const targets = [{ configuration: 'a.yaml', buildPath: path.join(dir, 'gone') }];
    expect(await findStaleBuildDirs(targets, sidecar, spies().signals)).toEqual(['a.yaml']);
  });
});
