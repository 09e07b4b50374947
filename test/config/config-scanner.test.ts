import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigScanner, assembleDevice, isDeviceFileName, isSafeConfigurationName } from '../../src/config/config-scanner.js';
import { EMPTY_DEVICE_YAML, MAX_YAML_BYTES, type ParsedDeviceYaml } from '../../src/config/device-yaml.js';
import type { Device } from '../../src/shared/device.js';
import type { SidecarData } from '../../src/sidecar/sidecar-store.js';
import { storageJsonPath, type StorageJson } from '../../src/storage/storage-json.js';
import { writeStorageJson } from '../helpers/fs-fixtures.js';

const isRoot = process.getuid?.() === 0;

let root: string;
let configDir: string;
let dataDir: string;

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'config-scanner-test-'));
  configDir = path.join(root, 'config');
  dataDir = path.join(configDir, '.esphome');
  fs.mkdirSync(configDir);
});

afterEach(() => {
  fs.chmodSync(configDir, 0o755);
  fs.rmSync(root, { recursive: true, force: true });
});

function writeYaml(name: string, content: string): string {
  const file = path.join(configDir, name);
  fs.writeFileSync(file, content);
  return file;
}

function writeStorage(configuration: string, content: Record<string, unknown>): void {
  writeStorageJson(dataDir, configuration, content);
}

function scanner(): ConfigScanner {
  return new ConfigScanner(configDir, dataDir);
}

function byConfiguration(devices: Device[]): Map<string, Device> {
  return new Map(devices.map((device) => [device.configuration, device]));
}

const FIXED_MTIME = new Date('2024-05-05T10:00:00Z');

describe('isDeviceFileName', () => {
  it.each(['kitchen.yaml', 'office.yml', 'UPPER.yaml', 'dots.in.name.yaml', 'secrets2.yaml', 'my secrets.yaml', 'Secrets.yaml'])(
    'counts %s as a device',
    (name) => {
      expect(isDeviceFileName(name)).toBe(true);
    },
  );

  it.each([
    'secrets.yaml',
    'secrets.yml',
    '.hidden.yaml',
    '.device-builder.json',
    'notes.txt',
    'kitchen.yaml.bak',
    'yaml',
    'kitchen.json',
    // ESPHome compares the extension case-sensitively.
    'Kitchen.YAML',
    'office.YML',
    'mixed.Yaml',
  ])('does not count %s as a device', (name) => {
    expect(isDeviceFileName(name)).toBe(false);
  });
});

describe('ConfigScanner.listConfigurations', () => {
  it('lists *.yaml and *.yml files, sorted', async () => {
    for (const name of ['office.yml', 'kitchen.yaml', 'attic.yaml', 'zz.yml']) writeYaml(name, 'esphome:\n  name: x\n');
    expect(await scanner().listConfigurations()).toEqual(['attic.yaml', 'kitchen.yaml', 'office.yml', 'zz.yml']);
  });

  it('leaves out secrets, dotfiles, non-YAML files and folders named like YAML', async () => {
    writeYaml('kitchen.yaml', 'esphome:\n  name: kitchen\n');
    writeYaml('secrets.yaml', 'wifi_ssid: x\n');
    writeYaml('secrets.yml', 'wifi_ssid: x\n');
    writeYaml('.hidden.yaml', 'esphome:\n  name: hidden\n');
    writeYaml('.device-builder.json', '{}');
    writeYaml('readme.md', '# hi');
    writeYaml('kitchen.yaml.bak', 'esphome:\n  name: old\n');
    fs.mkdirSync(path.join(configDir, 'x.yaml'));
    fs.mkdirSync(path.join(configDir, 'archive'));
    writeYaml(path.join('archive', 'old.yaml'), 'esphome:\n  name: old\n');
    fs.mkdirSync(path.join(configDir, '.esphome'));
    expect(await scanner().listConfigurations()).toEqual(['kitchen.yaml']);
  });

  it('counts a symlink to a YAML file', async () => {
    const shared = path.join(root, 'shared.yaml');
    fs.writeFileSync(shared, 'esphome:\n  name: linked\n');
    fs.symlinkSync(shared, path.join(configDir, 'linked.yaml'));
    writeYaml('plain.yaml', 'esphome:\n  name: plain\n');
    expect(await scanner().listConfigurations()).toEqual(['linked.yaml', 'plain.yaml']);
  });

  it('does not count a dangling symlink or a symlink to a folder', async () => {
    fs.symlinkSync(path.join(root, 'nowhere.yaml'), path.join(configDir, 'dangling.yaml'));
    fs.mkdirSync(path.join(root, 'folder'));
    fs.symlinkSync(path.join(root, 'folder'), path.join(configDir, 'folder.yaml'));
    expect(await scanner().listConfigurations()).toEqual([]);
  });

  it('lists an empty folder as []', async () => {
    expect(await scanner().listConfigurations()).toEqual([]);
  });

  it('rejects when the config folder does not exist', async () => {
    await expect(new ConfigScanner(path.join(root, 'missing'), dataDir).listConfigurations()).rejects.toThrow();
  });
});

