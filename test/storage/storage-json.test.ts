import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { interpretStorageJson, readStorageJson, readStorageJsonSync, storageJsonPath, type StorageJson } from '../../src/storage/storage-json.js';
import { resolveDataDir } from '../../src/storage/data-dir.js';

let root: string;
let configDir: string;
let dataDir: string;

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'storage-json-test-'));
  configDir = path.join(root, 'config');
  dataDir = path.join(configDir, '.esphome');
  fs.mkdirSync(path.join(dataDir, 'storage'), { recursive: true });
});

afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

/** Writes text as is, or an object as ESPHome would: with `storage_version` (1) unless it says otherwise. */
function writeStorage(configuration: string, content: string | object): void {
  fs.writeFileSync(
    storageJsonPath(dataDir, configuration),
    typeof content === 'string' ? content : JSON.stringify({ storage_version: 1, ...content }, null, 2),
  );
}

/** A StorageJSON as ESPHome writes it after a compile, with every documented key. */
function fullStorage(buildPath: string): Record<string, unknown> {
  return {
    storage_version: 1,
    name: 'kitchen',
    friendly_name: 'Kitchen',
    comment: 'by the fridge',
    esphome_version: '2025.5.0',
    src_version: 1,
    address: 'kitchen.local',
    web_port: 80,
    esp_platform: 'ESP32S3',
    build_path: buildPath,
    firmware_bin_path: path.join(buildPath, '.pioenvs', 'kitchen', 'firmware.bin'),
    loaded_integrations: ['api', 'esp32', 'logger', 'ota', 'wifi'],
    loaded_platforms: ['sensor/dht'],
    no_mdns: false,
    framework: 'esp-idf',
    core_platform: 'esp32',
    toolchain: 'xtensa',
    area: 'Kitchen',
    framework_version: '5.3.1',
  };
}

/** Both readers, so every case checks the async and the sync variant alike. */
const readers: Array<[string, (dataDir: string, configuration: string) => Promise<StorageJson | null>]> = [
  ['readStorageJson', readStorageJson],
  ['readStorageJsonSync', async (d, c) => readStorageJsonSync(d, c)],
];

describe('resolveDataDir', () => {
  it('is <config>/.esphome when ESPHOME_DATA_DIR is not set', () => {
    expect(resolveDataDir('/config/esphome', {})).toBe(path.join('/config/esphome', '.esphome'));
  });

  it('is <config>/.esphome when ESPHOME_DATA_DIR is empty', () => {
    expect(resolveDataDir('/config/esphome', { ESPHOME_DATA_DIR: '' })).toBe(path.join('/config/esphome', '.esphome'));
  });

  it('is $ESPHOME_DATA_DIR when set (the HA add-on uses /data)', () => {
    expect(resolveDataDir('/config/esphome', { ESPHOME_DATA_DIR: '/data' })).toBe(path.resolve('/data'));
  });

  it('returns an absolute path for a relative ESPHOME_DATA_DIR', () => {
    expect(path.isAbsolute(resolveDataDir('/config/esphome', { ESPHOME_DATA_DIR: 'rel/data' }))).toBe(true);
  });

  it('ignores unrelated environment variables', () => {
    expect(resolveDataDir('/cfg', { ESPHOME_BUILD_PATH: '/elsewhere' })).toBe(path.join('/cfg', '.esphome'));
  });
});

describe('storageJsonPath', () => {
  it('is <data dir>/storage/<yaml file name>.json', () => {
    expect(storageJsonPath('/data', 'kitchen.yaml')).toBe(path.join('/data', 'storage', 'kitchen.yaml.json'));
  });
});

