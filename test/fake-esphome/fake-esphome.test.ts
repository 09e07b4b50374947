/**
 * The fake `esphome` CLI and the build-tree generator: the rest of the test
 * suite trusts them to leave the same traces on disk as the real tool, so
 * these tests pin those traces (layout, build_info.json write-if-changed,
 * StorageJSON, clean / clean-all scope, exit codes and knobs).
 */
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildInfoText, firmwareFileName, writeBuildInfo, writeBuildTree } from '../../src/fake-esphome/build-tree.js';
import { compileDevice, FakeEsphomeExit, runFakeEsphome } from '../../src/fake-esphome/esphome-cli.js';
import { installFakeEsphome } from '../../src/fake-esphome/install.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const WRAPPER = join(REPO, 'test', 'fixtures', 'bin', 'esphome');

const STORAGE_KEYS = [
  'storage_version',
  'name',
  'friendly_name',
  'comment',
  'esphome_version',
  'src_version',
  'address',
  'web_port',
  'esp_platform',
  'build_path',
  'firmware_bin_path',
  'loaded_integrations',
  'loaded_platforms',
  'no_mdns',
  'framework',
  'core_platform',
  'toolchain',
  'area',
  'framework_version',
];

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

let tmp: string;

beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'fake-esphome-'));
});

afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** Env without anything from the outer shell that would redirect the fake. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) {
    if (key.startsWith('FAKE_ESPHOME_') || key.startsWith('ESPHOME_') || key === 'PLATFORMIO_CORE_DIR') delete env[key];
  }
  return { ...env, ...extra };
}

