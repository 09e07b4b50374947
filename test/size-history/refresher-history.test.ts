/**
 * End to end on real folders: the sizing system's refresher walks a device
 * and the same walk leaves a stored size tree and a history point (and a
 * fleet total point), in the data dir, never in the shared sidecar; the two
 * API commands answer from that store with strict arguments.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SIZE_HISTORY_COMMANDS, type SizeHistoryContext } from '../../src/api/size-history-commands.js';
import { ApiError } from '../../src/api/api-error.js';
import type { BuildTarget } from '../../src/build-size/build-size.js';
import type { SizeTreeNode } from '../../src/shared/size-history.js';
import { SIZES_DIR } from '../../src/size-history/size-history-store.js';
import { createSizingSystem, type SizingSystem } from '../../src/sizing-system.js';
import { addDevice, cleanupTempDirs, makeTempDir, readJson, setMtime, silentLogger, writeFile, type FixtureDevice } from '../helpers/fs-fixtures.js';

const systems: SizingSystem[] = [];
afterEach(async () => {
  for (const system of systems.splice(0)) await system.close();
  cleanupTempDirs();
});

function fleet(count: number) {
  const configDir = makeTempDir('history-e2e-');
  const dataDir = path.join(configDir, '.esphome');
  const devices: FixtureDevice[] = Array.from({ length: count }, (_, i) => addDevice(configDir, `dev${i}`, { files: 4, fileBytes: 1000 }));
  const targets = (): BuildTarget[] => devices.map((device) => ({ configuration: device.configuration, buildPath: device.buildDir }));
  const system = createSizingSystem({
    configDir,
    dataDir,
    env: {},
    logger: silentLogger,
    activeConfigurations: () => devices.map((device) => device.configuration),
    listTargets: async () => targets(),
  });
  systems.push(system);
  return { configDir, dataDir, devices, system };
}

async function settle(system: SizingSystem): Promise<void> {
  await system.refresher.whenIdle();
  await system.sizeHistory.flush();
}

describe('the refresher records size trees and histories', () => {
  it('a walk of a device stores its tree and a point; the fleet total gets a point; the sidecar holds neither', async () => {
    const { configDir, dataDir, devices, system } = fleet(2);
    const [kitchen] = devices as [FixtureDevice];
    writeFile(path.join(kitchen.buildDir, '.piolibdeps', 'dev0', 'BigLib', 'src', 'lib.cpp'), 20_000);
    system.refresher.start();
    await settle(system);

    const tree = (await system.sizeHistory.readTree(kitchen.configuration)) as SizeTreeNode;
    expect(tree).toMatchObject({ name: 'dev0', bytes: 4000 + 20_000 + '{"config_hash": 1}'.length });
    expect(tree.children.map((child) => child.name)).toEqual(['.piolibdeps', '.pioenvs']);
    expect(tree.children[0]?.children[0]?.children[0]).toMatchObject({ name: 'BigLib', bytes: 20_000, files: 1 });
    const history = await system.sizeHistory.readHistory(kitchen.configuration);
    expect(history).toHaveLength(1);
    expect(history[0]?.bytes).toBe(tree.bytes);
    const fleetHistory = await system.sizeHistory.readFleetHistory();
    expect(fleetHistory.map((point) => point.bytes)).toEqual([tree.bytes + 4000 + '{"config_hash": 1}'.length]);

    // Stored per instance in the data dir (two devices, the fleet); the metadata files, the shared sidecar first, hold neither.
    expect(fs.readdirSync(path.join(dataDir, SIZES_DIR))).toHaveLength(3);
    const metadataFiles = [configDir, dataDir].flatMap((dir) =>
      fs
        .readdirSync(dir)
        .filter((name) => name.startsWith('.device-builder') && name.endsWith('.json'))
        .map((name) => path.join(dir, name)),
    );
    expect(metadataFiles.length).toBeGreaterThan(0);
    for (const file of metadataFiles) {
      const text = JSON.stringify(readJson(file));
      expect(text, file).not.toContain('BigLib');
      expect(text, file).not.toContain('history');
    }

    // A compile grows the device: the next walk appends a point and replaces the tree.
    writeFile(path.join(kitchen.buildDir, '.pioenvs', 'dev0', 'firmware.bin'), 50_000);
    setMtime(kitchen.buildDir, Math.floor(Date.now() / 1000) + 5);
    setMtime(path.join(kitchen.buildDir, 'build_info.json'), Math.floor(Date.now() / 1000) + 5);
    system.refresher.request(kitchen.configuration);
    await settle(system);
    const after = await system.sizeHistory.readHistory(kitchen.configuration);
    expect(after.map((point) => point.bytes)).toEqual([tree.bytes, tree.bytes + 50_000]);
    expect((await system.sizeHistory.readTree(kitchen.configuration))?.children[0]).toMatchObject({ name: '.pioenvs', bytes: 54_000 });
    expect((await system.sizeHistory.readFleetHistory()).map((point) => point.bytes)).toEqual([fleetHistory[0]?.bytes, (fleetHistory[0]?.bytes ?? 0) + 50_000]);
  });
});

describe('devices/size_history and devices/size_tree', () => {
  it('answer from the store: a device, the fleet, not_found, and strict arguments', async () => {
    const { devices, system } = fleet(1);
    system.refresher.start();
    await settle(system);
    const known = new Set(devices.map((device) => device.configuration));
    const ctx: SizeHistoryContext = {
      services: { catalog: { get: (configuration) => (known.has(configuration) ? {} : undefined) }, sizeHistory: system.sizeHistory },
    };
    const history = SIZE_HISTORY_COMMANDS['devices/size_history'];
    const tree = SIZE_HISTORY_COMMANDS['devices/size_tree'];
    const call = async <A>(spec: { args: { parse(value: unknown): A }; handler(args: A, ctx: SizeHistoryContext): Promise<unknown> }, args: unknown) =>
      spec.handler(spec.args.parse(args), ctx);

    const points = (await call(history, { configuration: 'dev0.yaml' })) as { time: number; bytes: number }[];
    expect(points).toHaveLength(1);
    expect(points[0]?.bytes).toBe(4000 + '{"config_hash": 1}'.length);
    expect(Number.isInteger(points[0]?.time)).toBe(true);
    expect(Math.abs((points[0]?.time ?? 0) - Date.now() / 1000)).toBeLessThan(3600);
    expect(await call(history, {})).toEqual([{ time: points[0]?.time, bytes: points[0]?.bytes }]);
    expect(await call(tree, { configuration: 'dev0.yaml' })).toMatchObject({ name: 'dev0', bytes: points[0]?.bytes });

    await expect(call(history, { configuration: 'nope.yaml' })).rejects.toThrow(ApiError);
    await expect(call(tree, { configuration: 'nope.yaml' })).rejects.toMatchObject({ code: 'not_found' });
    for (const bad of [{ configuration: '../x.yaml' }, { configuration: 5 }, { configuration: 'dev0.yaml', extra: 1 }, { configuration: 'notes.txt' }]) {
      expect(history.args.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
      expect(tree.args.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
    expect(tree.args.safeParse({}).success).toBe(false);
  });
});
