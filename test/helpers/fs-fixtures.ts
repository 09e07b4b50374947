/**
 * Real-file-system fixtures for tests: temp config dirs with devices whose
 * YAML, StorageJSON and build folder look like ESPHome's, and mtime control
 * through `utimes` so freshness tests never depend on the clock.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { storageJsonPath } from '../../src/storage/storage-json.js';
import { createLogger } from '../../src/util/log.js';

export const silentLogger = createLogger('silent');

const made: string[] = [];

/** A fresh temp dir, removed by {@link cleanupTempDirs}. */
export function makeTempDir(prefix = 'dbts-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export function cleanupTempDirs(): void {
  for (const dir of made.splice(0)) {
    // Restore permissions a test may have removed so cleanup can descend.
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  }
}

/** Sets a path's mtime (and atime) to `seconds` since the epoch, fractions allowed. */
export function setMtime(target: string, seconds: number): void {
  fs.utimesSync(target, seconds, seconds);
}

export function writeFile(target: string, bytes: number | string): void {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.writeFileSync(target, typeof bytes === 'string' ? bytes : Buffer.alloc(bytes, 1));
}

/** Writes StorageJSON as ESPHome does: with `storage_version` (1) unless the content says otherwise. */
export function writeStorageJson(dataDir: string, configuration: string, content: Record<string, unknown>): void {
  writeFile(storageJsonPath(dataDir, configuration), JSON.stringify({ storage_version: 1, ...content }));
}

export interface FixtureDevice {
  configuration: string;
  name: string;
  buildDir: string;
}

/**
 * Writes `<config>/<name>.yaml`, its StorageJSON pointing at
 * `<data>/build/<name>` (`<data>` defaults to `<config>/.esphome`), and (unless `files` is 0) a build folder
 * with `files` files of `fileBytes` each plus build_info.json.
 */
export function addDevice(
  configDir: string,
  name: string,
  options: { files?: number; fileBytes?: number; compiled?: boolean; platform?: string; dataDir?: string } = {},
): FixtureDevice {
  const configuration = `${name}.yaml`;
  const platform = options.platform ?? 'esp32';
  writeFile(
    path.join(configDir, configuration),
    `esphome:\n  name: ${name}\n  friendly_name: ${name} device\n${platform}:\n  board: generic\nwifi:\n  password: !secret wifi_password\n`,
  );
  const dataDir = options.dataDir ?? path.join(configDir, '.esphome');
  const buildDir = path.join(dataDir, 'build', name);
  if (options.compiled === false) return { configuration, name, buildDir };
  writeFile(
    path.join(dataDir, 'storage', `${configuration}.json`),
    JSON.stringify({
      storage_version: 1,
      name,
      friendly_name: `${name} device`,
      esphome_version: '2026.11.0',
      address: `${name}.local`,
      core_platform: platform,
      esp_platform: platform.toUpperCase(),
      build_path: buildDir,
    }),
  );
  const files = options.files ?? 3;
  for (let i = 0; i < files; i++) {
    writeFile(path.join(buildDir, '.pioenvs', name, `obj${i}.o`), options.fileBytes ?? 100);
  }
  if (files > 0) writeFile(path.join(buildDir, 'build_info.json'), '{"config_hash": 1}');
  return { configuration, name, buildDir };
}

/** Total of the regular files written by {@link addDevice}. */
export function fixtureBytes(files: number, fileBytes = 100): number {
  return files * fileBytes + '{"config_hash": 1}'.length;
}

/** Pins every path of a build folder's freshness pair to a fixed time. */
export function pinSignal(buildDir: string, dirSeconds: number, infoSeconds: number): void {
  const info = path.join(buildDir, 'build_info.json');
  if (fs.existsSync(info)) setMtime(info, infoSeconds);
  setMtime(buildDir, dirSeconds);
}

export function readJson(file: string): unknown {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/**
 * Every entry under `dir`, depth first, never descending through a symlink.
 * (`readdirSync({recursive: true})` follows links to folders on Node 24.)
 */
export function listTreeNoFollow(dir: string): { full: string; entry: fs.Dirent }[] {
  const out: { full: string; entry: fs.Dirent }[] = [];
  const stack = [dir];
  while (stack.length > 0) {
    const current = stack.pop() as string;
    for (const entry of fs.readdirSync(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name);
      out.push({ full, entry });
      if (entry.isDirectory()) stack.push(full);
    }
  }
  return out;
}
