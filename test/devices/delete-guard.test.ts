import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { checkBuildFolderDeletable, defaultBuildRoots, isStrictlyInside, type GuardContext } from '../../src/devices/delete-guard.js';
import { DeviceFiles } from '../../src/devices/device-files.js';
import { removeTree, type RemoveTreeFn } from '../../src/devices/tree-remover.js';
import { OrphanBuilds, OrphanError } from '../../src/orphans/orphan-builds.js';
import { DeviceMetadata } from '../../src/metadata/device-metadata.js';
import { cleanupTempDirs, makeTempDir, silentLogger, writeFile } from '../helpers/fs-fixtures.js';
import { captureLog as capturingLogger } from '../helpers/capture-log.js';

afterAll(() => cleanupTempDirs());

describe('defaultBuildRoots', () => {
  it('is <data>/build by default', () => {
    expect(defaultBuildRoots('/d', {})).toEqual(['/d/build']);
  });

  it('adds $ESPHOME_BUILD_PATH and the device option, relative to the data dir unless absolute', () => {
    expect(defaultBuildRoots('/d', { ESPHOME_BUILD_PATH: 'b2' }, '/abs/builds')).toEqual(['/d/build', '/d/b2', '/abs/builds']);
    expect(defaultBuildRoots('/d', { ESPHOME_BUILD_PATH: 'build' }, 'build')).toEqual(['/d/build']);
  });

  it('ignores empty values and NUL bytes', () => {
    expect(defaultBuildRoots('/d', { ESPHOME_BUILD_PATH: '' }, '')).toEqual(['/d/build']);
    expect(defaultBuildRoots('/d', { ESPHOME_BUILD_PATH: 'a\0b' }, 'c\0d')).toEqual(['/d/build']);
  });
});

describe('isStrictlyInside', () => {
  it.each([
    ['/a/b', '/a', true],
    ['/a/b/c', '/a', true],
    ['/a', '/a', false],
    ['/ab', '/a', false],
    ['/a/..b', '/a', true],
    ['/', '/a', false],
    ['/a', '/', true],
  ])('%s inside %s: %s', (child, parent, expected) => {
    expect(isStrictlyInside(child, parent)).toBe(expected);
  });
});

