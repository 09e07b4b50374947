/**
 * Sharing a config folder with today's Python Device Builder, against real
 * Python processes (test/fixtures/python/device_builder_metadata.py does
 * what the Python tool does with its files), in the three layouts a user
 * can have: legacy (no per-instance store yet), migrated, and the Home
 * Assistant add-on (data dir `/data`, here moved by DEVICE_BUILDER_ADDON_DATA_DIR).
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runSizesPass } from '../../src/commands/sizes.js';
import { DeviceFiles } from '../../src/devices/device-files.js';
import { DeviceMetadata, INSTANCE_STORE_FILE, OWN_STATE_FILE } from '../../src/metadata/device-metadata.js';
import { SIDECAR_FILE } from '../../src/sidecar/sidecar-store.js';
import { resolveDataDir } from '../../src/storage/data-dir.js';
import { addDevice, cleanupTempDirs, makeTempDir, readJson, silentLogger, writeFile, type FixtureDevice } from '../helpers/fs-fixtures.js';
import { REPO_ROOT, runCli } from '../helpers/run-cli.js';
import { startServer, stopServers } from '../helpers/server-fixture.js';

const PY = path.join(REPO_ROOT, 'test', 'fixtures', 'python', 'device_builder_metadata.py');
const PY_LOCK = path.join(REPO_ROOT, 'test', 'fixtures', 'python', 'sidecar_lock.py');

afterEach(async () => {
  await stopServers();
  cleanupTempDirs();
});

function python(...args: string[]): Record<string, unknown> {
  const run = spawnSync('python3', [PY, ...args], { encoding: 'utf8', timeout: 20_000 });
  if (run.status !== 0) throw new Error(`python ${args[0]} failed: ${run.stderr}`);
  return JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
}

/** A folder as a user of the Python tool has it: two compiled devices, one measured by Python, identity in the sidecar. */
function pythonFleet(options: { dataDir?: string } = {}): { config: string; data: string; kitchen: FixtureDevice; porch: FixtureDevice } {
  const config = makeTempDir('dbts-interop-');
  const data = options.dataDir ?? path.join(config, '.esphome');
  const kitchen = addDevice(config, 'kitchen', { files: 4, fileBytes: 1000, dataDir: data });
  const porch = addDevice(config, 'porch', { files: 2, fileBytes: 500, dataDir: data });
  python('set-identity', config, 'kitchen.yaml', 'comment', 'over the sink');
  python('set-identity', config, 'porch.yaml', 'mac_address', '94:C9:60:1F:8C:F1');
  return { config, data, kitchen, porch };
}

/** The legacy layout: the triple in the shared sidecar, as PR #343's tool left it. */
function writeLegacyTriple(config: string, data: string, configuration: string): Record<string, unknown> {
  // Measure with Python's own walk and whole seconds, into a scratch store, then move the triple.
  const scratch = makeTempDir('dbts-scratch-');
  fs.mkdirSync(path.join(scratch, 'storage'), { recursive: true });
  fs.copyFileSync(path.join(data, 'storage', `${configuration}.json`), path.join(scratch, 'storage', `${configuration}.json`));
  const triple = python('measure', config, scratch, configuration);
  const sidecar = path.join(config, SIDECAR_FILE);
  const shared = readJson(sidecar) as Record<string, Record<string, unknown>>;
  shared[configuration] = { ...shared[configuration], ...triple };
  fs.writeFileSync(sidecar, JSON.stringify(shared, null, 2));
  return triple;
}

const bytesOf = (file: string): Buffer | null => (fs.existsSync(file) ? fs.readFileSync(file) : null);

