/**
 * The demo fleet `npm start` serves without a config folder: realistic
 * YAMLs, compiled build folders, an orphan, a working fake esphome, reuse
 * on the next start, and never clobbering a folder that is not ours.
 * Builds are scaled down (`scale`) to keep the suite fast.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDeviceYaml } from '../../src/config/device-yaml.js';
import { DEMO_BANNER, DEMO_DEVICES, DEMO_FLEET_DIR } from '../../src/demo/demo-devices.js';
import { DEMO_MARKER, DEMO_ORPHAN, DEMO_VERSION, demoRoot, fakeEsphomeEntry, prepareDemoFleet, type DemoFleet } from '../../src/demo/demo-fleet.js';
import { captureLog } from '../helpers/capture-log.js';

const SCALE = 0.05;

let tmp: string;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'demo-fleet-'));
});

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string[], args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return new Promise((done, fail) => {
    const fullEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
    for (const key of Object.keys(fullEnv)) if (key.startsWith('FAKE_ESPHOME_')) delete fullEnv[key];
    const child = spawn(cmd[0] as string, [...cmd.slice(1), ...args], { cwd: tmp, env: fullEnv });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

/** Every path under `root` with its mtime, to prove nothing was touched. */
function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const entry of readdirSync(root, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name);
    const st = statSync(path);
    out.set(path, `${st.mtimeMs}:${st.size}:${entry.isFile() ? readFileSync(path, 'utf8') : ''}`);
  }
  return out;
}