describe('checkBuildFolderDeletable', () => {
  // Layout shared by the table below:
  //   T/config/kitchen.yaml, T/config/archive/, T/config/.esphome/{storage,build,custom,envbuild}
  //   T/config/.esphome/build/kitchen/...       a real build folder
  //   T/config/.esphome/build/evil -> /         a symlinked build folder
  //   T/config/.esphome/build/sub -> T/outside  a symlinked parent
  //   T/config/.esphome/build/cfg -> T/config   a symlinked parent pointing at the config dir
  //   T/config/.esphome/build/dangling -> T/nowhere
  //   T/abs-builds/, T/rootlink -> build root, T/slashroot -> /, T/datalink -> data dir
  let T: string;
  let config: string;
  let data: string;
  let build: string;

  beforeAll(() => {
    T = fs.realpathSync(makeTempDir('guard-'));
    config = path.join(T, 'config');
    data = path.join(config, '.esphome');
    build = path.join(data, 'build');
    writeFile(path.join(config, 'kitchen.yaml'), 'esphome:\n  name: kitchen\n');
    fs.mkdirSync(path.join(config, 'archive'), { recursive: true });
    writeFile(path.join(data, 'storage', 'kitchen.yaml.json'), '{"storage_version": 1}');
    writeFile(path.join(build, 'kitchen', 'build_info.json'), '{}');
    writeFile(path.join(build, 'kitchen', 'sub', 'x.o'), 'x');
    fs.mkdirSync(path.join(data, 'custom', 'kitchen'), { recursive: true });
    fs.mkdirSync(path.join(data, 'envbuild', 'kitchen'), { recursive: true });
    fs.mkdirSync(path.join(T, 'abs-builds', 'kitchen'), { recursive: true });
    writeFile(path.join(T, 'outside', 'kitchen', 'keep.txt'), 'keep');
    fs.symlinkSync('/', path.join(build, 'evil'));
    fs.symlinkSync(path.join(T, 'outside'), path.join(build, 'sub'));
    fs.symlinkSync(config, path.join(build, 'cfg'));
    fs.symlinkSync(path.join(T, 'nowhere'), path.join(build, 'dangling'));
    fs.symlinkSync(build, path.join(T, 'rootlink'));
    fs.symlinkSync('/', path.join(T, 'slashroot'));
    fs.symlinkSync(data, path.join(T, 'datalink'));
  });

  interface Case {
    name: string;
    input: () => unknown;
    ctx?: () => Partial<GuardContext>;
    /** RegExp: refused with a matching reason; 'ok' / 'link': allowed (as a folder / as a link). */
    expect: RegExp | 'ok' | 'link';
    /** The resolved path an allowed verdict must carry; defaults to path.resolve(input). */
    resolved?: () => string;
  }

  const home = os.homedir();
  const cases: Case[] = [
    // Protected folders and their parents.
    { name: 'the config dir', input: () => config, expect: /is the config dir/ },
    { name: 'the config dir with a trailing slash', input: () => `${config}/`, expect: /is the config dir/ },
    { name: 'the data dir', input: () => data, expect: /is the data dir/ },
    { name: 'the parent of the config dir', input: () => T, expect: /is a parent of the config dir/ },
    { name: 'the grandparent of the config dir', input: () => path.dirname(T), expect: /is a parent of/ },
    { name: 'the file-system root', input: () => '/', expect: /is the file-system root/ },
    { name: 'the file-system root spelled //', input: () => '//', expect: /file-system root|parent of/ },
    { name: 'the home folder', input: () => home, expect: /home folder|parent of/ },
    { name: 'the parent of the home folder', input: () => path.dirname(home), expect: /parent of|file-system root/ },
    { name: 'os.tmpdir(), a parent of everything here', input: () => path.dirname(T), expect: /parent of/ },
    // `..` traversals.
    { name: '<build>/..', input: () => `${build}/..`, expect: /is the data dir/ },
    { name: '<build>/../..', input: () => `${build}/../..`, expect: /is the config dir/ },
    { name: '<build>/kitchen/../../..', input: () => `${build}/kitchen/../../..`, expect: /is the config dir/ },
    { name: '<build>/kitchen/../../../..', input: () => `${build}/kitchen/../../../..`, expect: /parent of the config dir/ },
    { name: '<build>/../storage', input: () => `${build}/../storage`, expect: /StorageJSON folder|outside the build root/ },
    { name: '<build>/kitchen/../../../kitchen.yaml', input: () => `${build}/kitchen/../../../kitchen.yaml`, expect: /outside the build root/ },
    { name: '<build>/kitchen/../other stays inside', input: () => `${build}/kitchen/../other`, expect: 'ok' },
    { name: '<build>/../build/kitchen stays inside', input: () => `${build}/../build/kitchen`, expect: 'ok' },
    { name: '<build>/kitchen/.. is the root', input: () => `${build}/kitchen/..`, expect: /build root itself/ },
    // Not a usable path at all.
    { name: 'a relative path', input: () => 'build/kitchen', expect: /not absolute/ },
    { name: 'a ./ relative path', input: () => './kitchen', expect: /not absolute/ },
    { name: 'a ../ relative path', input: () => '../config', expect: /not absolute/ },
    { name: 'an empty string', input: () => '', expect: /empty/ },
    { name: 'whitespace only', input: () => '   ', expect: /empty/ },
    { name: 'null', input: () => null, expect: /not a string \(got null\)/ },
    { name: 'undefined', input: () => undefined, expect: /not a string \(got an undefined\)/ },
    { name: 'a number', input: () => 5, expect: /not a string \(got a number\)/ },
    { name: 'an object', input: () => ({}), expect: /not a string \(got an object\)/ },
    { name: 'an array', input: () => [build], expect: /not a string \(got an array\)/ },
    { name: 'a boolean', input: () => true, expect: /not a string/ },
    { name: 'a NUL byte in the middle', input: () => `${build}/kit\0chen`, expect: /NUL byte/ },
    { name: 'a NUL byte at the end', input: () => `${build}/kitchen\0`, expect: /NUL byte/ },
    // The root itself and its neighbours.
    { name: 'the build root itself', input: () => build, expect: /is the build root itself/ },
    { name: 'the build root with a trailing slash', input: () => `${build}/`, expect: /is the build root itself/ },
    { name: 'the build root spelled <build>/.', input: () => `${build}/.`, expect: /is the build root itself/ },
    { name: 'a sibling of the build root', input: () => path.join(data, 'buildx', 'kitchen'), expect: /outside the build root/ },
    { name: 'a sibling folder of the build root', input: () => path.join(data, 'buildx'), expect: /outside the build root/ },
    { name: '<data>/storage', input: () => path.join(data, 'storage'), expect: /StorageJSON folder/ },
    { name: 'a StorageJSON file', input: () => path.join(data, 'storage', 'kitchen.yaml.json'), expect: /StorageJSON folder/ },
    { name: 'the archive folder', input: () => path.join(config, 'archive'), expect: /archive folder/ },
    { name: 'a device YAML', input: () => path.join(config, 'kitchen.yaml'), expect: /outside the build root/ },
    { name: '/etc', input: () => '/etc', expect: /outside the build root/ },
    { name: 'another temp folder', input: () => path.join(T, 'outside'), expect: /outside the build root/ },
    // Symbolic links.
    { name: 'a build folder that is a symlink to /', input: () => path.join(build, 'evil'), expect: 'link' },
    {
      name: 'a path through a symlinked parent pointing outside',
      input: () => path.join(build, 'sub', 'kitchen'),
      expect: /outside the build root.*resolves to|resolves to.*outside the build root/,
    },
    { name: 'the symlinked parent itself, as a link', input: () => path.join(build, 'sub'), expect: 'link' },
    {
      name: 'a path through a symlink to the config dir',
      input: () => path.join(build, 'cfg', 'kitchen.yaml'),
      expect: /outside the build root/,
    },
    { name: 'a path through a symlink to the config dir, to the dir', input: () => path.join(build, 'cfg', '.esphome'), expect: /is the data dir/ },
    { name: 'a path through a dangling symlink', input: () => path.join(build, 'dangling', 'kitchen'), expect: /target does not exist/ },
    {
      name: 'a path through a symlinked data dir',
      input: () => path.join(T, 'datalink', 'build', 'kitchen'),
      expect: 'ok',
      resolved: () => path.join(build, 'kitchen'),
    },
    {
      name: 'a build root that is a symlink',
      input: () => path.join(T, 'rootlink', 'kitchen'),
      ctx: () => ({ buildRoots: [path.join(T, 'rootlink')] }),
      expect: 'ok',
      resolved: () => path.join(build, 'kitchen'),
    },
    {
      name: 'a build root that is a symlink to /',
      input: () => path.join(T, 'slashroot', 'etc'),
      ctx: () => ({ buildRoots: [path.join(T, 'slashroot')] }),
      expect: /no usable build root/,
    },
    // Custom roots.
    {
      name: 'inside the esphome.build_path root',
      input: () => path.join(data, 'custom', 'kitchen'),
      ctx: () => ({ buildRoots: defaultBuildRoots(data, {}, 'custom') }),
      expect: 'ok',
    },
    { name: 'the esphome.build_path root without the option', input: () => path.join(data, 'custom', 'kitchen'), expect: /outside the build root/ },
    {
      name: 'the esphome.build_path root itself',
      input: () => path.join(data, 'custom'),
      ctx: () => ({ buildRoots: defaultBuildRoots(data, {}, 'custom') }),
      expect: /build root itself/,
    },
    {
      name: 'inside an absolute esphome.build_path root',
      input: () => path.join(T, 'abs-builds', 'kitchen'),
      ctx: () => ({ buildRoots: defaultBuildRoots(data, {}, path.join(T, 'abs-builds')) }),
      expect: 'ok',
    },
    {
      name: 'inside the $ESPHOME_BUILD_PATH root',
      input: () => path.join(data, 'envbuild', 'kitchen'),
      ctx: () => ({ buildRoots: defaultBuildRoots(data, { ESPHOME_BUILD_PATH: 'envbuild' }) }),
      expect: 'ok',
    },
    { name: 'the $ESPHOME_BUILD_PATH root when unset', input: () => path.join(data, 'envbuild', 'kitchen'), expect: /outside the build root/ },
    {
      name: 'esphome.build_path: .. (the config dir) is not a usable root',
      input: () => path.join(config, 'kitchen.yaml'),
      ctx: () => ({ buildRoots: defaultBuildRoots(data, {}, '..') }),
      expect: /outside the build root/,
    },
    {
      name: 'esphome.build_path: / is not a usable root',
      input: () => '/etc',
      ctx: () => ({ buildRoots: defaultBuildRoots(data, {}, '/') }),
      expect: /outside the build root/,
    },
    {
      name: 'esphome.build_path: storage still protects StorageJSON',
      input: () => path.join(data, 'storage', 'kitchen.yaml.json'),
      ctx: () => ({ buildRoots: defaultBuildRoots(data, {}, 'storage') }),
      expect: /StorageJSON folder/,
    },
    {
      name: 'no build roots at all',
      input: () => path.join(build, 'kitchen'),
      ctx: () => ({ buildRoots: [] }),
      expect: /no usable build root/,
    },
    {
      name: 'a home folder inside the build root',
      input: () => path.join(build, 'kitchen'),
      ctx: () => ({ homeDir: path.join(build, 'kitchen', 'sub') }),
      expect: /parent of the home folder/,
    },
    // Allowed.
    { name: 'a normal build folder', input: () => path.join(build, 'kitchen'), expect: 'ok' },
    { name: 'a deeper folder', input: () => path.join(build, 'kitchen', 'sub'), expect: 'ok' },
    { name: 'a folder that does not exist yet', input: () => path.join(build, 'newdevice'), expect: 'ok' },
    { name: 'a path below a file', input: () => path.join(build, 'kitchen', 'build_info.json', 'x'), expect: 'ok' },
  ];

  it('covers at least 40 variants', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  it.each(cases)('$name', (c) => {
    const ctx: GuardContext = { configDir: config, dataDir: data, buildRoots: defaultBuildRoots(data, {}), ...c.ctx?.() };
    const verdict = checkBuildFolderDeletable(c.input(), ctx);
    if (c.expect === 'ok' || c.expect === 'link') {
      expect(verdict).toEqual({
        ok: true,
        path: c.resolved ? c.resolved() : path.resolve(c.input() as string),
        symlink: c.expect === 'link',
      });
    } else {
      expect(verdict.ok).toBe(false);
      if (!verdict.ok) expect(verdict.reason).toMatch(c.expect);
    }
  });

  it('writes reasons in plain words', () => {
    const ctx: GuardContext = { configDir: config, dataDir: data, buildRoots: defaultBuildRoots(data, {}) };
    expect(checkBuildFolderDeletable('/etc', ctx)).toEqual({
      ok: false,
      reason: `build path /etc is outside the build root ${build}`,
    });
    expect(checkBuildFolderDeletable(config, ctx)).toEqual({ ok: false, reason: `build path ${config} is the config dir ${config}` });
  });
});

// ---------------------------------------------------------------------------
// End to end: a hand-edited StorageJSON pointing somewhere dangerous must not
// make archive or delete remove anything but the device's own YAML and
// StorageJSON.

/** Every entry under `root` with its type and content hash (or link target). */
function treeChecksum(root: string, skip: ReadonlySet<string>): { files: string[]; hash: string } {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const name of fs.readdirSync(dir).sort()) {
      const full = path.join(dir, name);
      const rel = path.relative(root, full);
      if (skip.has(rel)) continue;
      const stats = fs.lstatSync(full);
      if (stats.isSymbolicLink()) files.push(`${rel} -> ${fs.readlinkSync(full)}`);
      else if (stats.isDirectory()) {
        files.push(`${rel}/`);
        walk(full);
      } else files.push(`${rel} ${createHash('sha256').update(fs.readFileSync(full)).digest('hex')}`);
    }
  };
  walk(root);
  return { files, hash: createHash('sha256').update(files.join('\n')).digest('hex') };
}