describe('legacy layout (no per-instance store yet)', { timeout: 60_000 }, () => {
  it('reads the sizes the Python tool cached in the shared sidecar, walks nothing and writes nothing', async () => {
    const { config, data } = pythonFleet();
    const kitchen = writeLegacyTriple(config, data, 'kitchen.yaml');
    const porch = writeLegacyTriple(config, data, 'porch.yaml');
    const before = bytesOf(path.join(config, SIDECAR_FILE));

    const report = await runSizesPass(config, { logger: silentLogger });

    expect(report.walked).toBe(0);
    const sizes = Object.fromEntries(report.devices.map((d) => [d.device.configuration, d.sizeBytes]));
    expect(sizes).toEqual({ 'kitchen.yaml': kitchen['build_size_bytes'], 'porch.yaml': porch['build_size_bytes'] });
    expect(bytesOf(path.join(config, SIDECAR_FILE))).toEqual(before);
    expect(fs.existsSync(path.join(data, INSTANCE_STORE_FILE))).toBe(false);
    // The Python tool's lock file stays exactly where it was.
    expect(fs.statSync(path.join(config, `${SIDECAR_FILE}.lock`)).isFile()).toBe(true);
  });

  it('migrates as the Python tool does when it first writes a size, and the Python tool then reads ours', async () => {
    const { config, data, kitchen } = pythonFleet();
    writeLegacyTriple(config, data, 'kitchen.yaml');
    writeLegacyTriple(config, data, 'porch.yaml');
    const porchTriple = (readJson(path.join(config, SIDECAR_FILE)) as Record<string, Record<string, unknown>>)['porch.yaml'];
    // A recompile of kitchen: a new file and a rewritten build_info.json.
    writeFile(path.join(kitchen.buildDir, 'src', 'main.cpp'), 2500);
    fs.utimesSync(path.join(kitchen.buildDir, 'build_info.json'), 2_000_000_000, 2_000_000_000);

    const report = await runSizesPass(config, { logger: silentLogger });
    expect(report.walked).toBe(1);

    const store = readJson(path.join(data, INSTANCE_STORE_FILE)) as Record<string, Record<string, unknown>>;
    const shared = readJson(path.join(config, SIDECAR_FILE)) as Record<string, Record<string, unknown>>;
    // Identity stays in the shared sidecar; every live field moved out of it.
    expect(shared).toEqual({ 'kitchen.yaml': { comment: 'over the sink' }, 'porch.yaml': { mac_address: '94:C9:60:1F:8C:F1' } });
    // porch's triple was copied as it was; kitchen's is our fresh measurement, in Python's whole seconds.
    expect(store['porch.yaml']).toEqual({
      build_size_bytes: porchTriple?.['build_size_bytes'],
      build_size_dir_mtime: porchTriple?.['build_size_dir_mtime'],
      build_size_info_mtime: porchTriple?.['build_size_info_mtime'],
    });
    const pythonView = python('measure', config, makeScratchData(data, 'kitchen.yaml'), 'kitchen.yaml');
    expect(store['kitchen.yaml']).toEqual(pythonView);
    // Our extras live in our own file, never in either of the Python tool's.
    const own = readJson(path.join(data, OWN_STATE_FILE)) as Record<string, Record<string, unknown>>;
    expect(own['kitchen.yaml']?.['build_disk_bytes']).toBeGreaterThan(0);
    expect(JSON.stringify(shared)).not.toContain('build_disk_bytes');
    expect(JSON.stringify(store)).not.toContain('build_disk_bytes');
    // The Python tool's next start sees the store and leaves everything alone.
    expect(python('migrate', config, data)).toEqual({ migrated: false });
    // Files we create get the Python tool's 0600.
    expect(fs.statSync(path.join(data, INSTANCE_STORE_FILE)).mode & 0o777).toBe(0o600);
  });
});

/** A copy of one device's StorageJSON in a scratch data dir, for a Python walk that writes nowhere we look. */
function makeScratchData(data: string, configuration: string): string {
  const scratch = makeTempDir('dbts-scratch-');
  fs.mkdirSync(path.join(scratch, 'storage'), { recursive: true });
  fs.copyFileSync(path.join(data, 'storage', `${configuration}.json`), path.join(scratch, 'storage', `${configuration}.json`));
  return scratch;
}