describe('ConfigScanner.scan', () => {
  it('returns one device per YAML, in sorted order', async () => {
    writeYaml('b.yaml', 'esphome:\n  name: bee\n');
    writeYaml('a.yaml', 'esphome:\n  name: ay\n');
    writeYaml('secrets.yaml', 'x: 1\n');
    const devices = await scanner().scan({});
    expect(devices.map((device) => device.configuration)).toEqual(['a.yaml', 'b.yaml']);
    expect(devices.map((device) => device.name)).toEqual(['ay', 'bee']);
  });

  it('lists a broken YAML under its file stem with the error, without stopping the others', async () => {
    writeYaml('good1.yaml', 'esphome:\n  name: first\n');
    writeYaml('broken.yaml', 'esphome:\n  name: [unclosed\n');
    writeYaml('good2.yml', 'esphome:\n  name: second\n');
    const devices = byConfiguration(await scanner().scan({}));
    expect(devices.size).toBe(3);
    const broken = devices.get('broken.yaml');
    expect(broken?.name).toBe('broken');
    expect(broken?.friendly_name).toBe('broken');
    expect(broken?.address).toBe('broken.local');
    expect(broken?.error).toMatch(/YAML error/);
    expect(devices.get('good1.yaml')).toMatchObject({ name: 'first', error: null });
    expect(devices.get('good2.yml')).toMatchObject({ name: 'second', error: null });
  });

  it('lists an empty, binary or list-shaped YAML with an error', async () => {
    writeYaml('empty.yaml', '');
    writeYaml('binary.yaml', 'esphome:\0\u0001');
    writeYaml('list.yaml', '- a\n- b\n');
    const devices = byConfiguration(await scanner().scan({}));
    expect(devices.get('empty.yaml')?.error).toMatch(/empty/);
    expect(devices.get('binary.yaml')?.error).toMatch(/binary/);
    expect(devices.get('list.yaml')?.error).toMatch(/not a mapping/);
  });

  it('lists a file over MAX_YAML_BYTES with a "too large" error', async () => {
    writeYaml('huge.yaml', `esphome:\n  name: huge\n#${'x'.repeat(MAX_YAML_BYTES)}\n`);
    const [device] = await scanner().scan({});
    expect(device).toMatchObject({ configuration: 'huge.yaml', name: 'huge', error: expect.stringMatching(/too large/) });
  });

  it.skipIf(isRoot)('lists an unreadable YAML with a "cannot read" error', async () => {
    const file = writeYaml('locked.yaml', 'esphome:\n  name: locked\n');
    fs.chmodSync(file, 0o000);
    const [device] = await scanner().scan({});
    expect(device).toMatchObject({ name: 'locked', error: expect.stringMatching(/cannot read/) });
  });

  it('combines YAML, StorageJSON and sidecar for a compiled device', async () => {
    writeYaml(
      'kitchen.yaml',
      `substitutions:
  devicename: kitchen
esphome:
  name: \${devicename}
  friendly_name: Kitchen Light
  comment: yaml comment
  area: Downstairs
esp32:
  board: esp32-s3-devkitc-1
wifi:
  use_address: 10.0.0.5
`,
    );
    const buildPath = path.join(dataDir, 'build', 'kitchen');
    writeStorage('kitchen.yaml', {
      storage_version: 1,
      name: 'kitchen-old',
      friendly_name: 'Storage Kitchen',
      esphome_version: '2025.5.0',
      address: '192.168.1.42',
      esp_platform: 'ESP32S3',
      core_platform: 'ESP32',
      build_path: buildPath,
      area: 'Storage Area',
    });
    const sidecar: SidecarData = {
      'kitchen.yaml': { build_size_bytes: 123456789, friendly_name: 'Sidecar Kitchen' },
    };
    expect(await scanner().scan(sidecar)).toEqual([
      {
        name: 'kitchen',
        friendly_name: 'Kitchen Light',
        configuration: 'kitchen.yaml',
        comment: 'yaml comment',
        area: 'Downstairs',
        target_platform: 'esp32',
        address: '192.168.1.42',
        deployed_version: '2025.5.0',
        build_path: buildPath,
        build_size_bytes: 123456789,
        build_disk_bytes: 0,
        build_size_breakdown: null,
        last_compiled: null,
        error: null,
      } satisfies Device,
    ]);
  });

  it('gives last_compiled from the cached build_info.json time, only for a device with a build folder', async () => {
    writeYaml('kitchen.yaml', 'esphome:\n  name: kitchen\nesp32:\n  board: esp32dev\n');
    writeYaml('plug.yaml', 'esphome:\n  name: plug\nesp8266:\n  board: esp01_1m\n');
    writeStorage('kitchen.yaml', { storage_version: 1, name: 'kitchen', build_path: path.join(dataDir, 'build', 'kitchen') });
    const sidecar: SidecarData = {
      'kitchen.yaml': { build_size_bytes: 10, build_size_dir_mtime: 1_700_000_100, build_size_info_mtime: 1_700_000_000 },
      // A stale pair left for a device without a StorageJSON describes nothing.
      'plug.yaml': { build_size_info_mtime: 1_700_000_000 },
    };
    const devices = await scanner().scan(sidecar);
    expect(devices.map((d) => [d.configuration, d.last_compiled])).toEqual([
      ['kitchen.yaml', 1_700_000_000],
      ['plug.yaml', null],
    ]);
    expect((await scanner().scan({})).map((d) => d.last_compiled)).toEqual([null, null]);
  });

  it('describes a never-compiled device from its YAML alone', async () => {
    writeYaml('plug.yaml', 'esphome:\n  name: plug\nesp8266:\n  board: esp01_1m\n');
    expect(await scanner().scan({})).toEqual([
      {
        name: 'plug',
        friendly_name: 'plug',
        configuration: 'plug.yaml',
        comment: null,
        area: null,
        target_platform: 'esp8266',
        address: 'plug.local',
        deployed_version: null,
        build_path: null,
        build_size_bytes: 0,
        build_disk_bytes: 0,
        build_size_breakdown: null,
        last_compiled: null,
        error: null,
      } satisfies Device,
    ]);
  });

  it('falls back to StorageJSON name, then to the file stem', async () => {
    writeYaml('from-storage.yaml', 'logger:\n');
    writeStorage('from-storage.yaml', { name: 'stored-name' });
    writeYaml('from-stem.yaml', 'logger:\n');
    const devices = byConfiguration(await scanner().scan({}));
    expect(devices.get('from-storage.yaml')).toMatchObject({ name: 'stored-name', address: 'stored-name.local' });
    expect(devices.get('from-stem.yaml')).toMatchObject({ name: 'from-stem', address: 'from-stem.local' });
  });

  it('takes target_platform from StorageJSON core_platform, else from the YAML key', async () => {
    writeYaml('a.yaml', 'esphome:\n  name: a\nesp32:\n');
    writeStorage('a.yaml', { core_platform: 'rp2040' });
    writeYaml('b.yaml', 'esphome:\n  name: b\nbk72xx:\n  board: cb2s\n');
    writeYaml('c.yaml', 'esphome:\n  name: c\n');
    const devices = byConfiguration(await scanner().scan({}));
    expect(devices.get('a.yaml')?.target_platform).toBe('rp2040');
    expect(devices.get('b.yaml')?.target_platform).toBe('bk72xx');
    expect(devices.get('c.yaml')?.target_platform).toBeNull();
  });

  it('takes the address from StorageJSON, else use_address, else <name>.local', async () => {
    writeYaml('a.yaml', 'esphome:\n  name: a\nwifi:\n  use_address: 10.0.0.1\n');
    writeStorage('a.yaml', { address: '192.168.1.1' });
    writeYaml('b.yaml', 'esphome:\n  name: b\nethernet:\n  use_address: 10.0.0.2\n');
    writeYaml('c.yaml', 'esphome:\n  name: c\n');
    const devices = byConfiguration(await scanner().scan({}));
    expect(devices.get('a.yaml')?.address).toBe('192.168.1.1');
    expect(devices.get('b.yaml')?.address).toBe('10.0.0.2');
    expect(devices.get('c.yaml')?.address).toBe('c.local');
  });

  it('reads build_path as null for "None" and for a corrupt StorageJSON', async () => {
    writeYaml('none.yaml', 'esphome:\n  name: none\n');
    writeStorage('none.yaml', { build_path: 'None', esphome_version: '2024.1.0' });
    writeYaml('corrupt.yaml', 'esphome:\n  name: corrupt\n');
    fs.writeFileSync(storageJsonPath(dataDir, 'corrupt.yaml'), '{"build_path": "/x"');
    const devices = byConfiguration(await scanner().scan({}));
    expect(devices.get('none.yaml')).toMatchObject({ build_path: null, deployed_version: '2024.1.0' });
    expect(devices.get('corrupt.yaml')).toMatchObject({ build_path: null, deployed_version: null });
  });

  it('honours a data dir outside the config dir (ESPHOME_DATA_DIR)', async () => {
    const elsewhere = path.join(root, 'data');
    writeYaml('k.yaml', 'esphome:\n  name: k\n');
    fs.mkdirSync(path.join(elsewhere, 'storage'), { recursive: true });
    fs.writeFileSync(
      storageJsonPath(elsewhere, 'k.yaml'),
      JSON.stringify({ storage_version: 1, build_path: path.join(elsewhere, 'build', 'k'), esphome_version: '2025.1.0' }),
    );
    const [device] = await new ConfigScanner(configDir, elsewhere).scan({});
    expect(device).toMatchObject({ build_path: path.join(elsewhere, 'build', 'k'), deployed_version: '2025.1.0' });
  });

  it.each([
    ['a number', 4096, 4096],
    ['a digit string', '4096', 4096],
    ['a float', 4096.9, 4096],
    ['a decimal string', '12.7', 0],
    ['null', null, 0],
    ['an object', {}, 0],
    ['an array', [], 0],
    ['garbage', 'abc', 0],
  ])('reads build_size_bytes stored as %s defensively', async (_label, stored, expected) => {
    writeYaml('k.yaml', 'esphome:\n  name: k\n');
    writeStorage('k.yaml', { name: 'k', build_path: '/somewhere/build/k' });
    const [device] = await scanner().scan({ 'k.yaml': { build_size_bytes: stored } });
    expect(device?.build_size_bytes).toBe(expected);
  });

  it('shows no size, allocated size or breakdown for a device without a build folder, whatever is cached', async () => {
    writeYaml('k.yaml', 'esphome:\n  name: k\n');
    const cached = { build_size_bytes: 77, build_disk_bytes: 88, build_size_breakdown: { pioenvs: 1, piolibdeps: 1, src: 1, other: 1, cleanable: 2 } };
    const [device] = await scanner().scan({ 'k.yaml': cached });
    expect(device).toMatchObject({ build_path: null, build_size_bytes: 0, build_disk_bytes: 0, build_size_breakdown: null });
  });

  it.each([
    [
      'a whole breakdown',
      { pioenvs: 10, piolibdeps: '20', src: 3.9, other: 4, cleanable: 30 },
      { pioenvs: 10, piolibdeps: 20, src: 3, other: 4, cleanable: 30 },
    ],
    ['a partial breakdown', { pioenvs: 10 }, null],
    ['a list', [1, 2], null],
    ['negative parts', { pioenvs: -5, piolibdeps: 0, src: 0, other: 0, cleanable: 0 }, { pioenvs: 0, piolibdeps: 0, src: 0, other: 0, cleanable: 0 }],
  ])('reads %s defensively', async (_label, stored, expected) => {
    writeYaml('k.yaml', 'esphome:\n  name: k\n');
    writeStorage('k.yaml', { name: 'k', build_path: '/somewhere/build/k' });
    const [device] = await scanner().scan({ 'k.yaml': { build_size_breakdown: stored, build_disk_bytes: '4096' } });
    expect(device?.build_size_breakdown).toEqual(expected);
    expect(device?.build_disk_bytes).toBe(4096);
  });

  it('reads a non-object sidecar entry as empty', async () => {
    writeYaml('k.yaml', 'esphome:\n  name: k\n');
    const [device] = await scanner().scan({ 'k.yaml': 'oops' });
    expect(device).toMatchObject({ build_size_bytes: 0, friendly_name: 'k' });
  });

  it('rejects when the config folder does not exist', async () => {
    await expect(new ConfigScanner(path.join(root, 'missing'), dataDir).scan({})).rejects.toThrow();
  });

  it.skipIf(isRoot)('rejects when the config folder is unreadable', async () => {
    writeYaml('k.yaml', 'esphome:\n  name: k\n');
    fs.chmodSync(configDir, 0o000);
    await expect(scanner().scan({})).rejects.toThrow();
  });

  it('scans many devices and keeps them sorted', async () => {
    const names = Array.from({ length: 100 }, (_, i) => `dev${String(i).padStart(3, '0')}.yaml`);
    for (const name of [...names].reverse()) writeYaml(name, `esphome:\n  name: ${name.replace('.yaml', '')}\n`);
    const devices = await scanner().scan({});
    expect(devices.map((device) => device.configuration)).toEqual(names);
    expect(devices.every((device, i) => device.name === `dev${String(i).padStart(3, '0')}`)).toBe(true);
  });
});