interface Sandbox {
  S: string;
  config: string;
  data: string;
  yaml: string;
}

function makeSandbox(esphomeBlock = '  name: kitchen\n'): Sandbox {
  const S = fs.realpathSync(makeTempDir('guard-e2e-'));
  const config = path.join(S, 'config');
  const data = path.join(config, '.esphome');
  const yaml = `esphome:\n${esphomeBlock}esp32:\n  board: generic\n`;
  writeFile(path.join(S, 'parent-file.txt'), 'next to the config dir');
  writeFile(path.join(S, 'outside', 'keep.txt'), 'keep me');
  writeFile(path.join(S, 'outside', 'deep', 'x.bin'), 64);
  writeFile(path.join(config, 'kitchen.yaml'), yaml);
  writeFile(path.join(config, 'other.yaml'), 'esphome:\n  name: other\n');
  writeFile(path.join(config, 'secrets.yaml'), 'wifi_password: hunter2\n');
  writeFile(path.join(config, 'archive', 'old.yaml'), 'esphome:\n  name: old\n');
  writeFile(path.join(data, 'storage', 'other.yaml.json'), JSON.stringify({ storage_version: 1, build_path: path.join(data, 'build', 'other') }));
  writeFile(path.join(data, 'build', 'kitchen', 'build_info.json'), '{"config_hash": 1}');
  writeFile(path.join(data, 'build', 'kitchen', '.pioenvs', 'kitchen', 'firmware.bin'), 128);
  writeFile(path.join(data, 'build', 'other', 'build_info.json'), '{"config_hash": 2}');
  fs.symlinkSync(path.join(S, 'outside'), path.join(data, 'build', 'sub'));
  fs.writeFileSync(
    path.join(config, '.device-builder.json'),
    JSON.stringify({ 'kitchen.yaml': { friendly_name: 'Kitchen', ip: '10.0.0.2', build_size_bytes: 5 }, 'other.yaml': { comment: 'x' } }),
  );
  return { S, config, data, yaml };
}

