/**
 * The dashboard server end to end: a real server on an ephemeral port, real
 * WebSocket clients, the fake esphome CLI on PATH, real build folders.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SCAN_CACHE_FILE } from '../../src/config/scan-cache.js';
import { INSTANCE_STORE_FILE } from '../../src/metadata/device-metadata.js';
import type { Device } from '../../src/shared/device.js';
import type { FirmwareJobSummary } from '../../src/shared/jobs.js';
import { addDevice, cleanupTempDirs, listTreeNoFollow, makeTempDir, readJson, writeFile } from '../helpers/fs-fixtures.js';
import { startServer, stopServers } from '../helpers/server-fixture.js';
import { INSTANCE_LOCK_BASENAME } from '../../src/server/instance-lock.js';

afterEach(async () => {
  await stopServers();
  cleanupTempDirs();
});

function yaml(name: string, extra = ''): string {
  return `esphome:\n  name: ${name}\n  friendly_name: ${name} light\nesp32:\n  board: esp32dev\nwifi:\n  ssid: !secret wifi_ssid\n${extra}`;
}

function newConfigDir(names: string[]): string {
  const dir = makeTempDir();
  for (const name of names) writeFile(path.join(dir, `${name}.yaml`), yaml(name));
  writeFile(path.join(dir, 'secrets.yaml'), 'wifi_ssid: demo\n');
  return dir;
}

type DeviceEvent = { device: Device };

/** Relative path → content hash of every file under `dir`. */
function snapshotTree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const { full, entry } of listTreeNoFollow(dir)) {
    if (!entry.isFile()) continue;
    out.set(path.relative(dir, full), createHash('sha1').update(fs.readFileSync(full)).digest('hex'));
  }
  return out;
}