function run(args: string[], extraEnv: Record<string, string> = {}, cmd = WRAPPER): Promise<RunResult> {
  return new Promise((done, fail) => {
    const child = spawn(cmd, args, { cwd: tmp, env: cleanEnv(extraEnv) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', fail);
    child.on('close', (code, signal) => done({ code, signal, stdout, stderr }));
  });
}

function writeYaml(file: string, body: string): string {
  const path = join(tmp, file);
  writeFileSync(path, body);
  return path;
}

const KITCHEN = `esphome:
  name: kitchen
  friendly_name: Kitchen
  area: Ground floor
esp32:
  board: esp32dev
logger:
api:
wifi:
  ssid: !secret wifi_ssid
  use_address: 192.168.1.42
`;

/** Every path under `root` (files and folders) with its mtime. */
function mtimes(root: string): Map<string, number> {
  const out = new Map<string, number>([[root, lstatSync(root).mtimeMs]]);
  for (const entry of readdirSync(root, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name);
    out.set(path, lstatSync(path).mtimeMs);
  }
  return out;
}

/** Regular files under `root`, and their total size. */
function tally(root: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const entry of readdirSync(root, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    files++;
    bytes += statSync(join(entry.parentPath, entry.name)).size;
  }
  return { files, bytes };
}

function setOld(path: string): void {
  const old = new Date('2020-01-01T00:00:00Z');
  utimesSync(path, old, old);
}

describe('writeBuildTree', () => {
  it('makes exactly N files with the ESPHome/PlatformIO layout', () => {
    const dir = join(tmp, 'kitchen');
    const result = writeBuildTree(dir, { name: 'kitchen', files: 1000, seed: 7 });
    expect(result.files).toBe(1000);
    expect(tally(dir)).toEqual(result);
    for (const path of ['README.txt', 'platformio.ini', 'dependencies.lock', 'src/main.cpp']) {
      expect(statSync(join(dir, path)).isFile()).toBe(true);
    }
    expect(statSync(join(dir, '.pioenvs/kitchen/firmware.bin')).size).toBeGreaterThan(100_000);
    expect(statSync(join(dir, '.pioenvs/kitchen/firmware.elf')).size).toBeGreaterThan(100_000);
    expect(existsSync(join(dir, 'build_info.json'))).toBe(false);

    const src = tally(join(dir, 'src')).files;
    const objects = tally(join(dir, '.pioenvs')).files;
    const libs = tally(join(dir, '.piolibdeps/kitchen')).files;
    expect(src / 1000).toBeCloseTo(0.15, 1);
    expect(objects / 1000).toBeCloseTo(0.25, 1);
    expect(libs / 1000).toBeCloseTo(0.6, 1);
    expect(existsSync(join(dir, '.pioenvs/kitchen/src/main.cpp.o'))).toBe(false); // main.cpp is fixed, not mirrored
    expect(existsSync(join(dir, '.pioenvs/kitchen/src/esphome/core/application.cpp.o'))).toBe(true);

    // Small folders, several levels deep.
    let maxEntries = 0;
    let maxDepth = 0;
    for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
      const path = join(entry.parentPath, entry.name);
      if (entry.isDirectory()) maxEntries = Math.max(maxEntries, readdirSync(path).length);
      maxDepth = Math.max(maxDepth, path.slice(dir.length).split('/').length - 1);
    }
    expect(maxEntries).toBeLessThanOrEqual(100);
    expect(maxDepth).toBeGreaterThanOrEqual(5);
  });

  it('is deterministic for a seed and varies with it', () => {
    const a = writeBuildTree(join(tmp, 'a'), { name: 'x', files: 300, seed: 1 });
    const b = writeBuildTree(join(tmp, 'b'), { name: 'x', files: 300, seed: 1 });
    const c = writeBuildTree(join(tmp, 'c'), { name: 'x', files: 300, seed: 2 });
    expect(b).toEqual(a);
    expect(c.files).toBe(300);
    expect(c.bytes).not.toBe(a.bytes);
  });

  it('hits the exact count for tiny and odd sizes', () => {
    for (const n of [0, 1, 2, 5, 6, 7, 9, 13, 57, 121]) {
      const dir = join(tmp, `n${n}`);
      const result = writeBuildTree(dir, { name: 'dev', files: n, seed: n });
      expect(result.files).toBe(n);
      expect(n === 0 ? { files: 0, bytes: 0 } : tally(dir)).toEqual(result);
    }
  });

  it('follows meanFileBytes and uses UF2 firmware on LibreTiny', () => {
    const dir = join(tmp, 'plug');
    const result = writeBuildTree(dir, { name: 'plug', files: 400, seed: 3, platform: 'bk72xx', meanFileBytes: 100 });
    expect(existsSync(join(dir, '.pioenvs/plug/firmware.uf2'))).toBe(true);
    expect(existsSync(join(dir, '.pioenvs/plug/firmware.bin'))).toBe(false);
    const firmware = statSync(join(dir, '.pioenvs/plug/firmware.uf2')).size + statSync(join(dir, '.pioenvs/plug/firmware.elf')).size;
    const text = ['README.txt', 'platformio.ini', 'dependencies.lock'].reduce((s, f) => s + statSync(join(dir, f)).size, 0);
    const mean = (result.bytes - firmware - text) / (result.files - 5);
    expect(mean).toBeGreaterThan(70);
    expect(mean).toBeLessThan(130);
    expect(firmwareFileName('rtl87xx')).toBe('firmware.uf2');
    expect(firmwareFileName('esp8266')).toBe('firmware.bin');
  });

  it('writes 25000 files quickly (benchmark size)', () => {
    const started = performance.now();
    const result = writeBuildTree(join(tmp, 'big'), { name: 'big', files: 25_000, seed: 99 });
    const ms = performance.now() - started;
    console.log(`writeBuildTree: 25000 files, ${(result.bytes / 1048576).toFixed(1)} MiB in ${ms.toFixed(0)} ms`);
    expect(result.files).toBe(25_000);
  }, 120_000);
});

describe('writeBuildInfo', () => {
  it('creates, skips identical content, and rewrites in place', () => {
    const dir = join(tmp, 'b');
    mkdirSync(dir);
    const info = { config_hash: 123, build_time: 1714900000, esphome_version: '2026.11.0' };
    expect(writeBuildInfo(dir, info)).toBe(true);
    const path = join(dir, 'build_info.json');
    const text = readFileSync(path, 'utf8');
    expect(text).toBe(buildInfoText(info));
    expect(Object.keys(JSON.parse(text))).toEqual(['config_hash', 'build_time', 'build_time_str', 'esphome_version']);
    expect(text).toContain('\n  "config_hash": 123,');
    expect(JSON.parse(text).build_time_str).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}$/);

    setOld(path);
    setOld(dir);
    const before = statSync(path);
    expect(writeBuildInfo(dir, info)).toBe(false);
    expect(statSync(path).mtimeMs).toBe(before.mtimeMs);

    expect(writeBuildInfo(dir, { ...info, config_hash: 456, build_time: 1714900100 })).toBe(true);
    const after = statSync(path);
    expect(after.ino).toBe(before.ino);
    expect(after.mtimeMs).not.toBe(before.mtimeMs);
    expect(statSync(dir).mtimeMs).toBe(new Date('2020-01-01T00:00:00Z').getTime());
    expect(JSON.parse(readFileSync(path, 'utf8')).config_hash).toBe(456);
  });
});