describe('ConfigScanner parse cache', () => {
  it('does not re-read a file whose mtime and size are unchanged', async () => {
    const file = writeYaml('k.yaml', 'esphome:\n  name: aaaa\n');
    fs.utimesSync(file, FIXED_MTIME, FIXED_MTIME);
    const s = scanner();
    expect((await s.scan({}))[0]?.name).toBe('aaaa');
    // Same size, same mtime, different bytes: only a re-read would notice.
    fs.writeFileSync(file, 'esphome:\n  name: bbbb\n');
    fs.utimesSync(file, FIXED_MTIME, FIXED_MTIME);
    expect((await s.scan({}))[0]?.name).toBe('aaaa');
    // A fresh scanner has no cache and sees the new bytes.
    expect((await scanner().scan({}))[0]?.name).toBe('bbbb');
  });

  it('re-reads a file whose mtime changed', async () => {
    const file = writeYaml('k.yaml', 'esphome:\n  name: aaaa\n');
    fs.utimesSync(file, FIXED_MTIME, FIXED_MTIME);
    const s = scanner();
    expect((await s.scan({}))[0]?.name).toBe('aaaa');
    fs.writeFileSync(file, 'esphome:\n  name: bbbb\n');
    const later = new Date(FIXED_MTIME.getTime() + 2000);
    fs.utimesSync(file, later, later);
    expect((await s.scan({}))[0]?.name).toBe('bbbb');
  });

  it('re-reads a file whose size changed even with the same mtime', async () => {
    const file = writeYaml('k.yaml', 'esphome:\n  name: aaaa\n');
    fs.utimesSync(file, FIXED_MTIME, FIXED_MTIME);
    const s = scanner();
    expect((await s.scan({}))[0]?.name).toBe('aaaa');
    fs.writeFileSync(file, 'esphome:\n  name: longer-name\n');
    fs.utimesSync(file, FIXED_MTIME, FIXED_MTIME);
    expect((await s.scan({}))[0]?.name).toBe('longer-name');
  });

  it('a broken file that gets fixed loses its error', async () => {
    const file = writeYaml('k.yaml', 'esphome:\n  name: [\n');
    const s = scanner();
    expect((await s.scan({}))[0]?.error).not.toBeNull();
    fs.writeFileSync(file, 'esphome:\n  name: fixed\n');
    fs.utimesSync(file, new Date(Date.now() + 5000), new Date(Date.now() + 5000));
    expect((await s.scan({}))[0]).toMatchObject({ name: 'fixed', error: null });
  });

  it('still re-reads StorageJSON and the sidecar for a cached YAML', async () => {
    const file = writeYaml('k.yaml', 'esphome:\n  name: k\n');
    fs.utimesSync(file, FIXED_MTIME, FIXED_MTIME);
    const s = scanner();
    expect((await s.scan({}))[0]).toMatchObject({ deployed_version: null, build_size_bytes: 0 });
    writeStorage('k.yaml', { esphome_version: '2025.5.0', build_path: '/b/k' });
    expect((await s.scan({ 'k.yaml': { build_size_bytes: 99 } }))[0]).toMatchObject({
      deployed_version: '2025.5.0',
      build_path: path.resolve('/b/k'),
      build_size_bytes: 99,
    });
  });

  it('a deleted file disappears from the next scan', async () => {
    writeYaml('a.yaml', 'esphome:\n  name: a\n');
    const gone = writeYaml('b.yaml', 'esphome:\n  name: b\n');
    const s = scanner();
    expect((await s.scan({})).map((device) => device.configuration)).toEqual(['a.yaml', 'b.yaml']);
    fs.unlinkSync(gone);
    expect((await s.scan({})).map((device) => device.configuration)).toEqual(['a.yaml']);
    expect(await s.loadDevice('b.yaml', {})).toBeNull();
  });

  it('a deleted then re-created file is parsed afresh', async () => {
    const file = writeYaml('k.yaml', 'esphome:\n  name: aaaa\n');
    fs.utimesSync(file, FIXED_MTIME, FIXED_MTIME);
    const s = scanner();
    expect((await s.scan({}))[0]?.name).toBe('aaaa');
    fs.unlinkSync(file);
    expect(await s.scan({})).toEqual([]);
    writeYaml('k.yaml', 'esphome:\n  name: bbbb\n');
    fs.utimesSync(file, FIXED_MTIME, FIXED_MTIME);
    expect((await s.scan({}))[0]?.name).toBe('bbbb');
  });
});