describe('firmware jobs drive build sizes', () => {
  it('compile → job events → device_updated with a size; same-config recompile walks nothing; clean shrinks it', async () => {
    const dir = newConfigDir(['kitchen', 'garage']);
    const running = await startServer(dir);
    const client = await running.connect();
    await client.call('subscribe_events');
    const initial = client.events('initial_state')[0]?.data as { devices: Device[] };
    expect(initial.devices.map((d) => d.configuration)).toEqual(['garage.yaml', 'kitchen.yaml']);
    expect(initial.devices.every((d) => d.build_size_bytes === 0)).toBe(true);

    const reloadsBefore = running.server.catalog.stats.reloads;
    const job = await client.call<FirmwareJobSummary>('firmware/compile', { configuration: 'kitchen.yaml' });
    const updated = await client.waitForEvent('device_updated', (data: DeviceEvent) => data.device.build_size_bytes > 0);
    await running.server.refresher.whenIdle();
    // One finished job, one catalog reload (after its walk is persisted).
    expect(running.server.catalog.stats.reloads - reloadsBefore).toBe(1);
    const compiled = (updated.data as DeviceEvent).device;
    expect(compiled.configuration).toBe('kitchen.yaml');
    expect(compiled.build_path).toBe(path.join(dir, '.esphome', 'build', 'kitchen'));
    const names = client.frames
      .filter((f) => (f.data as { job_id?: string })?.job_id === job.job_id || (f.data as FirmwareJobSummary)?.job_id === job.job_id)
      .map((f) => f.event);
    expect(names[0]).toBe('job_queued');
    expect(names).toContain('job_started');
    expect(names).toContain('job_output');
    expect(names).toContain('job_completed');
    // Where the Python Device Builder reads it: the per-instance store in the data dir.
    const store = readJson(path.join(dir, '.esphome', INSTANCE_STORE_FILE)) as Record<string, Record<string, number>>;
    expect(store['kitchen.yaml']?.['build_size_bytes']).toBe(compiled.build_size_bytes);

    // Same config again: the fake keeps build_info.json and the tree as they were, so no walk.
    const walksBefore = running.server.refresher.stats.walks;
    const reloadsAgain = running.server.catalog.stats.reloads;
    const again = await client.call<FirmwareJobSummary>('firmware/compile', { configuration: 'kitchen.yaml' });
    await client.waitForEvent('job_completed', (data: FirmwareJobSummary) => data.job_id === again.job_id);
    await expect.poll(() => running.server.catalog.stats.reloads - reloadsAgain).toBe(1);
    await running.server.refresher.whenIdle();
    expect(running.server.refresher.stats.walks).toBe(walksBefore);
    // Nothing moved, and the device is still reloaded once (StorageJSON may have changed).
    expect(running.server.catalog.stats.reloads - reloadsAgain).toBe(1);

    const mark = client.frames.length;
    await client.call('firmware/clean', { configuration: 'kitchen.yaml' });
    const cleaned = await client.waitForEvent('device_updated', () => true, { after: mark });
    const smaller = (cleaned.data as DeviceEvent).device.build_size_bytes;
    expect(smaller).toBeGreaterThan(0);
    expect(smaller).toBeLessThan(compiled.build_size_bytes);
  });

  it('reset_build_env drops every size to 0 through a fleet sweep', async () => {
    const dir = newConfigDir(['a', 'b']);
    const running = await startServer(dir);
    const client = await running.connect();
    await client.call('subscribe_events');
    for (const configuration of ['a.yaml', 'b.yaml']) {
      await client.call('firmware/compile', { configuration });
      await client.waitForEvent('device_updated', (data: DeviceEvent) => data.device.configuration === configuration && data.device.build_size_bytes > 0);
    }
    const mark = client.frames.length;
    await client.call('firmware/reset_build_env');
    for (const configuration of ['a.yaml', 'b.yaml']) {
      await client.waitForEvent('device_updated', (data: DeviceEvent) => data.device.configuration === configuration && data.device.build_size_bytes === 0, {
        after: mark,
      });
    }
    const list = await client.call<Device[]>('devices/list');
    expect(list.map((d) => d.build_size_bytes)).toEqual([0, 0]);
    expect(fs.existsSync(path.join(dir, '.esphome', 'build'))).toBe(false);
  });

  it('a failed compile triggers no refresh and reports why', async () => {
    const dir = newConfigDir([]);
    writeFile(path.join(dir, 'bad.yaml'), yaml('bad', '# fake-esphome: fail\n'));
    const running = await startServer(dir);
    const client = await running.connect();
    await client.call('subscribe_events');
    const job = await client.call<FirmwareJobSummary>('firmware/compile', { configuration: 'bad.yaml' });
    const failed = await client.waitForEvent('job_failed', (data: FirmwareJobSummary) => data.job_id === job.job_id);
    expect((failed.data as FirmwareJobSummary).error).toMatch(/exited with code 1/);
    await running.server.refresher.whenIdle();
    expect(running.server.refresher.stats.walks).toBe(0);
  });

  it('a missing esphome CLI fails the job with install advice and the server keeps serving', async () => {
    const dir = newConfigDir(['kitchen']);
    const running = await startServer(dir, { esphomeCommand: ['esphome-not-installed-here'] });
    const client = await running.connect();
    await client.call('subscribe_events');
    const job = await client.call<FirmwareJobSummary>('firmware/compile', { configuration: 'kitchen.yaml' });
    const failed = await client.waitForEvent('job_failed', (data: FirmwareJobSummary) => data.job_id === job.job_id);
    expect((failed.data as FirmwareJobSummary).error).toMatch(/not found/i);
    expect(await client.call<Device[]>('devices/list')).toHaveLength(1);
  });
});