function writeStorage(sb: Sandbox, buildPath: unknown): void {
  writeFile(path.join(sb.data, 'storage', 'kitchen.yaml.json'), JSON.stringify({ storage_version: 1, name: 'kitchen', build_path: buildPath }));
}

/** Files archive/delete may legitimately change. */
const DEVICE_OWNED = new Set([
  'config/kitchen.yaml',
  'config/archive/kitchen.yaml',
  'config/.esphome/storage/kitchen.yaml.json',
  'config/.device-builder.json',
  // The sidecar's flock file: created by the first locked change (as the Python tool creates it), always empty.
  'config/.device-builder.json.lock',
]);

describe('a hand-edited StorageJSON cannot make archive or delete remove anything else', () => {
  let removals: string[] = [];
  let sandboxRoot = '';

  // Safety net: if the guard ever regressed, these tests must fail rather
  // than delete anything outside the sandbox (the cases include / and ~).
  function armSafetyNet(S: string): void {
    sandboxRoot = S;
    removals = [];
    const realRm = fs.promises.rm.bind(fs.promises);
    const realUnlink = fs.promises.unlink.bind(fs.promises);
    vi.spyOn(fs.promises, 'rm').mockImplementation(async (target, options) => {
      removals.push(String(target));
      if (!isStrictlyInside(path.resolve(String(target)), sandboxRoot)) throw new Error(`test safety net: rm ${String(target)}`);
      return realRm(target, options);
    });
    vi.spyOn(fs.promises, 'unlink').mockImplementation(async (target) => {
      removals.push(String(target));
      if (!isStrictlyInside(path.resolve(String(target)), sandboxRoot)) throw new Error(`test safety net: unlink ${String(target)}`);
      return realUnlink(target);
    });
  }

  afterEach(() => {
    vi.restoreAllMocks();
  });

  const dangerous: { name: string; buildPath: (sb: Sandbox) => unknown; esphome?: string; noStorage?: boolean }[] = [
    { name: 'the config dir', buildPath: (sb) => sb.config },
    { name: 'the data dir', buildPath: (sb) => sb.data },
    { name: 'the parent of the config dir', buildPath: (sb) => sb.S },
    { name: 'the file-system root', buildPath: () => '/' },
    { name: 'the home folder', buildPath: () => os.homedir() },
    { name: '<build>/../..', buildPath: (sb) => `${sb.data}/build/../..` },
    { name: '<build>/kitchen/../../..', buildPath: (sb) => `${sb.data}/build/kitchen/../../..` },
    { name: 'the build root', buildPath: (sb) => path.join(sb.data, 'build') },
    { name: '<data>/storage', buildPath: (sb) => path.join(sb.data, 'storage') },
    { name: 'the archive folder', buildPath: (sb) => path.join(sb.config, 'archive') },
    { name: 'a folder outside', buildPath: (sb) => path.join(sb.S, 'outside') },
    { name: 'a symlinked parent', buildPath: (sb) => path.join(sb.data, 'build', 'sub', 'deep') },
    { name: 'a relative path', buildPath: () => '../config' },
    { name: 'another device YAML', buildPath: (sb) => path.join(sb.config, 'other.yaml') },
    {
      name: 'a file in the config dir, with esphome.build_path: .. making the config dir a root',
      buildPath: (sb) => path.join(sb.config, 'other.yaml'),
      esphome: '  name: kitchen\n  build_path: ..\n',
    },
    {
      name: 'a computed default that is the data dir (esphome.name: .., no StorageJSON)',
      buildPath: () => null,
      esphome: '  name: ..\n',
      noStorage: true,
    },
    {
      name: 'a computed default that is the config dir (esphome.name: ../.., no StorageJSON)',
      buildPath: () => null,
      esphome: '  name: ../..\n',
      noStorage: true,
    },
  ];

  for (const action of ['archive', 'delete'] as const) {
    it.each(dangerous)(`${action}: $name is refused, the YAML is still handled and nothing else changes`, async (c) => {
      const sb = makeSandbox(c.esphome);
      if (!c.noStorage) writeStorage(sb, c.buildPath(sb));
      const before = treeChecksum(sb.S, DEVICE_OWNED);
      const { logger, lines } = capturingLogger();
      const files = new DeviceFiles({
        configDir: sb.config,
        dataDir: sb.data,
        store: new DeviceMetadata(sb.config, sb.data, { logger: silentLogger }),
        logger,
        env: {},
      });
      armSafetyNet(sb.S);

      const report = await files[action]('kitchen.yaml');

      const after = treeChecksum(sb.S, DEVICE_OWNED);
      expect(after.files).toEqual(before.files);
      expect(after.hash).toBe(before.hash);
      // Only the device's own files were ever handed to rm/unlink.
      const storage = path.join(sb.data, 'storage', 'kitchen.yaml.json');
      const expected = action === 'delete' ? [path.join(sb.config, 'kitchen.yaml'), storage] : [storage];
      expect(ownWrites(removals).sort()).toEqual(expected.sort());
      expect(report).toEqual({ configuration: 'kitchen.yaml', build_folder: 'refused', reason: expect.stringMatching(/^build path /) });
      const warning = lines().find((line) => line['level'] === 40);
      expect(warning).toMatchObject({ configuration: 'kitchen.yaml', reason: report.reason });

      expect(fs.existsSync(path.join(sb.config, 'kitchen.yaml'))).toBe(false);
      expect(fs.existsSync(path.join(sb.data, 'storage', 'kitchen.yaml.json'))).toBe(false);
      if (action === 'archive') {
        expect(fs.readFileSync(path.join(sb.config, 'archive', 'kitchen.yaml'), 'utf8')).toBe(sb.yaml);
      } else {
        expect(fs.existsSync(path.join(sb.config, 'archive', 'kitchen.yaml'))).toBe(false);
      }
    });
  }

  it('a symlinked build folder pointing outside is removed as a link; the target is untouched', async () => {
    const sb = makeSandbox();
    const link = path.join(sb.data, 'build', 'evil');
    fs.symlinkSync(path.join(sb.S, 'outside'), link);
    writeStorage(sb, link);
    const before = treeChecksum(sb.S, new Set([...DEVICE_OWNED, 'config/.esphome/build/evil']));
    const files = new DeviceFiles({
      configDir: sb.config,
      dataDir: sb.data,
      store: new DeviceMetadata(sb.config, sb.data, { logger: silentLogger }),
      logger: silentLogger,
      env: {},
    });
    armSafetyNet(sb.S);

    await expect(files.archive('kitchen.yaml')).resolves.toEqual({ configuration: 'kitchen.yaml', build_folder: 'deleted' });

    expect(fs.existsSync(link)).toBe(false);
    expect(fs.lstatSync(path.join(sb.S, 'outside')).isDirectory()).toBe(true);
    expect(treeChecksum(sb.S, new Set([...DEVICE_OWNED, 'config/.esphome/build/evil']))).toEqual(before);
    expect(fs.existsSync(path.join(sb.config, 'archive', 'kitchen.yaml'))).toBe(true);
  });

  it('a symlink to / as the build folder is removed as a link only', async () => {
    const sb = makeSandbox();
    const link = path.join(sb.data, 'build', 'evil');
    fs.symlinkSync('/', link);
    writeStorage(sb, link);
    const files = new DeviceFiles({
      configDir: sb.config,
      dataDir: sb.data,
      store: new DeviceMetadata(sb.config, sb.data, { logger: silentLogger }),
      logger: silentLogger,
      env: {},
    });
    armSafetyNet(sb.S);

    await expect(files.delete('kitchen.yaml')).resolves.toEqual({ configuration: 'kitchen.yaml', build_folder: 'deleted' });
    expect(fs.existsSync(link)).toBe(false);
    expect(removals).toContain(link);
    expect(fs.existsSync('/etc')).toBe(true);
  });
});

