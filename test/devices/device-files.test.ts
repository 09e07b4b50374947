import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DeviceFileError, DeviceFiles, type DeviceFilesOptions } from '../../src/devices/device-files.js';
import { SIDECAR_FILE, SidecarStore } from '../../src/sidecar/sidecar-store.js';
import { addDevice, cleanupTempDirs, makeTempDir, readJson, silentLogger, writeFile } from '../helpers/fs-fixtures.js';

let root: string;
let config: string;
let data: string;
let store: SidecarStore;

beforeEach(() => {
  root = fs.realpathSync(makeTempDir('device-files-'));
  config = path.join(root, 'config');
  data = path.join(config, '.esphome');
  fs.mkdirSync(config);
  store = new SidecarStore(config, { logger: silentLogger });
});

afterEach(() => {
  vi.restoreAllMocks();
  cleanupTempDirs();
});

function files(options: Partial<DeviceFilesOptions> = {}): DeviceFiles {
  return new DeviceFiles({ configDir: config, dataDir: data, store, logger: silentLogger, env: {}, ...options });
}

const storage = (configuration: string): string => path.join(data, 'storage', `${configuration}.json`);
const archived = (configuration: string): string => path.join(config, 'archive', configuration);

function sidecar(): Record<string, unknown> {
  const file = path.join(config, SIDECAR_FILE);
  return fs.existsSync(file) ? (readJson(file) as Record<string, unknown>) : {};
}

