/**
 * Turns a config dir into Devices: every top-level `*.yaml` / `*.yml` except
 * `secrets.*` and dotfiles is one device. A file that cannot be read or
 * parsed still lists (named after its stem, with the error attached), so one
 * broken YAML never hides the rest of the fleet.
 *
 * Parsed YAML is cached by the (path, mtime, size) of every file its
 * resolution read (the YAML itself, then any `!include` or local package
 * file): a rescan of an unchanged folder costs one stat per file read, which
 * keeps the server's 5 s rescan and a 1,000-device catalog cheap, and an
 * edit to a shared include is seen by every device that reads it.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { BuildSizeBreakdown, Device } from '../shared/device.js';
import { coerceSidecarInt } from '../sidecar/coerce.js';
import { deviceEntry, type DeviceEntry, type SidecarData } from '../sidecar/sidecar-store.js';
import { readStorageJson, resolvedBuildPath, type StorageJson } from '../storage/storage-json.js';
import type { Logger } from '../util/log.js';
import { loadDeviceYaml, stampsCurrent, type ParsedDeviceYaml } from './device-yaml.js';
import { readScanCache, writeScanCache, type CachedParse } from './scan-cache.js';

const NOT_DEVICES = new Set(['secrets.yaml', 'secrets.yml']);

/**
 * Whether a top-level file name is a device config, as ESPHome's
 * `list_yaml_files` decides: ends in `.yaml` or `.yml` (case-sensitive, so
 * `Kitchen.YAML` is not a device), not `secrets.yaml`/`secrets.yml`, not a
 * dotfile.
 */
export function isDeviceFileName(name: string): boolean {
  return !name.startsWith('.') && !NOT_DEVICES.has(name) && (name.endsWith('.yaml') || name.endsWith('.yml'));
}

/**
 * The only `configuration` values we accept from outside: a plain file name,
 * no separators, NUL, `.` or `..`.
 */
export function isSafeConfigurationName(name: unknown): name is string {
  return (
    typeof name === 'string' &&
    name.length > 0 &&
    // File systems cap a name at 255 bytes, not characters (ENAMETOOLONG past it).
    Buffer.byteLength(name, 'utf8') <= 255 &&
    name !== '.' &&
    name !== '..' &&
    !/[/\\\0]/.test(name)
  );
}

function stem(configuration: string): string {
  return configuration.slice(0, configuration.length - path.extname(configuration).length);
}

function stringField(entry: DeviceEntry, key: string): string | null {
  const value = entry[key];
  return typeof value === 'string' && value !== '' ? value : null;
}

/**
 * Longest text field a Device carries (UTF-16 code units, ellipsis
 * included): a YAML comment of megabytes must not become megabytes per
 * device on every socket. `build_path` and `configuration` are not cut
 * (they are paths and keys; the file system bounds them).
 */
export const MAX_DEVICE_TEXT = 2048;

/** `text` cut to {@link MAX_DEVICE_TEXT} with a trailing `…`, never splitting a surrogate pair. */
export function capText(text: string, max = MAX_DEVICE_TEXT): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}

function capNullable(text: string | null): string | null {
  return text === null ? null : capText(text);
}

/**
 * Combines the three sources of truth for one device. Pure. Text fields are
 * capped here, the one place every Device is made ({@link MAX_DEVICE_TEXT}).
 *
 * A field the YAML sets in a way we cannot resolve offline (a remote
 * package, `!secret`, a missing include, an undefined substitution) is
 * taken from StorageJSON first, which holds what ESPHome resolved at the
 * last compile; never from the literal `${...}` text.
 */
export function assembleDevice(configDir: string, configuration: string, parsed: ParsedDeviceYaml, storage: StorageJson | null, entry: DeviceEntry): Device {
  const yaml = parsed.device;
  const unresolved = new Set(parsed.unresolved ?? []);
  const name = yaml.name ?? storage?.name ?? stem(configuration);
  const sidecarFriendly = stringField(entry, 'friendly_name');
  const friendlyName = unresolved.has('friendlyName')
    ? (storage?.friendlyName ?? sidecarFriendly ?? name)
    : (yaml.friendlyName ?? sidecarFriendly ?? storage?.friendlyName ?? name);
  const sidecarComment = stringField(entry, 'comment');
  const comment = unresolved.has('comment') ? (storage?.comment ?? sidecarComment ?? null) : (yaml.comment ?? sidecarComment ?? storage?.comment ?? null);
  const buildPath = resolvedBuildPath(configDir, storage);
  return {
    name: capText(name),
    friendly_name: capText(friendlyName),
    configuration,
    comment: capNullable(comment),
    area: capNullable(yaml.area ?? storage?.area ?? null),
    target_platform: capNullable(storage?.corePlatform ?? yaml.platform),
    address: capText(storage?.address ?? yaml.useAddress ?? `${name}.local`),
    deployed_version: capNullable(storage?.esphomeVersion ?? null),
    build_path: buildPath,
    // Without a build folder any cached figure describes nothing that exists.
    build_size_bytes: buildPath ? coerceSidecarInt(entry['build_size_bytes']) : 0,
    build_disk_bytes: buildPath ? coerceSidecarInt(entry['build_disk_bytes']) : 0,
    build_size_breakdown: buildPath ? readBreakdown(entry['build_size_breakdown']) : null,
    last_compiled: buildPath ? positiveOrNull(coerceSidecarInt(entry['build_size_info_mtime'])) : null,
    error: capNullable(parsed.error),
  };
}