describe('archive and delete', () => {
  it('archive wipes the build folder, moves the YAML, removes StorageJSON, scrubs volatile fields and pushes device_removed', async () => {
    const dir = makeTempDir();
    const device = addDevice(dir, 'kitchen', { files: 3 });
    writeFile(
      path.join(dir, '.device-builder.json'),
      JSON.stringify({
        'kitchen.yaml': { friendly_name: 'Kitchen', ip: '10.0.0.2', mac_address: 'aa', build_size_bytes: 5, build_size_dir_mtime: 1, build_size_info_mtime: 2 },
      }),
    );
    const running = await startServer(dir);
    const client = await running.connect();
    await client.call('subscribe_events');
    await running.server.refresher.whenIdle();
    await client.call('devices/archive', { configuration: 'kitchen.yaml' });
    await client.waitForEvent('device_removed', (data: DeviceEvent) => data.device.configuration === 'kitchen.yaml');
    expect(fs.existsSync(device.buildDir)).toBe(false);
    expect(fs.existsSync(path.join(dir, 'archive', 'kitchen.yaml'))).toBe(true);
    expect(fs.existsSync(path.join(dir, '.esphome', 'storage', 'kitchen.yaml.json'))).toBe(false);
    expect((readJson(path.join(dir, '.device-builder.json')) as Record<string, unknown>)['kitchen.yaml']).toEqual({ friendly_name: 'Kitchen' });

    expect(await client.call<{ configuration: string }[]>('devices/list_archived')).toMatchObject([{ configuration: 'kitchen.yaml' }]);
    await client.call('devices/unarchive', { configuration: 'kitchen.yaml' });
    await client.waitForEvent('device_added', (data: DeviceEvent) => data.device.configuration === 'kitchen.yaml');
  });

  it.each([
    ['the config dir', (dir: string) => dir],
    ['the file-system root', () => '/'],
  ])('the delete guard refuses a StorageJSON build_path pointing at %s and still deletes the YAML', async (_what, target) => {
    const dir = makeTempDir();
    addDevice(dir, 'evil', { files: 1 });
    addDevice(dir, 'innocent', { files: 1 });
    const storage = path.join(dir, '.esphome', 'storage', 'evil.yaml.json');
    const json = readJson(storage) as Record<string, unknown>;
    fs.writeFileSync(storage, JSON.stringify({ ...json, build_path: target(dir) }));
    const before = snapshotTree(dir);
    const running = await startServer(dir);
    const client = await running.connect();
    const report = await client.call<{ build_folder: string; reason?: string }>('devices/delete', { configuration: 'evil.yaml' });
    expect(report.build_folder).toBe('refused');
    expect(report.reason).toMatch(/outside|config dir|root/);
    expect(fs.existsSync(path.join(dir, 'evil.yaml'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'innocent.yaml'))).toBe(true);
    expect(fs.existsSync(path.join(dir, '.esphome', 'build', 'innocent', 'build_info.json'))).toBe(true);
    // Everything else is byte-for-byte where it was: only the YAML, its
    // StorageJSON, the sidecar (sizes, job history), our scan cache and the
    // server's instance lock (an empty file) may differ.
    const expected = new Map(before);
    for (const gone of ['evil.yaml', '.esphome/storage/evil.yaml.json']) expected.delete(gone);
    const after = snapshotTree(dir);
    after.delete('.device-builder.json');
    after.delete(path.join('.esphome', SCAN_CACHE_FILE));
    after.delete(path.join('.esphome', `${INSTANCE_LOCK_BASENAME}.lock`));
    expect(after).toEqual(expected);
  });

  it('refuses to archive a device while a job for it runs', async () => {
    const dir = newConfigDir([]);
    writeFile(path.join(dir, 'slow.yaml'), yaml('slow', '# fake-esphome: hang\n'));
    const running = await startServer(dir);
    const client = await running.connect();
    await client.call('subscribe_events');
    const job = await client.call<FirmwareJobSummary>('firmware/compile', { configuration: 'slow.yaml' });
    await client.waitForEvent('job_started', (data: FirmwareJobSummary) => data.job_id === job.job_id);
    const refused = await client.request('devices/archive', { configuration: 'slow.yaml' });
    // The device is busy with a job (invalid_args before `busy` existed).
    expect(refused.error_code).toBe('busy');
    expect(refused.details).toMatch(/cancel it first/);
    await client.call('firmware/cancel', { job_id: job.job_id });
    await client.waitForEvent('job_cancelled', (data: FirmwareJobSummary) => data.job_id === job.job_id);
  });
});

describe('one build-path rule', () => {
  it('a hand-edited relative StorageJSON build_path is sized against the config folder, as the scanner shows it', async () => {
    const dir = makeTempDir();
    const device = addDevice(dir, 'rel', { files: 2, fileBytes: 100 });
    writeFile(path.join(dir, 'relative', 'build', 'f.bin'), 'x'.repeat(70));
    const storage = path.join(dir, '.esphome', 'storage', `${device.configuration}.json`);
    fs.writeFileSync(storage, JSON.stringify({ ...(readJson(storage) as object), build_path: 'relative/build' }));
    const running = await startServer(dir);
    await running.server.refresher.whenIdle();
    const rel = running.server.catalog.get(device.configuration);
    expect(rel?.build_path).toBe(path.join(dir, 'relative', 'build'));
    expect(rel?.build_size_bytes).toBe(70);
    // A later request walks the same folder (the server once walked the path relative to its own cwd).
    fs.utimesSync(path.join(dir, 'relative', 'build'), 2_000_000_000, 2_000_000_000);
    running.server.refresher.request(device.configuration);
    await running.server.refresher.whenIdle();
    expect(running.server.catalog.get(device.configuration)?.build_size_bytes).toBe(70);
  });
});

