import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SIDECAR_FILE, SidecarStore, VOLATILE_DEVICE_FIELDS, applyFieldUpdates, deviceEntry, isGlobalKey } from '../../src/sidecar/sidecar-store.js';
import { createLogger } from '../../src/util/log.js';
import { Mutex } from '../../src/util/mutex.js';
import { captureLog as capturingLogger } from '../helpers/capture-log.js';
import { runPython } from '../helpers/python.js';

const logger = createLogger('silent');
const isRoot = process.getuid?.() === 0;

let dir: string;
let file: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sidecar-test-'));
  file = path.join(dir, SIDECAR_FILE);
});

afterEach(() => {
  // Restore permissions a test may have taken away so the folder can go.
  fs.chmodSync(dir, 0o755);
  fs.rmSync(dir, { recursive: true, force: true });
});

function store(): SidecarStore {
  return new SidecarStore(dir, { logger });
}

function writeRaw(content: string | object): void {
  fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
}

function readRaw(): unknown {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/**
 * The folder's files, without the cross-process lock file: a flock-based
 * lock file stays once created (as the Python tool's does), so its presence
 * says nothing about what a write left behind.
 */
function listDir(): string[] {
  return fs
    .readdirSync(dir)
    .filter((name) => name !== `${SIDECAR_FILE}.lock`)
    .sort();
}

/** A pid that belonged to a process which has already exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '']);
  expect(child.pid).toBeGreaterThan(0);
  return child.pid as number;
}

describe('SidecarStore reads', () => {
  it('lives at <config>/.device-builder.json', () => {
    expect(store().path).toBe(path.join(dir, '.device-builder.json'));
  });

  it('reads a missing file as {}', async () => {
    expect(await store().read()).toEqual({});
  });

  it('reads an empty file as {}', async () => {
    writeRaw('');
    expect(await store().read()).toEqual({});
  });

  it('reads invalid JSON as {}', async () => {
    writeRaw('{"kitchen.yaml": {');
    expect(await store().read()).toEqual({});
  });

  it.each([
    ['an array', '[1, 2, 3]'],
    ['a number', '42'],
    ['a string', '"hello"'],
    ['null', 'null'],
    ['a boolean', 'true'],
  ])('reads a top level that is %s as {}', async (_label, content) => {
    writeRaw(content);
    expect(await store().read()).toEqual({});
  });

  it('reads a valid file as its object', async () => {
    const data = {
      'kitchen.yaml': { friendly_name: 'Kitchen', build_size_bytes: 123456789 },
      _preferences: { theme: 'dark' },
    };
    writeRaw(data);
    expect(await store().read()).toEqual(data);
  });

  it('reads a file that is a directory as {} and logs an error naming it a folder', async () => {
    fs.mkdirSync(file);
    const capture = capturingLogger();
    expect(await new SidecarStore(dir, { logger: capture.logger }).read()).toEqual({});
    expect(capture.lines().some((line) => line['level'] === 50 && String(line['msg']).includes(`${file} is a folder`))).toBe(true);
  });

  it('logs a warning when the file is not a JSON object', async () => {
    writeRaw('not json');
    const capture = capturingLogger();
    await new SidecarStore(dir, { logger: capture.logger }).read();
    const warnings = capture.lines().filter((line) => line['level'] === 40);
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0]?.['msg'])).toMatch(/not a JSON object/);
  });

  it('does not log anything for a missing file', async () => {
    const capture = capturingLogger();
    await new SidecarStore(dir, { logger: capture.logger }).read();
    expect(capture.lines()).toEqual([]);
  });

  it('reading a corrupt file alone writes nothing (no copy, no rewrite)', async () => {
    writeRaw('{"kitchen.yaml": {');
    const before = listDir();
    await store().read();
    await store().readGlobal('_preferences');
    expect(listDir()).toEqual(before);
    expect(fs.readFileSync(file, 'utf8')).toBe('{"kitchen.yaml": {');
  });

  it('readGlobal returns a global section, or undefined when absent', async () => {
    writeRaw({ _preferences: { columns: ['name', 'build_size'] } });
    expect(await store().readGlobal('_preferences')).toEqual({ columns: ['name', 'build_size'] });
    expect(await store().readGlobal('_firmware_jobs')).toBeUndefined();
  });
});

describe('deviceEntry', () => {
  it('returns the entry object for a device', () => {
    expect(deviceEntry({ 'a.yaml': { ip: '1.2.3.4' } }, 'a.yaml')).toEqual({ ip: '1.2.3.4' });
  });

  it('returns {} for a missing device', () => {
    expect(deviceEntry({}, 'a.yaml')).toEqual({});
  });

  it.each([
    ['a string', 'oops'],
    ['a number', 7],
    ['null', null],
    ['an array', [1, 2]],
    ['a boolean', true],
  ])('reads an entry that is %s as {}', (_label, value) => {
    expect(deviceEntry({ 'a.yaml': value }, 'a.yaml')).toEqual({});
  });

  it('reads a non-object entry in a real file as empty', async () => {
    writeRaw({ 'a.yaml': 'oops', 'b.yaml': { ip: '10.0.0.2' } });
    const data = await store().read();
    expect(deviceEntry(data, 'a.yaml')).toEqual({});
    expect(deviceEntry(data, 'b.yaml')).toEqual({ ip: '10.0.0.2' });
  });
});

describe('isGlobalKey', () => {
  it('treats _-prefixed keys as global and YAML names as devices', () => {
    expect(isGlobalKey('_preferences')).toBe(true);
    expect(isGlobalKey('_firmware_jobs')).toBe(true);
    expect(isGlobalKey('kitchen.yaml')).toBe(false);
  });
});

describe('applyFieldUpdates (three-state)', () => {
  it('leaves a key alone for undefined', () => {
    const entry: Record<string, unknown> = { ip: '1.2.3.4' };
    expect(applyFieldUpdates(entry, { ip: undefined })).toBe(false);
    expect(entry).toEqual({ ip: '1.2.3.4' });
  });

  it.each([
    ['null', null],
    ['0', 0],
    ['""', ''],
  ])('removes a key for %s', (_label, value) => {
    const entry: Record<string, unknown> = { ip: '1.2.3.4', comment: 'x' };
    expect(applyFieldUpdates(entry, { ip: value })).toBe(true);
    expect(entry).toEqual({ comment: 'x' });
  });

  it('reports no change when removing a key that is not there', () => {
    const entry: Record<string, unknown> = {};
    expect(applyFieldUpdates(entry, { build_size_bytes: 0 })).toBe(false);
    expect(entry).toEqual({});
  });

  it('writes a value and reports a change', () => {
    const entry: Record<string, unknown> = {};
    expect(applyFieldUpdates(entry, { build_size_bytes: 5 })).toBe(true);
    expect(entry).toEqual({ build_size_bytes: 5 });
  });

  it('reports no change when the value is already there (deep equality)', () => {
    const entry: Record<string, unknown> = { n: 5, o: { a: [1] } };
    expect(applyFieldUpdates(entry, { n: 5, o: { a: [1] } })).toBe(false);
  });

  it('keeps false (it is a value, not a removal)', () => {
    const entry: Record<string, unknown> = {};
    expect(applyFieldUpdates(entry, { flag: false })).toBe(true);
    expect(entry).toEqual({ flag: false });
  });
});

describe('SidecarStore.updateDevice', () => {
  it('creates the file with the device entry', async () => {
    await store().updateDevice('kitchen.yaml', { build_size_bytes: 123, build_size_dir_mtime: 1714900000 });
    expect(readRaw()).toEqual({ 'kitchen.yaml': { build_size_bytes: 123, build_size_dir_mtime: 1714900000 } });
  });

  it('writes a file JSON.parse can read, ending in a newline', async () => {
    await store().updateDevice('kitchen.yaml', { friendly_name: 'Kitchen "main"' });
    const text = fs.readFileSync(file, 'utf8');
    expect(() => JSON.parse(text) as unknown).not.toThrow();
    expect(text.endsWith('\n')).toBe(true);
    expect(JSON.parse(text)).toEqual({ 'kitchen.yaml': { friendly_name: 'Kitchen "main"' } });
  });

  it('leaves fields passed as undefined untouched', async () => {
    writeRaw({ 'kitchen.yaml': { ip: '1.2.3.4', build_size_bytes: 10 } });
    await store().updateDevice('kitchen.yaml', { ip: undefined, build_size_bytes: 20 });
    expect(readRaw()).toEqual({ 'kitchen.yaml': { ip: '1.2.3.4', build_size_bytes: 20 } });
  });

  it.each([
    ['null', null],
    ['0', 0],
    ['""', ''],
  ])('removes a field set to %s', async (_label, value) => {
    writeRaw({ 'kitchen.yaml': { ip: '1.2.3.4', build_size_bytes: 10 } });
    await store().updateDevice('kitchen.yaml', { build_size_bytes: value });
    expect(readRaw()).toEqual({ 'kitchen.yaml': { ip: '1.2.3.4' } });
  });

  it('never stores a cached 0: updating a missing device with 0 creates no file', async () => {
    await store().updateDevice('kitchen.yaml', { build_size_bytes: 0 });
    expect(fs.existsSync(file)).toBe(false);
    expect(await store().read()).toEqual({});
  });

  it('never stores a cached 0: an existing entry without the key stays without it', async () => {
    writeRaw({ 'kitchen.yaml': { ip: '1.2.3.4' } });
    await store().updateDevice('kitchen.yaml', { build_size_bytes: 0 });
    const entry = (readRaw() as Record<string, Record<string, unknown>>)['kitchen.yaml'];
    expect(entry).toEqual({ ip: '1.2.3.4' });
    expect(entry).not.toHaveProperty('build_size_bytes');
  });

  it('drops an entry that is left empty', async () => {
    writeRaw({ 'kitchen.yaml': { build_size_bytes: 10 }, 'office.yaml': { ip: '10.0.0.2' } });
    await store().updateDevice('kitchen.yaml', { build_size_bytes: 0 });
    expect(readRaw()).toEqual({ 'office.yaml': { ip: '10.0.0.2' } });
  });

  it('does not rewrite the file when nothing changes', async () => {
    writeRaw({ 'kitchen.yaml': { build_size_bytes: 10 } });
    const original = fs.readFileSync(file, 'utf8');
    await store().updateDevice('kitchen.yaml', { build_size_bytes: 10, ip: undefined });
    // Hand-written compact JSON would have been re-serialised with indentation.
    expect(fs.readFileSync(file, 'utf8')).toBe(original);
  });

  it('replaces a non-object entry with a fresh entry', async () => {
    writeRaw({ 'kitchen.yaml': 'garbage', 'office.yaml': { ip: '10.0.0.2' } });
    await store().updateDevice('kitchen.yaml', { build_size_bytes: 7 });
    expect(readRaw()).toEqual({ 'kitchen.yaml': { build_size_bytes: 7 }, 'office.yaml': { ip: '10.0.0.2' } });
  });

  it('keeps other devices and global sections it did not touch', async () => {
    writeRaw({ 'office.yaml': { comment: 'upstairs' }, _preferences: { theme: 'dark' } });
    await store().updateDevice('kitchen.yaml', { ip: '1.2.3.4' });
    expect(readRaw()).toEqual({
      'office.yaml': { comment: 'upstairs' },
      _preferences: { theme: 'dark' },
      'kitchen.yaml': { ip: '1.2.3.4' },
    });
  });

  it('updateDevices applies several devices in one write', async () => {
    writeRaw({ 'a.yaml': { build_size_bytes: 1 } });
    await store().updateDevices(
      new Map([
        ['a.yaml', { build_size_bytes: 0 }],
        ['b.yaml', { build_size_bytes: 2 }],
        ['c.yaml', { build_size_bytes: 3 }],
      ]),
    );
    expect(readRaw()).toEqual({ 'b.yaml': { build_size_bytes: 2 }, 'c.yaml': { build_size_bytes: 3 } });
  });
});

describe('SidecarStore.scrubVolatile (archive)', () => {
  it('removes exactly the six volatile fields and keeps identity fields', async () => {
    writeRaw({
      'kitchen.yaml': {
        friendly_name: 'Kitchen',
        comment: 'by the fridge',
        custom_field: 'kept',
        ip: '192.168.1.42',
        expected_config_hash: 'deadbeef',
        mac_address: '94:C9:60:1F:8C:F1',
        build_size_bytes: 123456789,
        build_size_dir_mtime: 1714900000,
        build_size_info_mtime: 1714900050,
      },
    });
    await store().scrubVolatile('kitchen.yaml');
    expect(readRaw()).toEqual({
      'kitchen.yaml': { friendly_name: 'Kitchen', comment: 'by the fridge', custom_field: 'kept' },
    });
  });

  it('lists ip, expected_config_hash, mac_address, the build-size triple and our two size extras as volatile', () => {
    expect([...VOLATILE_DEVICE_FIELDS].sort()).toEqual(
      [
        'ip',
        'expected_config_hash',
        'mac_address',
        'build_size_bytes',
        'build_size_dir_mtime',
        'build_size_info_mtime',
        'build_disk_bytes',
        'build_size_breakdown',
      ].sort(),
    );
  });

  it('drops an entry that held only volatile fields', async () => {
    writeRaw({ 'kitchen.yaml': { ip: '1.2.3.4', build_size_bytes: 5 }, 'office.yaml': { ip: '10.0.0.2' } });
    await store().scrubVolatile('kitchen.yaml');
    expect(readRaw()).toEqual({ 'office.yaml': { ip: '10.0.0.2' } });
  });

  it('leaves other devices volatile fields alone', async () => {
    writeRaw({ 'kitchen.yaml': { ip: '1.2.3.4' }, 'office.yaml': { ip: '10.0.0.2', build_size_bytes: 9 } });
    await store().scrubVolatile('kitchen.yaml');
    expect(readRaw()).toEqual({ 'office.yaml': { ip: '10.0.0.2', build_size_bytes: 9 } });
  });

  it('is a no-op for an unknown device (no file created)', async () => {
    await store().scrubVolatile('ghost.yaml');
    expect(fs.existsSync(file)).toBe(false);
  });
});

describe('SidecarStore.removeDevice (delete)', () => {
  it('removes the whole entry, identity fields included', async () => {
    writeRaw({ 'kitchen.yaml': { friendly_name: 'Kitchen', ip: '1.2.3.4' }, 'office.yaml': { ip: '10.0.0.2' } });
    await store().removeDevice('kitchen.yaml');
    expect(readRaw()).toEqual({ 'office.yaml': { ip: '10.0.0.2' } });
  });

  it('is a no-op for an unknown device', async () => {
    writeRaw({ 'office.yaml': { ip: '10.0.0.2' } });
    const original = fs.readFileSync(file, 'utf8');
    await store().removeDevice('ghost.yaml');
    expect(fs.readFileSync(file, 'utf8')).toBe(original);
  });
});

describe('SidecarStore global sections', () => {
  it('updateGlobal writes a _ section readable by readGlobal', async () => {
    const s = store();
    await s.updateGlobal('_preferences', () => ({ columns: ['name', 'build_size'] }));
    expect(await s.readGlobal('_preferences')).toEqual({ columns: ['name', 'build_size'] });
    expect(readRaw()).toEqual({ _preferences: { columns: ['name', 'build_size'] } });
  });

  it('updateGlobal passes the current value to the updater', async () => {
    writeRaw({ _preferences: { count: 1 } });
    const s = store();
    await s.updateGlobal('_preferences', (current) => ({ count: (current as { count: number }).count + 1 }));
    expect(await s.readGlobal('_preferences')).toEqual({ count: 2 });
  });

  it('updateGlobal removes the section when the updater returns undefined', async () => {
    writeRaw({ _preferences: { theme: 'dark' }, 'a.yaml': { ip: '1.2.3.4' } });
    await store().updateGlobal('_preferences', () => undefined);
    expect(readRaw()).toEqual({ 'a.yaml': { ip: '1.2.3.4' } });
  });

  it('updateGlobal does not rewrite the file when the value is unchanged', async () => {
    writeRaw({ _preferences: { theme: 'dark' } });
    const original = fs.readFileSync(file, 'utf8');
    await store().updateGlobal('_preferences', () => ({ theme: 'dark' }));
    expect(fs.readFileSync(file, 'utf8')).toBe(original);
  });

  it('updateGlobal refuses a key that does not start with _', async () => {
    await expect(store().updateGlobal('kitchen.yaml', () => ({ x: 1 }))).rejects.toThrow(/not a global/);
    expect(fs.existsSync(file)).toBe(false);
  });

  it('device updates keep global sections', async () => {
    const s = store();
    await s.updateGlobal('_firmware_jobs', () => [{ id: 'j1' }]);
    await s.updateDevice('a.yaml', { ip: '1.2.3.4' });
    expect(await s.readGlobal('_firmware_jobs')).toEqual([{ id: 'j1' }]);
  });
});

describe('SidecarStore atomic, serialized writes', () => {
  it('leaves no .tmp- files behind after writes', async () => {
    const s = store();
    for (let i = 0; i < 5; i++) await s.updateDevice(`d${i}.yaml`, { build_size_bytes: i + 1 });
    expect(listDir()).toEqual([SIDECAR_FILE]);
  });

  it('50 concurrent updateDevice calls for 50 devices all land (no lost update)', async () => {
    const s = store();
    await Promise.all(Array.from({ length: 50 }, (_, i) => s.updateDevice(`device${i}.yaml`, { build_size_bytes: 1000 + i })));
    const data = readRaw() as Record<string, { build_size_bytes: number }>;
    expect(Object.keys(data)).toHaveLength(50);
    for (let i = 0; i < 50; i++) expect(data[`device${i}.yaml`]).toEqual({ build_size_bytes: 1000 + i });
    expect(listDir()).toEqual([SIDECAR_FILE]);
  });

  it('concurrent updates to the same device apply in call order', async () => {
    const s = store();
    await Promise.all(Array.from({ length: 20 }, (_, i) => s.updateDevice('a.yaml', { build_size_bytes: i + 1 })));
    expect(readRaw()).toEqual({ 'a.yaml': { build_size_bytes: 20 } });
  });

  it('flush resolves after every queued update has been written', async () => {
    const s = store();
    const pending = Array.from({ length: 10 }, (_, i) => s.updateDevice(`d${i}.yaml`, { ip: `10.0.0.${i}` }));
    await s.flush();
    expect(Object.keys(readRaw() as object)).toHaveLength(10);
    await Promise.all(pending);
  });

  it("re-reads the file for each update, so another writer's change between ours survives", async () => {
    const s = store();
    await s.updateDevice('kitchen.yaml', { build_size_bytes: 100 });
    // Another writer (e.g. the Python Device Builder) edits the file.
    const other = readRaw() as Record<string, unknown>;
    other['office.yaml'] = { friendly_name: 'Office' };
    other['_preferences'] = { theme: 'dark' };
    writeRaw(other);
    await s.updateDevice('kitchen.yaml', { ip: '1.2.3.4' });
    expect(readRaw()).toEqual({
      'kitchen.yaml': { build_size_bytes: 100, ip: '1.2.3.4' },
      'office.yaml': { friendly_name: 'Office' },
      _preferences: { theme: 'dark' },
    });
  });

  it('two store instances on the same folder do not lose each other’s entries', async () => {
    const a = store();
    const b = store();
    await a.updateDevice('a.yaml', { ip: '1' });
    await b.updateDevice('b.yaml', { ip: '2' });
    await a.updateDevice('c.yaml', { ip: '3' });
    expect(readRaw()).toEqual({ 'a.yaml': { ip: '1' }, 'b.yaml': { ip: '2' }, 'c.yaml': { ip: '3' } });
  });

  it('a failing mutate does not wedge later updates', async () => {
    const s = store();
    await expect(
      s.update(() => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    await s.updateDevice('a.yaml', { ip: '1' });
    expect(readRaw()).toEqual({ 'a.yaml': { ip: '1' } });
  });

  it('update writes nothing when mutate reports no change', async () => {
    await store().update((data) => {
      data['a.yaml'] = { ip: 'x' };
      return false;
    });
    expect(fs.existsSync(file)).toBe(false);
  });
});

describe('SidecarStore corrupt file handling', () => {
  const corrupt = '{"kitchen.yaml": {';

  it('keeps a corrupt sidecar as .device-builder.json.corrupt-* with the original bytes before the first write', async () => {
    writeRaw(corrupt);
    await store().updateDevice('office.yaml', { ip: '10.0.0.2' });
    const copies = listDir().filter((name) => name.startsWith(`${SIDECAR_FILE}.corrupt-`));
    expect(copies).toHaveLength(1);
    expect(fs.readFileSync(path.join(dir, copies[0] as string), 'utf8')).toBe(corrupt);
    expect(readRaw()).toEqual({ 'office.yaml': { ip: '10.0.0.2' } });
  });

  it('keeps the exact bytes of a corrupt file, even invalid UTF-8', async () => {
    const bytes = Buffer.from([0x7b, 0xff, 0xfe, 0x00, 0x22]);
    fs.writeFileSync(file, bytes);
    await store().updateDevice('a.yaml', { ip: '1' });
    const copy = listDir().find((name) => name.startsWith(`${SIDECAR_FILE}.corrupt-`));
    expect(copy).toBeDefined();
    expect(fs.readFileSync(path.join(dir, copy as string)).equals(bytes)).toBe(true);
  });

  it('treats a valid-JSON non-object top level as corrupt too and keeps a copy', async () => {
    writeRaw('[1, 2, 3]');
    await store().updateDevice('a.yaml', { ip: '1' });
    const copy = listDir().find((name) => name.startsWith(`${SIDECAR_FILE}.corrupt-`));
    expect(fs.readFileSync(path.join(dir, copy as string), 'utf8')).toBe('[1, 2, 3]');
    expect(readRaw()).toEqual({ 'a.yaml': { ip: '1' } });
  });

  it('makes only one copy: later writes go over the now-valid file', async () => {
    writeRaw(corrupt);
    const s = store();
    await s.updateDevice('a.yaml', { ip: '1' });
    await s.updateDevice('b.yaml', { ip: '2' });
    expect(listDir().filter((name) => name.includes('.corrupt-'))).toHaveLength(1);
    expect(readRaw()).toEqual({ 'a.yaml': { ip: '1' }, 'b.yaml': { ip: '2' } });
  });

  it('does not copy a corrupt file when the update changes nothing', async () => {
    writeRaw(corrupt);
    await store().updateDevice('a.yaml', { build_size_bytes: 0 });
    expect(listDir()).toEqual([SIDECAR_FILE]);
    expect(fs.readFileSync(file, 'utf8')).toBe(corrupt);
  });

  it('does not treat an empty file as corrupt', async () => {
    writeRaw('');
    await store().updateDevice('a.yaml', { ip: '1' });
    expect(listDir()).toEqual([SIDECAR_FILE]);
  });

  it('logs a warning naming the file set aside', async () => {
    writeRaw(corrupt);
    const capture = capturingLogger();
    await new SidecarStore(dir, { logger: capture.logger }).updateDevice('a.yaml', { ip: '1' });
    const asideLog = capture.lines().find((line) => typeof line['aside'] === 'string');
    expect(asideLog?.['level']).toBe(40);
    expect(fs.readFileSync(asideLog?.['aside'] as string, 'utf8')).toBe(corrupt);
  });
});

describe('SidecarStore.cleanStaleTemps', () => {
  it('removes a temp left by a dead process and keeps one owned by a live process', async () => {
    // The parent of this test process stands in for a live writer (e.g. the Python tool).
    const dead = `${SIDECAR_FILE}.tmp-${deadPid()}-abcd1234`;
    const live = `${SIDECAR_FILE}.tmp-${process.ppid}-abcd1234`;
    fs.writeFileSync(path.join(dir, dead), '{}');
    fs.writeFileSync(path.join(dir, live), '{}');
    expect(await store().cleanStaleTemps()).toBe(1);
    expect(listDir()).toEqual([live]);
  });

  it('removes a temp carrying our own pid that we are not writing (a restarted container reuses pids)', async () => {
    const earlier = `${SIDECAR_FILE}.tmp-${process.pid}-abcd1234`;
    fs.writeFileSync(path.join(dir, earlier), '{}');
    expect(await store().cleanStaleTemps()).toBe(1);
    expect(listDir()).toEqual([]);
  });

  it('does not touch the sidecar itself, corrupt copies or unrelated files', async () => {
    writeRaw({ 'a.yaml': { ip: '1' } });
    const keep = [SIDECAR_FILE, `${SIDECAR_FILE}.corrupt-2024-01-01`, 'kitchen.yaml', 'other.tmp-1-x'];
    for (const name of keep.slice(1)) fs.writeFileSync(path.join(dir, name), 'x');
    expect(await store().cleanStaleTemps()).toBe(0);
    expect(listDir()).toEqual([...keep].sort());
  });

  it('returns 0 when the config folder is missing', async () => {
    expect(await new SidecarStore(path.join(dir, 'nope'), { logger }).cleanStaleTemps()).toBe(0);
  });

  it('logs how many it removed', async () => {
    fs.writeFileSync(path.join(dir, `${SIDECAR_FILE}.tmp-${deadPid()}-aaaa`), '{}');
    const capture = capturingLogger();
    await new SidecarStore(dir, { logger: capture.logger }).cleanStaleTemps();
    expect(capture.lines().find((line) => line['removed'] === 1)).toBeDefined();
  });
});

describe('SidecarStore write failures', () => {
  it.skipIf(isRoot)('rejects an update in an unwritable config folder and leaves the old file intact', async () => {
    writeRaw({ 'a.yaml': { ip: '1' } });
    const original = fs.readFileSync(file, 'utf8');
    fs.chmodSync(dir, 0o555);
    await expect(store().updateDevice('b.yaml', { ip: '2' })).rejects.toThrow();
    fs.chmodSync(dir, 0o755);
    expect(fs.readFileSync(file, 'utf8')).toBe(original);
    expect(listDir()).toEqual([SIDECAR_FILE]);
  });

  it('rejects an update when the existing file cannot be read (EMFILE), keeping every entry', async () => {
    writeRaw({ 'a.yaml': { ip: '1' }, 'b.yaml': { comment: 'keep me' } });
    const original = fs.readFileSync(file, 'utf8');
    const realOpen = fs.promises.open;
    const spy = vi.spyOn(fs.promises, 'open').mockImplementation(((target: unknown, ...rest: unknown[]) => {
      if (target === file) {
        return Promise.reject(Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' }));
      }
      return (realOpen as (...args: unknown[]) => Promise<unknown>)(target, ...rest);
    }) as typeof fs.promises.open);
    try {
      const s = store();
      expect(await s.read()).toEqual({});
      await expect(s.updateDevice('c.yaml', { ip: '3' })).rejects.toThrow(/EMFILE/);
      await expect(s.scrubVolatile('a.yaml')).rejects.toThrow(/EMFILE/);
    } finally {
      spy.mockRestore();
    }
    expect(fs.readFileSync(file, 'utf8')).toBe(original);
    expect(listDir()).toEqual([SIDECAR_FILE]);
  });

  it.skipIf(isRoot)('rejects an update when the file is unreadable (EACCES) instead of overwriting it', async () => {
    writeRaw({ 'a.yaml': { ip: '1' } });
    fs.chmodSync(file, 0o000);
    try {
      await expect(store().updateDevice('b.yaml', { ip: '2' })).rejects.toThrow();
    } finally {
      fs.chmodSync(file, 0o644);
    }
    expect(readRaw()).toEqual({ 'a.yaml': { ip: '1' } });
  });

  it('rejects when a directory sits where the file should be, leaving it and no temp file', async () => {
    fs.mkdirSync(file);
    fs.writeFileSync(path.join(file, 'keep'), 'x');
    await expect(store().updateDevice('a.yaml', { ip: '1' })).rejects.toThrow();
    expect(listDir()).toEqual([SIDECAR_FILE]);
    expect(fs.readFileSync(path.join(file, 'keep'), 'utf8')).toBe('x');
  });

  it('rejects when the config folder has gone, and the next update still runs', async () => {
    const gone = path.join(dir, 'gone');
    const s = new SidecarStore(gone, { logger });
    await expect(s.updateDevice('a.yaml', { ip: '1' })).rejects.toThrow();
    fs.mkdirSync(gone);
    await s.updateDevice('a.yaml', { ip: '1' });
    expect(JSON.parse(fs.readFileSync(path.join(gone, SIDECAR_FILE), 'utf8'))).toEqual({ 'a.yaml': { ip: '1' } });
  });
});

describe('Mutex', () => {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('runs tasks one at a time, in arrival order', async () => {
    const mutex = new Mutex();
    const events: string[] = [];
    let running = 0;
    let maxRunning = 0;
    const task = (id: number, ms: number) => async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      events.push(`start ${id}`);
      await sleep(ms);
      events.push(`end ${id}`);
      running--;
      return id;
    };
    const results = await Promise.all([mutex.run(task(1, 20)), mutex.run(task(2, 1)), mutex.run(task(3, 10))]);
    expect(results).toEqual([1, 2, 3]);
    expect(maxRunning).toBe(1);
    expect(events).toEqual(['start 1', 'end 1', 'start 2', 'end 2', 'start 3', 'end 3']);
  });

  it("a failing task rejects its own caller but doesn't block later ones", async () => {
    const mutex = new Mutex();
    const failing = mutex.run(async () => {
      await sleep(5);
      throw new Error('boom');
    });
    const after = mutex.run(async () => 'ran');
    await expect(failing).rejects.toThrow('boom');
    await expect(after).resolves.toBe('ran');
    await expect(mutex.run(async () => 'still runs')).resolves.toBe('still runs');
  });

  it('a synchronously throwing task is reported as a rejection', async () => {
    const mutex = new Mutex();
    await expect(
      mutex.run(() => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    await expect(mutex.run(async () => 1)).resolves.toBe(1);
  });
});

describe('SidecarStore with a file the Python tool wrote', () => {
  const PY_WRITE = String.raw`
import json, sys
doc = {
    "kitchen.yaml": {"friendly_name": "Küche 🍳", "build_size_bytes": 123456789, "ratio": 1.0},
    "office.yaml": {"comment": "über", "big": 2**64 + 1, "float_e5": 1e5, "e16": 1e16, "tiny": 1e-07,
                    "nested": {"a": [1.0, {"b": 2.50}], "empty": {}, "none": [], "flag": True, "nothing": None}},
    "_preferences": {"columns": ["name", "build_size"], "ratio": 2.0},
}
with open(sys.argv[1], "w") as f:
    json.dump(doc, f, indent=2)
`;

  /** Python's repr of each top-level key's value after json.load (distinguishes 1.0 from 1, keeps every digit). */
  function pythonReprs(): Record<string, string> {
    return JSON.parse(runPython('import json,sys; d=json.load(open(sys.argv[1])); print(json.dumps({k: repr(v) for k, v in d.items()}))', [file])) as Record<
      string,
      string
    >;
  }

  it('an update for one device keeps every other value exactly as Python reads it', async () => {
    runPython(PY_WRITE, [file]);
    const before = pythonReprs();
    await store().updateDevice('kitchen.yaml', { ip: '192.168.1.42' });
    const after = pythonReprs();
    expect(after['office.yaml']).toBe(before['office.yaml']);
    expect(after['_preferences']).toBe(before['_preferences']);
    // The touched entry: the new field, and its untouched 1.0 still a float.
    expect(after['kitchen.yaml']).toBe("{'friendly_name': 'Küche 🍳', 'build_size_bytes': 123456789, 'ratio': 1.0, 'ip': '192.168.1.42'}");
    const text = fs.readFileSync(file, 'utf8');
    expect(text).toContain('"big": 18446744073709551617');
    expect(text).toContain('"float_e5": 100000.0');
    expect(text).toContain('"e16": 1e+16');
  });

  it('hand-written spellings (1e5, 1E5, 1.50) survive an update of another device as written', async () => {
    writeRaw('{"a.yaml": {"n": 1e5, "m": 1E5, "k": 1.50, "big": 123456789012345678901234567890}}');
    await store().updateDevice('b.yaml', { ip: '1' });
    expect(fs.readFileSync(file, 'utf8')).toBe(
      '{\n  "a.yaml": {\n    "n": 1e5,\n    "m": 1E5,\n    "k": 1.50,\n    "big": 123456789012345678901234567890\n  },\n  "b.yaml": {\n    "ip": "1"\n  }\n}\n',
    );
  });

  it('writing a value equal to a differently spelled stored one (1 for 1.0) is no change: nothing rewritten', async () => {
    writeRaw('{"a.yaml": {"build_size_dir_mtime": 1714900000.0, "o": {"x": 1.0}}}');
    const original = fs.readFileSync(file, 'utf8');
    await store().updateDevice('a.yaml', { build_size_dir_mtime: 1714900000, o: { x: 1 } });
    expect(fs.readFileSync(file, 'utf8')).toBe(original);
  });

  it('a really different value replaces a preserved one (2**64 + 1 is not 2**64)', async () => {
    writeRaw('{"a.yaml": {"n": 18446744073709551617}}');
    await store().updateDevice('a.yaml', { n: 2 ** 64 });
    expect(fs.readFileSync(file, 'utf8')).toContain('"n": 18446744073709552000');
  });

  it('a device entry that is a preserved number reads as empty and is replaced by an object', async () => {
    writeRaw('{"a.yaml": 1.0, "b.yaml": 18446744073709551617}');
    const s = store();
    let seen: unknown[] = [];
    await s.update((data) => {
      seen = [deviceEntry(data, 'a.yaml'), deviceEntry(data, 'b.yaml')];
      return false;
    });
    expect(seen).toEqual([{}, {}]);
    await s.updateDevice('a.yaml', { ip: '1' });
    expect(fs.readFileSync(file, 'utf8')).toBe('{\n  "a.yaml": {\n    "ip": "1"\n  },\n  "b.yaml": 18446744073709551617\n}\n');
  });

  it('read() gives what JSON.parse gives (plain numbers) so readers see ordinary values', async () => {
    writeRaw('{"a.yaml": {"n": 1.0, "big": 18446744073709551617}, "_p": [1e5]}');
    const data = await store().read();
    expect(data).toStrictEqual({ 'a.yaml': { n: 1, big: Number('18446744073709551617') }, _p: [100000] });
    expect(await store().readGlobal('_p')).toStrictEqual([100000]);
  });

  it('updateGlobal keeps untouched preserved values inside the section it rewrites', async () => {
    writeRaw('{"_preferences": {"ratio": 2.0, "theme": "dark"}}');
    await store().updateGlobal('_preferences', (current) => ({ ...(current as object), theme: 'light' }));
    expect(fs.readFileSync(file, 'utf8')).toBe('{\n  "_preferences": {\n    "ratio": 2.0,\n    "theme": "light"\n  }\n}\n');
  });
});