/** A cached breakdown, read as defensively as the cached ints; null unless whole. */
export function readBreakdown(value: unknown): BuildSizeBreakdown | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const raw = value as Record<string, unknown>;
  const parts = ['pioenvs', 'piolibdeps', 'src', 'other', 'cleanable'] as const;
  if (!parts.every((part) => part in raw)) return null;
  const read = Object.fromEntries(parts.map((part) => [part, Math.max(0, coerceSidecarInt(raw[part]))]));
  return read as unknown as BuildSizeBreakdown;
}

export interface ConfigScannerOptions {
  /** Keep the parse cache between runs in the data dir (scan-cache.ts); the server and `sizes` do. */
  persistCache?: boolean;
  logger?: Logger;
}

export class ConfigScanner {
  private parseCache = new Map<string, CachedParse>();
  /** Whether the cache changed since it was last saved. */
  private cacheChanged = false;
  private restored: Promise<void> | null = null;
  /** YAML resolutions actually run (a cache hit is not one), for tests and the bench. */
  readonly stats = { parses: 0 };

  constructor(
    readonly configDir: string,
    readonly dataDir: string,
    private readonly options: ConfigScannerOptions = {},
  ) {}

  /** Device file names in the config dir, sorted. Throws if the dir is unreadable. */
  async listConfigurations(): Promise<string[]> {
    const entries = await fsp.readdir(this.configDir, { withFileTypes: true });
    const names: string[] = [];
    for (const entry of entries) {
      if (!isDeviceFileName(entry.name)) continue;
      // Symlinked YAMLs are legitimate (shared configs); folders named x.yaml are not.
      if (entry.isFile() || (entry.isSymbolicLink() && (await isFile(path.join(this.configDir, entry.name))))) {
        names.push(entry.name);
      }
    }
    return names.sort();
  }

  /** Every device, with cached sizes from the given sidecar snapshot. */
  async scan(sidecar: SidecarData): Promise<Device[]> {
    await this.restoreCache();
    const configurations = await this.listConfigurations();
    const live = new Set(configurations);
    for (const key of this.parseCache.keys()) {
      if (!live.has(key)) {
        this.parseCache.delete(key);
        this.cacheChanged = true;
      }
    }
    const devices = await mapLimited(configurations, 32, (configuration) => this.loadDevice(configuration, sidecar));
    if (this.options.persistCache && this.cacheChanged) {
      this.cacheChanged = false;
      await writeScanCache(this.dataDir, this.parseCache, this.options.logger);
    }
    return devices;
  }

  /** Loads the saved parse cache once, before the first scan (when persisting). */
  private restoreCache(): Promise<void> {
    this.restored ??= this.options.persistCache
      ? readScanCache(this.dataDir, this.options.logger).then((saved) => {
          // Entries parsed before the restore finished are newer: they win.
          for (const [configuration, entry] of this.parseCache) saved.set(configuration, entry);
          this.parseCache = saved;
        })
      : Promise.resolve();
    return this.restored;
  }

  /** One device; null when its YAML is gone. */
  async loadDevice(configuration: string, sidecar: SidecarData): Promise<Device | null> {
    const parsed = await this.parse(configuration);
    if (!parsed) return null;
    const storage = await readStorageJson(this.dataDir, configuration);
    return assembleDevice(this.configDir, configuration, parsed, storage, deviceEntry(sidecar, configuration));
  }

  private async parse(configuration: string): Promise<ParsedDeviceYaml | null> {
    const cached = this.parseCache.get(configuration);
    if (cached && (await stampsCurrent(cached.files))) return cached.parsed;
    const loaded = await loadDeviceYaml(this.configDir, configuration);
    this.stats.parses++;
    this.cacheChanged = true;
    if (loaded === null) {
      this.parseCache.delete(configuration);
      return null;
    }
    const { files, ...parsed } = loaded;
    this.parseCache.set(configuration, { files, parsed });
    return parsed;
  }
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await fsp.stat(file)).isFile();
  } catch {
    return false;
  }
}

/** Maps with at most `limit` promises in flight, keeping input order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R | null>): Promise<R[]> {
  const results: (R | null)[] = new Array<R | null>(items.length).fill(null);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results.filter((item): item is R => item !== null);
}

/** A cached time, or null when it is missing (coerced to 0) or nonsense. */
function positiveOrNull(seconds: number): number | null {
  return seconds > 0 ? seconds : null;
}