describe('live catalog', () => {
  it('pushes device_added, device_updated and device_removed once each as YAML files change on disk', async () => {
    const dir = newConfigDir(['kitchen']);
    const running = await startServer(dir);
    const client = await running.connect();
    await client.call('subscribe_events');
    writeFile(path.join(dir, 'porch.yaml'), yaml('porch'));
    await client.waitForEvent('device_added', (data: DeviceEvent) => data.device.configuration === 'porch.yaml');
    writeFile(path.join(dir, 'porch.yaml'), yaml('porch').replace('porch light', 'Porch Lamp'));
    await client.waitForEvent('device_updated', (data: DeviceEvent) => data.device.friendly_name === 'Porch Lamp');
    fs.rmSync(path.join(dir, 'porch.yaml'));
    await client.waitForEvent('device_removed', (data: DeviceEvent) => data.device.configuration === 'porch.yaml');
    // Let the periodic rescan run a few more times: nothing is pushed twice.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(client.events('device_added').filter((f) => (f.data as DeviceEvent).device.configuration === 'porch.yaml')).toHaveLength(1);
    expect(client.events('device_removed')).toHaveLength(1);
  });
});

describe('bad input', () => {
  it('answers every malformed message with an error code and keeps every socket open', async () => {
    const dir = newConfigDir(['kitchen']);
    const running = await startServer(dir);
    const client = await running.connect();
    const bystander = await running.connect();
    const cases: [string, string | Buffer, string][] = [
      ['not JSON', '{nope', 'invalid_message'],
      ['a JSON array', '[1,2]', 'invalid_message'],
      ['no command', '{"message_id": "1"}', 'invalid_message'],
      ['no message_id', '{"command": "devices/list"}', 'invalid_message'],
      ['numeric command', '{"command": 5, "message_id": "1"}', 'invalid_message'],
      ['args not an object', '{"command": "devices/list", "message_id": "1", "args": [1]}', 'invalid_message'],
      ['unknown command', '{"command": "devices/explode", "message_id": "u"}', 'unknown_command'],
      ['prototype key', '{"command": "__proto__", "message_id": "p"}', 'unknown_command'],
      ['unexpected arg', '{"command": "devices/list", "message_id": "x", "args": {"all": true}}', 'invalid_args'],
      ['missing configuration', '{"command": "firmware/compile", "message_id": "c", "args": {}}', 'invalid_args'],
      ['path traversal', '{"command": "firmware/compile", "message_id": "t", "args": {"configuration": "../etc/passwd"}}', 'invalid_args'],
      ['absolute path', '{"command": "devices/delete", "message_id": "a", "args": {"configuration": "/etc/hosts.yaml"}}', 'invalid_args'],
      ['backslash', '{"command": "devices/delete", "message_id": "b", "args": {"configuration": "..\\\\x.yaml"}}', 'invalid_args'],
      ['NUL', '{"command": "devices/delete", "message_id": "n", "args": {"configuration": "x\\u0000.yaml"}}', 'invalid_args'],
      ['dot-dot', '{"command": "devices/archive", "message_id": "d", "args": {"configuration": ".."}}', 'invalid_args'],
      ['secrets', '{"command": "devices/delete", "message_id": "s", "args": {"configuration": "secrets.yaml"}}', 'invalid_args'],
      ['not a device file', '{"command": "firmware/compile", "message_id": "f", "args": {"configuration": "notes.txt"}}', 'invalid_args'],
      ['unknown device', '{"command": "firmware/compile", "message_id": "g", "args": {"configuration": "ghost.yaml"}}', 'not_found'],
      ['unknown job', '{"command": "firmware/cancel", "message_id": "j", "args": {"job_id": "nope"}}', 'not_found'],
      ['wrong type', '{"command": "firmware/clean_bulk", "message_id": "w", "args": {"configurations": "kitchen.yaml"}}', 'invalid_args'],
      ['empty bulk', '{"command": "devices/delete_bulk", "message_id": "e", "args": {"configurations": []}}', 'invalid_args'],
      ['huge frame', JSON.stringify({ command: 'devices/list', message_id: 'h', args: { x: 'y'.repeat(200_000) } }), 'invalid_message'],
      ['binary frame', Buffer.from([1, 2, 3]), 'invalid_message'],
    ];
    for (const [what, frame, code] of cases) {
      const mark = client.frames.length;
      client.sendRaw(frame, { binary: Buffer.isBuffer(frame) });
      const reply = await client.waitFor((f) => client.frames.indexOf(f) >= mark && f.error_code !== undefined);
      expect(reply.error_code, what).toBe(code);
      expect(typeof reply.details, what).toBe('string');
    }
    expect(await client.call<Device[]>('devices/list')).toHaveLength(1);
    expect(await bystander.call<Device[]>('devices/list')).toHaveLength(1);
    expect(client.closeCode).toBeNull();
    expect(fs.existsSync(path.join(dir, 'kitchen.yaml'))).toBe(true);
  });
});

