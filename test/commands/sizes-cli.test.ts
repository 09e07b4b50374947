/** `device-builder sizes`, run as a real process against real config dirs. */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { INSTANCE_STORE_FILE, OWN_STATE_FILE } from '../../src/metadata/device-metadata.js';
import { addDevice, cleanupTempDirs, fixtureBytes, makeTempDir, setMtime, silentLogger, writeFile } from '../helpers/fs-fixtures.js';
import { REPO_ROOT, runCli } from '../helpers/run-cli.js';
import { renderSizesTable, runSizesPass, sizesReportJson } from '../../src/commands/sizes.js';
import { RECLAIM_STATE_FILE } from '../../src/reclaim/reclaim-store.js';
import { formatBytes } from '../../src/shared/format.js';

afterEach(cleanupTempDirs);

interface SizesJson {
  config_dir: string;
  total_bytes: number;
  walked: number;
  devices: {
    configuration: string;
    name: string;
    friendly_name: string;
    build_path: string | null;
    build_size_bytes: number;
    build_disk_bytes: number;
    walked: boolean;
  }[];
  orphans: { build_path: string; build_size_bytes: number }[];
  orphan_bytes: number;
  platformio: { path: string; bytes: number; parts: Record<string, number> };
  disk: { path: string; free_bytes: number; total_bytes: number } | null;
}

function fleet(): string {
  const dir = makeTempDir();
  addDevice(dir, 'small', { files: 2, fileBytes: 1000 });
  addDevice(dir, 'large', { files: 5, fileBytes: 300_000 });
  addDevice(dir, 'fresh', { compiled: false });
  writeFile(path.join(dir, 'secrets.yaml'), 'wifi_password: hunter2\n');
  writeFile(path.join(dir, 'broken.yaml'), 'esphome: [\n');
  return dir;
}

describe('sizes --json', () => {
  it('prints one JSON object, largest first, and walks only on the first run', async () => {
    const dir = fleet();
    const first = await runCli(['sizes', dir, '--json']);
    expect(first.code, first.stderr).toBe(0);
    const report = JSON.parse(first.stdout) as SizesJson;
    expect(report.config_dir).toBe(dir);
    expect(report.devices.map((d) => d.configuration)).toEqual(['large.yaml', 'small.yaml', 'broken.yaml', 'fresh.yaml']);
    expect(report.devices[0]).toEqual({
      configuration: 'large.yaml',
      name: 'large',
      friendly_name: 'large device',
      build_path: path.join(dir, '.esphome', 'build', 'large'),
      build_size_bytes: fixtureBytes(5, 300_000),
      build_disk_bytes: expect.any(Number),
      walked: true,
    });
    // Allocated size: at least the apparent bytes rounded up to blocks.
    expect(report.devices[0]?.build_disk_bytes).toBeGreaterThanOrEqual(fixtureBytes(5, 300_000));
    expect(report.orphans).toEqual([]);
    expect(report.orphan_bytes).toBe(0);
    expect(report.platformio).toEqual({ path: '/nonexistent/platformio', bytes: 0, parts: { packages: 0, platforms: 0, '.cache': 0 } });
    // The data dir's file system, from statfs (the free-space guard).
    expect(Object.keys(report).at(-1)).toBe('disk');
    expect(report.disk).toEqual({ path: path.join(dir, '.esphome'), free_bytes: expect.any(Number), total_bytes: expect.any(Number) });
    expect(report.disk?.total_bytes).toBeGreaterThan(report.disk?.free_bytes ?? Infinity);
    expect(report.walked).toBe(2);
    expect(report.total_bytes).toBe(fixtureBytes(5, 300_000) + fixtureBytes(2, 1000));
    expect(report.devices.find((d) => d.configuration === 'fresh.yaml')).toMatchObject({ build_path: null, build_size_bytes: 0, walked: false });
    expect(first.stderr).toContain('broken.yaml');

    const second = JSON.parse((await runCli(['sizes', dir, '--json'])).stdout) as SizesJson;
    expect(second.walked).toBe(0);
    expect(second.devices.every((d) => !d.walked)).toBe(true);
    expect(second.total_bytes).toBe(report.total_bytes);
  });

  it('walks exactly the device that was recompiled since the last run', async () => {
    const dir = fleet();
    await runCli(['sizes', dir, '--json']);
    const buildDir = path.join(dir, '.esphome', 'build', 'small');
    writeFile(path.join(buildDir, 'build_info.json'), '{"config_hash": 2, "more": true}');
    setMtime(path.join(buildDir, 'build_info.json'), 2_000_000_000);
    const report = JSON.parse((await runCli(['sizes', dir, '--json'])).stdout) as SizesJson;
    expect(report.walked).toBe(1);
    expect(report.devices.filter((d) => d.walked).map((d) => d.configuration)).toEqual(['small.yaml']);
  });

  it('reads the config dir from $ESPHOME_CONFIG_DIR, else ./config', async () => {
    const dir = fleet();
    const viaEnv = JSON.parse((await runCli(['sizes', '--json'], { env: { ESPHOME_CONFIG_DIR: dir } })).stdout) as SizesJson;
    expect(viaEnv.config_dir).toBe(dir);
    const parent = makeTempDir();
    fs.renameSync(dir, path.join(parent, 'config'));
    // StorageJSON still points at the old location: every cached folder vanished,
    // so this run walks each once (from a foreign cwd) and clears its size.
    const run = await runCli(['sizes', '--json'], { cwd: parent, env: { ESPHOME_CONFIG_DIR: '' } });
    expect(run.stderr).not.toMatch(/failed/);
    const viaCwd = JSON.parse(run.stdout) as SizesJson;
    expect(viaCwd.config_dir).toBe(path.join(parent, 'config'));
    expect(viaCwd.walked).toBe(2);
    expect(viaCwd.total_bytes).toBe(0);
  });
});

