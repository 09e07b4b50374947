/**
 * ESPHome's data dir: where StorageJSON, the build folders and the Python
 * Device Builder's per-instance store live. Every part of this program
 * (scanner, refresher, orphans, delete guard, the fake `esphome`, the
 * per-instance files) takes it from here, so a user on the Home Assistant
 * add-on sees the same folders ESPHome writes to.
 *
 * ESPHome's rule, in order:
 * 1. `ESPHOME_IS_HA_ADDON` is "1" or "true" (any case): `/data`, the
 *    add-on's private folder (the YAMLs live in `/config/esphome`);
 * 2. `ESPHOME_DATA_DIR` when set (and not empty);
 * 3. `<config>/.esphome`.
 *
 * `DEVICE_BUILDER_ADDON_DATA_DIR` moves the add-on's `/data` (a host that
 * mounts the add-on's data elsewhere, and the tests, which cannot create
 * `/data` on the machine); it only matters when the add-on flag is set.
 */
import path from 'node:path';

export const ADDON_DATA_DIR = '/data';
export const ADDON_DATA_DIR_ENV = 'DEVICE_BUILDER_ADDON_DATA_DIR';

/** Whether ESPHome would consider itself running as the Home Assistant add-on. */
export function isHaAddon(env: NodeJS.ProcessEnv = process.env): boolean {
  const flag = env['ESPHOME_IS_HA_ADDON']?.toLowerCase();
  return flag === '1' || flag === 'true';
}

/** The data dir ESPHome uses for `configDir` under `env`. */
export function resolveDataDir(configDir: string, env: NodeJS.ProcessEnv = process.env): string {
  if (isHaAddon(env)) return path.resolve(env[ADDON_DATA_DIR_ENV] || ADDON_DATA_DIR);
  const fromEnv = env['ESPHOME_DATA_DIR'];
  return fromEnv ? path.resolve(fromEnv) : path.join(path.resolve(configDir), '.esphome');
}
