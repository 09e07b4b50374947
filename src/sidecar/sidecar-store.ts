/**
 * The metadata sidecar `<config>/.device-builder.json`, in the same file and
 * shape as the Python Device Builder's so both tools can share a config dir.
 *
 * The engine (reads that never fail, locked read-modify-write, atomic
 * writes that keep untouched values and the file's mode, three-state field
 * updates, corrupt copies) is {@link JsonObjectStore}; this file fixes its
 * path, its label and its cross-process lock `.device-builder.json.lock`,
 * and names the sidecar's volatile fields.
 *
 * - The lock is the Python Device Builder's own, `flock(LOCK_EX)` on
 *   `.device-builder.json.lock` (util/file-lock.ts), so no writer (the
 *   Python tool, our server, `sizes` from cron) loses another's update:
 *   each re-reads the file under the lock before changing it.
 * - A writer that cannot get the lock within a few seconds rejects with a
 *   `FileLockError` and writes nothing. The lock file is never removed: the
 *   kernel drops a dead holder's flock, so a crash or a lock file the Python
 *   tool left behind costs the next writer no waiting.
 */
import path from 'node:path';
import type { FileLockOptions } from '../util/file-lock.js';
import { log as defaultLog, type Logger } from '../util/log.js';
import { JsonObjectStore, type JsonObject } from './json-object-store.js';

export { applyFieldUpdates, deviceEntry, isGlobalKey, isJsonObject, JsonObjectStore } from './json-object-store.js';
export type { DeviceEntry, FieldUpdates, JsonObjectStoreOptions } from './json-object-store.js';

export const SIDECAR_FILE = '.device-builder.json';

/**
 * Fields that describe the device's current build or network state rather
 * than the user's intent; archive scrubs them because the build folder is
 * wiped and the cached build-size triple would describe nothing.
 */
export const VOLATILE_DEVICE_FIELDS = [
  'ip',
  'expected_config_hash',
  'mac_address',
  'build_size_bytes',
  'build_size_dir_mtime',
  'build_size_info_mtime',
  // Ours, beside the Python tool's triple: the same cache entry, so the same fate.
  'build_disk_bytes',
  'build_size_breakdown',
] as const;

export type SidecarData = JsonObject;

export class SidecarStore extends JsonObjectStore {
  readonly configDir: string;

  constructor(configDir: string, options: { logger?: Logger; lock?: Omit<FileLockOptions, 'logger'> } = {}) {
    const logger = options.logger ?? defaultLog;
    super(path.join(configDir, SIDECAR_FILE), { logger, label: 'sidecar', lock: { ...options.lock, logger } });
    this.configDir = configDir;
  }

  /** Archive: drop the volatile fields, keep identity fields. */
  async scrubVolatile(configuration: string): Promise<void> {
    await this.scrubFields(configuration, VOLATILE_DEVICE_FIELDS);
  }
}
