/**
 * The scanner's parse cache kept between runs, in a file of our own in the
 * data dir (`<data>/.device-builder-ts-scan.json`, per instance, never
 * shared): for each device, every file its resolution read (with mtime and
 * size then) and what it parsed to. A `sizes` run or a server start whose
 * YAMLs did not change then stats those files instead of parsing them, and
 * never loads the YAML parser; 5,000 devices cost 5,000 stats, not 5,000
 * parses.
 *
 * It is only a cache: a file of another format, a wrong shape, one over the
 * size cap or an unreadable one reads as empty (each device is parsed again),
 * and a failed write is logged and forgotten. Every entry is re-checked
 * against the files' current stamps before use (config-scanner.ts), so an
 * entry can cost a parse, never a wrong device.
 */
import path from 'node:path';
import { removeStaleTemps, writeFileAtomic } from '../util/atomic-file.js';
import { readGuarded } from '../util/guarded-read.js';
import type { Logger } from '../util/log.js';
import type { DeviceYaml, FileStamp, ParsedDeviceYaml, ResolvableField } from './device-yaml.js';

export const SCAN_CACHE_FILE = '.device-builder-ts-scan.json';
/** Bumped whenever what a parse yields changes, so an older cache is never trusted. */
const FORMAT = 1;
const MAX_BYTES = 64 * 1024 * 1024;

export interface CachedParse {
  /** Every file the resolution read, the YAML first, with its mtime and size then. */
  files: FileStamp[];
  parsed: ParsedDeviceYaml;
}

export function scanCachePath(dataDir: string): string {
  return path.join(dataDir, SCAN_CACHE_FILE);
}

/** The cached parses, by configuration; empty when there is no usable cache. */
export async function readScanCache(dataDir: string, logger?: Logger): Promise<Map<string, CachedParse>> {
  const file = scanCachePath(dataDir);
  const entries = new Map<string, CachedParse>();
  try {
    await removeStaleTemps(file);
    const read = await readGuarded(file, { maxBytes: MAX_BYTES });
    if (!read) return entries;
    const data = JSON.parse(read.bytes.toString('utf8')) as unknown;
    if (!isRecord(data) || data['format'] !== FORMAT || !isRecord(data['devices'])) return entries;
    for (const [configuration, entry] of Object.entries(data['devices'])) {
      const cached = cachedParseOf(entry);
      if (cached) entries.set(configuration, cached);
    }
  } catch (err) {
    logger?.debug({ err, path: file }, 'scan cache unreadable; parsing every YAML');
  }
  return entries;
}

/** Writes the cache atomically (0600, like our other per-instance files); never throws. */
export async function writeScanCache(dataDir: string, entries: ReadonlyMap<string, CachedParse>, logger?: Logger): Promise<void> {
  const file = scanCachePath(dataDir);
  try {
    const devices = Object.fromEntries([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    await writeFileAtomic(file, `${JSON.stringify({ format: FORMAT, devices })}\n`, 0o600);
  } catch (err) {
    logger?.debug({ err, path: file }, 'could not save the scan cache');
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const nullableString = (value: unknown): boolean => value === null || typeof value === 'string';
const DEVICE_FIELDS: readonly (keyof DeviceYaml)[] = ['name', 'friendlyName', 'comment', 'area', 'platform', 'buildPathOption', 'useAddress'];
const RESOLVABLE: ReadonlySet<string> = new Set<ResolvableField>(['name', 'friendlyName', 'comment', 'area']);

function isStamp(value: unknown): value is FileStamp {
  return (
    isRecord(value) &&
    typeof value['path'] === 'string' &&
    path.isAbsolute(value['path']) &&
    typeof value['mtimeMs'] === 'number' &&
    typeof value['size'] === 'number' &&
    typeof value['follow'] === 'boolean'
  );
}

/** The entry rebuilt from known fields only, or null when any is of the wrong type. */
function cachedParseOf(value: unknown): CachedParse | null {
  if (!isRecord(value) || !Array.isArray(value['files']) || value['files'].length === 0 || !value['files'].every(isStamp)) return null;
  const parsed = value['parsed'];
  if (!isRecord(parsed) || !nullableString(parsed['error']) || !isRecord(parsed['device'])) return null;
  const raw = parsed['device'];
  if (!DEVICE_FIELDS.every((field) => nullableString(raw[field]))) return null;
  const device = Object.fromEntries(DEVICE_FIELDS.map((field) => [field, raw[field]])) as unknown as DeviceYaml;
  const unresolved = parsed['unresolved'];
  if (unresolved !== undefined && !(Array.isArray(unresolved) && unresolved.every((field) => typeof field === 'string' && RESOLVABLE.has(field)))) return null;
  const files = value['files'].map(({ path: file, mtimeMs, size, follow }: FileStamp) => ({ path: file, mtimeMs, size, follow }));
  return {
    files,
    parsed: { device, error: parsed['error'] as string | null, ...(unresolved === undefined ? {} : { unresolved: unresolved as ResolvableField[] }) },
  };
}
