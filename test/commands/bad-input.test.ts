/**
 * Bad input from files (docs/RELIABILITY.md, "Bad input from files"):
 * hand-edited StorageJSON and sidecar values of every wrong type through the
 * real scanner, refresher and walk pool (`runSizesPass`), and YAML that is
 * huge, binary, empty, deeply nested or an alias bomb, with bounded time
 * and memory.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runSizesPass, type SizesReport } from '../../src/commands/sizes.js';
import { ConfigScanner } from '../../src/config/config-scanner.js';
import { EMPTY_DEVICE_YAML, MAX_YAML_BYTES, parseDeviceYaml } from '../../src/config/device-yaml.js';
import { DEMO_DEVICES, renderDemoYaml } from '../../src/demo/demo-devices.js';
import { INSTANCE_STORE_FILE, OWN_STATE_FILE } from '../../src/metadata/device-metadata.js';
import { SIDECAR_FILE, SidecarStore } from '../../src/sidecar/sidecar-store.js';
import { MAX_YAML_NESTING, yamlNestingExceeds } from '../../src/util/yaml-depth.js';
import { addDevice, cleanupTempDirs, fixtureBytes, makeTempDir, readJson, writeFile } from '../helpers/fs-fixtures.js';
import { capturingLogger } from '../helpers/hostile-fs.js';
import { REPO_ROOT, TSX_LOADER } from '../helpers/run-cli.js';

afterEach(cleanupTempDirs);

const MB = 1024 * 1024;

/** Time and heap growth of `run`. */
function measure<T>(run: () => T): { value: T; ms: number; heapMB: number } {
  const heap = process.memoryUsage().heapUsed;
  const started = performance.now();
  const value = run();
  return { value, ms: performance.now() - started, heapMB: (process.memoryUsage().heapUsed - heap) / MB };
}

async function measureAsync<T>(run: () => Promise<T>): Promise<{ value: T; ms: number; heapMB: number }> {
  const heap = process.memoryUsage().heapUsed;
  const started = performance.now();
  const value = await run();
  return { value, ms: performance.now() - started, heapMB: (process.memoryUsage().heapUsed - heap) / MB };
}

// ---------------------------------------------------------------------------
// StorageJSON and sidecar

/** A device whose YAML names it and whose default build folder holds 3 x 100 bytes. */
function deviceWithStorage(configDir: string, name: string, storage: string | Buffer): string {
  const fixture = addDevice(configDir, name, { files: 3, fileBytes: 100 });
  fs.writeFileSync(path.join(configDir, '.esphome', 'storage', `${fixture.configuration}.json`), storage);
  return fixture.configuration;
}

function storageWithBuildPath(buildPath: unknown): string {
  return JSON.stringify({ storage_version: 1, name: 'x', build_path: buildPath });
}

function sizesOf(report: SizesReport): Record<string, { bytes: number; state: string; buildPath: string | null }> {
  return Object.fromEntries(
    report.devices.map((entry) => [entry.device.configuration, { bytes: entry.sizeBytes, state: entry.state, buildPath: entry.device.build_path }]),
  );
}

