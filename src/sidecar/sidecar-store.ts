/**
 * The metadata sidecar `<config>/.device-builder.json`, in the same file and
 * shape as the Python Device Builder's so both tools can share a config dir.
 *
 * - One JSON object. `_`-prefixed keys are global sections (`_preferences`,
 *   `_firmware_jobs`, ...); every other key is a YAML file name mapping to
 *   that device's entry.
 * - Reads never fail: missing, invalid or non-object content reads as empty,
 *   and a non-object entry reads as an empty entry.
 * - Every change is a read-modify-write under an in-process mutex and a
 *   cross-process lock (`.device-builder.json.lock`, see util/file-lock.ts),
 *   written atomically (temp file in the same folder, fsync, rename, fsync
 *   folder), so a crash leaves the old or the new file and never a torn one,
 *   and a concurrent writer's entries are re-read rather than clobbered: two
 *   of our processes (the server and `sizes` from cron) never lose an update.
 *   The Python Device Builder does not take our lock; against it the re-read
 *   under lock plus the atomic rename narrows the window in which one update
 *   can be lost to the milliseconds between our read and our rename.
 * - A writer that cannot get the lock within a few seconds rejects with a
 *   `FileLockError` and writes nothing; a lock left by a dead process is
 *   broken at once, one left by a live but stuck one after 10 s.
 * - Field updates are three-state: `undefined` leaves a key alone; `null`,
 *   `0` or `""` remove it (so a cached 0 is never stored and a missing key
 *   reads as 0); anything else is written.
 * - A corrupt file is never silently replaced: before the first write over
 *   it, its bytes are kept as `.device-builder.json.corrupt-<timestamp>`.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { removeStaleTemps, syncDir, writeFileAtomic } from '../util/atomic-file.js';
import { removeStaleLock, withFileLock, type FileLockOptions, type HeldLock } from '../util/file-lock.js';
import { log as defaultLog, type Logger } from '../util/log.js';
import { Mutex } from '../util/mutex.js';

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

export type SidecarData = Record<string, unknown>;
export type DeviceEntry = Record<string, unknown>;
/** `undefined`: leave alone; `null` / `0` / `""`: remove; else write. */
export type FieldUpdates = Record<string, unknown>;

export function isGlobalKey(key: string): boolean {
  return key.startsWith('_');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A device's entry from a snapshot; anything that is not an object reads as empty. */
export function deviceEntry(data: SidecarData, configuration: string): DeviceEntry {
  const entry = data[configuration];
  return isObject(entry) ? entry : {};
}

/** Applies three-state updates to an entry in place; returns whether anything changed. */
export function applyFieldUpdates(entry: DeviceEntry, fields: FieldUpdates): boolean {
  let changed = false;
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    if (value === null || value === 0 || value === '') {
      if (key in entry) {
        delete entry[key];
        changed = true;
      }
    } else if (JSON.stringify(entry[key]) !== JSON.stringify(value)) {
      entry[key] = value;
      changed = true;
    }
  }
  return changed;
}

interface LoadedFile {
  data: SidecarData;
  /** Raw bytes when the file existed but did not hold a JSON object. */
  corrupt: Buffer | null;
  /** Why an existing file could not be read (EACCES, EMFILE, EIO, ...); null when read or missing. */
  unreadable: Error | null;
}

export class SidecarStore {
  readonly path: string;
  private readonly mutex = new Mutex();
  private readonly log: Logger;
  private readonly lockOptions: FileLockOptions;

  constructor(
    readonly configDir: string,
    options: { logger?: Logger; lock?: Omit<FileLockOptions, 'logger'> } = {},
  ) {
    this.path = path.join(configDir, SIDECAR_FILE);
    this.log = options.logger ?? defaultLog;
    this.lockOptions = { ...options.lock, logger: this.log };
  }

  /** A snapshot of the whole file; `{}` when missing or unreadable. */
  async read(): Promise<SidecarData> {
    return (await this.load()).data;
  }

  /** The global section `key` (e.g. `_preferences`), or undefined. */
  async readGlobal(key: string): Promise<unknown> {
    return (await this.read())[key];
  }

  /**
   * Runs `mutate` on a fresh read of the file and writes the result if it
   * reports a change. Serialized: only one read-modify-write runs at a time,
   * in this process and across processes that use this store.
   * Rejects, writing nothing, when the file exists but cannot be read, or
   * when the cross-process lock cannot be taken.
   */
  async update(mutate: (data: SidecarData) => boolean): Promise<void> {
    await this.mutex.run(() =>
      withFileLock(
        this.path,
        async (lock) => {
          const { data, corrupt, unreadable } = await this.load();
          // Writing over a file we could not read would replace every other
          // device's entry with nothing: refuse instead.
          if (unreadable) throw unreadable;
          if (!mutate(data)) return;
          if (corrupt) await this.keepCorruptCopy(corrupt);
          await this.writeAtomic(data, lock);
        },
        this.lockOptions,
      ),
    );
  }