// ---------------------------------------------------------------------------
// More traversal variants (docs/RELIABILITY.md, "Path traversal and the
// delete guard"), each checked end to end against a checksum of the whole
// sandbox: the device-file paths the table above does not reach, and the
// unused-build-folder delete (`builds/delete_orphan`), whose path comes
// straight from the client.

/** The tree remover as the safety net sees it: recorded, and refused outside the sandbox (see installSafetyNet). */
let safetyNet: { S: string; removals: string[] } | null = null;
const safeRemoveTree: RemoveTreeFn = (target, options) => {
  if (safetyNet) {
    safetyNet.removals.push(target);
    if (!isStrictlyInside(path.resolve(target), safetyNet.S)) return Promise.reject(new Error(`test safety net: removeTree ${target}`));
  }
  return removeTree(target, options);
};

/** Fails the test instead of deleting anything outside `S` (the cases include / and ~). */
function installSafetyNet(S: string): string[] {
  const removals: string[] = [];
  safetyNet = { S, removals };
  const realRm = fs.promises.rm.bind(fs.promises);
  const realUnlink = fs.promises.unlink.bind(fs.promises);
  vi.spyOn(fs.promises, 'rm').mockImplementation(async (target, options) => {
    removals.push(String(target));
    if (!isStrictlyInside(path.resolve(String(target)), S)) throw new Error(`test safety net: rm ${String(target)}`);
    return realRm(target, options);
  });
  vi.spyOn(fs.promises, 'unlink').mockImplementation(async (target) => {
    removals.push(String(target));
    if (!isStrictlyInside(path.resolve(String(target)), S)) throw new Error(`test safety net: unlink ${String(target)}`);
    return realUnlink(target);
  });
  return removals;
}

