/**
 * The catalog's file watch: YAML files (and folders) in the config dir
 * trigger a rescan; our own sidecar, lock, temp and data-dir writes never do.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DeviceCatalog, triggersRescan } from '../../src/catalog/device-catalog.js';
import { DeviceMetadata } from '../../src/metadata/device-metadata.js';
import { createLogger } from '../../src/util/log.js';
import { cleanupTempDirs, makeTempDir } from '../helpers/fs-fixtures.js';

const logger = createLogger('silent');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

afterEach(() => cleanupTempDirs());

describe('triggersRescan', () => {
  it('YAML files and plain folder names rescan; hidden names and other files do not', () => {
    for (const name of ['kitchen.yaml', 'Porch.YML', 'secrets.yaml', 'packages', null]) expect(triggersRescan(name)).toBe(true);
    for (const name of [
      '.device-builder.json',
      '.device-builder.json.lock',
      '.device-builder.json.tmp-12-ab',
      '.esphome',
      '.kitchen.yaml.swp',
      'notes.txt',
      'kitchen.yaml~',
    ])
      expect(triggersRescan(name)).toBe(false);
  });
});

describe('DeviceCatalog watch', () => {
  it('writes by this program cause no rescan; a new YAML causes one', async () => {
    const configDir = makeTempDir('dbts-catalog-');
    fs.writeFileSync(path.join(configDir, 'a.yaml'), 'esphome:\n  name: a\nesp32:\n  board: esp32dev\n');
    const store = new DeviceMetadata(configDir, path.join(configDir, '.esphome'), { logger });
    const catalog = new DeviceCatalog({ configDir, dataDir: path.join(configDir, '.esphome'), store, logger, rescanIntervalMs: 60_000 });
    try {
      await catalog.rescan();
      catalog.startWatching();
      expect(catalog.stats.rescans).toBe(1);

      // Identity (shared sidecar + its lock + temp), our data-dir file, a stray file.
      await store.updateDevice('a.yaml', { friendly_name: 'A', build_size_bytes: 5, build_size_dir_mtime: 1, build_size_info_mtime: 1 });
      fs.writeFileSync(path.join(configDir, 'notes.txt'), 'x');
      await sleep(600);
      expect(catalog.stats.rescans).toBe(1);

      fs.writeFileSync(path.join(configDir, 'b.yaml'), 'esphome:\n  name: b\nesp32:\n  board: esp32dev\n');
      await expect.poll(() => catalog.size, { timeout: 5000 }).toBe(2);
      expect(catalog.stats.rescans).toBe(2);
    } finally {
      catalog.close();
    }
  });
});