describe('migrated layout (the Python tool ran its migration)', { timeout: 60_000 }, () => {
  it('shares measurements both ways through the per-instance store', async () => {
    const { config, data } = pythonFleet();
    expect(python('migrate', config, data)).toEqual({ migrated: true, devices: 0 });
    const kitchen = python('measure', config, data, 'kitchen.yaml');
    const porch = python('measure', config, data, 'porch.yaml');
    const sharedBefore = bytesOf(path.join(config, SIDECAR_FILE));
    const storeBefore = bytesOf(path.join(data, INSTANCE_STORE_FILE));

    const report = await runSizesPass(config, { logger: silentLogger });

    // What Python measured is used as it is: no walk, no write to either of its files.
    expect(report.walked).toBe(0);
    const sizes = Object.fromEntries(report.devices.map((d) => [d.device.configuration, d.sizeBytes]));
    expect(sizes).toEqual({ 'kitchen.yaml': kitchen['build_size_bytes'], 'porch.yaml': porch['build_size_bytes'] });
    expect(bytesOf(path.join(config, SIDECAR_FILE))).toEqual(sharedBefore);
    expect(bytesOf(path.join(data, INSTANCE_STORE_FILE))).toEqual(storeBefore);
  });

  it('a symlink inside a build folder makes the two figures differ, never a re-walk', async () => {
    const { config, data, kitchen } = pythonFleet();
    python('migrate', config, data);
    // A link to a 9,000-byte file outside the build: Python's getsize counts the target, we count the link.
    const target = path.join(makeTempDir('dbts-link-'), 'big.bin');
    writeFile(target, 9000);
    fs.symlinkSync(target, path.join(kitchen.buildDir, 'linked.bin'));
    fs.utimesSync(kitchen.buildDir, 2_000_000_300, 2_000_000_300);
    const measured = python('measure', config, data, 'kitchen.yaml');

    const first = await runSizesPass(config, { logger: silentLogger });
    const shown = first.devices.find((d) => d.device.configuration === 'kitchen.yaml');
    expect(shown?.walked).toBe(false);
    expect(shown?.sizeBytes).toBe(measured['build_size_bytes']);

    // Our own measurement (after a change) counts the link's few bytes, not the target's 9,000, and stays settled.
    fs.utimesSync(kitchen.buildDir, 2_000_000_400, 2_000_000_400);
    const ours = (await runSizesPass(config, { logger: silentLogger })).devices.find((d) => d.device.configuration === 'kitchen.yaml');
    expect(ours?.walked).toBe(true);
    expect(ours?.sizeBytes).toBeLessThan((measured['build_size_bytes'] as number) - 8000);
    expect((await runSizesPass(config, { logger: silentLogger })).walked).toBe(0);
  });

  it('re-walks, never shows a wrong size, when the Python tool rewrites the store from an older memory', async () => {
    const { config, data, kitchen } = pythonFleet();
    python('migrate', config, data);
    const old = python('measure', config, data, 'kitchen.yaml');
    const oldStore = fs.readFileSync(path.join(data, INSTANCE_STORE_FILE), 'utf8');
    writeFile(path.join(kitchen.buildDir, '.pioenvs', 'kitchen', 'firmware.bin'), 7000);
    fs.utimesSync(kitchen.buildDir, 2_000_000_100, 2_000_000_100);
    const first = await runSizesPass(config, { logger: silentLogger });
    const fresh = first.devices.find((d) => d.device.configuration === 'kitchen.yaml');
    expect(fresh?.walked).toBe(true);
    expect(fresh?.sizeBytes).toBe((old['build_size_bytes'] as number) + 7000);

    // The Python tool, holding the old triple in memory, rewrites its store whole.
    python('rewrite-store', data, oldStore);
    const second = await runSizesPass(config, { logger: silentLogger });
    const after = second.devices.find((d) => d.device.configuration === 'kitchen.yaml');
    expect(after?.walked).toBe(true);
    expect(after?.sizeBytes).toBe(fresh?.sizeBytes);
    // Settled: the next run walks nothing.
    expect((await runSizesPass(config, { logger: silentLogger })).walked).toBe(0);
  });

  it('a serve start and stop leaves the shared sidecar byte-identical', async () => {
    const { config, data } = pythonFleet();
    python('migrate', config, data);
    const before = bytesOf(path.join(config, SIDECAR_FILE));
    const running = await startServer(config);
    await running.server.refresher.whenIdle();
    await running.server.close();
    expect(bytesOf(path.join(config, SIDECAR_FILE))).toEqual(before);
    // The server measured both devices, into the store and our own file.
    const store = readJson(path.join(data, INSTANCE_STORE_FILE)) as Record<string, Record<string, unknown>>;
    expect(Object.keys(store).sort()).toEqual(['kitchen.yaml', 'porch.yaml']);
  });

  it('archive and delete clear the device in both files and keep identity on archive', async () => {
    const { config, data } = pythonFleet();
    python('migrate', config, data);
    python('measure', config, data, 'kitchen.yaml');
    python('measure', config, data, 'porch.yaml');
    // kitchen changed since Python measured it: our pass walks it and keeps extras in our file.
    fs.utimesSync(path.join(config, '.esphome', 'build', 'kitchen'), 2_000_000_200, 2_000_000_200);
    expect((await runSizesPass(config, { logger: silentLogger })).walked).toBe(1);
    expect(Object.keys(readJson(path.join(data, OWN_STATE_FILE)) as object)).toContain('kitchen.yaml');
    const metadata = new DeviceMetadata(config, data, { logger: silentLogger });
    const files = new DeviceFiles({ configDir: config, dataDir: data, store: metadata, logger: silentLogger });

    await files.archive('kitchen.yaml');
    await files.delete('porch.yaml');

    const store = readJson(path.join(data, INSTANCE_STORE_FILE)) as Record<string, unknown>;
    const shared = readJson(path.join(config, SIDECAR_FILE)) as Record<string, unknown>;
    const own = (fs.existsSync(path.join(data, OWN_STATE_FILE)) ? readJson(path.join(data, OWN_STATE_FILE)) : {}) as Record<string, unknown>;
    expect(store).toEqual({});
    expect(own['kitchen.yaml']).toBeUndefined();
    expect(own['porch.yaml']).toBeUndefined();
    expect(shared).toEqual({ 'kitchen.yaml': { comment: 'over the sink' } });
  });
});