describe('auth and origin', () => {
  it('requires auth/login when a password is set, then accepts commands and resumes by token', async () => {
    const dir = newConfigDir(['kitchen']);
    const running = await startServer(dir, { password: 'correct horse' });
    const client = await running.connect();
    expect(client.serverInfo['requires_auth']).toBe(true);
    expect((await client.request('devices/list')).error_code).toBe('not_authenticated');
    expect((await client.request('auth/login', { password: 'wrong' })).error_code).toBe('not_authenticated');
    const { token } = await client.call<{ token: string; expires_at: number }>('auth/login', { password: 'correct horse' });
    expect(await client.call<Device[]>('devices/list')).toHaveLength(1);
    const sessions = fs.readFileSync(path.join(dir, '.esphome', '.device-builder-sessions.json'), 'utf8');
    expect(sessions).not.toContain(token);

    const second = await running.connect();
    await second.call('auth/login', { token });
    expect(await second.call<Device[]>('devices/list')).toHaveLength(1);

    const metrics = await fetch(`${running.url}metrics`);
    expect(metrics.status).toBe(401);
    const authed = await fetch(`${running.url}metrics`, { headers: { authorization: `Bearer ${token}` } });
    expect(authed.status).toBe(200);

    await second.call('auth/logout');
    expect((await second.request('devices/list')).error_code).toBe('not_authenticated');
    const third = await running.connect();
    expect((await third.request('auth/login', { token })).error_code).toBe('not_authenticated');
  });

  it('rate-limits an address after 10 failed logins', async () => {
    const dir = newConfigDir([]);
    const running = await startServer(dir, { password: 'pw' });
    const client = await running.connect();
    for (let i = 0; i < 10; i++) expect((await client.request('auth/login', { password: `bad${i}` })).error_code).toBe('not_authenticated');
    const limited = await client.request('auth/login', { password: 'pw' });
    expect(limited.error_code).toBe('rate_limited');
  });

  it('refuses a browser upgrade from a foreign origin and accepts the page own and trusted origins', async () => {
    const dir = newConfigDir([]);
    const running = await startServer(dir, { trustedOrigins: ['https://ha.example:8123'] });
    await expect(running.connect({ origin: 'https://evil.example' })).rejects.toThrow(/403/);
    const host = new URL(running.url).host;
    await expect(running.connect({ origin: `http://${host}` })).resolves.toBeDefined();
    await expect(running.connect({ origin: 'https://ha.example:8123' })).resolves.toBeDefined();
    await expect(running.connect()).resolves.toBeDefined();
  });
});

describe('metrics', () => {
  it('exports per-device sizes, the total, walks and job counters in Prometheus format', async () => {
    const dir = makeTempDir();
    addDevice(dir, 'kitchen', { files: 4, fileBytes: 1000 });
    const running = await startServer(dir);
    await running.server.refresher.whenIdle();
    await running.server.catalog.rescan();
    const text = await (await fetch(`${running.url}metrics`)).text();
    expect(text).toMatch(/device_builder_build_size_bytes\{configuration="kitchen.yaml",name="kitchen"\} 4018/);
    expect(text).toMatch(/device_builder_build_size_total_bytes 4018/);
    expect(text).toMatch(/device_builder_build_size_walks_total 1/);
    expect(text).toMatch(/device_builder_build_size_walk_seconds_count 1/);
  });
});