/** Lock and temp files the sidecar store creates and removes around its own writes. */
function ownWrites(removals: string[]): string[] {
  return removals.filter((target) => !path.basename(target).startsWith('.device-builder.json'));
}

describe('more device-file variants: a hand-edited YAML or StorageJSON', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const refused: { name: string; esphome?: string; buildPath?: (sb: Sandbox) => unknown; setup?: (sb: Sandbox) => void }[] = [
    { name: 'esphome.name: ../../../.. (no StorageJSON) computes a parent of the sandbox', esphome: '  name: ../../../..\n' },
    { name: 'esphome.name: / (no StorageJSON) computes the file-system root', esphome: '  name: /\n' },
    { name: 'esphome.build_path: / with name etc computes /etc', esphome: '  name: etc\n  build_path: /\n' },
    { name: 'esphome.build_path: ../.. with name config computes the config dir', esphome: '  name: config\n  build_path: ../..\n' },
    { name: 'build_path <build>/. (the build root spelled with a dot)', buildPath: (sb) => `${sb.data}/build/.` },
    { name: 'build_path <build>//kitchen//..//.. (doubled slashes)', buildPath: (sb) => `${sb.data}/build//kitchen//..//..` },
    {
      name: 'build_path through a symlink to the config dir',
      buildPath: (sb) => `${sb.data}/build/cfglink/.esphome`,
      setup: (sb) => fs.symlinkSync(sb.config, path.join(sb.data, 'build', 'cfglink')),
    },
    {
      name: 'build_path through a symlink to /',
      buildPath: (sb) => `${sb.data}/build/slash/etc`,
      setup: (sb) => fs.symlinkSync('/', path.join(sb.data, 'build', 'slash')),
    },
    { name: 'build_path of the home folder spelled with ..', buildPath: () => `${os.homedir()}/x/..` },
  ];

  for (const action of ['archive', 'delete'] as const) {
    it.each(refused)(`${action}: $name is refused and nothing outside the device's own files changes`, async (c) => {
      const sb = makeSandbox(c.esphome);
      c.setup?.(sb);
      if (c.buildPath) writeStorage(sb, c.buildPath(sb));
      const skip = new Set([...DEVICE_OWNED]);
      const before = treeChecksum(sb.S, skip);
      const files = new DeviceFiles({
        configDir: sb.config,
        dataDir: sb.data,
        store: new DeviceMetadata(sb.config, sb.data, { logger: silentLogger }),
        logger: silentLogger,
        env: {},
      });
      const removals = installSafetyNet(sb.S);
      const report = await files[action]('kitchen.yaml');
      expect(report).toMatchObject({ build_folder: 'refused' });
      expect(treeChecksum(sb.S, skip)).toEqual(before);
      const storage = path.join(sb.data, 'storage', 'kitchen.yaml.json');
      expect(ownWrites(removals).sort()).toEqual((action === 'delete' ? [path.join(sb.config, 'kitchen.yaml'), storage] : [storage]).sort());
    });
  }

  it('build_path <build>/sub/../kitchen, where sub links outside: the lexical path is what is judged and deleted', async () => {
    // The kernel would read sub/.. as the parent of the link's target; the
    // guard and the delete both use the lexically resolved <build>/kitchen.
    const sb = makeSandbox();
    writeStorage(sb, `${sb.data}/build/sub/../kitchen`);
    const outside = treeChecksum(path.join(sb.S, 'outside'), new Set());
    const files = new DeviceFiles({
      configDir: sb.config,
      dataDir: sb.data,
      store: new DeviceMetadata(sb.config, sb.data, { logger: silentLogger }),
      logger: silentLogger,
      env: {},
      removeTree: safeRemoveTree,
    });
    const removals = installSafetyNet(sb.S);
    await expect(files.delete('kitchen.yaml')).resolves.toMatchObject({ build_folder: 'deleted' });
    expect(removals).toContain(path.join(sb.data, 'build', 'kitchen'));
    expect(fs.existsSync(path.join(sb.data, 'build', 'kitchen'))).toBe(false);
    expect(treeChecksum(path.join(sb.S, 'outside'), new Set())).toEqual(outside);
    expect(fs.existsSync(path.join(sb.data, 'build', 'other', 'build_info.json'))).toBe(true);
  });
});