describe('sizes table', () => {
  it('shows name, config file, base-1024 size, state and a total line', async () => {
    const dir = fleet();
    const run = await runCli(['sizes', dir]);
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+CONFIG\s+BUILD SIZE\s+STATE$/);
    expect(lines[1]).toMatch(/^large\s+large\.yaml\s+1\.4 MB\s+walked$/);
    expect(lines[2]).toMatch(/^small\s+small\.yaml\s+2\.0 KB\s+walked$/);
    expect(lines.find((l) => l.startsWith('fresh'))).toMatch(/—\s+not compiled$/);
    expect(lines).toContain('Total: 1.4 MB in 2 of 4 devices (2 walked, 2 from cache)');
    expect(lines).toContain('PlatformIO cache /nonexistent/platformio: empty or not found');
    expect(lines.at(-1)).toMatch(new RegExp(`^Disk: \\d+\\.\\d (KB|MB|GB|TB) free of \\d+\\.\\d (KB|MB|GB|TB) \\(data dir ${path.join(dir, '.esphome')}\\)$`));
    const again = await runCli(['sizes', dir]);
    expect(again.stdout).toMatch(/^large\s+large\.yaml\s+1\.4 MB\s+cached$/m);
    // No progress line when stderr is not a terminal.
    expect(again.stderr).not.toMatch(/Measuring/);
  });
});

describe('version', () => {
  it('--version prints the version package.json names (the one place it is written)', async () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const run = await runCli(['--version']);
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe(manifest.version);
  });
});

describe('bad input', () => {
  it('fails with one line and exit code 2 for a missing config dir, writing nothing', async () => {
    const parent = makeTempDir();
    const missing = path.join(parent, 'nope');
    const run = await runCli(['sizes', missing]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/cannot read config dir .*nope: no such folder/);
    expect(fs.readdirSync(parent)).toEqual([]);
  });

  it('fails with exit code 2 when the config dir is a file', async () => {
    const parent = makeTempDir();
    writeFile(path.join(parent, 'file'), 'x');
    const run = await runCli(['sizes', path.join(parent, 'file')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/not a folder/);
  });

  it('rejects unknown options with exit code 2', async () => {
    const run = await runCli(['sizes', '--bogus']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/unknown option '--bogus'/);
  });

  it('refuses a bad DEVICE_BUILDER_WALKER with one line and exit code 2, writing nothing', async () => {
    const dir = fleet();
    const before = fs.readdirSync(dir).sort();
    const run = await runCli(['sizes', dir, '--json'], { env: { DEVICE_BUILDER_WALKER: 'turbo' } });
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.trim().split('\n')).toEqual(['device-builder: DEVICE_BUILDER_WALKER must be auto, native or js (got "turbo")']);
    expect(fs.readdirSync(dir).sort()).toEqual(before);
  });

  it('gives the same sizes with the JS walker as with the default one', async () => {
    const dir = fleet();
    const js = JSON.parse((await runCli(['sizes', dir, '--json'], { env: { DEVICE_BUILDER_WALKER: 'js' } })).stdout) as SizesJson;
    // Forget every cached figure (the per-instance store and our own file) so the default walker walks again.
    fs.rmSync(path.join(dir, '.esphome', INSTANCE_STORE_FILE));
    fs.rmSync(path.join(dir, '.esphome', OWN_STATE_FILE));
    const auto = JSON.parse((await runCli(['sizes', dir, '--json'])).stdout) as SizesJson;
    expect(js.walked).toBe(2);
    expect(auto.walked).toBe(2);
    expect(auto.devices).toEqual(js.devices);
  });

  it('leaves a corrupt sidecar byte for byte and saves the sizes in the per-instance store', async () => {
    const dir = fleet();
    writeFile(path.join(dir, '.device-builder.json'), '{"small.yaml": {"friendly_name": "Sm');
    const run = await runCli(['sizes', dir, '--json']);
    expect(run.code).toBe(0);
    // Nothing of the shared sidecar needed changing, so it was not replaced (and needed no .corrupt- copy).
    expect(fs.readFileSync(path.join(dir, '.device-builder.json'), 'utf8')).toBe('{"small.yaml": {"friendly_name": "Sm');
    expect(fs.readdirSync(dir).filter((name) => name.startsWith('.device-builder.json.corrupt-'))).toEqual([]);
    const store = JSON.parse(fs.readFileSync(path.join(dir, '.esphome', INSTANCE_STORE_FILE), 'utf8')) as Record<string, Record<string, number>>;
    expect(store['small.yaml']?.['build_size_bytes']).toBe(fixtureBytes(2, 1000));
  });
});

