/**
 * The scanner's parse cache kept between runs (config/scan-cache.ts): a
 * second run with the same YAMLs parses nothing; an edit (of the YAML or of
 * an include) is parsed again; a damaged or hostile cache file costs parses,
 * never a wrong device.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigScanner } from '../../src/config/config-scanner.js';
import { SCAN_CACHE_FILE, readScanCache } from '../../src/config/scan-cache.js';
import { cleanupTempDirs, makeTempDir, writeFile } from '../helpers/fs-fixtures.js';

afterEach(() => cleanupTempDirs());

function fleet(): { configDir: string; dataDir: string } {
  const configDir = makeTempDir('dbts-scan-cache-');
  const dataDir = path.join(configDir, '.esphome');
  fs.mkdirSync(dataDir);
  writeFile(path.join(configDir, 'a.yaml'), 'esphome:\n  name: a\n  friendly_name: Kitchen A\nesp32:\n  board: esp32dev\n');
  writeFile(path.join(configDir, 'b.yaml'), 'esphome:\n  name: b\n  comment: !include common/b-comment.yaml\nesp8266:\n  board: d1_mini\n');
  writeFile(path.join(configDir, 'common', 'b-comment.yaml'), 'first comment\n');
  return { configDir, dataDir };
}

const persistent = (configDir: string, dataDir: string): ConfigScanner => new ConfigScanner(configDir, dataDir, { persistCache: true });

describe('scan cache', () => {
  it('a second run parses nothing and assembles the same devices', async () => {
    const { configDir, dataDir } = fleet();
    const first = persistent(configDir, dataDir);
    const devices = await first.scan({});
    expect(first.stats.parses).toBe(2);
    expect(fs.statSync(path.join(dataDir, SCAN_CACHE_FILE)).mode & 0o777).toBe(0o600);

    const second = persistent(configDir, dataDir);
    expect(await second.scan({})).toEqual(devices);
    expect(second.stats.parses).toBe(0);
    expect(devices.map((d) => [d.configuration, d.friendly_name, d.comment])).toEqual([
      ['a.yaml', 'Kitchen A', null],
      ['b.yaml', 'b', 'first comment'],
    ]);
  });

  it('an edited YAML or include is parsed again; a removed YAML leaves the cache', async () => {
    const { configDir, dataDir } = fleet();
    await persistent(configDir, dataDir).scan({});
    writeFile(path.join(configDir, 'common', 'b-comment.yaml'), 'a longer second comment\n');
    writeFile(path.join(configDir, 'a.yaml'), 'esphome:\n  name: a\n  friendly_name: Renamed A\nesp32:\n  board: esp32dev\n');
    const again = persistent(configDir, dataDir);
    const devices = await again.scan({});
    expect(again.stats.parses).toBe(2);
    expect(devices.map((d) => [d.friendly_name, d.comment])).toEqual([
      ['Renamed A', null],
      ['b', 'a longer second comment'],
    ]);

    fs.rmSync(path.join(configDir, 'a.yaml'));
    await persistent(configDir, dataDir).scan({});
    expect([...(await readScanCache(dataDir)).keys()]).toEqual(['b.yaml']);
  });

  it.each([
    ['not JSON', '{"format": 1, "devices": '],
    ['another format', JSON.stringify({ format: 999, devices: {} })],
    ['a list', '[]'],
  ])('a cache file that is %s reads as empty: every YAML is parsed, nothing is wrong', async (_label, text) => {
    const { configDir, dataDir } = fleet();
    const expected = await new ConfigScanner(configDir, dataDir).scan({});
    fs.writeFileSync(path.join(dataDir, SCAN_CACHE_FILE), text);
    const scanner = persistent(configDir, dataDir);
    expect(await scanner.scan({})).toEqual(expected);
    expect(scanner.stats.parses).toBe(2);
  });

  it('hostile entries are dropped or stripped to the known fields; stale stamps are never trusted', async () => {
    const { configDir, dataDir } = fleet();
    const a = path.join(configDir, 'a.yaml');
    const stampOfA = { path: a, mtimeMs: fs.statSync(a).mtimeMs, size: fs.statSync(a).size, follow: true };
    fs.writeFileSync(
      path.join(dataDir, SCAN_CACHE_FILE),
      JSON.stringify({
        format: 1,
        devices: {
          // Right stamps, and an extra field that must not reach the device.
          'a.yaml': {
            files: [stampOfA],
            parsed: {
              error: null,
              device: {
                name: 'a',
                friendlyName: 'From cache',
                comment: null,
                area: null,
                platform: 'esp32',
                buildPathOption: null,
                useAddress: null,
                extra: 1,
              },
            },
          },
          // A wrong type: dropped, parsed again.
          'b.yaml': { files: [{ path: 'relative.yaml', mtimeMs: 'x', size: 1, follow: true }], parsed: { error: null, device: {} } },
          // Stamps of a file that has changed since: parsed again.
          'c.yaml': {
            files: [{ path: path.join(configDir, 'c.yaml'), mtimeMs: 1, size: 1, follow: true }],
            parsed: { error: null, device: { name: 'wrong' } },
          },
        },
      }),
    );
    writeFile(path.join(configDir, 'c.yaml'), 'esphome:\n  name: c\nesp32:\n  board: esp32dev\n');
    const restored = await readScanCache(dataDir);
    expect([...restored.keys()]).toEqual(['a.yaml']);
    expect(restored.get('a.yaml')?.parsed.device).not.toHaveProperty('extra');

    const scanner = persistent(configDir, dataDir);
    const devices = await scanner.scan({});
    expect(scanner.stats.parses).toBe(2);
    expect(devices.map((d) => [d.configuration, d.name, d.friendly_name])).toEqual([
      ['a.yaml', 'a', 'From cache'],
      ['b.yaml', 'b', 'b'],
      ['c.yaml', 'c', 'c'],
    ]);
  });

  it('a data dir that does not exist is not created for the cache', async () => {
    const configDir = makeTempDir('dbts-scan-cache-');
    writeFile(path.join(configDir, 'a.yaml'), 'esphome:\n  name: a\nesp32:\n  board: esp32dev\n');
    const dataDir = path.join(configDir, '.esphome');
    await persistent(configDir, dataDir).scan({});
    expect(fs.existsSync(dataDir)).toBe(false);
  });
});