  /** Three-state field updates for one device; an entry left empty is dropped. */
  async updateDevice(configuration: string, fields: FieldUpdates): Promise<void> {
    await this.updateDevices(new Map([[configuration, fields]]));
  }

  /** Several devices' updates in one read-modify-write. */
  async updateDevices(updates: ReadonlyMap<string, FieldUpdates>): Promise<void> {
    await this.update((data) => {
      let changed = false;
      for (const [configuration, fields] of updates) {
        const entry = { ...deviceEntry(data, configuration) };
        if (!applyFieldUpdates(entry, fields)) continue;
        changed = true;
        if (Object.keys(entry).length === 0) delete data[configuration];
        else data[configuration] = entry;
      }
      return changed;
    });
  }

  /** Archive: drop the volatile fields, keep identity fields. */
  async scrubVolatile(configuration: string): Promise<void> {
    await this.updateDevice(configuration, Object.fromEntries(VOLATILE_DEVICE_FIELDS.map((key) => [key, null])));
  }

  /** Delete: the whole entry goes. */
  async removeDevice(configuration: string): Promise<void> {
    await this.update((data) => {
      if (!(configuration in data)) return false;
      delete data[configuration];
      return true;
    });
  }

  /**
   * Replaces a global section with what `next` returns for its current
   * value; `undefined` removes the section.
   */
  async updateGlobal(key: string, next: (current: unknown) => unknown): Promise<void> {
    if (!isGlobalKey(key)) throw new Error(`not a global sidecar key: ${key}`);
    await this.update((data) => {
      const value = next(data[key]);
      if (JSON.stringify(value) === JSON.stringify(data[key])) return false;
      if (value === undefined) delete data[key];
      else data[key] = value;
      return true;
    });
  }

  /** Resolves once every update queued so far has been written. */
  async flush(): Promise<void> {
    await this.mutex.run(async () => undefined);
  }

  /**
   * Removes temp files left by writers that died between write and rename,
   * and a lock (and its temps) left by a writer that died holding it. Only
   * files whose owning process is gone are touched, so a live writer's temp
   * or lock (ours or another process's) is never pulled from under it.
   */
  async cleanStaleTemps(): Promise<number> {
    const removed = (await removeStaleTemps(this.path)) + (await removeStaleLock(this.path, this.log));
    if (removed > 0) this.log.info({ removed }, 'removed stale sidecar temp files');
    return removed;
  }


  private async load(): Promise<LoadedFile> {
    let raw: Buffer;
    try {
      raw = await fsp.readFile(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.log.warn({ err, path: this.path }, 'sidecar unreadable; treating as empty');
        return { data: {}, corrupt: null, unreadable: err as Error };
      }
      return { data: {}, corrupt: null, unreadable: null };
    }
    try {
      const parsed: unknown = JSON.parse(raw.toString('utf8'));
      if (isObject(parsed)) return { data: parsed, corrupt: null, unreadable: null };
    } catch {
      // Falls through to the corrupt path below.
    }
    if (raw.length === 0) return { data: {}, corrupt: null, unreadable: null };
    this.log.warn({ path: this.path }, 'sidecar is not a JSON object; treating as empty');
    return { data: {}, corrupt: raw, unreadable: null };
  }

  private async keepCorruptCopy(raw: Buffer): Promise<void> {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    let copy = `${this.path}.corrupt-${stamp}`;
    const writeDurably = async (target: string): Promise<void> => {
      const handle = await fsp.open(target, 'wx');
      try {
        await handle.writeFile(raw);
        await handle.sync();
      } finally {
        await handle.close();
      }
    };
    await writeDurably(copy).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
      copy = `${copy}-${randomBytes(3).toString('hex')}`;
      await writeDurably(copy);
    });
    // The copy must survive a power loss before the rename that replaces the
    // original can: otherwise the only copy of those bytes could be lost.
    await syncDir(path.dirname(this.path));
    this.log.warn({ copy }, 'kept a copy of the corrupt sidecar before replacing it');
  }

  private async writeAtomic(data: SidecarData, lock: HeldLock): Promise<void> {
    await writeFileAtomic(this.path, `${JSON.stringify(data, null, 2)}\n`, 0o644, { beforeRename: () => lock.assertHeld() });
  }
}
