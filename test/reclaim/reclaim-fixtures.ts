/**
 * Real build folders for the reclaim tests: ESPHome's layout (`.pioenvs`,
 * `.piolibdeps`, `dependencies.lock`, `src/`, `build_info.json` with its
 * `build_time`), ages set with `utimes`, sizes measured by walking them.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Device } from '../../src/shared/device.js';
import { addDevice, setMtime, writeFile } from '../helpers/fs-fixtures.js';

/** Apparent bytes under `target` (0 when it is gone), by a real walk. */
export function du(target: string): number {
  let stats: fs.Stats;
  try {
    stats = fs.lstatSync(target);
  } catch {
    return 0;
  }
  if (!stats.isDirectory()) return stats.size;
  return fs.readdirSync(target).reduce((sum, name) => sum + du(path.join(target, name)), 0);
}

/** What `esphome clean` deletes in a build folder, measured. */
export function cleanableOf(buildDir: string): number {
  return du(path.join(buildDir, '.pioenvs')) + du(path.join(buildDir, '.piolibdeps')) + du(path.join(buildDir, 'dependencies.lock'));
}

/** `esphome clean`'s effect on a build folder: `.pioenvs`, `.piolibdeps` and `dependencies.lock` go, the rest stays. */
export function esphomeClean(buildDir: string): void {
  for (const name of ['.pioenvs', '.piolibdeps', 'dependencies.lock']) fs.rmSync(path.join(buildDir, name), { recursive: true, force: true });
}

/** Writes build_info.json as ESPHome does (rewritten in place) with `buildTime`, its mtime set to it. */
export function writeBuildInfo(buildDir: string, buildTime: number): void {
  const file = path.join(buildDir, 'build_info.json');
  writeFile(
    file,
    JSON.stringify({ config_hash: 12345, build_time: buildTime, build_time_str: new Date(buildTime * 1000).toISOString(), esphome_version: '2026.11.0' }),
  );
  setMtime(file, buildTime);
}

/** A compiled build folder at `<dataDir>/build/<name>`, compiled at `buildTime` (folder and build_info.json mtimes too). */
export function makeBuild(dataDir: string, name: string, buildTime: number, scale = 1): string {
  const dir = path.join(dataDir, 'build', name);
  writeFile(path.join(dir, '.pioenvs', name, 'firmware.bin'), 3000 * scale);
  writeFile(path.join(dir, '.piolibdeps', name, 'lib', 'lib.cpp'), 2000 * scale);
  writeFile(path.join(dir, 'dependencies.lock'), 100);
  writeFile(path.join(dir, 'src', 'main.cpp'), 500);
  writeFile(path.join(dir, 'platformio.ini'), '[env]\n');
  writeBuildInfo(dir, buildTime);
  setMtime(dir, buildTime);
  return dir;
}

/** A Device as the catalog holds it after the refresher measured `buildDir` (or never compiled when null). */
export function deviceFor(configuration: string, buildDir: string | null): Device {
  const bytes = buildDir ? du(buildDir) : 0;
  const cleanable = buildDir ? cleanableOf(buildDir) : 0;
  return {
    name: configuration.replace(/\.yaml$/, ''),
    friendly_name: configuration,
    configuration,
    comment: null,
    area: null,
    target_platform: 'esp32',
    address: `${configuration}.local`,
    deployed_version: buildDir ? '2026.11.0' : null,
    build_path: buildDir,
    build_size_bytes: bytes,
    build_disk_bytes: bytes,
    build_size_breakdown: buildDir && bytes > 0 ? { pioenvs: 0, piolibdeps: 0, src: 0, other: 0, cleanable } : null,
    last_compiled: null,
    error: null,
  };
}

const DAY = 86_400;

/**
 * A compiled device of a config folder (YAML, StorageJSON, build folder)
 * whose build_info.json says it was last compiled `daysAgo` days ago, the
 * folder's and the file's times set to match.
 */
export function compiledDevice(dir: string, name: string, daysAgo: number, options: { files?: number; fileBytes?: number; yamlExtra?: string } = {}) {
  const device = addDevice(dir, name, { files: options.files ?? 4, fileBytes: options.fileBytes ?? 10_000 });
  if (options.yamlExtra) fs.appendFileSync(path.join(dir, device.configuration), options.yamlExtra);
  const buildTime = Math.floor(Date.now() / 1000) - daysAgo * DAY;
  const info = path.join(device.buildDir, 'build_info.json');
  fs.writeFileSync(info, JSON.stringify({ config_hash: 1, build_time: buildTime }));
  fs.utimesSync(info, buildTime, buildTime);
  fs.utimesSync(device.buildDir, buildTime, buildTime);
  return { ...device, buildTime };
}
