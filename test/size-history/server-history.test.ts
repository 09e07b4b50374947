/**
 * The size history through the real server: the start-up walk leaves a
 * point and a tree that `devices/size_history` and `devices/size_tree`
 * return, and `devices/delete` removes the device's history file with it
 * (archiving keeps it, for when the device comes back).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { deviceFileName, SIZES_DIR } from '../../src/size-history/size-history-store.js';
import type { SizePoint, SizeTreeNode } from '../../src/shared/size-history.js';
import { addDevice, cleanupTempDirs, makeTempDir } from '../helpers/fs-fixtures.js';
import { startServer, stopServers } from '../helpers/server-fixture.js';

afterEach(async () => {
  await stopServers();
  cleanupTempDirs();
});

describe('size history in the server', () => {
  it('answers from the start-up walk, and devices/delete takes the history with it (archive keeps it)', async () => {
    const dir = makeTempDir();
    addDevice(dir, 'kitchen', { files: 4, fileBytes: 1000 });
    addDevice(dir, 'porch', { files: 4, fileBytes: 1000 });
    const running = await startServer(dir);
    await running.server.refresher.whenIdle();
    await running.server.sizeHistory.flush();
    const client = await running.connect();
    const points = await client.call<SizePoint[]>('devices/size_history', { configuration: 'kitchen.yaml' });
    expect(points).toHaveLength(1);
    expect(points[0]?.bytes).toBeGreaterThan(4000);
    expect(await client.call<SizeTreeNode | null>('devices/size_tree', { configuration: 'kitchen.yaml' })).toMatchObject({ name: 'kitchen' });
    const fleet = await client.call<SizePoint[]>('devices/size_history', {});
    expect(fleet.at(-1)?.bytes).toBe(2 * (points[0]?.bytes ?? 0));

    const sizesDir = path.join(dir, '.esphome', SIZES_DIR);
    const file = (configuration: string) => path.join(sizesDir, deviceFileName(configuration));
    expect(fs.existsSync(file('kitchen.yaml'))).toBe(true);
    await client.call('devices/delete', { configuration: 'kitchen.yaml' });
    expect(fs.existsSync(file('kitchen.yaml'))).toBe(false);
    await client.call('devices/archive', { configuration: 'porch.yaml' });
    expect(fs.existsSync(file('porch.yaml'))).toBe(true);
  }, 60_000);
});