describe.each(readers)('%s', (_name, read) => {
  it('reads every field of a full, valid file', async () => {
    const buildPath = path.join(dataDir, 'build', 'kitchen');
    writeStorage('kitchen.yaml', fullStorage(buildPath));
    expect(await read(dataDir, 'kitchen.yaml')).toEqual({
      name: 'kitchen',
      friendlyName: 'Kitchen',
      comment: 'by the fridge',
      area: 'Kitchen',
      address: 'kitchen.local',
      esphomeVersion: '2025.5.0',
      espPlatform: 'ESP32S3',
      corePlatform: 'esp32',
      buildPath,
      firmwareBinPath: path.join(buildPath, '.pioenvs', 'kitchen', 'firmware.bin'),
      loadedIntegrations: ['api', 'esp32', 'logger', 'ota', 'wifi'],
    } satisfies StorageJson);
  });

  it('reads the file named after the YAML file, not the device name', async () => {
    writeStorage('office.yml', { name: 'office-device' });
    expect((await read(dataDir, 'office.yml'))?.name).toBe('office-device');
    expect(await read(dataDir, 'office-device.yaml')).toBeNull();
  });

  it.each([
    ['the string "None" (old ESPHome)', 'None'],
    ['null (setup wizard)', null],
    ['an empty string', ''],
    ['a number', 42],
    ['an object', { path: '/x' }],
  ])('reads a build_path that is %s as null', async (_label, value) => {
    writeStorage('kitchen.yaml', { ...fullStorage('/unused'), build_path: value, firmware_bin_path: value });
    const storage = await read(dataDir, 'kitchen.yaml');
    expect(storage).not.toBeNull();
    expect(storage?.buildPath).toBeNull();
    expect(storage?.firmwareBinPath).toBeNull();
  });

  it('keeps a build_path that merely contains "None"', async () => {
    writeStorage('kitchen.yaml', { build_path: '/data/build/None' });
    expect((await read(dataDir, 'kitchen.yaml'))?.buildPath).toBe('/data/build/None');
  });

  it('reads a missing file as null (never compiled)', async () => {
    expect(await read(dataDir, 'ghost.yaml')).toBeNull();
  });

  it('reads a missing data dir as null', async () => {
    expect(await read(path.join(root, 'no-such-dir'), 'kitchen.yaml')).toBeNull();
  });

  it.each([
    ['truncated JSON', '{"name": "kitchen", "build_path": '],
    ['not JSON at all', 'hello'],
    ['an empty file', ''],
    ['binary bytes', '\u0000\u0001\u0002'],
  ])('reads %s as null', async (_label, content) => {
    writeStorage('kitchen.yaml', content);
    expect(await read(dataDir, 'kitchen.yaml')).toBeNull();
  });

  it.each([
    ['an array', '[1, 2]'],
    ['a number', '1'],
    ['a string', '"kitchen"'],
    ['null', 'null'],
  ])('reads a top level that is %s as null', async (_label, content) => {
    writeStorage('kitchen.yaml', content);
    expect(await read(dataDir, 'kitchen.yaml')).toBeNull();
  });

  it('reads a directory where the file should be as null', async () => {
    fs.mkdirSync(storageJsonPath(dataDir, 'kitchen.yaml'));
    expect(await read(dataDir, 'kitchen.yaml')).toBeNull();
  });

  it('reads an empty object as all-null fields with no integrations', async () => {
    writeStorage('kitchen.yaml', {});
    expect(await read(dataDir, 'kitchen.yaml')).toEqual({
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
    });
  });

  it('reads every field of the wrong type as its null / [] default', async () => {
    writeStorage('kitchen.yaml', {
      name: 42,
      friendly_name: ['Kitchen'],
      comment: { text: 'x' },
      area: true,
      address: 3232235818,
      esphome_version: 2025.5,
      esp_platform: null,
      core_platform: 7,
      build_path: false,
      firmware_bin_path: ['a'],
      loaded_integrations: 'api,wifi',
    });
    expect(await read(dataDir, 'kitchen.yaml')).toEqual({
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
    });
  });

  it('reads empty strings as null', async () => {
    writeStorage('kitchen.yaml', { name: '', address: '', esphome_version: '', core_platform: '' });
    const storage = await read(dataDir, 'kitchen.yaml');
    expect(storage?.name).toBeNull();
    expect(storage?.address).toBeNull();
    expect(storage?.esphomeVersion).toBeNull();
    expect(storage?.corePlatform).toBeNull();
  });

  it('keeps only the string items of loaded_integrations', async () => {
    writeStorage('kitchen.yaml', { loaded_integrations: ['api', 1, null, 'wifi', { x: 1 }] });
    expect((await read(dataDir, 'kitchen.yaml'))?.loadedIntegrations).toEqual(['api', 'wifi']);
  });

  it('lower-cases core_platform and keeps esp_platform as written', async () => {
    writeStorage('kitchen.yaml', { core_platform: 'ESP32', esp_platform: 'ESP32S3' });
    const storage = await read(dataDir, 'kitchen.yaml');
    expect(storage?.corePlatform).toBe('esp32');
    expect(storage?.espPlatform).toBe('ESP32S3');
  });

  it('ignores keys it does not know (e.g. a future storage_version)', async () => {
    writeStorage('kitchen.yaml', { storage_version: 99, name: 'kitchen', brand_new_key: { a: 1 } });
    const storage = await read(dataDir, 'kitchen.yaml');
    expect(storage?.name).toBe('kitchen');
    expect(storage).not.toHaveProperty('brand_new_key');
  });

  it.each([
    ['missing', {}],
    ['missing, with every other key', Object.fromEntries(Object.entries(fullStorage('/data/build/kitchen')).filter(([key]) => key !== 'storage_version'))],
  ])('reads a file whose storage_version is %s as null (ESPHome rejects it: never compiled)', async (_label, content) => {
    fs.writeFileSync(storageJsonPath(dataDir, 'kitchen.yaml'), JSON.stringify(content));
    expect(await read(dataDir, 'kitchen.yaml')).toBeNull();
  });

  it('accepts any storage_version value, as ESPHome only requires the key', async () => {
    writeStorage('kitchen.yaml', { storage_version: null, name: 'kitchen' });
    expect((await read(dataDir, 'kitchen.yaml'))?.name).toBe('kitchen');
  });

  it('reads a file with a UTF-8 name and values', async () => {
    writeStorage('küche.yaml', { friendly_name: 'Küche 🍳' });
    expect((await read(dataDir, 'küche.yaml'))?.friendlyName).toBe('Küche 🍳');
  });
});

describe('readStorageJson and readStorageJsonSync agree', () => {
  it('return the same result for the same files', async () => {
    const cases: Record<string, string | object> = {
      'full.yaml': fullStorage('/data/build/full'),
      'none.yaml': { build_path: 'None', core_platform: 'RP2040' },
      'corrupt.yaml': '{"name":',
      'array.yaml': '[]',
    };
    for (const [configuration, content] of Object.entries(cases)) writeStorage(configuration, content);
    for (const configuration of [...Object.keys(cases), 'missing.yaml']) {
      expect(readStorageJsonSync(dataDir, configuration)).toEqual(await readStorageJson(dataDir, configuration));
    }
  });
});

describe('interpretStorageJson', () => {
  it('returns null for anything that is not an object', () => {
    for (const value of [null, undefined, 1, 'x', true, [], [{}]]) expect(interpretStorageJson(value)).toBeNull();
  });

  it('returns null for an object without storage_version', () => {
    expect(interpretStorageJson({ name: 'a', core_platform: 'Host', build_path: '/b/a' })).toBeNull();
  });

  it('interprets an already-parsed object', () => {
    expect(interpretStorageJson({ storage_version: 1, name: 'a', core_platform: 'Host' })).toMatchObject({
      name: 'a',
      corePlatform: 'host',
    });
  });
});