describe('unused build folders: builds/delete_orphan with hostile paths', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  function orphanSandbox(): { sb: Sandbox; orphans: OrphanBuilds; orphan: string } {
    const sb = makeSandbox();
    writeStorage(sb, path.join(sb.data, 'build', 'kitchen'));
    const orphan = path.join(sb.data, 'build', 'old-garage');
    writeFile(path.join(orphan, '.pioenvs', 'old-garage', 'firmware.bin'), 64);
    writeFile(path.join(orphan, 'build_info.json'), '{}');
    fs.symlinkSync(path.join(sb.data, 'build'), path.join(sb.S, 'buildlink'));
    const orphans = new OrphanBuilds({
      configDir: sb.config,
      dataDir: sb.data,
      store: new DeviceMetadata(sb.config, sb.data, { logger: silentLogger }),
      logger: silentLogger,
      env: {},
      activeConfigurations: () => ['kitchen.yaml', 'other.yaml'],
      removeTree: safeRemoveTree,
    });
    return { sb, orphans, orphan };
  }

  const hostile: { name: string; input: (sb: Sandbox) => unknown }[] = [
    { name: '/', input: () => '/' },
    { name: 'the home folder', input: () => os.homedir() },
    { name: 'the config dir', input: (sb) => sb.config },
    { name: 'the data dir', input: (sb) => sb.data },
    { name: 'the parent of the config dir', input: (sb) => sb.S },
    { name: 'the build root', input: (sb) => path.join(sb.data, 'build') },
    { name: 'the build root with a trailing slash', input: (sb) => `${sb.data}/build/` },
    { name: '<orphan>/..', input: (sb) => `${sb.data}/build/old-garage/..` },
    { name: '<orphan>/../../..', input: (sb) => `${sb.data}/build/old-garage/../../..` },
    { name: '<build>/../storage', input: (sb) => `${sb.data}/build/../storage` },
    { name: 'a live device folder reached through <orphan>/../kitchen', input: (sb) => `${sb.data}/build/old-garage/../kitchen` },
    { name: 'a live device folder', input: (sb) => path.join(sb.data, 'build', 'kitchen') },
    { name: 'another live device folder', input: (sb) => path.join(sb.data, 'build', 'other') },
    { name: 'a symlink in the build root pointing outside', input: (sb) => path.join(sb.data, 'build', 'sub') },
    { name: 'a folder through that symlink', input: (sb) => path.join(sb.data, 'build', 'sub', 'deep') },
    { name: 'the folder outside itself', input: (sb) => path.join(sb.S, 'outside') },
    { name: 'the archive folder', input: (sb) => path.join(sb.config, 'archive') },
    { name: 'a relative name', input: () => 'old-garage' },
    { name: 'a relative path with ..', input: () => '../build/old-garage' },
    { name: 'the orphan spelled with a trailing slash', input: (sb) => `${sb.data}/build/old-garage/` },
    { name: 'the orphan spelled with /./', input: (sb) => `${sb.data}/build/./old-garage` },
    { name: 'the orphan spelled with //', input: (sb) => `${sb.data}/build//old-garage` },
    { name: 'the orphan through a symlink to the build root', input: (sb) => path.join(sb.S, 'buildlink', 'old-garage') },
    { name: 'the orphan with a NUL byte appended', input: (sb) => `${sb.data}/build/old-garage\0` },
    { name: 'an empty string', input: () => '' },
    { name: 'a number', input: () => 42 },
    { name: 'null', input: () => null },
    { name: 'an object', input: (sb) => ({ path: path.join(sb.data, 'build', 'old-garage') }) },
  ];

  it('the sandbox lists exactly one unused folder, and deleting it by its listed path works', async () => {
    const { sb, orphans, orphan } = orphanSandbox();
    expect(await orphans.rescan()).toEqual([orphan]);
    const removals = installSafetyNet(sb.S);
    await orphans.delete(orphan);
    expect(fs.existsSync(orphan)).toBe(false);
    expect(ownWrites(removals)).toEqual([orphan]);
  });

  it.each(hostile)('$name: refused, nothing anywhere changes', async (c) => {
    const { sb, orphans } = orphanSandbox();
    await orphans.rescan();
    const before = treeChecksum(sb.S, new Set(['config/.device-builder.json']));
    const removals = installSafetyNet(sb.S);
    const error = await orphans.delete(c.input(sb) as string).then(
      () => null,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(OrphanError);
    expect(treeChecksum(sb.S, new Set(['config/.device-builder.json']))).toEqual(before);
    expect(ownWrites(removals)).toEqual([]);
  });

  it.each([
    ['/', () => '/x'],
    ['the home folder', () => path.join(os.homedir(), 'x')],
    ['the config dir', (sb: Sandbox) => path.join(sb.config, 'x')],
    ['the data dir', (sb: Sandbox) => path.join(sb.data, 'x')],
    ['the parent of the config dir', (sb: Sandbox) => path.join(sb.S, 'x')],
    ['the StorageJSON folder', (sb: Sandbox) => path.join(sb.data, 'storage', 'x')],
    ['the archive folder', (sb: Sandbox) => path.join(sb.config, 'archive', 'x')],
  ])('a StorageJSON build_path inside %s does not make its siblings unused build folders', async (_label, buildPath) => {
    const { sb, orphans, orphan } = orphanSandbox();
    writeFile(path.join(sb.data, 'storage', 'other.yaml.json'), JSON.stringify({ storage_version: 1, build_path: buildPath(sb) }));
    const found = await orphans.rescan();
    // Only folders in <data>/build: the old orphan, and other's old folder now that other builds elsewhere.
    expect(found.sort()).toEqual([orphan, path.join(sb.data, 'build', 'other')].sort());
  });

  // Found by this suite: the parent of any StorageJSON build_path becomes a
  // build root unless the guard refuses it, so a hand-edited build_path of
  // ~/Documents/kitchen made ~/Documents/Taxes an "unused build folder" that
  // builds/delete_orphan would delete. Under roots known only from a
  // StorageJSON, only folders that look like ESPHome build folders are listed.
  it("a StorageJSON build_path in an ordinary folder does not make that folder's other subfolders deletable", async () => {
    const { sb, orphans } = orphanSandbox();
    writeFile(path.join(sb.data, 'storage', 'other.yaml.json'), JSON.stringify({ storage_version: 1, build_path: path.join(sb.S, 'outside', 'other-build') }));
    const found = await orphans.rescan();
    expect(found.filter((dir) => !isStrictlyInside(dir, path.join(sb.data, 'build')))).toEqual([]);
    const before = treeChecksum(path.join(sb.S, 'outside'), new Set());
    installSafetyNet(sb.S);
    await orphans.delete(path.join(sb.S, 'outside', 'deep')).catch(() => undefined);
    expect(treeChecksum(path.join(sb.S, 'outside'), new Set())).toEqual(before);
  });
});
