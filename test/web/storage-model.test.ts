import { describe, expect, it } from 'vitest';
import type { OrphanBuild, PlatformioSummary } from '../../src/shared/protocol.js';
import {
  allocatedDiffers,
  breakdownParts,
  commonParent,
  orphanTotal,
  platformioParts,
  resetFrees,
  segmentWidth,
  shortenPath,
  splitPath,
} from '../../web/src/state/storage-model.js';
import { device, MB } from './fixtures.js';

const orphan = (build_path: string, bytes: number): OrphanBuild => ({ build_path, build_size_bytes: bytes, build_disk_bytes: bytes });

function platformio(parts: Partial<PlatformioSummary['parts']> = {}, walking: PlatformioSummary['walking'] = null): PlatformioSummary {
  const full = { packages: 0, platforms: 0, '.cache': 0, ...parts };
  return { path: '/root/.platformio', bytes: full.packages + full.platforms + full['.cache'], parts: full, walking };
}

describe('shortenPath', () => {
  it('leaves a path that fits alone', () => {
    expect(shortenPath('/config/.esphome/build/old-thing', 44)).toBe('/config/.esphome/build/old-thing');
    expect(shortenPath('', 10)).toBe('');
  });

  it('keeps the first folder and as many trailing segments as fit, with … for the middle', () => {
    const long = '/var/lib/homeassistant/addons/data/esphome/.esphome/build';
    const short = shortenPath(long, 30);
    expect(short).toBe('/var/…/esphome/.esphome/build');
    expect(short.length).toBeLessThanOrEqual(30);
    expect(shortenPath(long, 24)).toBe('/var/…/.esphome/build');
    // Never longer than asked, for any budget.
    for (let max = 8; max <= long.length; max++) expect(shortenPath(long, max).length).toBeLessThanOrEqual(max);
  });

  it('drops the head, then cuts the last segment from the start, when space is very short', () => {
    expect(shortenPath('/var/lib/homeassistant/esphome/build', 14)).toBe('/var/…/build');
    expect(shortenPath('/a-long-first-folder/lib/esphome/build', 14)).toBe('…/build');
    expect(shortenPath('/data/a-really-long-folder-name-for-a-device', 12)).toBe('…or-a-device');
  });

  it('handles Windows paths and relative paths', () => {
    expect(shortenPath('C:\\Users\\me\\esphome\\config\\.esphome\\build\\old', 30)).toBe('C:\\Users\\…\\.esphome\\build\\old');
    expect(shortenPath('a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t', 16)).toBe('a/…/o/p/q/r/s/t');
  });
});

describe('splitPath and commonParent', () => {
  it('splits a folder into its name and parent', () => {
    expect(splitPath('/config/.esphome/build/old-thing')).toEqual({ name: 'old-thing', parent: '/config/.esphome/build' });
    expect(splitPath('/config/.esphome/build/old-thing/')).toEqual({ name: 'old-thing', parent: '/config/.esphome/build' });
    expect(splitPath('/old')).toEqual({ name: 'old', parent: '/' });
    expect(splitPath('old')).toEqual({ name: 'old', parent: '' });
    expect(splitPath('C:\\b\\old')).toEqual({ name: 'old', parent: 'C:\\b' });
  });

  it('names the shared folder only when every path is in it', () => {
    expect(commonParent(['/c/build/a', '/c/build/b'])).toBe('/c/build');
    expect(commonParent(['/c/build/a', '/elsewhere/b'])).toBeNull();
    expect(commonParent([])).toBeNull();
  });
});

describe('resetFrees', () => {
  it("adds every device's build folder, the unused folders and PlatformIO's .cache (not packages or platforms)", () => {
    const devices = [device('a', { build_size_bytes: 200 * MB }), device('b', { build_size_bytes: 0 }), device('c', { build_size_bytes: 50 * MB })];
    const orphans = [orphan('/c/build/x', 30 * MB), orphan('/c/build/y', 5 * MB)];
    const frees = resetFrees(devices, orphans, platformio({ packages: 1000 * MB, platforms: 40 * MB, '.cache': 300 * MB }));
    expect(frees).toEqual({
      total: 585 * MB,
      devices: 250 * MB,
      compiled: 2,
      orphans: 35 * MB,
      orphanCount: 2,
      cache: 300 * MB,
    });
  });

  it('is zero when everything is already clean, and tolerates an unknown PlatformIO summary', () => {
    expect(resetFrees([device('a')], [], null).total).toBe(0);
    expect(resetFrees([], [orphan('/x/y', 10)], null)).toMatchObject({ total: 10, cache: 0 });
  });

  it('adds up the unused folders, ignoring nonsense sizes', () => {
    expect(orphanTotal([orphan('/a/b', 10), orphan('/a/c', -5), orphan('/a/d', 0)])).toBe(10);
  });
});

describe('platformioParts', () => {
  it('lists the three parts in order with their share, and the walked part with its progress', () => {
    const parts = platformioParts(platformio({ packages: 750, platforms: 50, '.cache': 200 }, { part: '.cache', files: 12, bytes: 99 }));
    expect(parts.map((p) => [p.label, p.bytes, p.share])).toEqual([
      ['packages', 750, 0.75],
      ['platforms', 50, 0.05],
      ['.cache', 200, 0.2],
    ]);
    expect(parts.map((p) => p.walking)).toEqual([null, null, { files: 12, bytes: 99 }]);
    expect(platformioParts(platformio()).every((p) => p.share === 0)).toBe(true);
  });
});

describe('breakdownParts', () => {
  it('gives .pioenvs / .piolibdeps / src / other with shares, marking what Clean deletes', () => {
    const parts = breakdownParts({ pioenvs: 600, piolibdeps: 200, src: 150, other: 50, cleanable: 805 });
    expect(parts.map((p) => [p.label, p.bytes, p.share, p.cleanable])).toEqual([
      ['.pioenvs', 600, 0.6, true],
      ['.piolibdeps', 200, 0.2, true],
      ['src', 150, 0.15, false],
      ['other', 50, 0.05, false],
    ]);
    expect(breakdownParts({ pioenvs: 0, piolibdeps: 0, src: 0, other: 0, cleanable: 0 }).every((p) => p.share === 0)).toBe(true);
  });

  it('sizes bar segments with a visible minimum for tiny non-zero parts', () => {
    expect(segmentWidth(0)).toBe('0%');
    expect(segmentWidth(0.001)).toBe('1.50%');
    expect(segmentWidth(0.5)).toBe('50.00%');
  });
});

describe('allocatedDiffers', () => {
  it('shows the allocated size only when it differs by 10 % and at least 1 MiB', () => {
    expect(allocatedDiffers(212 * MB, 4096)).toBe(true); // sparse
    expect(allocatedDiffers(200 * MB, 260 * MB)).toBe(true); // many small files
    expect(allocatedDiffers(200 * MB, 205 * MB)).toBe(false); // 2.5 %
    expect(allocatedDiffers(50 * 1024, 400 * 1024)).toBe(false); // 8x, but under 1 MiB
    expect(allocatedDiffers(200 * MB, 0)).toBe(false); // not measured
    expect(allocatedDiffers(0, 4096)).toBe(false);
  });
});