describe('Home Assistant add-on layout', { timeout: 60_000 }, () => {
  it('follows ESPHome: ESPHOME_IS_HA_ADDON wins over ESPHOME_DATA_DIR, any case of "true" or "1"', () => {
    const env = { ESPHOME_DATA_DIR: '/elsewhere' };
    expect(resolveDataDir('/config/esphome', { ...env, ESPHOME_IS_HA_ADDON: 'TRUE' })).toBe('/data');
    expect(resolveDataDir('/config/esphome', { ...env, ESPHOME_IS_HA_ADDON: '1' })).toBe('/data');
    expect(resolveDataDir('/config/esphome', { ...env, ESPHOME_IS_HA_ADDON: 'yes' })).toBe('/elsewhere');
    expect(resolveDataDir('/config/esphome', { ESPHOME_IS_HA_ADDON: 'false' })).toBe('/config/esphome/.esphome');
    expect(resolveDataDir('/config/esphome', {})).toBe('/config/esphome/.esphome');
  });

  it('sizes finds StorageJSON and builds in the add-on data dir and keeps its store there', async () => {
    const addonData = path.join(makeTempDir('dbts-addon-'), 'data');
    const { config } = pythonFleet({ dataDir: addonData });
    const env = { ESPHOME_IS_HA_ADDON: 'true', DEVICE_BUILDER_ADDON_DATA_DIR: addonData, ESPHOME_DATA_DIR: '/nonexistent' };

    const run = await runCli(['sizes', config, '--json'], { env });

    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as { data_dir: string; walked: number; devices: { configuration: string; build_size_bytes: number }[] };
    expect(report.data_dir).toBe(addonData);
    expect(report.walked).toBe(2);
    expect(report.devices.every((d) => d.build_size_bytes > 0)).toBe(true);
    expect(fs.existsSync(path.join(addonData, INSTANCE_STORE_FILE))).toBe(true);
    expect(fs.existsSync(path.join(config, '.esphome'))).toBe(false);
    // The Python tool on the same add-on reads what we measured.
    const store = readJson(path.join(addonData, INSTANCE_STORE_FILE)) as Record<string, Record<string, unknown>>;
    expect(store['kitchen.yaml']).toEqual(python('measure', config, makeScratchData(addonData, 'kitchen.yaml'), 'kitchen.yaml'));
  });
});

describe('the sidecar lock held by the Python tool', { timeout: 60_000 }, () => {
  it('sizes waits, then prints what it measured, exits 1 naming the lock file, and writes nothing', async () => {
    const { config, data } = pythonFleet();
    writeLegacyTriple(config, data, 'porch.yaml');
    const before = bytesOf(path.join(config, SIDECAR_FILE));
    const holder = spawn('python3', [PY_LOCK, 'hold', path.join(config, SIDECAR_FILE)], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout.once('data', () => resolve());
        holder.once('exit', (code) => reject(new Error(`holder exited ${code}`)));
      });
      // kitchen is stale (never measured): its triple must go to a new store, which means migrating under the lock.
      const run = await runCli(['sizes', config, '--json']);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`${SIDECAR_FILE}.lock`);
      const report = JSON.parse(run.stdout) as { devices: { configuration: string; build_size_bytes: number; walked: boolean }[] };
      const kitchen = report.devices.find((d) => d.configuration === 'kitchen.yaml');
      expect(kitchen?.walked).toBe(true);
      expect(kitchen?.build_size_bytes).toBeGreaterThan(0);
      expect(bytesOf(path.join(config, SIDECAR_FILE))).toEqual(before);
    } finally {
      holder.stdin.end();
      await new Promise((resolve) => holder.once('close', resolve));
    }
  });
});