/** Every entry under `dir` with its content hash or link target. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (current: string): void => {
    for (const name of fs.readdirSync(current).sort()) {
      const full = path.join(current, name);
      const rel = path.relative(dir, full);
      const stats = fs.lstatSync(full);
      if (stats.isSymbolicLink()) out.push(`${rel} -> ${fs.readlinkSync(full)}`);
      else if (stats.isDirectory()) {
        out.push(`${rel}/`);
        walk(full);
      } else out.push(`${rel} ${createHash('sha256').update(fs.readFileSync(full)).digest('hex')}`);
    }
  };
  walk(dir);
  return out;
}

const FULL_ENTRY = {
  friendly_name: 'Kitchen Light',
  comment: 'by the window',
  ip: '192.168.1.42',
  expected_config_hash: 'deadbeef',
  mac_address: '94:C9:60:1F:8C:F1',
  build_size_bytes: 123456789,
  build_size_dir_mtime: 1714900000,
  build_size_info_mtime: 1714900050,
};

async function expectError(promise: Promise<unknown>, code: DeviceFileError['code']): Promise<void> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DeviceFileError);
  expect((err as DeviceFileError).code).toBe(code);
}

describe('archive', () => {
  it('moves the YAML to archive/, wipes the build folder, removes StorageJSON and scrubs volatile fields', async () => {
    const kitchen = addDevice(config, 'kitchen');
    const other = addDevice(config, 'other');
    const yaml = fs.readFileSync(path.join(config, 'kitchen.yaml'), 'utf8');
    await store.updateDevice('kitchen.yaml', FULL_ENTRY);
    await store.updateDevice('other.yaml', { ip: '10.0.0.9', build_size_bytes: 42 });
    const otherBefore = snapshot(other.buildDir);

    const report = await files().archive('kitchen.yaml');

    expect(report).toEqual({ configuration: 'kitchen.yaml', build_folder: 'deleted' });
    expect(fs.existsSync(path.join(config, 'kitchen.yaml'))).toBe(false);
    expect(fs.readFileSync(archived('kitchen.yaml'), 'utf8')).toBe(yaml);
    expect(fs.existsSync(kitchen.buildDir)).toBe(false);
    expect(fs.existsSync(path.join(data, 'build'))).toBe(true);
    expect(fs.existsSync(storage('kitchen.yaml'))).toBe(false);
    expect(sidecar()).toEqual({
      'kitchen.yaml': { friendly_name: 'Kitchen Light', comment: 'by the window' },
      'other.yaml': { ip: '10.0.0.9', build_size_bytes: 42 },
    });
    // The neighbour is untouched.
    expect(snapshot(other.buildDir)).toEqual(otherBefore);
    expect(fs.existsSync(storage('other.yaml'))).toBe(true);
  });

  it('drops an entry left empty by the scrub', async () => {
    addDevice(config, 'kitchen');
    await store.updateDevice('kitchen.yaml', { ip: '10.0.0.2', build_size_bytes: 9 });
    await files().archive('kitchen.yaml');
    expect(sidecar()).toEqual({});
  });

  it('refuses with conflict and changes nothing when archive/<file> exists', async () => {
    addDevice(config, 'kitchen');
    writeFile(archived('kitchen.yaml'), 'esphome:\n  name: older_kitchen\n');
    await store.updateDevice('kitchen.yaml', FULL_ENTRY);
    const before = snapshot(root);

    await expectError(files().archive('kitchen.yaml'), 'conflict');

    expect(snapshot(root)).toEqual(before);
  });

  it('a device never compiled archives with build_folder none', async () => {
    addDevice(config, 'kitchen', { compiled: false });
    await expect(files().archive('kitchen.yaml')).resolves.toEqual({ configuration: 'kitchen.yaml', build_folder: 'none' });
    expect(fs.existsSync(archived('kitchen.yaml'))).toBe(true);
  });

  it('still wipes the computed default build folder when StorageJSON is missing', async () => {
    const kitchen = addDevice(config, 'kitchen');
    fs.unlinkSync(storage('kitchen.yaml'));
    await expect(files().archive('kitchen.yaml')).resolves.toEqual({ configuration: 'kitchen.yaml', build_folder: 'deleted' });
    expect(fs.existsSync(kitchen.buildDir)).toBe(false);
  });

  it('uses the computed default when StorageJSON holds build_path "None"', async () => {
    const kitchen = addDevice(config, 'kitchen');
    fs.writeFileSync(storage('kitchen.yaml'), JSON.stringify({ storage_version: 1, name: 'kitchen', build_path: 'None' }));
    await files().archive('kitchen.yaml');
    expect(fs.existsSync(kitchen.buildDir)).toBe(false);
  });

  it('computes the default from esphome.build_path and esphome.name, not the file name', async () => {
    writeFile(path.join(config, 'kitchen.yaml'), 'esphome:\n  name: kitchen-light\n  build_path: custom\nesp32:\n  board: x\n');
    const folder = path.join(data, 'custom', 'kitchen-light');
    writeFile(path.join(folder, 'build_info.json'), '{}');
    writeFile(path.join(data, 'build', 'kitchen', 'keep.txt'), 'not this device');
    await expect(files().archive('kitchen.yaml')).resolves.toEqual({ configuration: 'kitchen.yaml', build_folder: 'deleted' });
    expect(fs.existsSync(folder)).toBe(false);
    expect(fs.existsSync(path.join(data, 'build', 'kitchen', 'keep.txt'))).toBe(true);
  });

  it('computes the default from $ESPHOME_BUILD_PATH', async () => {
    writeFile(path.join(config, 'kitchen.yaml'), 'esphome:\n  name: kitchen\n');
    const folder = path.join(data, 'envbuild', 'kitchen');
    writeFile(path.join(folder, 'x.o'), 10);
    await files({ env: { ESPHOME_BUILD_PATH: 'envbuild' } }).archive('kitchen.yaml');
    expect(fs.existsSync(folder)).toBe(false);
  });

  it('never follows a symlink inside the build folder', async () => {
    const kitchen = addDevice(config, 'kitchen');
    const sentinel = path.join(root, 'sentinel');
    writeFile(path.join(sentinel, 'precious.txt'), 'do not delete');
    writeFile(path.join(sentinel, 'deep', 'more.bin'), 256);
    fs.symlinkSync(sentinel, path.join(kitchen.buildDir, 'link-to-sentinel'));
    fs.symlinkSync(path.join(sentinel, 'precious.txt'), path.join(kitchen.buildDir, '.pioenvs', 'file-link'));
    const before = snapshot(sentinel);

    await files().archive('kitchen.yaml');

    expect(fs.existsSync(kitchen.buildDir)).toBe(false);
    expect(snapshot(sentinel)).toEqual(before);
  });

  it('moves a symlinked YAML as the link', async () => {
    writeFile(path.join(root, 'shared', 'kitchen.yaml'), 'esphome:\n  name: kitchen\n');
    fs.symlinkSync(path.join(root, 'shared', 'kitchen.yaml'), path.join(config, 'kitchen.yaml'));
    await files().archive('kitchen.yaml');
    expect(fs.lstatSync(archived('kitchen.yaml')).isSymbolicLink()).toBe(true);
    expect(fs.existsSync(path.join(root, 'shared', 'kitchen.yaml'))).toBe(true);
  });

  it('copies, syncs and then unlinks when the archive is on another file system (EXDEV)', async () => {
    addDevice(config, 'kitchen');
    const yaml = fs.readFileSync(path.join(config, 'kitchen.yaml'), 'utf8');
    const rename = vi.spyOn(fs.promises, 'rename');
    rename.mockImplementationOnce(async () => {
      throw Object.assign(new Error('cross-device link not permitted'), { code: 'EXDEV' });
    });

    await files().archive('kitchen.yaml');

    expect(rename).toHaveBeenCalledTimes(1);
    expect(fs.readFileSync(archived('kitchen.yaml'), 'utf8')).toBe(yaml);
    expect(fs.existsSync(path.join(config, 'kitchen.yaml'))).toBe(false);
  });

  it('keeps the YAML when the move fails', async () => {
    addDevice(config, 'kitchen');
    const yaml = fs.readFileSync(path.join(config, 'kitchen.yaml'), 'utf8');
    vi.spyOn(fs.promises, 'rename').mockImplementationOnce(async () => {
      throw Object.assign(new Error('permission denied'), { code: 'EACCES' });
    });
    await expect(files().archive('kitchen.yaml')).rejects.toThrow(/permission denied/);
    expect(fs.readFileSync(path.join(config, 'kitchen.yaml'), 'utf8')).toBe(yaml);
    expect(fs.existsSync(archived('kitchen.yaml'))).toBe(false);
  });

  it('keeps the original when the cross-device copy fails', async () => {
    addDevice(config, 'kitchen');
    const yaml = fs.readFileSync(path.join(config, 'kitchen.yaml'), 'utf8');
    vi.spyOn(fs.promises, 'rename').mockImplementationOnce(async () => {
      throw Object.assign(new Error('cross-device'), { code: 'EXDEV' });
    });
    vi.spyOn(fs.promises, 'copyFile').mockImplementationOnce(async (_src, dst) => {
      fs.writeFileSync(String(dst), 'partial');
      throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    });
    await expect(files().archive('kitchen.yaml')).rejects.toThrow(/no space/);
    expect(fs.readFileSync(path.join(config, 'kitchen.yaml'), 'utf8')).toBe(yaml);
    expect(fs.existsSync(archived('kitchen.yaml'))).toBe(false);
  });

  it('works with a data dir outside the config dir ($ESPHOME_DATA_DIR)', async () => {
    addDevice(config, 'kitchen');
    const externalData = path.join(root, 'data');
    fs.renameSync(data, externalData);
    const buildDir = path.join(externalData, 'build', 'kitchen');
    fs.writeFileSync(storage('kitchen.yaml').replace(data, externalData), JSON.stringify({ storage_version: 1, build_path: buildDir }));
    await expect(files({ dataDir: externalData }).archive('kitchen.yaml')).resolves.toEqual({
      configuration: 'kitchen.yaml',
      build_folder: 'deleted',
    });
    expect(fs.existsSync(buildDir)).toBe(false);
    expect(fs.existsSync(path.join(externalData, 'storage', 'kitchen.yaml.json'))).toBe(false);
  });
});

describe('unarchive', () => {
  it('moves the YAML back and keeps identity fields', async () => {
    addDevice(config, 'kitchen');
    const yaml = fs.readFileSync(path.join(config, 'kitchen.yaml'), 'utf8');
    await store.updateDevice('kitchen.yaml', FULL_ENTRY);
    await files().archive('kitchen.yaml');

    await files().unarchive('kitchen.yaml');

    expect(fs.readFileSync(path.join(config, 'kitchen.yaml'), 'utf8')).toBe(yaml);
    expect(fs.existsSync(archived('kitchen.yaml'))).toBe(false);
    expect(sidecar()['kitchen.yaml']).toEqual({ friendly_name: 'Kitchen Light', comment: 'by the window' });
  });

  it('refuses with conflict when the config dir already has the file', async () => {
    addDevice(config, 'kitchen');
    writeFile(archived('kitchen.yaml'), 'esphome:\n  name: old\n');
    const before = snapshot(root);
    await expectError(files().unarchive('kitchen.yaml'), 'conflict');
    expect(snapshot(root)).toEqual(before);
  });

  it('is not_found when the file is not archived', async () => {
    addDevice(config, 'kitchen');
    await expectError(files().unarchive('kitchen.yaml'), 'not_found');
    fs.mkdirSync(path.join(config, 'archive'));
    await expectError(files().unarchive('kitchen.yaml'), 'not_found');
  });
});

describe('listArchived', () => {
  it('is empty without an archive folder', async () => {
    await expect(files().listArchived()).resolves.toEqual([]);
  });

  it('lists archived device YAMLs, sorted, named from the YAML or the file stem', async () => {
    writeFile(archived('zeta.yaml'), 'esphome:\n  name: zeta\n  friendly_name: Zeta\n  comment: last\n');
    writeFile(archived('alpha.yml'), 'esphome:\n  name: alpha-node\n');
    writeFile(archived('broken.yaml'), 'esphome: [unclosed\n');
    writeFile(archived('secrets.yaml'), 'password: x\n');
    writeFile(archived('.hidden.yaml'), 'esphome:\n  name: hidden\n');
    writeFile(archived('notes.txt'), 'not yaml');
    fs.mkdirSync(archived('folder.yaml'));
    writeFile(path.join(root, 'shared.yaml'), 'esphome:\n  name: shared\n');
    fs.symlinkSync(path.join(root, 'shared.yaml'), archived('linked.yaml'));
    fs.symlinkSync(path.join(root, 'missing.yaml'), archived('dangling.yaml'));
    await store.updateDevice('alpha.yml', { friendly_name: 'Alpha from sidecar', comment: 'kept on archive' });

    await expect(files().listArchived()).resolves.toEqual([
      { configuration: 'alpha.yml', name: 'alpha-node', friendly_name: 'Alpha from sidecar', comment: 'kept on archive' },
      { configuration: 'broken.yaml', name: 'broken', friendly_name: null, comment: null },
      { configuration: 'linked.yaml', name: 'shared', friendly_name: null, comment: null },
      { configuration: 'zeta.yaml', name: 'zeta', friendly_name: 'Zeta', comment: 'last' },
    ]);
  });

  it('lists what archive() put there', async () => {
    addDevice(config, 'kitchen');
    addDevice(config, 'garage');
    await files().archive('kitchen.yaml');
    await files().archive('garage.yaml');
    const list = await files().listArchived();
    expect(list.map((item) => [item.configuration, item.name, item.friendly_name])).toEqual([
      ['garage.yaml', 'garage', 'garage device'],
      ['kitchen.yaml', 'kitchen', 'kitchen device'],
    ]);
  });
});

describe('delete', () => {
  it('removes the YAML, StorageJSON, build folder and the whole sidecar entry', async () => {
    const kitchen = addDevice(config, 'kitchen');
    const other = addDevice(config, 'other');
    await store.updateDevice('kitchen.yaml', FULL_ENTRY);
    await store.updateDevice('other.yaml', { comment: 'stays' });
    const otherBefore = snapshot(other.buildDir);

    await expect(files().delete('kitchen.yaml')).resolves.toEqual({ configuration: 'kitchen.yaml', build_folder: 'deleted' });

    expect(fs.existsSync(path.join(config, 'kitchen.yaml'))).toBe(false);
    expect(fs.existsSync(archived('kitchen.yaml'))).toBe(false);
    expect(fs.existsSync(storage('kitchen.yaml'))).toBe(false);
    expect(fs.existsSync(kitchen.buildDir)).toBe(false);
    expect(sidecar()).toEqual({ 'other.yaml': { comment: 'stays' } });
    expect(snapshot(other.buildDir)).toEqual(otherBefore);
    expect(fs.existsSync(path.join(config, 'other.yaml'))).toBe(true);
  });

  it('deletes a never-compiled device (build_folder none)', async () => {
    addDevice(config, 'kitchen', { compiled: false });
    await store.updateDevice('kitchen.yaml', { friendly_name: 'K' });
    await expect(files().delete('kitchen.yaml')).resolves.toEqual({ configuration: 'kitchen.yaml', build_folder: 'none' });
    expect(fs.existsSync(path.join(config, 'kitchen.yaml'))).toBe(false);
    expect(sidecar()).toEqual({});
  });

  it('reports none when StorageJSON points at a folder that is already gone', async () => {
    const kitchen = addDevice(config, 'kitchen');
    fs.rmSync(kitchen.buildDir, { recursive: true });
    await expect(files().delete('kitchen.yaml')).resolves.toEqual({ configuration: 'kitchen.yaml', build_folder: 'none' });
  });

  it('deletes a symlinked YAML as the link, keeping its target', async () => {
    writeFile(path.join(root, 'shared.yaml'), 'esphome:\n  name: kitchen\n');
    fs.symlinkSync(path.join(root, 'shared.yaml'), path.join(config, 'kitchen.yaml'));
    await files().delete('kitchen.yaml');
    expect(fs.existsSync(path.join(config, 'kitchen.yaml'))).toBe(false);
    expect(fs.existsSync(path.join(root, 'shared.yaml'))).toBe(true);
  });

  it('reports a build folder that could not be removed, and still deletes the YAML', async () => {
    addDevice(config, 'kitchen');
    const busy = (): Promise<never> => Promise.reject(Object.assign(new Error('resource busy'), { code: 'EBUSY' }));
    const report = await files({ removeTree: busy }).delete('kitchen.yaml');
    expect(report).toEqual({
      configuration: 'kitchen.yaml',
      build_folder: 'refused',
      reason: expect.stringMatching(/could not delete build folder .*resource busy/),
    });
    expect(fs.existsSync(path.join(config, 'kitchen.yaml'))).toBe(false);
  });
});

describe('deleteArchived', () => {
  it('removes archive/<file> and its sidecar entry', async () => {
    addDevice(config, 'kitchen');
    await store.updateDevice('kitchen.yaml', FULL_ENTRY);
    await store.updateDevice('other.yaml', { comment: 'stays' });
    await files().archive('kitchen.yaml');

    await files().deleteArchived('kitchen.yaml');

    expect(fs.existsSync(archived('kitchen.yaml'))).toBe(false);
    expect(sidecar()).toEqual({ 'other.yaml': { comment: 'stays' } });
  });

  it('works when there is no sidecar entry', async () => {
    writeFile(archived('kitchen.yaml'), 'esphome:\n  name: kitchen\n');
    await files().deleteArchived('kitchen.yaml');
    expect(fs.existsSync(archived('kitchen.yaml'))).toBe(false);
    expect(fs.existsSync(path.join(config, SIDECAR_FILE))).toBe(false);
  });

  it('keeps the sidecar entry when a live YAML of the same name owns it', async () => {
    addDevice(config, 'kitchen');
    writeFile(archived('kitchen.yaml'), 'esphome:\n  name: old_kitchen\n');
    await store.updateDevice('kitchen.yaml', { friendly_name: 'Live kitchen' });
    await files().deleteArchived('kitchen.yaml');
    expect(fs.existsSync(archived('kitchen.yaml'))).toBe(false);
    expect(fs.existsSync(path.join(config, 'kitchen.yaml'))).toBe(true);
    expect(sidecar()).toEqual({ 'kitchen.yaml': { friendly_name: 'Live kitchen' } });
  });

  it('is not_found when nothing is archived under that name', async () => {
    addDevice(config, 'kitchen');
    await expectError(files().deleteArchived('kitchen.yaml'), 'not_found');
    expect(fs.existsSync(path.join(config, 'kitchen.yaml'))).toBe(true);
  });
});

describe('buildFolderOf', () => {
  it('is StorageJSON build_path when set', async () => {
    const kitchen = addDevice(config, 'kitchen');
    await expect(files().buildFolderOf('kitchen.yaml')).resolves.toBe(kitchen.buildDir);
  });

  it('is the computed default when StorageJSON is missing and the folder exists', async () => {
    const kitchen = addDevice(config, 'kitchen');
    fs.unlinkSync(storage('kitchen.yaml'));
    await expect(files().buildFolderOf('kitchen.yaml')).resolves.toBe(kitchen.buildDir);
    fs.rmSync(kitchen.buildDir, { recursive: true });
    await expect(files().buildFolderOf('kitchen.yaml')).resolves.toBeNull();
  });

  it('is null for a never-compiled device or a missing YAML', async () => {
    addDevice(config, 'kitchen', { compiled: false });
    await expect(files().buildFolderOf('kitchen.yaml')).resolves.toBeNull();
    await expect(files().buildFolderOf('nothing.yaml')).resolves.toBeNull();
  });
});

describe('argument checks', () => {
  const invalid: unknown[] = [
    '../x.yaml',
    'a/b.yaml',
    'a\\b.yaml',
    '',
    '.',
    '..',
    'secrets.yaml',
    'secrets.yml',
    'x.txt',
    '.hidden.yaml',
    'x\0.yaml',
    'archive',
    null,
    5,
  ];
  const methods = ['archive', 'unarchive', 'delete', 'deleteArchived', 'buildFolderOf'] as const;

  for (const method of methods) {
    it.each(invalid.map((name) => [JSON.stringify(name)?.slice(0, 20) ?? String(name), name]))(
      `${method}(%s) is invalid_args and touches nothing`,
      async (_label, name) => {
        addDevice(config, 'kitchen');
        writeFile(path.join(config, 'secrets.yaml'), 'password: x\n');
        writeFile(path.join(config, 'x.txt'), 'text');
        const before = snapshot(root);
        await expectError((files()[method] as (c: unknown) => Promise<unknown>)(name), 'invalid_args');
        expect(snapshot(root)).toEqual(before);
      },
    );
  }

  it.each(['archive', 'delete'] as const)('%s of a missing YAML is not_found', async (method) => {
    addDevice(config, 'kitchen');
    const before = snapshot(root);
    await expectError(files()[method]('garage.yaml'), 'not_found');
    expect(snapshot(root)).toEqual(before);
  });

  it('a folder named like a YAML is not_found', async () => {
    fs.mkdirSync(path.join(config, 'folder.yaml'));
    await expectError(files().delete('folder.yaml'), 'not_found');
    expect(fs.existsSync(path.join(config, 'folder.yaml'))).toBe(true);
  });

  it('DeviceFileError carries its code and name', () => {
    const err = new DeviceFileError('conflict', 'x');
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('conflict');
    expect(err.name).toBe('DeviceFileError');
    expect(err.message).toBe('x');
  });
});

describe('serialization', () => {
  it('concurrent archive and delete of the same device: one wins, the other is not_found', async () => {
    addDevice(config, 'kitchen');
    const df = files();
    const results = await Promise.allSettled([df.archive('kitchen.yaml'), df.delete('kitchen.yaml')]);
    expect(results[0]?.status).toBe('fulfilled');
    expect(results[1]?.status).toBe('rejected');
    expect(((results[1] as PromiseRejectedResult).reason as DeviceFileError).code).toBe('not_found');
    expect(fs.existsSync(archived('kitchen.yaml'))).toBe(true);
  });
});
