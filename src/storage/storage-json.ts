/**
 * ESPHome's StorageJSON (`<data dir>/storage/<yaml>.json`), written by every
 * compile. It is the authority on where a device's build folder lives
 * (`build_path`), what it was built for and with which ESPHome version.
 *
 * Missing, corrupt or without `storage_version` means "never compiled", as
 * in ESPHome (its loader rejects a file without that key). The dashboard
 * must keep working on a half-written or hand-edited file, so every field is
 * read defensively. A FIFO, device, folder or file over 1 MiB at the path
 * reads as missing without blocking (see {@link STORAGE_JSON_READ}).
 */
import path from 'node:path';
import { readGuarded, readGuardedSync, STORAGE_JSON_MAX_BYTES } from '../util/guarded-read.js';

export interface StorageJson {
  name: string | null;
  friendlyName: string | null;
  comment: string | null;
  area: string | null;
  address: string | null;
  esphomeVersion: string | null;
  /** Upper-case chip, e.g. ESP32S3. */
  espPlatform: string | null;
  /** Lower-case platform, e.g. esp32. */
  corePlatform: string | null;
  /** Absolute build folder, or null for "None" / null / "" / not a string. */
  buildPath: string | null;
  firmwareBinPath: string | null;
  loadedIntegrations: string[];
}

export function storageJsonPath(dataDir: string, configuration: string): string {
  return path.join(dataDir, 'storage', `${configuration}.json`);
}

/**
 * StorageJSON's build folder, resolved the one way every reader (scanner,
 * refresher, orphans) uses: absolute as ESPHome writes it; a relative one
 * (hand-edited) against the config folder. Deletion does not use this: the
 * delete guard refuses a relative path outright.
 */
export function resolvedBuildPath(configDir: string, storage: StorageJson | null): string | null {
  return storage?.buildPath ? path.resolve(configDir, storage.buildPath) : null;
}

function optionalString(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

/** Old ESPHome versions wrote Python's `str(None)` for a missing path. */
function optionalPath(value: unknown): string | null {
  const text = optionalString(value);
  return text === null || text === 'None' ? null : text;
}

/**
 * Interprets parsed StorageJSON; null when it is not an object or has no
 * `storage_version` key (ESPHome's loader reads `storage["storage_version"]`
 * first and treats the KeyError as "no StorageJSON").
 */
export function interpretStorageJson(parsed: unknown): StorageJson | null {
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return null;
  const raw = parsed as Record<string, unknown>;
  if (!Object.prototype.hasOwnProperty.call(raw, 'storage_version')) return null;
  const integrations = Array.isArray(raw['loaded_integrations']) ? raw['loaded_integrations'].filter((item): item is string => typeof item === 'string') : [];
  const corePlatform = optionalString(raw['core_platform']);
  return {
    name: optionalString(raw['name']),
    friendlyName: optionalString(raw['friendly_name']),
    comment: optionalString(raw['comment']),
    area: optionalString(raw['area']),
    address: optionalString(raw['address']),
    esphomeVersion: optionalString(raw['esphome_version']),
    espPlatform: optionalString(raw['esp_platform']),
    corePlatform: corePlatform?.toLowerCase() ?? null,
    buildPath: optionalPath(raw['build_path']),
    firmwareBinPath: optionalPath(raw['firmware_bin_path']),
    loadedIntegrations: integrations,
  };
}

function parseOrNull(bytes: Buffer): StorageJson | null {
  try {
    return interpretStorageJson(JSON.parse(bytes.toString('utf8')));
  } catch {
    return null;
  }
}

/**
 * How a StorageJSON is read: a link is followed (a data dir assembled with
 * links is legitimate), but only a regular file of at most 1 MiB is read,
 * opened `O_NONBLOCK` (util/guarded-read.ts): a FIFO, a device or a huge
 * file planted there reads as "no StorageJSON" at once instead of blocking
 * or filling memory.
 */
export const STORAGE_JSON_READ = { maxBytes: STORAGE_JSON_MAX_BYTES, followLinks: true } as const;

/** Reads one device's StorageJSON; null when missing, corrupt, not a regular file or over 1 MiB. */
export async function readStorageJson(dataDir: string, configuration: string): Promise<StorageJson | null> {
  try {
    const read = await readGuarded(storageJsonPath(dataDir, configuration), STORAGE_JSON_READ);
    return read ? parseOrNull(read.bytes) : null;
  } catch {
    return null;
  }
}

export function readStorageJsonSync(dataDir: string, configuration: string): StorageJson | null {
  try {
    const read = readGuardedSync(storageJsonPath(dataDir, configuration), STORAGE_JSON_READ);
    return read ? parseOrNull(read.bytes) : null;
  } catch {
    return null;
  }
}