describe('fake esphome CLI', () => {
  const buildDir = () => join(tmp, '.esphome/build/kitchen');

  it('prints its version', async () => {
    const r = await run(['version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('Version: 2026.11.0');
  });

  it('compile writes the tree, build_info.json and StorageJSON', async () => {
    const yaml = writeYaml('kitchen.yaml', KITCHEN);
    const r = await run(['--dashboard', 'compile', yaml]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`INFO Reading configuration ${yaml}...`);
    expect(r.stdout).toContain('INFO Generating C++ source...');
    expect(r.stdout).toContain('INFO Compiling app...');
    expect(r.stdout).toContain('Compiling .pioenvs/kitchen/src/main.cpp.o');
    expect(r.stdout).toContain('\x1b[32m');
    expect(r.stdout).toContain('Linking... 10%\rLinking... 50%\rLinking... 100%\n');
    expect(r.stdout.trimEnd().endsWith('INFO Successfully compiled program.')).toBe(true);

    const dir = buildDir();
    const info = JSON.parse(readFileSync(join(dir, 'build_info.json'), 'utf8'));
    expect(Object.keys(info)).toEqual(['config_hash', 'build_time', 'build_time_str', 'esphome_version']);
    expect(Number.isInteger(info.config_hash) && info.config_hash >= 0).toBe(true);
    expect(Math.abs(info.build_time - Date.now() / 1000)).toBeLessThan(60);
    expect(info.esphome_version).toBe('2026.11.0');
    // 120 base files + 4 per top-level key (esphome, esp32, logger, api, wifi), plus build_info.json.
    expect(tally(dir).files).toBe(120 + 4 * 5 + 1);
    expect(existsSync(join(dir, '.pioenvs/kitchen/firmware.bin'))).toBe(true);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    const storage = JSON.parse(readFileSync(join(tmp, '.esphome/storage/kitchen.yaml.json'), 'utf8'));
    expect(Object.keys(storage).sort()).toEqual([...STORAGE_KEYS].sort());
    expect(storage).toMatchObject({
      storage_version: 1,
      name: 'kitchen',
      friendly_name: 'Kitchen',
      comment: null,
      esphome_version: '2026.11.0',
      address: '192.168.1.42',
      web_port: null,
      esp_platform: 'ESP32',
      build_path: dir,
      firmware_bin_path: join(dir, '.pioenvs/kitchen/firmware.bin'),
      loaded_integrations: ['api', 'esp32', 'esphome', 'logger', 'wifi'],
      loaded_platforms: [],
      no_mdns: false,
      framework: 'esp-idf',
      core_platform: 'esp32',
      toolchain: null,
      area: 'Ground floor',
      framework_version: '3.1.0',
    });
    expect(storage.build_path.startsWith('/')).toBe(true);
    expect(readdirSync(join(tmp, '.esphome/storage'))).toEqual(['kitchen.yaml.json']);
  });

  it('recompiling the same YAML touches nothing in the build folder', async () => {
    const yaml = writeYaml('kitchen.yaml', KITCHEN);
    expect((await run(['compile', yaml])).code).toBe(0);
    const before = mtimes(buildDir());
    const info = readFileSync(join(buildDir(), 'build_info.json'), 'utf8');
    const r = await run(['--dashboard', 'compile', yaml]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('INFO Successfully compiled program.');
    expect(mtimes(buildDir())).toEqual(before);
    expect(readFileSync(join(buildDir(), 'build_info.json'), 'utf8')).toBe(info);
  });

  it('editing the YAML rewrites build_info.json in place and changes the size', async () => {
    const yaml = writeYaml('kitchen.yaml', KITCHEN);
    expect((await run(['compile', yaml])).code).toBe(0);
    const infoPath = join(buildDir(), 'build_info.json');
    setOld(infoPath);
    setOld(buildDir());
    const before = statSync(infoPath);
    const sizeBefore = tally(buildDir());
    const hashBefore = JSON.parse(readFileSync(infoPath, 'utf8')).config_hash;

    writeFileSync(yaml, `${KITCHEN}ota:\n  platform: esphome\nsensor:\nbinary_sensor:\n`);
    expect((await run(['compile', yaml])).code).toBe(0);
    const after = statSync(infoPath);
    expect(after.ino).toBe(before.ino);
    expect(after.mtimeMs).toBeGreaterThan(before.mtimeMs);
    expect(statSync(buildDir()).mtimeMs).toBeGreaterThan(new Date('2020-01-02').getTime()); // churn moved it
    expect(JSON.parse(readFileSync(infoPath, 'utf8')).config_hash).not.toBe(hashBefore);
    const sizeAfter = tally(buildDir());
    expect(sizeAfter.files).toBe(sizeBefore.files + 3 * 4);
    expect(sizeAfter.bytes).not.toBe(sizeBefore.bytes);
  });

  it('compile after clean rebuilds the tree but keeps build_info.json', async () => {
    const yaml = writeYaml('kitchen.yaml', KITCHEN);
    expect((await run(['compile', yaml])).code).toBe(0);
    const size = tally(buildDir());
    const info = statSync(join(buildDir(), 'build_info.json'));
    expect((await run(['clean', yaml])).code).toBe(0);
    expect((await run(['compile', yaml])).code).toBe(0);
    expect(tally(buildDir())).toEqual(size);
    expect(statSync(join(buildDir(), 'build_info.json')).mtimeMs).toBe(info.mtimeMs);
  });

  it('clean removes exactly .pioenvs, .piolibdeps and dependencies.lock', async () => {
    const yaml = writeYaml('kitchen.yaml', KITCHEN);
    expect((await run(['compile', yaml])).code).toBe(0);
    const r = await run(['--dashboard', 'clean', yaml]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('INFO Done!');
    expect(readdirSync(buildDir()).sort()).toEqual(['README.txt', 'build_info.json', 'platformio.ini', 'src']);
    expect(existsSync(join(tmp, '.esphome/storage/kitchen.yaml.json'))).toBe(true);
  });

  it('clean without a build folder succeeds quietly', async () => {
    const yaml = writeYaml('kitchen.yaml', KITCHEN);
    const r = await run(['clean', yaml]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(existsSync(buildDir())).toBe(false);
  });

  it('clean-all leaves only storage/ and *.json in the data dir, and drops the PlatformIO cache', async () => {
    const yaml = writeYaml('kitchen.yaml', KITCHEN);
    expect((await run(['compile', yaml])).code).toBe(0);
    const data = join(tmp, '.esphome');
    writeFileSync(join(data, 'idedata.json'), '{}');
    writeFileSync(join(data, 'stray.txt'), 'x');
    mkdirSync(join(data, 'external_components/foo'), { recursive: true });
    const pio = join(tmp, 'pio');
    mkdirSync(join(pio, '.cache/downloads'), { recursive: true });
    mkdirSync(join(pio, 'packages'), { recursive: true });

    const r = await run(['--dashboard', 'clean-all', tmp], { PLATFORMIO_CORE_DIR: pio });
    expect(r.code).toBe(0);
    expect(readdirSync(data).sort()).toEqual(['idedata.json', 'storage']);
    expect(readdirSync(join(data, 'storage'))).toEqual(['kitchen.yaml.json']);
    expect(readdirSync(pio)).toEqual(['packages']);
    expect(existsSync(yaml)).toBe(true);
  });

  it('upload before compile fails; after compile it succeeds; run does both', async () => {
    const yaml = writeYaml('kitchen.yaml', KITCHEN);
    const early = await run(['--dashboard', 'upload', '--device', 'OTA', yaml]);
    expect(early.code).toBe(1);
    expect(early.stderr).toContain('ERROR Firmware not found, please compile first');

    expect((await run(['compile', yaml])).code).toBe(0);
    const up = await run(['--dashboard', 'upload', '--device', '192.168.1.42', yaml]);
    expect(up.code).toBe(0);
    expect(up.stdout).toContain('Uploading: [====    ] 50%\r');
    expect(up.stdout).toContain('INFO Successfully uploaded program.');

    rmSync(join(tmp, '.esphome'), { recursive: true });
    const all = await run(['--dashboard', 'run', '--no-logs', '--device', 'OTA', yaml]);
    expect(all.code).toBe(0);
    expect(all.stdout.indexOf('INFO Successfully compiled program.')).toBeLessThan(all.stdout.indexOf('INFO Successfully uploaded program.'));
  });

  it('fails on demand through the env knob and the YAML comment', async () => {
    const yaml = writeYaml('kitchen.yaml', KITCHEN);
    const env = await run(['compile', yaml], { FAKE_ESPHOME_FAIL: '1' });
    expect(env.code).toBe(1);
    expect(env.stdout).toContain('INFO Reading configuration');
    expect(env.stderr).toContain('ERROR Error while compiling');

    const marked = writeYaml('broken.yaml', `${KITCHEN}# fake-esphome: fail\n`);
    const comment = await run(['compile', marked]);
    expect(comment.code).toBe(1);
    expect(comment.stderr).toContain('ERROR Error while compiling');
    expect(existsSync(join(tmp, '.esphome/storage/broken.yaml.json'))).toBe(false);
  });

  it('hangs on demand; SIGTERM ends it unless told to ignore it', async () => {
    const yaml = writeYaml('kitchen.yaml', `${KITCHEN}# fake-esphome: hang\n`);
    const hang = async (env: Record<string, string>, signals: NodeJS.Signals[]) => {
      const child = spawn(WRAPPER, ['compile', yaml], { cwd: tmp, env: cleanEnv(env) });
      let stdout = '';
      await new Promise<void>((ready) =>
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
          if (stdout.includes('waiting')) ready();
        }),
      );
      const closed = new Promise<NodeJS.Signals | null>((done) => child.on('close', (_code, signal) => done(signal)));
      for (const signal of signals) {
        child.kill(signal);
        await new Promise((r) => setTimeout(r, 300));
      }
      return { signal: await closed, stdout };
    };
    expect((await hang({}, ['SIGTERM'])).signal).toBe('SIGTERM');
    const stubborn = await hang({ FAKE_ESPHOME_IGNORE_TERM: '1' }, ['SIGTERM', 'SIGKILL']);
    expect(stubborn.signal).toBe('SIGKILL');
    expect(stubborn.stdout).toContain('ignoring');
  });

  it('honours ESPHOME_DATA_DIR, esphome.build_path and ESPHOME_BUILD_PATH', async () => {
    const data = join(tmp, 'data');
    const yaml = writeYaml('kitchen.yaml', KITCHEN);
    expect((await run(['compile', yaml], { ESPHOME_DATA_DIR: data })).code).toBe(0);
    expect(existsSync(join(data, 'build/kitchen/build_info.json'))).toBe(true);
    expect(JSON.parse(readFileSync(join(data, 'storage/kitchen.yaml.json'), 'utf8')).build_path).toBe(join(data, 'build/kitchen'));
    expect(existsSync(join(tmp, '.esphome'))).toBe(false);

    expect((await run(['compile', yaml], { ESPHOME_BUILD_PATH: 'alt' })).code).toBe(0);
    expect(existsSync(join(tmp, '.esphome/alt/kitchen/build_info.json'))).toBe(true);

    const rel = writeYaml('rel.yaml', KITCHEN.replace('name: kitchen', 'name: relly\n  build_path: mybuilds'));
    expect((await run(['compile', rel], { ESPHOME_BUILD_PATH: 'ignored' })).code).toBe(0);
    expect(existsSync(join(tmp, '.esphome/mybuilds/relly/build_info.json'))).toBe(true);

    const absBase = join(tmp, 'elsewhere');
    const abs = writeYaml('abs.yaml', KITCHEN.replace('name: kitchen', `name: absy\n  build_path: ${absBase}`));
    expect((await run(['compile', abs])).code).toBe(0);
    const storage = JSON.parse(readFileSync(join(tmp, '.esphome/storage/abs.yaml.json'), 'utf8'));
    expect(storage.build_path).toBe(join(absBase, 'absy'));
    expect(existsSync(join(absBase, 'absy/build_info.json'))).toBe(true);

    // clean follows the same path.
    expect((await run(['clean', abs])).code).toBe(0);
    expect(existsSync(join(absBase, 'absy/.pioenvs'))).toBe(false);
    expect(existsSync(join(absBase, 'absy/build_info.json'))).toBe(true);
  });

  it('takes the name from a local package, as ESPHome does, and writes storage_version 1', async () => {
    mkdirSync(join(tmp, 'common'), { recursive: true });
    writeFileSync(join(tmp, 'common/base.yaml'), 'substitutions:\n  room: attic\nesphome:\n  name: ${room}-fan\n  friendly_name: Attic Fan\n');
    const yaml = writeYaml('fan.yaml', 'packages:\n  base: !include common/base.yaml\nesp8266:\n  board: d1_mini\n');
    expect((await run(['compile', yaml])).code).toBe(0);
    const storage = JSON.parse(readFileSync(join(tmp, '.esphome/storage/fan.yaml.json'), 'utf8'));
    expect(storage).toMatchObject({ storage_version: 1, name: 'attic-fan', friendly_name: 'Attic Fan', build_path: join(tmp, '.esphome/build/attic-fan') });
    expect(existsSync(join(tmp, '.esphome/build/attic-fan/build_info.json'))).toBe(true);
  });

  it('refuses a name it cannot resolve (an undefined substitution) like a missing one', async () => {
    const yaml = writeYaml('odd.yaml', 'esphome:\n  name: ${nope}\n');
    const result = await run(['compile', yaml]);
    expect(result.code).toBe(2);
    expect(existsSync(join(tmp, '.esphome/storage/odd.yaml.json'))).toBe(false);
  });

  it('names LibreTiny firmware .uf2 in the tree and in StorageJSON', async () => {
    const yaml = writeYaml('plug.yaml', 'esphome:\n  name: plug\nbk72xx:\n  board: cb2s\n');
    expect((await run(['compile', yaml])).code).toBe(0);
    const storage = JSON.parse(readFileSync(join(tmp, '.esphome/storage/plug.yaml.json'), 'utf8'));
    expect(storage).toMatchObject({ esp_platform: 'BK72XX', core_platform: 'bk72xx', framework: 'arduino' });
    expect(storage.firmware_bin_path.endsWith('/.pioenvs/plug/firmware.uf2')).toBe(true);
    expect(existsSync(storage.firmware_bin_path)).toBe(true);
  });

  it('pins the build size per device with files= / mean-bytes= lines, over the env', async () => {
    const yaml = writeYaml('kitchen.yaml', `# fake-esphome: files=40\n# fake-esphome: mean-bytes=100\n${KITCHEN}`);
    const r = await run(['compile', yaml], { FAKE_ESPHOME_FILES: '500', FAKE_ESPHOME_MEAN_BYTES: '9000' });
    expect(r.code).toBe(0);
    const size = tally(buildDir());
    expect(size.files).toBe(40 + 4 * 5 + 1);
    // Firmware is ~1000x the mean file size: 100 bytes keeps the whole tree well under 1 MB.
    expect(size.bytes).toBeLessThan(1_000_000);
  });

  it('rejects bad input with exit 2', async () => {
    const noName = writeYaml('noname.yaml', 'esphome:\n  friendly_name: X\nesp32:\n');
    const r1 = await run(['compile', noName]);
    expect(r1.code).toBe(2);
    expect(r1.stderr).toContain('ERROR');

    const r2 = await run(['compile', join(tmp, 'missing.yaml')]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain('missing.yaml');

    const r3 = await run(['frobnicate']);
    expect(r3.code).toBe(2);
    expect(r3.stderr).toContain('usage');

    expect((await run([])).code).toBe(2);
    expect((await run(['compile'])).code).toBe(2);
    expect((await run(['upload', '--bogus', noName])).code).toBe(2);
  });
});

describe('in-process API', () => {
  it('compileDevice leaves exactly what the CLI leaves, ignoring process.env by default', async () => {
    const viaCli = join(tmp, 'cli');
    const inProc = join(tmp, 'inproc');
    mkdirSync(viaCli);
    mkdirSync(inProc);
    writeFileSync(join(viaCli, 'kitchen.yaml'), KITCHEN);
    writeFileSync(join(inProc, 'kitchen.yaml'), KITCHEN);
    expect((await run(['compile', join(viaCli, 'kitchen.yaml')])).code).toBe(0);

    const saved = process.env['FAKE_ESPHOME_FILES'];
    process.env['FAKE_ESPHOME_FILES'] = '7';
    let output = '';
    try {
      const outcome = await compileDevice(join(inProc, 'kitchen.yaml'), { output: (t) => (output += t) });
      expect(outcome.buildDir).toBe(join(inProc, '.esphome/build/kitchen'));
      expect(outcome.storagePath).toBe(join(inProc, '.esphome/storage/kitchen.yaml.json'));
      expect(outcome.tree).toEqual({ files: 120 + 4 * 5, bytes: expect.any(Number) });
    } finally {
      if (saved === undefined) delete process.env['FAKE_ESPHOME_FILES'];
      else process.env['FAKE_ESPHOME_FILES'] = saved;
    }
    expect(output).toContain('INFO Successfully compiled program.');
    expect(tally(join(inProc, '.esphome/build/kitchen'))).toEqual(tally(join(viaCli, '.esphome/build/kitchen')));
    const storage = JSON.parse(readFileSync(join(inProc, '.esphome/storage/kitchen.yaml.json'), 'utf8'));
    expect(storage.build_path).toBe(join(inProc, '.esphome/build/kitchen'));

    // Up to date: nothing rewritten, no tree reported.
    expect((await compileDevice(join(inProc, 'kitchen.yaml'))).tree).toBeNull();
  });

  it('compileDevice throws FakeEsphomeExit where the CLI exits non-zero; runFakeEsphome returns the code', async () => {
    const broken = writeYaml('broken.yaml', `${KITCHEN}# fake-esphome: fail\n`);
    const err = await compileDevice(broken).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FakeEsphomeExit);
    expect((err as FakeEsphomeExit).code).toBe(1);
    await expect(compileDevice(join(tmp, 'missing.yaml'))).rejects.toMatchObject({ code: 2 });

    let stdout = '';
    let stderr = '';
    const io = { env: {}, stdout: (t: string) => (stdout += t), stderr: (t: string) => (stderr += t) };
    expect(await runFakeEsphome(['--dashboard', 'version'], io)).toBe(0);
    expect(stdout).toBe('Version: 2026.11.0\n');
    expect(await runFakeEsphome(['compile', broken], io)).toBe(1);
    expect(stderr).toBe('ERROR Error while compiling\n');
  });
});

describe('installFakeEsphome', () => {
  it('writes an executable esphome wrapper that runs node <entry>', async () => {
    const entry = join(tmp, 'entry dir', "it's.mjs");
    mkdirSync(dirname(entry));
    writeFileSync(entry, 'console.log(JSON.stringify(process.argv.slice(2)));\n');
    const path = installFakeEsphome(join(tmp, 'bin'), entry);
    expect(path).toBe(join(tmp, 'bin', 'esphome'));
    expect(statSync(path).mode & 0o111).toBe(0o111);
    const r = await run(['compile', 'a b.yaml'], {}, path);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(['compile', 'a b.yaml']);
  });

  it('passes node options before the entry and unsets the listed variables', async () => {
    const entry = join(tmp, 'entry.mjs');
    writeFileSync(entry, 'console.log(JSON.stringify([process.execArgv, process.env.ESPHOME_DATA_DIR ?? null, process.env.KEEP ?? null]));\n');
    const path = installFakeEsphome(join(tmp, 'bin'), entry, { nodeArgs: ['--no-warnings'], unsetEnv: ['ESPHOME_DATA_DIR'] });
    const r = await run([], { ESPHOME_DATA_DIR: '/elsewhere', KEEP: 'yes' }, path);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([['--no-warnings'], null, 'yes']);
    expect(() => installFakeEsphome(join(tmp, 'bin'), entry, { unsetEnv: ['A; rm -rf /'] })).toThrow(/invalid environment variable/);
  });
});