describe('prepareDemoFleet', () => {
  let root: string;
  let fleet: DemoFleet;
  let messages: () => string[];

  beforeAll(async () => {
    root = join(tmp, 'demo');
    const log = captureLog('info');
    messages = log.messages;
    const started = performance.now();
    fleet = await prepareDemoFleet(log.logger, { root, scale: SCALE });
    console.log(`prepareDemoFleet (scale ${SCALE}): ${(performance.now() - started).toFixed(0)} ms`);
  }, 60_000);

  it('writes a labelled config folder of realistic, varied devices', () => {
    expect(fleet.configDir).toBe(join(root, 'config'));
    const files = readdirSync(fleet.configDir);
    expect(files).toContain('secrets.yaml');
    const yamls = files.filter((f) => f.endsWith('.yaml') && f !== 'secrets.yaml');
    expect(yamls.length).toBeGreaterThanOrEqual(10);
    expect(yamls.sort()).toEqual(DEMO_DEVICES.map((d) => d.file).sort());

    const platforms = new Set<string>();
    const friendly = new Set<string>();
    for (const file of [...yamls, 'secrets.yaml', 'common/base.yaml']) {
      const text = readFileSync(join(fleet.configDir, file), 'utf8');
      expect(text.startsWith(DEMO_BANNER), file).toBe(true);
    }
    for (const file of yamls) {
      const text = readFileSync(join(fleet.configDir, file), 'utf8');
      const parsed = parseDeviceYaml(text);
      expect(parsed.error, file).toBeNull();
      expect(`${parsed.device.name}.yaml`).toBe(file);
      expect(parsed.device.area, file).toBeTruthy();
      expect(parsed.device.comment, file).toBeTruthy();
      expect(text).toContain('substitutions:');
      platforms.add(parsed.device.platform as string);
      friendly.add(parsed.device.friendlyName as string);
    }
    expect([...platforms].sort()).toEqual(['bk72xx', 'esp32', 'esp8266', 'host', 'ln882x', 'rp2040']);
    expect(friendly.size).toBe(yamls.length);
    expect(friendly).toContain('Broken Sensor (demo: compile fails)');
    const all = yamls.map((f) => readFileSync(join(fleet.configDir, f), 'utf8')).join('\n');
    for (const needle of [
      '!secret wifi_ssid',
      '!secret wifi_password',
      '!lambda',
      'packages:',
      'platform: gpio',
      'platform: dht',
      'bme280',
      'platform: template',
      'light:',
      'binary_sensor:',
      '${name}',
      'variant: esp32s3',
      'variant: esp32c3',
    ]) {
      expect(all, needle).toContain(needle);
    }
    expect(readFileSync(join(fleet.configDir, 'broken-sensor.yaml'), 'utf8')).toMatch(/^# fake-esphome: fail$/m);
    expect(readFileSync(join(fleet.configDir, 'secrets.yaml'), 'utf8')).toMatch(/^wifi_ssid: /m);
    expect(JSON.parse(readFileSync(join(root, DEMO_MARKER), 'utf8'))).toMatchObject({ version: DEMO_VERSION, complete: true });
    expect(messages()).toContain('demo fleet ready');
  });

  it('compiles most devices: StorageJSON with an absolute build_path and a build folder with build_info.json', () => {
    const storageDir = join(fleet.configDir, '.esphome', 'storage');
    const compiled = DEMO_DEVICES.filter((d) => d.compile);
    expect(compiled.length).toBeGreaterThanOrEqual(8);
    expect(readdirSync(storageDir).sort()).toEqual(compiled.map((d) => `${d.file}.json`).sort());
    for (const device of compiled) {
      const storage = JSON.parse(readFileSync(join(storageDir, `${device.file}.json`), 'utf8'));
      expect(storage.build_path).toBe(join(fleet.configDir, '.esphome', 'build', device.name));
      expect(storage.build_path.startsWith('/')).toBe(true);
      expect(existsSync(join(storage.build_path, 'build_info.json'))).toBe(true);
      expect(existsSync(storage.firmware_bin_path)).toBe(true);
    }
    const sizes = compiled.map((d) => readdirSync(join(fleet.configDir, '.esphome/build', d.name), { recursive: true }).length);
    expect(new Set(sizes).size).toBeGreaterThan(compiled.length / 2); // visibly different builds
  });

  it('leaves one orphaned build folder: build_info.json but no YAML or StorageJSON', () => {
    const dir = join(fleet.configDir, '.esphome', 'build', DEMO_ORPHAN);
    const info = JSON.parse(readFileSync(join(dir, 'build_info.json'), 'utf8'));
    expect(info.build_time).toBeLessThan(Date.now() / 1000 - 30 * 86_400);
    expect(existsSync(join(dir, '.pioenvs'))).toBe(true);
    expect(existsSync(join(fleet.configDir, `${DEMO_ORPHAN}.yaml`))).toBe(false);
    expect(existsSync(join(fleet.configDir, '.esphome/storage', `${DEMO_ORPHAN}.yaml.json`))).toBe(false);
  });

  it('returns a working fake esphome: version, no-op recompile, failing device', async () => {
    const cmd = fleet.esphomeCommand;
    expect(cmd).toEqual([join(root, 'bin', 'esphome')]);
    expect(statSync(cmd[0] as string).mode & 0o111).toBe(0o111);
    const version = await run(cmd, ['version']);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^Version: /);

    // The size knobs live in the YAML, so a dashboard recompile rebuilds nothing.
    const build = join(fleet.configDir, '.esphome/build/porch-motion');
    const before = snapshot(build);
    const recompile = await run(cmd, ['--dashboard', 'compile', join(fleet.configDir, 'porch-motion.yaml')]);
    expect(recompile.code).toBe(0);
    expect(recompile.stdout).toContain('No changes; firmware is up to date');
    expect(snapshot(build)).toEqual(before);

    const broken = await run(cmd, ['--dashboard', 'compile', join(fleet.configDir, 'broken-sensor.yaml')]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain('ERROR Error while compiling');
  });

  it("keeps jobs inside the demo even when the user's env points elsewhere", async () => {
    const elsewhere = join(tmp, 'elsewhere');
    const r = await run(fleet.esphomeCommand, ['compile', join(fleet.configDir, 'aquarium-heater.yaml')], {
      ESPHOME_DATA_DIR: elsewhere,
      ESPHOME_BUILD_PATH: 'other',
    });
    expect(r.code).toBe(0);
    expect(existsSync(elsewhere)).toBe(false);
    expect(existsSync(join(fleet.configDir, '.esphome/build/aquarium-heater/build_info.json'))).toBe(true);
  });

  it('reuses a complete demo without recompiling', async () => {
    const buildDir = join(fleet.configDir, '.esphome/build/kitchen-lights');
    const dirMtime = statSync(buildDir).mtimeMs;
    const infoMtime = statSync(join(buildDir, 'build_info.json')).mtimeMs;
    const log = captureLog('info');
    const started = performance.now();
    const again = await prepareDemoFleet(log.logger, { root, scale: SCALE });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(again).toEqual(fleet);
    expect(log.messages()).toEqual(['reusing the demo fleet']);
    expect(statSync(buildDir).mtimeMs).toBe(dirMtime);
    expect(statSync(join(buildDir, 'build_info.json')).mtimeMs).toBe(infoMtime);
    expect((await run(again.esphomeCommand, ['version'])).code).toBe(0);
  });
});

describe('prepareDemoFleet safety', () => {
  it('refuses a non-empty folder it did not create, and leaves it untouched', async () => {
    const root = join(tmp, 'users-folder');
    mkdirSync(join(root, 'photos'), { recursive: true });
    writeFileSync(join(root, 'notes.txt'), 'precious');
    writeFileSync(join(root, 'photos', 'cat.jpg'), 'meow');
    const before = snapshot(root);
    await expect(prepareDemoFleet(captureLog('info').logger, { root, devices: 2, scale: SCALE })).rejects.toThrow(/refusing.*not empty/);
    expect(snapshot(root)).toEqual(before);
  });

  it('uses an empty folder, and rebuilds an incomplete or outdated demo', async () => {
    const root = join(tmp, 'empty');
    mkdirSync(root);
    const fleet = await prepareDemoFleet(captureLog('info').logger, { root, devices: 2, scale: SCALE });
    expect(
      readdirSync(fleet.configDir)
        .filter((f) => f.endsWith('.yaml'))
        .sort(),
    ).toEqual([...DEMO_DEVICES.slice(0, 2).map((d) => d.file), 'secrets.yaml'].sort());

    // An interrupted creation (marker still incomplete) is ours: wiped and redone.
    writeFileSync(join(root, DEMO_MARKER), JSON.stringify({ version: DEMO_VERSION, complete: false }));
    writeFileSync(join(root, 'half-written.tmp'), 'x');
    const log = captureLog('info');
    await prepareDemoFleet(log.logger, { root, devices: 2, scale: SCALE });
    expect(log.messages()[0]).toMatch(/rebuilding/);
    expect(existsSync(join(root, 'half-written.tmp'))).toBe(false);
    expect(JSON.parse(readFileSync(join(root, DEMO_MARKER), 'utf8')).complete).toBe(true);

    // A demo from an older layout version is rebuilt too.
    writeFileSync(join(root, DEMO_MARKER), JSON.stringify({ version: DEMO_VERSION - 1, complete: true }));
    const log2 = captureLog('info');
    await prepareDemoFleet(log2.logger, { root, devices: 2, scale: SCALE });
    expect(log2.messages()[0]).toMatch(/rebuilding/);
    expect(JSON.parse(readFileSync(join(root, DEMO_MARKER), 'utf8')).version).toBe(DEMO_VERSION);
  });

  it('refuses a root that is a file', async () => {
    const file = join(tmp, 'a-file');
    writeFileSync(file, 'x');
    await expect(prepareDemoFleet(captureLog('info').logger, { root: file })).rejects.toThrow(/not a directory/);
    expect(readFileSync(file, 'utf8')).toBe('x');
  });
});

describe('demo fleet files', () => {
  it('are real YAML files: one per device, plus the secrets and the shared package, copied as they are', () => {
    const files = readdirSync(DEMO_FLEET_DIR, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name).slice(DEMO_FLEET_DIR.length + 1))
      .sort();
    expect(files).toEqual([...DEMO_DEVICES.map((d) => d.file), 'common/base.yaml', 'secrets.yaml'].sort());
    for (const device of DEMO_DEVICES) {
      expect(device.body).toBe(readFileSync(join(DEMO_FLEET_DIR, device.file), 'utf8'));
      expect(parseDeviceYaml(device.body).device.name, device.file).toBe(device.name);
    }
  });
});

describe('demo location and entry', () => {
  it('resolves the root from the option, then $DEVICE_BUILDER_DEMO_DIR, then the temp dir', () => {
    expect(demoRoot({ root: '/a/b' }, { DEVICE_BUILDER_DEMO_DIR: '/c' })).toBe('/a/b');
    expect(demoRoot({}, { DEVICE_BUILDER_DEMO_DIR: '/c' })).toBe('/c');
    expect(demoRoot({}, {})).toBe(join(tmpdir(), 'device-builder-ts-demo'));
  });

  it('runs the compiled entry from dist, and the .ts source through tsx from source', () => {
    const dist = fakeEsphomeEntry('file:///pkg/dist/src/demo/demo-fleet.js');
    expect(dist).toEqual({ entry: '/pkg/dist/src/fake-esphome/fake-esphome.js', nodeArgs: [] });
    const src = fakeEsphomeEntry();
    expect(src.entry.endsWith('/src/fake-esphome/fake-esphome.ts')).toBe(true);
    expect(existsSync(src.entry)).toBe(true);
    expect(src.nodeArgs[0]).toBe('--import');
    expect(existsSync(new URL(src.nodeArgs[1] as string))).toBe(true);
  });
});