describe('ConfigScanner.loadDevice', () => {
  it('loads one device by file name', async () => {
    writeYaml('k.yaml', 'esphome:\n  name: k\n');
    writeYaml('other.yaml', 'esphome:\n  name: other\n');
    writeStorage('k.yaml', { name: 'k', build_path: '/somewhere/build/k' });
    expect(await scanner().loadDevice('k.yaml', { 'k.yaml': { build_size_bytes: 5 } })).toMatchObject({
      name: 'k',
      configuration: 'k.yaml',
      build_size_bytes: 5,
    });
  });

  it('returns null for a missing YAML', async () => {
    expect(await scanner().loadDevice('ghost.yaml', {})).toBeNull();
  });
});

describe('assembleDevice (pure)', () => {
  const parsed = (device: Partial<ParsedDeviceYaml['device']>, error: string | null = null): ParsedDeviceYaml => ({
    device: { ...EMPTY_DEVICE_YAML, ...device },
    error,
  });
  const storage = (fields: Partial<StorageJson>): StorageJson => ({
    name: null,
    friendlyName: null,
    comment: null,
    area: null,
    address: null,
    esphomeVersion: null,
    espPlatform: null,
    corePlatform: null,
    buildPath: null,
    firmwareBinPath: null,
    loadedIntegrations: [],
    ...fields,
  });

  it('prefers the YAML name over StorageJSON', () => {
    expect(assembleDevice('/cfg', 'k.yaml', parsed({ name: 'yaml' }), storage({ name: 'stored' }), {}).name).toBe('yaml');
  });

  it('friendly_name: YAML, else sidecar, else StorageJSON, else name', () => {
    const s = storage({ friendlyName: 'Stored' });
    const entry = { friendly_name: 'Sidecar' };
    expect(assembleDevice('/cfg', 'k.yaml', parsed({ friendlyName: 'Yaml' }), s, entry).friendly_name).toBe('Yaml');
    expect(assembleDevice('/cfg', 'k.yaml', parsed({}), s, entry).friendly_name).toBe('Sidecar');
    expect(assembleDevice('/cfg', 'k.yaml', parsed({}), s, { friendly_name: '' }).friendly_name).toBe('Stored');
    expect(assembleDevice('/cfg', 'k.yaml', parsed({ name: 'n' }), null, { friendly_name: 7 }).friendly_name).toBe('n');
  });

  it('comment: YAML, else sidecar, else StorageJSON, else null', () => {
    const s = storage({ comment: 'stored' });
    expect(assembleDevice('/cfg', 'k.yaml', parsed({ comment: 'yaml' }), s, { comment: 'side' }).comment).toBe('yaml');
    expect(assembleDevice('/cfg', 'k.yaml', parsed({}), s, { comment: 'side' }).comment).toBe('side');
    expect(assembleDevice('/cfg', 'k.yaml', parsed({}), s, {}).comment).toBe('stored');
    expect(assembleDevice('/cfg', 'k.yaml', parsed({}), null, {}).comment).toBeNull();
  });

  it('area: YAML, else StorageJSON, else null', () => {
    expect(assembleDevice('/cfg', 'k.yaml', parsed({ area: 'Y' }), storage({ area: 'S' }), {}).area).toBe('Y');
    expect(assembleDevice('/cfg', 'k.yaml', parsed({}), storage({ area: 'S' }), {}).area).toBe('S');
    expect(assembleDevice('/cfg', 'k.yaml', parsed({}), null, {}).area).toBeNull();
  });

  it('build_path is absolute: an absolute StorageJSON path is kept, a relative one resolves against the config dir', () => {
    expect(assembleDevice('/cfg', 'k.yaml', parsed({}), storage({ buildPath: '/data/build/k' }), {}).build_path).toBe(path.resolve('/data/build/k'));
    expect(assembleDevice('/cfg', 'k.yaml', parsed({}), storage({ buildPath: '.esphome/build/k' }), {}).build_path).toBe(
      path.resolve('/cfg', '.esphome/build/k'),
    );
    expect(assembleDevice('/cfg', 'k.yaml', parsed({}), storage({}), {}).build_path).toBeNull();
  });

  it('uses the stem of a .yml file name', () => {
    expect(assembleDevice('/cfg', 'office.yml', parsed({}), null, {}).name).toBe('office');
  });

  it('passes the parse error through', () => {
    expect(assembleDevice('/cfg', 'k.yaml', parsed({}, 'YAML error: x'), null, {}).error).toBe('YAML error: x');
  });
});

describe('isSafeConfigurationName', () => {
  it.each(['kitchen.yaml', 'office.yml', 'with space.yaml', 'küche.yaml', 'a'.repeat(255)])('accepts %s', (name) => {
    expect(isSafeConfigurationName(name)).toBe(true);
  });

  it.each([
    ['the empty string', ''],
    ['"."', '.'],
    ['".."', '..'],
    ['a forward slash', 'a/b'],
    ['a path traversal', '../secrets.yaml'],
    ['an absolute path', '/etc/passwd'],
    ['a backslash', 'a\\b'],
    ['a NUL byte', 'a\0b'],
    ['a 256-char name', 'a'.repeat(256)],
    ['a 300-char name', 'a'.repeat(300)],
  ])('rejects %s', (_label, name) => {
    expect(isSafeConfigurationName(name)).toBe(false);
  });

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['a number', 42],
    ['an object', { name: 'kitchen.yaml' }],
    ['an array', ['kitchen.yaml']],
  ])('rejects a non-string: %s', (_label, value) => {
    expect(isSafeConfigurationName(value)).toBe(false);
  });
});