describe('hand-edited StorageJSON, through the real sizes pass', () => {
  it('a whole file of the wrong kind reads as "never compiled"; nothing throws', async () => {
    const dir = makeTempDir('bad-storage-');
    const good = addDevice(dir, 'good').configuration;
    const variants: Record<string, string | Buffer> = {
      array: '[]',
      string: '"build_path"',
      number: '42',
      null: 'null',
      boolean: 'true',
      truncated: '{"build_path": "/x',
      empty: '',
      binary: randomBytes(4096),
      deep: `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
      bom: `\uFEFF${storageWithBuildPath('/tmp')}`,
    };
    for (const [key, content] of Object.entries(variants)) deviceWithStorage(dir, `sj-${key}`, content);
    const { logger } = capturingLogger();
    const { value: report, ms } = await measureAsync(() => runSizesPass(dir, { logger, env: { PLATFORMIO_CORE_DIR: '/nonexistent/platformio' }, poolSize: 2 }));
    const sizes = sizesOf(report);
    expect(sizes[good]).toMatchObject({ bytes: fixtureBytes(3), state: 'walked' });
    for (const key of Object.keys(variants)) {
      expect(sizes[`sj-${key}.yaml`], key).toEqual({ bytes: 0, state: 'not compiled', buildPath: null });
    }
    expect(ms).toBeLessThan(10_000);
  });

  it('build_path of every wrong type or shape: no crash, no walk outside, 0 where nothing is there', async () => {
    const dir = makeTempDir('bad-storage-');
    fs.mkdirSync(path.join(dir, 'fifo-parent'));
    const fifo = path.join(dir, 'fifo-parent', 'pipe');
    spawnSync('mkfifo', [fifo]);
    writeFile(path.join(dir, 'a-file'), 'x'.repeat(50));
    writeFile(path.join(dir, 'relative', 'build', 'f'), 'x'.repeat(70));
    const variants: Record<string, unknown> = {
      number: 42,
      true: true,
      array: ['/tmp'],
      object: { path: '/tmp' },
      null: null,
      None: 'None',
      empty: '',
      spaces: '   ',
      nul: `${dir}/a\u0000b`,
      long: `/${'x'.repeat(5000)}`,
      fifo,
      devnull: '/dev/null',
      file: path.join(dir, 'a-file'),
      missing: path.join(dir, 'nowhere'),
      relative: 'relative/build',
    };
    for (const [key, buildPath] of Object.entries(variants)) deviceWithStorage(dir, `bp-${key}`, storageWithBuildPath(buildPath));
    const report = await runSizesPass(dir, { logger: capturingLogger().logger, env: { PLATFORMIO_CORE_DIR: '/nonexistent/platformio' } });
    const sizes = sizesOf(report);
    for (const key of ['number', 'true', 'array', 'object', 'null', 'None', 'empty']) {
      expect(sizes[`bp-${key}.yaml`], key).toMatchObject({ bytes: 0, buildPath: null });
    }
    for (const key of ['spaces', 'nul', 'long', 'fifo', 'devnull', 'file', 'missing']) {
      expect(sizes[`bp-${key}.yaml`], key).toMatchObject({ bytes: 0 });
    }
    // A relative build_path resolves against the config dir, as ESPHome's would.
    expect(sizes['bp-relative.yaml']).toMatchObject({ bytes: 70, buildPath: path.join(dir, 'relative', 'build') });
    // No size is cached for what sizes 0 (a path to a file or FIFO keeps its pair so it is not re-walked).
    const store = readJson(path.join(dir, '.esphome', INSTANCE_STORE_FILE)) as Record<string, Record<string, unknown>>;
    expect(store['bp-relative.yaml']?.['build_size_bytes']).toBe(70);
    for (const key of Object.keys(variants).filter((key) => key !== 'relative')) {
      expect(store[`bp-${key}.yaml`]?.['build_size_bytes'], key).toBeUndefined();
    }
  });

  it('other fields of the wrong type fall back to the YAML and defaults', async () => {
    const dir = makeTempDir('bad-storage-');
    const configuration = deviceWithStorage(
      dir,
      'fields',
      JSON.stringify({
        storage_version: 1,
        name: 5,
        friendly_name: {},
        esphome_version: [],
        esp_platform: 7,
        core_platform: { esp32: true },
        address: ['10.0.0.1'],
        loaded_integrations: 'wifi',
        build_path: path.join(dir, '.esphome', 'build', 'fields'),
        firmware_bin_path: 12,
      }),
    );
    const report = await runSizesPass(dir, { logger: capturingLogger().logger, env: { PLATFORMIO_CORE_DIR: '/nonexistent/platformio' } });
    const device = report.devices.find((entry) => entry.device.configuration === configuration)?.device;
    expect(device).toMatchObject({
      name: 'fields',
      friendly_name: 'fields device',
      deployed_version: null,
      target_platform: 'esp32',
      address: 'fields.local',
      build_size_bytes: fixtureBytes(3),
    });
  });
});

describe('hand-edited sidecar values of every wrong type, through the real sizes pass', () => {
  it('cached figures of the wrong type read as "nothing cached": the device is walked and the entry repaired', async () => {
    const dir = makeTempDir('bad-sidecar-');
    const wrong: Record<string, Record<string, unknown>> = {
      strings: { build_size_bytes: 'abc', build_size_dir_mtime: 'yesterday', build_size_info_mtime: '12.5' },
      objects: { build_size_bytes: {}, build_size_dir_mtime: { s: 1 }, build_size_info_mtime: [], build_disk_bytes: {} },
      arrays: { build_size_bytes: [1], build_size_dir_mtime: [1_700_000_000], build_size_breakdown: [1, 2] },
      booleans: { build_size_bytes: true, build_size_dir_mtime: true, build_size_info_mtime: false },
      negative: { build_size_bytes: -5, build_size_dir_mtime: -1, build_size_info_mtime: -1 },
      huge: { build_size_bytes: 1e308, build_size_dir_mtime: 1e300, build_size_info_mtime: '99999999999999999999999' },
      floats: { build_size_bytes: 12.7, build_size_dir_mtime: 0.5 },
      breakdown: { build_size_breakdown: { pioenvs: 'a', piolibdeps: null, src: [], other: {}, cleanable: -1 } },
      identity: { friendly_name: 5, comment: { text: 'x' }, ip: [], mac_address: 7 },
    };
    const data: Record<string, unknown> = {
      _orphan_builds: 'not an object',
      _platformio: [1, 2, 3],
      _preferences: 5,
      _firmware_jobs: { not: 'a list' },
      'ghost.yaml': 7,
    };
    for (const [name, entry] of Object.entries(wrong)) {
      addDevice(dir, name, { files: 3, fileBytes: 100 });
      data[`${name}.yaml`] = entry;
    }
    addDevice(dir, 'scalar-entry', { files: 3, fileBytes: 100 });
    data['scalar-entry.yaml'] = 'just a string';
    fs.writeFileSync(path.join(dir, SIDECAR_FILE), JSON.stringify(data));

    const scanned = await new ConfigScanner(dir, path.join(dir, '.esphome')).scan(data);
    expect(scanned).toHaveLength(10);
    for (const device of scanned) {
      expect(Number.isSafeInteger(device.build_size_bytes), device.configuration).toBe(true);
      expect(Number.isSafeInteger(device.build_disk_bytes), device.configuration).toBe(true);
      expect(typeof device.friendly_name).toBe('string');
    }

    const report = await runSizesPass(dir, { logger: capturingLogger().logger, env: { PLATFORMIO_CORE_DIR: '/nonexistent/platformio' } });
    for (const entry of report.devices) expect(entry, entry.device.configuration).toMatchObject({ sizeBytes: fixtureBytes(3), state: 'walked' });
    // Repaired where each figure now lives: the triple in the per-instance store, our breakdown in our own file.
    const store = readJson(path.join(dir, '.esphome', INSTANCE_STORE_FILE)) as Record<string, Record<string, unknown>>;
    const own = readJson(path.join(dir, '.esphome', OWN_STATE_FILE)) as Record<string, Record<string, unknown>>;
    const after = readJson(path.join(dir, SIDECAR_FILE)) as Record<string, Record<string, unknown>>;
    for (const name of [...Object.keys(wrong), 'scalar-entry']) {
      const entry = store[`${name}.yaml`] ?? {};
      expect(entry['build_size_bytes'], name).toBe(fixtureBytes(3));
      expect(Number.isSafeInteger(entry['build_size_dir_mtime']), name).toBe(true);
      expect(Number.isSafeInteger(entry['build_size_info_mtime']), name).toBe(true);
      expect(own[`${name}.yaml`]?.['build_size_breakdown'], name).toMatchObject({ pioenvs: 300 });
      // The migration moved every live field out of the shared sidecar.
      expect(after[`${name}.yaml`]?.['build_size_bytes'], name).toBeUndefined();
    }
    // What is not ours to repair is kept as the user wrote it.
    expect(after['identity.yaml']).toMatchObject({ friendly_name: 5, comment: { text: 'x' } });
    expect(after['ghost.yaml']).toBe(7);
    expect(after['_preferences']).toBe(5);
    expect(after['_firmware_jobs']).toEqual({ not: 'a list' });
  });

  it('a sidecar value nested 100,000 deep cannot be re-serialized: updates reject and the file is kept byte for byte', async () => {
    const dir = makeTempDir('bad-sidecar-');
    addDevice(dir, 'kitchen');
    const deep = `{"_deep": ${'['.repeat(100_000)}${']'.repeat(100_000)}, "kitchen.yaml": {"comment": "keep"}}`;
    fs.writeFileSync(path.join(dir, SIDECAR_FILE), deep);
    const { logger, lines } = capturingLogger();
    const report = await runSizesPass(dir, { logger, env: { PLATFORMIO_CORE_DIR: '/nonexistent/platformio' } });
    expect(report.devices).toHaveLength(1);
    // The sizes go to the per-instance store; the shared sidecar needed no change, so it is not rewritten.
    expect(report.saveError).toBeNull();
    expect(fs.readFileSync(path.join(dir, SIDECAR_FILE), 'utf8')).toBe(deep);
    // A change that does need the sidecar (an identity edit) rejects and keeps it byte for byte.
    await expect(new SidecarStore(dir, { logger }).updateDevice('kitchen.yaml', { comment: 'changed' })).rejects.toThrow();
    expect(fs.readFileSync(path.join(dir, SIDECAR_FILE), 'utf8')).toBe(deep);
    expect(lines().filter((line) => line.level >= 50)).toEqual([]);
    expect(fs.readdirSync(dir).filter((name) => name.startsWith(`${SIDECAR_FILE}.`) && !name.endsWith('.lock'))).toEqual([]);
  });
});

// ---------------------------------------------------------------------------
// YAML

describe('YAML that is huge, binary or empty', () => {
  it('a 10 MB YAML in the config dir costs a stat, not a read: listed with "too large", fast, no memory', async () => {
    const dir = makeTempDir('bad-yaml-');
    fs.writeFileSync(path.join(dir, 'huge.yaml'), `esphome:\n  name: huge\n#${'x'.repeat(10 * MB)}\n`);
    const scanner = new ConfigScanner(dir, path.join(dir, '.esphome'));
    const { value: devices, ms, heapMB } = await measureAsync(() => scanner.scan({}));
    expect(devices[0]).toMatchObject({ name: 'huge', error: expect.stringMatching(/too large/) });
    expect(ms).toBeLessThan(1_000);
    expect(heapMB).toBeLessThan(5);
  });

  it('a 10 MB string handed to the parser is refused before parsing', () => {
    const text = `esphome:\n  name: huge\n${'k: v\n'.repeat((10 * MB) / 5)}`;
    const { value, ms } = measure(() => parseDeviceYaml(text));
    expect(value.error).toMatch(/too large/);
    expect(ms).toBeLessThan(100);
  });

  it('the largest accepted file of the worst plain shape (512 KiB of keys) parses in bounded time', () => {
    const head = 'esphome:\n  name: wide\n';
    let text = head;
    for (let i = 0; text.length < MAX_YAML_BYTES - 32; i++) text += `k${i}: v${i}\n`;
    const { value, ms } = measure(() => parseDeviceYaml(text));
    expect(value).toMatchObject({ error: null, device: { name: 'wide' } });
    expect(ms).toBeLessThan(15_000);
  }, 30_000);

  it.each([
    ['random bytes without NUL', () => Buffer.from(randomBytes(MB).map((byte) => byte | 0x80)).toString('latin1')],
    ['invalid UTF-8 decoded as U+FFFD', () => Buffer.from(randomBytes(MB).map((byte) => byte | 0x80)).toString('utf8')],
    ['a BOM alone', () => '\uFEFF'],
    ['whitespace and line breaks only', () => ' \n\t\r\n   \n'],
    ['a single NUL', () => '\u0000'],
    ['a document marker only', () => '---\n...\n'],
  ])('%s: an error or an empty device, never a throw, in bounded time', (_label, make) => {
    const text = make();
    const { value, ms } = measure(() => parseDeviceYaml(text));
    expect(value.device).toEqual(EMPTY_DEVICE_YAML);
    expect(value.error).toEqual(expect.any(String));
    expect(ms).toBeLessThan(5_000);
  });
});

describe('YAML that nests too deeply', () => {
  it.each([
    ['10,000 levels of [', '['.repeat(10_000)],
    ['10,000 balanced [ ]', `${'['.repeat(10_000)}${']'.repeat(10_000)}`],
    ['10,000 levels of {a:', `a: ${'{a: '.repeat(10_000)}1${'}'.repeat(10_000)}`],
    ['10,000 compact "- "', `${'- '.repeat(10_000)}x\n`],
    ['a 2,000-step staircase of keys', Array.from({ length: 2_000 }, (_, i) => `${' '.repeat(i)}k:`).join('\n')],
    ['a bracket bomb of MAX_YAML_BYTES', '['.repeat(MAX_YAML_BYTES)],
  ])('%s is refused by the depth estimate in milliseconds', (_label, text) => {
    const { value, ms } = measure(() => yamlNestingExceeds(text));
    expect(value).toBe(true);
    expect(ms).toBeLessThan(200);
  });

  it('real configs stay far below the limit (every demo device, at full scale)', () => {
    for (const device of DEMO_DEVICES) {
      const text = renderDemoYaml(device);
      expect(yamlNestingExceeds(text, 20), device.file).toBe(false);
    }
    expect(MAX_YAML_NESTING).toBeGreaterThanOrEqual(50);
  });

  it('the estimate tracks flow, block and compact nesting', () => {
    const flow = (n: number): string => `a: ${'['.repeat(n)}${']'.repeat(n)}`;
    expect(yamlNestingExceeds(flow(40), 50)).toBe(false);
    expect(yamlNestingExceeds(flow(60), 50)).toBe(true);
    const stairs = (n: number): string => Array.from({ length: n }, (_, i) => `${'  '.repeat(i)}k${i}:`).join('\n');
    expect(yamlNestingExceeds(stairs(40), 50)).toBe(false);
    expect(yamlNestingExceeds(stairs(60), 50)).toBe(true);
    // Siblings at the same indentation do not add up, nor do block scalars' own lines.
    expect(yamlNestingExceeds(Array.from({ length: 1_000 }, (_, i) => `k${i}: |\n${'        deep\n'.repeat(3)}`).join(''), 10)).toBe(false);
    expect(yamlNestingExceeds(`${'- '.repeat(60)}x\n`, 50)).toBe(true);
  });

  // Found by this suite: the `yaml` library overflows the stack on deep
  // nesting, and on Node 20 that overflow can corrupt V8's regexp compiler so
  // that the next parse aborts the whole process ("FATAL ERROR: RegExpCompiler
  // Allocation failed"). device-yaml.ts refuses such text first
  // (util/yaml-depth.ts); this runs in a child process so a regression
  // cannot take the test runner down with it.
  it('parsing several 10,000-deep documents, then a normal one, does not kill the process', () => {
    const script = [
      `import { parseDeviceYaml } from ${JSON.stringify(path.join(REPO_ROOT, 'src/config/device-yaml.ts'))};`,
      `for (const text of ['['.repeat(10000), '- '.repeat(10000) + 'x', '['.repeat(2000) + ']'.repeat(2000)]) {`,
      `  const r = parseDeviceYaml(text); if (!r.error) throw new Error('accepted a deep document'); }`,
      `const ok = parseDeviceYaml('esphome:\\n  name: fine\\n');`,
      `process.stdout.write(ok.device.name ?? 'none');`,
    ].join('\n');
    const run = spawnSync(process.execPath, ['--import', TSX_LOADER, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(run.stderr).not.toMatch(/FATAL ERROR/);
    expect(run.status).toBe(0);
    expect(run.stdout).toBe('fine');
  });
});

describe('YAML alias bombs', () => {
  it.each([
    ['9 levels x 9 aliases', 9, 9],
    ['20 levels x 3 aliases', 20, 3],
    ['3 levels x 1,000 aliases', 3, 1_000],
  ])('billion laughs, %s: refused quickly in little memory', (_label, levels, width) => {
    const lines = ['a0: &a0 "lol"'];
    for (let level = 1; level <= levels; level++) {
      lines.push(`a${level}: &a${level} [${Array.from({ length: width }, () => `*a${level - 1}`).join(', ')}]`);
    }
    lines.push(`esphome:\n  name: *a${levels}`);
    const { value, ms, heapMB } = measure(() => parseDeviceYaml(`${lines.join('\n')}\n`));
    expect(value.error).toMatch(/^YAML error/);
    expect(ms).toBeLessThan(2_000);
    expect(heapMB).toBeLessThan(100);
  });

  it('one 256 KiB anchor aliased 900 times shares the value instead of copying it', () => {
    const anchor = 256 * 1024;
    const text = `big: &big "${'x'.repeat(anchor)}"\n${Array.from({ length: 900 }, (_, i) => `b${i}: *big`).join('\n')}\nesphome:\n  name: *big\n`;
    expect(text.length).toBeLessThan(MAX_YAML_BYTES);
    const { value, ms, heapMB } = measure(() => parseDeviceYaml(text));
    expect(value.error).toBeNull();
    expect(value.device.name).toHaveLength(anchor);
    expect(ms).toBeLessThan(5_000);
    // 900 copies would be 225 MB.
    expect(heapMB).toBeLessThan(100);
  });
});
