/**
 * Size histories and trees on disk (issue 15): bounded to 100 points, the
 * append rule (a changed size, or an hour since the last point), reclaim
 * markers, corrupt or planted files read as empty and never crash, file
 * names that never come from raw input, and nothing ever written to the
 * shared sidecar.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SIZE_HISTORY_LIMIT, type SizeTreeNode } from '../../src/shared/size-history.js';
import { deviceFileName, FLEET_FILE, SIZE_FILE_MAX_BYTES, SIZES_DIR, SizeHistoryStore } from '../../src/size-history/size-history-store.js';
import { cleanupTempDirs, makeTempDir, silentLogger } from '../helpers/fs-fixtures.js';

afterEach(() => cleanupTempDirs());

const TREE: SizeTreeNode = {
  name: 'kitchen',
  bytes: 1000,
  files: 3,
  children: [{ name: '.pioenvs', bytes: 900, files: 2, children: [{ name: 'kitchen', bytes: 900, files: 2, children: [] }] }],
};

function makeStore(start = 1_800_000_000) {
  const dataDir = makeTempDir('history-');
  const clock = { now: start };
  const store = new SizeHistoryStore(dataDir, { logger: silentLogger, now: () => clock.now });
  return { dataDir, clock, store };
}

describe('SizeHistoryStore', () => {
  it('stores a device point and its tree in its own small file under the data dir', async () => {
    const { dataDir, store } = makeStore();
    store.recordDevice('kitchen.yaml', 1000, TREE);
    await store.flush();
    expect(await store.readHistory('kitchen.yaml')).toEqual([{ time: 1_800_000_000, bytes: 1000 }]);
    expect(await store.readTree('kitchen.yaml')).toEqual(TREE);
    const files = fs.readdirSync(path.join(dataDir, SIZES_DIR));
    expect(files).toEqual([deviceFileName('kitchen.yaml')]);
    expect(fs.statSync(path.join(dataDir, SIZES_DIR, files[0] as string)).size).toBeLessThan(5 * 1024);
    // Another device, never measured: empty, not an error.
    expect(await store.readHistory('other.yaml')).toEqual([]);
    expect(await store.readTree('other.yaml')).toBeNull();
  });

  it('forgets a deleted device: its file and a measurement still queued, and only that device', async () => {
    const { dataDir, store } = makeStore();
    store.recordDevice('kitchen.yaml', 1000, TREE);
    store.recordDevice('porch.yaml', 2000, null);
    await store.flush();
    store.recordDevice('kitchen.yaml', 1500, TREE);
    await store.forget('kitchen.yaml');
    await store.flush();
    expect(await store.readHistory('kitchen.yaml')).toEqual([]);
    expect(await store.readTree('kitchen.yaml')).toBeNull();
    expect(fs.readdirSync(path.join(dataDir, SIZES_DIR))).toEqual([deviceFileName('porch.yaml')]);
    expect(await store.readHistory('porch.yaml')).toEqual([{ time: 1_800_000_000, bytes: 2000 }]);
    // Nothing to forget is no error.
    await store.forget('never.yaml');
  });

  it('appends when the size changed or an hour passed, and keeps the last 100 points', async () => {
    const { clock, store } = makeStore();
    store.recordDevice('a.yaml', 10, null);
    await store.flush();
    clock.now += 60;
    store.recordDevice('a.yaml', 10, null); // same size within the hour: nothing new
    await store.flush();
    expect(await store.readHistory('a.yaml')).toHaveLength(1);
    clock.now += 3600;
    store.recordDevice('a.yaml', 10, null); // an hour later: the same size again is a point
    await store.flush();
    expect(await store.readHistory('a.yaml')).toHaveLength(2);
    for (let i = 0; i < 150; i++) {
      clock.now += 1;
      store.recordDevice('a.yaml', 100 + i, null);
      if (i % 40 === 0) await store.flush();
    }
    await store.flush();
    const history = await store.readHistory('a.yaml');
    expect(history).toHaveLength(SIZE_HISTORY_LIMIT);
    // Oldest first, the newest kept.
    expect(history[history.length - 1]?.bytes).toBe(249);
    expect(history[0]?.bytes).toBe(150);
    expect(history.every((point, i) => i === 0 || point.time >= (history[i - 1]?.time ?? 0))).toBe(true);
  });

  it('keeps the fleet total and marks what a reclaim freed at the total as last measured', async () => {
    const { clock, store } = makeStore();
    store.recordFleetTotal(5000);
    await store.flush();
    clock.now += 10;
    store.markReclaimed(1200);
    clock.now += 10;
    store.recordFleetTotal(3800);
    await store.flush();
    expect(await store.readFleetHistory()).toEqual([
      { time: 1_800_000_000, bytes: 5000 },
      { time: 1_800_000_010, bytes: 5000, reclaimed_bytes: 1200 },
      { time: 1_800_000_020, bytes: 3800 },
    ]);
    expect(() => store.markReclaimed(-1)).toThrow(/non-negative/);
    expect(() => store.markReclaimed(Number.NaN)).toThrow(/non-negative/);
  });

  it('reads corrupt, oversized, planted or foreign files as empty, and the next measurement replaces them', async () => {
    const { dataDir, clock, store } = makeStore();
    const dir = path.join(dataDir, SIZES_DIR);
    fs.mkdirSync(dir, { recursive: true });
    const fileOf = (configuration: string) => path.join(dir, deviceFileName(configuration));
    fs.writeFileSync(fileOf('garbage.yaml'), '{not json');
    fs.writeFileSync(fileOf('array.yaml'), '[1,2,3]');
    fs.writeFileSync(fileOf('shape.yaml'), JSON.stringify({ v: 1, configuration: 'shape.yaml', tree: ['x', -1, 0, []], history: [[1, 'a']] }));
    fs.writeFileSync(
      fileOf('deep.yaml'),
      JSON.stringify({ v: 1, configuration: 'deep.yaml', tree: ['a', 1, 1, [['b', 1, 1, [['c', 1, 1, [['d', 1, 1, [['e', 1, 1, []]]]]]]]]], history: [] }),
    );
    fs.writeFileSync(
      fileOf('long.yaml'),
      JSON.stringify({ v: 1, configuration: 'long.yaml', tree: null, history: Array.from({ length: 101 }, (_, i) => [i, i]) }),
    );
    fs.writeFileSync(fileOf('big.yaml'), 'x'.repeat(SIZE_FILE_MAX_BYTES + 1));
    fs.writeFileSync(fileOf('foreign.yaml'), JSON.stringify({ v: 1, configuration: 'someone-else.yaml', tree: null, history: [[1, 2]] }));
    fs.symlinkSync('/etc/hostname', fileOf('link.yaml'));
    execFileSync('mkfifo', [fileOf('fifo.yaml')]);
    execFileSync('mkfifo', [path.join(dir, FLEET_FILE)]);
    for (const name of ['garbage', 'array', 'shape', 'deep', 'long', 'big', 'foreign', 'link', 'fifo']) {
      expect(await store.readHistory(`${name}.yaml`), name).toEqual([]);
      expect(await store.readTree(`${name}.yaml`), name).toBeNull();
    }
    expect(await store.readFleetHistory()).toEqual([]);
    // A measurement replaces a corrupt file (the FIFO and the link are replaced by the rename, never opened).
    fs.rmSync(path.join(dir, FLEET_FILE));
    for (const name of ['garbage', 'shape', 'big', 'link', 'fifo']) store.recordDevice(`${name}.yaml`, 77, TREE);
    store.recordFleetTotal(77);
    await store.flush();
    for (const name of ['garbage', 'shape', 'big', 'link', 'fifo']) {
      expect(await store.readHistory(`${name}.yaml`), name).toEqual([{ time: clock.now, bytes: 77 }]);
      expect(await store.readTree(`${name}.yaml`), name).toEqual(TREE);
    }
    expect(fs.readFileSync('/etc/hostname', 'utf8')).not.toContain('77');
    expect(await store.readFleetHistory()).toEqual([{ time: clock.now, bytes: 77 }]);
  });

  it('names files by a sanitized stem and a hash: never a path from the raw name, never two devices in one file', () => {
    const names = ['kitchen.yaml', 'kitchen.yml', '../../etc/passwd.yaml', 'a b\n.yaml', 'ü.yaml', '_.yaml', '-.yaml', 'fleet.json'];
    const files = names.map(deviceFileName);
    expect(new Set(files).size).toBe(names.length);
    for (const file of files) {
      expect(file).toMatch(/^[A-Za-z0-9_-]*-[0-9a-f]{16}\.json$/);
      expect(file).not.toBe(FLEET_FILE);
    }
    expect(deviceFileName('x'.repeat(250) + '.yaml').length).toBeLessThan(100);
  });

  it('never writes the shared sidecar or anything outside its folder', async () => {
    const configDir = makeTempDir('history-config-');
    const dataDir = path.join(configDir, '.esphome');
    fs.mkdirSync(dataDir);
    const sidecar = path.join(configDir, '.device-builder.json');
    fs.writeFileSync(sidecar, '{"kitchen.yaml": {"build_size_bytes": 5}}');
    const before = fs.readFileSync(sidecar, 'utf8');
    const store = new SizeHistoryStore(dataDir, { logger: silentLogger });
    store.recordDevice('kitchen.yaml', 1000, TREE);
    store.recordFleetTotal(1000);
    store.markReclaimed(10);
    await store.flush();
    expect(fs.readFileSync(sidecar, 'utf8')).toBe(before);
    expect(fs.readdirSync(configDir).sort()).toEqual(['.device-builder.json', '.esphome']);
    expect(fs.readdirSync(dataDir)).toEqual([SIZES_DIR]);
    expect(fs.readdirSync(path.join(dataDir, SIZES_DIR)).sort()).toEqual([deviceFileName('kitchen.yaml'), FLEET_FILE].sort());
  });

  it('writes nothing through a link planted in place of its folder', async () => {
    const dataDir = makeTempDir('history-');
    const elsewhere = makeTempDir('elsewhere-');
    fs.symlinkSync(elsewhere, path.join(dataDir, SIZES_DIR));
    const store = new SizeHistoryStore(dataDir, { logger: silentLogger });
    store.recordDevice('kitchen.yaml', 1000, TREE);
    await store.flush();
    expect(fs.readdirSync(elsewhere)).toEqual([]);
  });
});
