/**
 * Beyond the seed, against the real server: orphaned build folders, what a
 * clean frees, the PlatformIO cache, allocated size, and compiles made from
 * a terminal picked up by the stat-only sweep without re-walking anything
 * that did not change.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OWN_STATE_FILE } from '../../src/metadata/device-metadata.js';
import type { Device } from '../../src/shared/device.js';
import type { OrphanBuild, PlatformioSummary } from '../../src/shared/protocol.js';
import { addDevice, cleanupTempDirs, makeTempDir, readJson, setMtime, writeFile } from '../helpers/fs-fixtures.js';
import { FAKE_ESPHOME_BIN, startServer, stopServers } from '../helpers/server-fixture.js';

afterEach(async () => {
  await stopServers();
  cleanupTempDirs();
});

type DeviceEvent = { device: Device };

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('orphaned build folders', () => {
  it('lists folders no device uses, sizes them once, and deletes only listed ones', async () => {
    const dir = makeTempDir();
    addDevice(dir, 'kitchen', { files: 2 });
    const orphan = path.join(dir, '.esphome', 'build', 'old-garage');
    writeFile(path.join(orphan, '.pioenvs', 'old-garage', 'firmware.bin'), 5000);
    writeFile(path.join(orphan, 'build_info.json'), '{}');
    // A device archived by hand: its YAML is gone but its StorageJSON remains.
    const renamed = addDevice(dir, 'porch', { files: 3, fileBytes: 1000 });
    fs.rmSync(path.join(dir, 'porch.yaml'));

    const running = await startServer(dir);
    const client = await running.connect();
    await client.call('subscribe_events');
    await running.server.refresher.whenIdle();
    const orphans = await client.call<OrphanBuild[]>('builds/list_orphans');
    expect(orphans.map((o) => o.build_path)).toEqual([orphan, renamed.buildDir]);
    expect(orphans[0]?.build_size_bytes).toBe(5002);
    expect(orphans[1]?.build_size_bytes).toBe(3000 + '{"config_hash": 1}'.length);
    // Cached per instance, in our own file in the data dir (never in the shared sidecar).
    const cached = (readJson(path.join(dir, '.esphome', OWN_STATE_FILE)) as Record<string, Record<string, unknown>>)['_orphan_builds'];
    expect(Object.keys(cached ?? {}).sort()).toEqual([orphan, renamed.buildDir].sort());

    // Sweeps again: nothing moved, nothing walked; a rescan answers with the list once done.
    const walks = running.server.refresher.stats.walks;
    running.server.refresher.requestSweep();
    await running.server.refresher.whenIdle();
    expect(running.server.refresher.stats.walks).toBe(walks);
    expect((await client.call<OrphanBuild[]>('builds/rescan')).map((o) => o.build_path)).toEqual([orphan, renamed.buildDir]);

    // Only a listed path can be deleted, and never a device's own folder.
    const refused = await client.request('builds/delete_orphan', { build_path: path.join(dir, '.esphome', 'build', 'kitchen') });
    expect(refused.error_code).toBe('not_found');
    expect((await client.request('builds/delete_orphan', { build_path: dir })).error_code).toBe('not_found');
    expect((await client.request('builds/delete_orphan', { build_path: '/' })).error_code).toBe('not_found');
    await client.call('builds/delete_orphan', { build_path: orphan });
    expect(fs.existsSync(orphan)).toBe(false);
    const event = await client.waitForEvent('orphans_updated', (data: { orphans: OrphanBuild[] }) => data.orphans.length === 1);
    expect((event.data as { orphans: OrphanBuild[] }).orphans[0]?.build_path).toBe(renamed.buildDir);
    expect(fs.existsSync(path.join(dir, '.esphome', 'build', 'kitchen'))).toBe(true);
  });

  it('refuses to delete an orphan while a reset of the build environment runs', async () => {
    const dir = makeTempDir();
    writeFile(path.join(dir, 'hang.yaml'), 'esphome:\n  name: hang\nesp32:\n  board: x\n');
    writeFile(path.join(dir, '.esphome', 'build', 'old', 'f'), 10);
    const running = await startServer(dir, {
      env: {
        ...process.env,
        PATH: `${FAKE_ESPHOME_BIN}${path.delimiter}${process.env['PATH'] ?? ''}`,
        PLATFORMIO_CORE_DIR: path.join(dir, '.pio'),
        FAKE_ESPHOME_HANG: '1',
      },
    });
    const client = await running.connect();
    await client.call('subscribe_events');
    const job = await client.call<{ job_id: string }>('firmware/reset_build_env');
    await client.waitForEvent('job_started', (data: { job_id: string }) => data.job_id === job.job_id);
    const refused = await client.request('builds/delete_orphan', { build_path: path.join(dir, '.esphome', 'build', 'old') });
    // A reset is running (invalid_args before `busy` existed).
    expect(refused.error_code).toBe('busy');
    expect(refused.details).toMatch(/reset of the build environment is running/);
    await client.call('firmware/cancel', { job_id: job.job_id });
  });

  it('never treats folders of the config dir as orphans, even when a StorageJSON points there', async () => {
    const dir = makeTempDir();
    addDevice(dir, 'evil', { files: 1 });
    writeFile(path.join(dir, 'packages', 'common.yaml'), 'wifi:\n');
    const storage = path.join(dir, '.esphome', 'storage', 'evil.yaml.json');
    fs.writeFileSync(storage, JSON.stringify({ ...(readJson(storage) as object), build_path: path.join(dir, 'evil') }));
    const running = await startServer(dir);
    const client = await running.connect();
    await running.server.refresher.whenIdle();
    const orphans = await client.call<OrphanBuild[]>('builds/list_orphans');
    expect(orphans.map((o) => o.build_path)).toEqual([path.join(dir, '.esphome', 'build', 'evil')]);
  });
});

describe('what a clean frees and allocated size', () => {
  it('records the breakdown and allocated size from the same single walk', async () => {
    const dir = makeTempDir();
    const device = addDevice(dir, 'kitchen', { files: 0 });
    writeFile(path.join(device.buildDir, '.pioenvs', 'kitchen', 'firmware.bin'), 10_000);
    writeFile(path.join(device.buildDir, '.piolibdeps', 'kitchen', 'Lib', 'lib.cpp'), 20_000);
    writeFile(path.join(device.buildDir, 'src', 'main.cpp'), 3_000);
    writeFile(path.join(device.buildDir, 'dependencies.lock'), 100);
    writeFile(path.join(device.buildDir, 'platformio.ini'), 200);
    writeFile(path.join(device.buildDir, 'build_info.json'), '{}');
    const running = await startServer(dir);
    await running.server.refresher.whenIdle();
    expect(running.server.refresher.stats.walks).toBe(1);
    const client = await running.connect();
    const [listed] = await client.call<Device[]>('devices/list');
    expect(listed?.build_size_bytes).toBe(33_302);
    expect(listed?.build_size_breakdown).toEqual({ pioenvs: 10_000, piolibdeps: 20_000, src: 3_000, other: 302, cleanable: 30_100 });
    expect(listed?.build_disk_bytes).toBeGreaterThanOrEqual(33_302);
  });
});

describe('PlatformIO cache', () => {
  it('sizes packages, platforms and .cache with the same cache, with progress, and re-walks nothing unchanged', async () => {
    const dir = makeTempDir();
    const pio = makeTempDir('pio-');
    for (let i = 0; i < 300; i++) writeFile(path.join(pio, 'packages', `toolchain-${i % 5}`, 'bin', `tool${i}`), 1000);
    writeFile(path.join(pio, 'platforms', 'espressif32', 'platform.json'), 500);
    writeFile(path.join(pio, '.cache', 'downloads', 'pkg.tar.gz'), 7000);
    const running = await startServer(dir, {
      env: { ...process.env, PATH: `${FAKE_ESPHOME_BIN}${path.delimiter}${process.env['PATH'] ?? ''}`, PLATFORMIO_CORE_DIR: pio },
    });
    await running.server.refresher.whenIdle();
    const client = await running.connect();
    const summary = await client.call<PlatformioSummary>('platformio/get');
    expect(summary).toEqual({ path: pio, bytes: 307_500, parts: { packages: 300_000, platforms: 500, '.cache': 7000 }, walking: null });

    const walks = running.server.refresher.stats.walks;
    await client.call('platformio/refresh');
    await running.server.refresher.whenIdle();
    expect(running.server.refresher.stats.walks).toBe(walks);

    await client.call('subscribe_events');
    writeFile(path.join(pio, '.cache', 'downloads', 'another.tar.gz'), 3000);
    setMtime(path.join(pio, '.cache'), 2_000_000_000);
    const refreshed = await client.call<PlatformioSummary>('platformio/refresh');
    expect(refreshed.parts['.cache']).toBe(10_000);
    const updated = await client.waitForEvent('platformio_updated');
    expect((updated.data as PlatformioSummary).parts['.cache']).toBe(10_000);
    expect(running.server.refresher.stats.walks).toBe(walks + 1);

    // A file added deep inside moves no part folder's mtime: a plain refresh
    // keeps the cache, a forced one re-measures every part.
    writeFile(path.join(pio, '.cache', 'downloads', 'deep', 'third.tar.gz'), 5000);
    setMtime(path.join(pio, '.cache'), 2_000_000_000);
    expect((await client.call<PlatformioSummary>('platformio/refresh')).parts['.cache']).toBe(10_000);
    const forced = await client.call<PlatformioSummary>('platformio/refresh', { force: true });
    expect(forced.parts['.cache']).toBe(15_000);
    expect(forced.bytes).toBe(300_000 + 500 + 15_000);
  });
});

describe('live pick-up of compiles made from a terminal', () => {
  it('an idle fleet of 200 compiled devices does zero walks across several sweeps; a changed device is walked exactly once', async () => {
    const dir = makeTempDir();
    const devices = Array.from({ length: 200 }, (_, i) => addDevice(dir, `node${i}`, { files: 2 }));
    const running = await startServer(dir, { sweepIntervalMs: 150, rescanIntervalMs: 60_000 });
    const { refresher } = running.server;
    await refresher.whenIdle();
    const initialWalks = refresher.stats.walks;
    expect(initialWalks).toBe(200);
    const sweeps = refresher.stats.sweeps;
    const rescans = running.server.catalog.stats.rescans;
    await until(() => refresher.stats.sweeps >= sweeps + 4);
    await refresher.whenIdle();
    expect(refresher.stats.walks).toBe(initialWalks);
    // A sweep takes the catalog's targets: two stats per folder, no YAML rescan.
    expect(running.server.catalog.stats.rescans).toBe(rescans);

    const client = await running.connect();
    await client.call('subscribe_events');
    // What `esphome compile node7.yaml` in a terminal does to the folder.
    const target = devices[7]!;
    writeFile(path.join(target.buildDir, '.pioenvs', 'node7', 'firmware.bin'), 50_000);
    writeFile(path.join(target.buildDir, 'build_info.json'), '{"config_hash": 2}');
    setMtime(path.join(target.buildDir, 'build_info.json'), 2_000_000_000);
    const pushed = await client.waitForEvent('device_updated', (data: DeviceEvent) => data.device.configuration === 'node7.yaml');
    expect((pushed.data as DeviceEvent).device.build_size_bytes).toBeGreaterThan(50_000);
    const afterChange = refresher.stats.sweeps;
    await until(() => refresher.stats.sweeps >= afterChange + 3);
    await refresher.whenIdle();
    expect(refresher.stats.walks).toBe(initialWalks + 1);
  });
});

describe('API additions', () => {
  it('caps open streams per socket at 32; unsubscribing frees a slot', async () => {
    const dir = makeTempDir();
    const running = await startServer(dir);
    const client = await running.connect();
    for (let i = 0; i < 32; i++) await client.call('subscribe_events');
    const refused = await client.request('subscribe_events');
    expect(refused.error_code).toBe('invalid_args');
    expect(refused.details).toMatch(/32 open streams/);
    const first = client.frames.find((f) => f.event === 'initial_state')?.message_id as string;
    await client.call('unsubscribe', { message_id: first });
    await expect(client.call('subscribe_events')).resolves.toBeNull();
  });

  it('compile_bulk starts one job per device; clear tells subscribers; unsubscribe ends a stream', async () => {
    const dir = makeTempDir();
    for (const name of ['a', 'b']) writeFile(path.join(dir, `${name}.yaml`), `esphome:\n  name: ${name}\nesp32:\n  board: x\n`);
    const running = await startServer(dir);
    const client = await running.connect();
    await client.call('subscribe_events');
    const results = await client.call<{ configuration: string; success: boolean; job_id?: string }[]>('firmware/compile_bulk', {
      configurations: ['a.yaml', 'b.yaml', 'ghost.yaml'],
    });
    expect(results.map((r) => [r.configuration, r.success, typeof r.job_id])).toEqual([
      ['a.yaml', true, 'string'],
      ['b.yaml', true, 'string'],
      ['ghost.yaml', false, 'undefined'],
    ]);
    for (const { job_id } of results.filter((r) => r.success)) {
      await client.waitForEvent('job_completed', (data: { job_id: string }) => data.job_id === job_id);
    }
    await client.call('firmware/clear');
    const cleared = await client.waitForEvent('jobs_cleared');
    expect((cleared.data as { job_ids: string[] }).job_ids).toHaveLength(2);

    const subscription = client.frames.find((f) => f.event === 'initial_state')?.message_id as string;
    await client.call('unsubscribe', { message_id: subscription });
    const mark = client.frames.length;
    writeFile(path.join(dir, 'c.yaml'), 'esphome:\n  name: c\nesp32:\n  board: x\n');
    await running.server.catalog.rescan();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(client.frames.slice(mark).some((f) => f.event === 'device_added')).toBe(false);
    expect((await client.request('unsubscribe', { message_id: subscription })).error_code).toBe('not_found');
  });
});