describe('SidecarStore file modes', () => {
  const modeOf = (target: string): number => fs.statSync(target).mode & 0o7777;
  let savedUmask: number;

  beforeEach(() => {
    savedUmask = process.umask(0o022);
  });

  afterEach(() => {
    process.umask(savedUmask);
  });

  it.each([
    ['000', 0o000],
    ['022', 0o022],
    ['077', 0o077],
  ])('a sidecar we create is 0600, like the Python tool’s mkstemp (umask %s)', async (_label, umask) => {
    process.umask(umask);
    await store().updateDevice('a.yaml', { ip: '1' });
    expect(modeOf(file)).toBe(0o600);
  });

  it.each([
    ['0600', 0o600],
    ['0640', 0o640],
    ['0644', 0o644],
    ['0664', 0o664],
    ['0400', 0o400],
  ])('a rewrite keeps the file’s mode %s whatever the umask', async (_label, mode) => {
    writeRaw({ 'a.yaml': { ip: '1' } });
    fs.chmodSync(file, mode);
    for (const umask of [0o077, 0o000]) {
      process.umask(umask);
      await store().updateDevice('a.yaml', { ip: `${umask}` });
      expect(modeOf(file)).toBe(mode);
    }
  });

  it('a Python-written sidecar (mkstemp + os.replace, 0600) stays 0600 after our rewrite', async () => {
    runPython(
      'import json,os,sys,tempfile\nfd,tmp=tempfile.mkstemp(dir=os.path.dirname(sys.argv[1]),prefix=".device-builder.json.",suffix=".tmp")\nos.write(fd,json.dumps({"a.yaml":{"ip":"1"}},indent=2).encode())\nos.close(fd)\nos.replace(tmp,sys.argv[1])',
      [file],
    );
    expect(modeOf(file)).toBe(0o600);
    await store().updateDevice('b.yaml', { ip: '2' });
    expect(modeOf(file)).toBe(0o600);
    expect(readRaw()).toEqual({ 'a.yaml': { ip: '1' }, 'b.yaml': { ip: '2' } });
  });

  it('the .corrupt-* copy gets the original’s mode, never wider', async () => {
    for (const mode of [0o600, 0o640]) {
      const sub = fs.mkdtempSync(path.join(dir, 'c-'));
      const target = path.join(sub, SIDECAR_FILE);
      fs.writeFileSync(target, '{"torn": ');
      fs.chmodSync(target, mode);
      process.umask(0o000);
      await new SidecarStore(sub, { logger }).updateDevice('a.yaml', { ip: '1' });
      const copy = fs.readdirSync(sub).find((name) => name.startsWith(`${SIDECAR_FILE}.corrupt-`));
      expect(copy).toBeDefined();
      expect(modeOf(path.join(sub, copy as string))).toBe(mode);
      expect(fs.readFileSync(path.join(sub, copy as string), 'utf8')).toBe('{"torn": ');
      expect(modeOf(target)).toBe(mode);
    }
  });

  it.runIf(isRoot)('running as root, a rewrite keeps the file’s owner and group', async () => {
    writeRaw({ 'a.yaml': { ip: '1' } });
    fs.chownSync(file, 65534, 65533);
    fs.chmodSync(file, 0o640);
    await store().updateDevice('b.yaml', { ip: '2' });
    const stats = fs.statSync(file);
    expect([stats.uid, stats.gid, stats.mode & 0o7777]).toEqual([65534, 65533, 0o640]);
    // The corrupt copy too: a user's file is not copied into one only root can read.
    fs.writeFileSync(file, '{"torn": ');
    await store().updateDevice('c.yaml', { ip: '3' });
    const copy = listDir().find((name) => name.startsWith(`${SIDECAR_FILE}.corrupt-`));
    const copyStats = fs.statSync(path.join(dir, copy as string));
    expect([copyStats.uid, copyStats.gid, copyStats.mode & 0o777]).toEqual([65534, 65533, 0o640]);
  });
});