describe('what a person sees on stderr', () => {
  it('says which walker measured: short lines when asked for pretty, JSON lines by default off a terminal', async () => {
    const dir = fleet();
    const pretty = await runCli(['sizes', dir, '--json'], { env: { DEVICE_BUILDER_LOG_LEVEL: 'info', DEVICE_BUILDER_LOG_FORMAT: 'pretty' } });
    expect(pretty.code).toBe(0);
    const walkerLine = pretty.stderr.split('\n').find((line) => line.includes('walker: '));
    expect(walkerLine).toMatch(/INFO.*walker: native \(the built addon\)|WARN.*walker: js, the native addon is not built/);
    expect(pretty.stderr).not.toMatch(/^\{"level"/m);
    // stdout stays the one JSON object.
    expect(() => JSON.parse(pretty.stdout) as unknown).not.toThrow();

    const json = await runCli(['sizes', dir, '--json'], { env: { DEVICE_BUILDER_LOG_LEVEL: 'info', DEVICE_BUILDER_WALKER: 'js' } });
    const lines = json.stderr
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { msg: string; walker?: string });
    expect(lines.find((line) => line.walker)).toMatchObject({ walker: 'js', msg: 'walker: js (DEVICE_BUILDER_WALKER=js)' });
  });

  it('refuses an unknown DEVICE_BUILDER_LOG_FORMAT as bad input (exit 2), naming it', async () => {
    const run = await runCli(['sizes', fleet()], { env: { DEVICE_BUILDER_LOG_FORMAT: 'xml' } });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/DEVICE_BUILDER_LOG_FORMAT must be auto, json or pretty/);
  });
});

describe('the free-space guard in sizes', () => {
  const reader = (free: number, total: number) => async (dataDir: string) => ({ path: dataDir, free_bytes: free, total_bytes: total });

  it('warns when free space is below twice the largest build folder, and not above it', async () => {
    const dir = fleet();
    const largest = fixtureBytes(5, 300_000);
    const tight = await runSizesPass(dir, { logger: silentLogger, diskSpace: reader(2 * largest - 1, 32e9) });
    expect(tight.disk).toEqual({ path: path.join(dir, '.esphome'), free_bytes: 2 * largest - 1, total_bytes: 32e9 });
    expect(tight.diskWarning).toEqual({ kind: 'next_compile_may_not_fit', free_bytes: 2 * largest - 1, largest_build_bytes: largest });
    const text = renderSizesTable(tight);
    expect(text).toContain(`Disk: ${formatBytes(2 * largest - 1)} free of 29.8 GB (data dir ${path.join(dir, '.esphome')})`);
    expect(text).toMatch(/the next compile may not fit/);
    expect(sizesReportJson(tight)).toMatchObject({ disk: { free_bytes: 2 * largest - 1, total_bytes: 32e9 } });

    const roomy = await runSizesPass(dir, { logger: silentLogger, diskSpace: reader(2 * largest, 32e9) });
    expect(roomy.diskWarning).toBeNull();
    expect(renderSizesTable(roomy)).not.toMatch(/Warning/);
  });

  it("warns below the saved reclaim policy's threshold, and prints null when statfs failed", async () => {
    const dir = fleet();
    writeFile(
      path.join(dir, '.esphome', RECLAIM_STATE_FILE),
      JSON.stringify({
        _policy: {
          enabled: true,
          max_total_bytes: null,
          older_than_seconds: null,
          unused_older_than_seconds: null,
          min_free: { percent: 10 },
          schedule_hours: null,
        },
      }),
    );
    const low = await runSizesPass(dir, { logger: silentLogger, diskSpace: reader(2e9, 32e9) });
    expect(low.diskWarning).toEqual({ kind: 'below_policy', free_bytes: 2e9, threshold_bytes: 3.2e9 });
    expect(renderSizesTable(low)).toMatch(/below the reclaim policy's 3\.0 GB/);

    const unknown = await runSizesPass(dir, { logger: silentLogger, diskSpace: async () => null });
    expect(sizesReportJson(unknown)).toMatchObject({ disk: null });
    expect(renderSizesTable(unknown)).toContain('Disk: free space unknown');
  });
});
