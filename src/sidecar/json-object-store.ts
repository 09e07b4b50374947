/**
 * One JSON object in one file, shared with other writers: the engine behind
 * the shared sidecar (`<config>/.device-builder.json`), the Python tool's
 * per-instance store (`<data_dir>/.device-builder-devices.json`) and our own
 * per-instance file. Each is one instance of this class; what differs
 * (path, log label, cross-process lock or none) is constructor options.
 *
 * - One JSON object. `_`-prefixed keys are global sections; every other key
 *   is a YAML file name mapping to that device's entry (an object).
 * - Reads never fail: missing, invalid or non-object content reads as `{}`,
 *   and a non-object entry reads as an empty entry. {@link read} returns what
 *   `JSON.parse` would (plain JS numbers) so readers see ordinary values,
 *   parsed once per version of the file (one `lstat` tells) and shared,
 *   frozen, by every reader until the file changes.
 * - The file is read through util/guarded-read.ts: opened `O_NOFOLLOW |
 *   O_NONBLOCK`, and only when it is a regular file. A FIFO, a device, a
 *   socket, a folder or a symbolic link (even to a regular file) at the path
 *   is refused: reads give `{}` and log the reason once (not on every read),
 *   updates reject with that error, and it is never replaced or renamed.
 *   Over {@link METADATA_MAX_BYTES} (64 MiB, checked on the size and while
 *   reading) the file is never read and counts as corrupt.
 * - Every change ({@link update}) is a read-modify-write under an in-process
 *   mutex and, when configured, the cross-process lock `<file>.lock`
 *   (util/file-lock.ts), on a fresh read of the file, written atomically
 *   (util/atomic-file.ts): a crash leaves the old or the new file, never a
 *   torn one, and another writer's changes are re-read, not clobbered.
 * - Rewrites keep what they did not touch: the file is parsed preserving
 *   (util/json-preserving.ts), so a Python-written `1.0`, `1e5` or an
 *   integer past 2^53 is written back as the same text. The file keeps its
 *   mode (and, when we run as root, its owner); a file we create gets 0600,
 *   as the Python tool's `mkstemp` gives it. Output is 2-space indented,
 *   like the Python tool's.
 * - Field updates are three-state: `undefined` leaves a key alone; `null`,
 *   `0` or `""` remove it (so a cached 0 is never stored and a missing key
 *   reads as 0); anything else is written unless it already equals the
 *   stored value (compared as Python would: `1.0 == 1`).
 * - A corrupt file (not a JSON object, or over the cap) is never silently
 *   replaced: before the first write over it, the file itself is set aside
 *   as `<file>.corrupt-<timestamp>` (a hard link, or a rename where links
 *   are not supported; never a copy), so it keeps its bytes, mode and owner
 *   and costs no memory or disk, whatever its size.
 */
import { promises as fsp, type Stats } from 'node:fs';
import path from 'node:path';
import { removeStaleTemps, syncDir, writeFileAtomic } from '../util/atomic-file.js';
import { FileTooLargeError, fileKind, METADATA_MAX_BYTES, NotRegularFileError, readGuarded, type GuardedRead } from '../util/guarded-read.js';
import { lockPathOf, withFileLock, type FileLockOptions, type HeldLock } from '../util/file-lock.js';
import { isNumberText, jsonEqual, parsePreserving, stringifyPreserving } from '../util/json-preserving.js';
import { log as defaultLog, type Logger } from '../util/log.js';
import { Mutex } from '../util/mutex.js';

export type JsonObject = Record<string, unknown>;
export type DeviceEntry = Record<string, unknown>;
/** `undefined`: leave alone; `null` / `0` / `""`: remove; else write. */
export type FieldUpdates = Record<string, unknown>;

export interface JsonObjectStoreOptions {
  logger?: Logger;
  /** Names the file in log lines and errors, e.g. "sidecar", "per-instance store". */
  label?: string;
  /**
   * The cross-process lock `<file>.lock` taken around every
   * read-modify-write, or `false` for none (the in-process mutex still
   * serializes this instance's updates).
   */
  lock: FileLockOptions | false;
}

export function isGlobalKey(key: string): boolean {
  return key.startsWith('_');
}

/** A JSON object: not null, not an array, not a number kept as text. */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !isNumberText(value);
}

/** A device's entry from a snapshot; anything that is not an object reads as empty. */
export function deviceEntry(data: JsonObject, configuration: string): DeviceEntry {
  const entry = Object.hasOwn(data, configuration) ? data[configuration] : undefined;
  return isJsonObject(entry) ? entry : {};
}

/** Applies three-state updates to an entry in place; returns whether anything changed. */
export function applyFieldUpdates(entry: DeviceEntry, fields: FieldUpdates): boolean {
  let changed = false;
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const present = Object.hasOwn(entry, key);
    if (value === null || value === 0 || value === '') {
      if (present) {
        delete entry[key];
        changed = true;
      }
    } else if (!present || !jsonEqual(entry[key], value)) {
      entry[key] = value;
      changed = true;
    }
  }
  return changed;
}

export interface UpdateOptions {
  /**
   * Runs inside the transaction (lock held, file freshly read) before
   * `mutate`, with the same data; throwing aborts with nothing written. The
   * migration uses it to write the per-instance store from the very snapshot
   * it then strips, while holding the sidecar lock.
   */
  beforeMutate?: (data: JsonObject) => Promise<void>;
}

/**
 * The file's object, or null when it is not JSON or not an object. Whether
 * the text counts as valid is always `JSON.parse`'s verdict, so a read and
 * an update never disagree about it: when only the preserving parser gives
 * up (nesting deeper than its recursion allows), the plain parse is used.
 */
function parseObject(text: string, preserving: boolean): JsonObject | null {
  let parsed: unknown;
  try {
    parsed = preserving ? parsePreserving(text) : JSON.parse(text);
  } catch {
    if (!preserving) return null;
    try {
      parsed = JSON.parse(text);
    } catch {
      return null;
    }
  }
  return isJsonObject(parsed) ? parsed : null;
}

interface LoadedFile {
  /** The preserving parse: numbers JS cannot reproduce are kept as their text. */
  data: JsonObject;
  /** The file's `fstat` when it existed but did not hold a JSON object or was over the size cap. */
  corrupt: Stats | null;
  /**
   * Why an existing file could not be read (EACCES, EMFILE, EIO, ..., or
   * {@link NotRegularFileError}: a FIFO, device, folder or link); null when
   * read or missing.
   */
  unreadable: Error | null;
}

export class JsonObjectStore {
  readonly path: string;
  readonly label: string;
  protected readonly log: Logger;
  private readonly mutex = new Mutex();
  private readonly lockOptions: FileLockOptions | false;
  /** The problem last logged (unreadable, refused, corrupt), so each is logged once, not on every read. */
  private reported: string | null = null;
  /** The last plain read and the file version it came from (see {@link versionOf}). */
  private parsed: { version: string; data: JsonObject } | null = null;
  /** Parses and cache hits of {@link read}, for the bench and tests. */
  readonly stats = { parses: 0, cacheHits: 0 };

  constructor(file: string, options: JsonObjectStoreOptions) {
    this.path = file;
    this.log = options.logger ?? defaultLog;
    this.label = options.label ?? path.basename(file);
    this.lockOptions = options.lock === false ? false : { ...options.lock, logger: options.lock.logger ?? this.log };
  }

  /**
   * A snapshot of the whole file as `JSON.parse` would return it; `{}` when
   * missing, unreadable or not an object. Never throws.
   */
  async read(): Promise<JsonObject> {
    // Parsed once per version of the file, not once per read: the server
    // reads on every device reload, and a 5,000-device file is megabytes.
    const version = await versionOf(this.path);
    if (version !== null && this.parsed?.version === version) {
      this.stats.cacheHits++;
      return this.parsed.data;
    }
    // JSON.parse directly: several times faster than the preserving parse,
    // and it gives exactly what toPlainJson of that parse would.
    const loaded = await this.load(false);
    this.stats.parses++;
    // Frozen: every reader shares this one snapshot, so none may change it.
    const data = deepFreeze(loaded.data);
    this.parsed = version !== null && !loaded.unreadable && !loaded.corrupt ? { version, data } : null;
    return data;
  }

  /**
   * A snapshot that keeps numbers JS cannot reproduce as their text (see
   * util/json-preserving.ts): for copying values into another file exactly.
   */
  async readPreserving(): Promise<JsonObject> {
    return (await this.load(true)).data;
  }

  /** One device's entry from a snapshot ({} when absent). */
  async readDevice(configuration: string): Promise<DeviceEntry> {
    return deviceEntry(await this.read(), configuration);
  }

  /** The global section `key` (e.g. `_preferences`), or undefined. */
  async readGlobal(key: string): Promise<unknown> {
    const data = await this.read();
    return Object.hasOwn(data, key) ? data[key] : undefined;
  }

  /**
   * Whether the file exists (whatever it holds). Rejects when that cannot be
   * told (e.g. EACCES on the folder) rather than guessing.
   */
  async exists(): Promise<boolean> {
    try {
      await fsp.lstat(this.path);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return false;
      throw err;
    }
  }

  /**
   * Runs `mutate` on a fresh, preserving read of the file and writes the
   * result if it reports a change. Serialized: one read-modify-write at a
   * time in this instance, and across processes when a lock is configured.
   * Rejects, writing nothing, when the file exists but cannot be read, or
   * when the cross-process lock cannot be taken.
   *
   * `mutate` sees numbers JS cannot reproduce as `PreservedNumber`s (util/json-preserving.ts);
   * read numbers with `coerceSidecarInt` and objects with
   * {@link isJsonObject} / {@link deviceEntry}.
   */
  async update(mutate: (data: JsonObject) => boolean, options: UpdateOptions = {}): Promise<void> {
    const lockOptions = this.lockOptions;
    await this.mutex.run(() =>
      lockOptions === false ? this.transaction(mutate, null, options) : withFileLock(this.path, (lock) => this.transaction(mutate, lock, options), lockOptions),
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

  /** Removes `keys` from one device's entry (keeping the rest); an entry left empty is dropped. */
  async scrubFields(configuration: string, keys: readonly string[]): Promise<void> {
    await this.updateDevice(configuration, Object.fromEntries(keys.map((key) => [key, null])));
  }

  /** The whole entry goes. */
  async removeDevice(configuration: string): Promise<void> {
    await this.update((data) => {
      if (!Object.hasOwn(data, configuration)) return false;
      delete data[configuration];
      return true;
    });
  }

  /**
   * Replaces a global section with what `next` returns for its current
   * value; `undefined` removes the section.
   */
  async updateGlobal(key: string, next: (current: unknown) => unknown): Promise<void> {
    if (!isGlobalKey(key)) throw new Error(`not a global ${this.label} key: ${key}`);
    await this.update((data) => {
      const current = Object.hasOwn(data, key) ? data[key] : undefined;
      const value = next(current);
      if (jsonEqual(value, current)) return false;
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
   * Removes temp files left by writers that died between write and rename.
   * Only temps whose owning process is gone are touched, so a live writer's
   * temp (ours or another process's) is never pulled from under it.
   */
  async cleanStaleTemps(): Promise<number> {
    // Also temps of the owner-naming lock file our earlier versions wrote (`<file>.lock.tmp-<pid>-*`).
    const removed = (await removeStaleTemps(this.path)) + (await removeStaleTemps(lockPathOf(this.path)));
    if (removed > 0) this.log.info({ removed, path: this.path }, `removed stale ${this.label} temp files`);
    return removed;
  }

  private async transaction(mutate: (data: JsonObject) => boolean, lock: HeldLock | null, options: UpdateOptions): Promise<void> {
    const { data, corrupt, unreadable } = await this.load(true);
    // Writing over a file we could not read would replace every other
    // device's entry with nothing; a FIFO, device, folder or link at the
    // path is not ours to replace: refuse instead.
    if (unreadable) throw unreadable;
    await options.beforeMutate?.(data);
    if (!mutate(data)) return;
    await writeFileAtomic(this.path, `${stringifyPreserving(data, 2)}\n`, 'preserve', {
      beforeRename: async () => {
        await lock?.assertHeld();
        if (corrupt) await this.setCorruptAside(corrupt);
        else await this.assertReplaceable();
      },
    });
  }

  /** Reads the file; `preserving` keeps numbers JS cannot reproduce as their text. */
  private async load(preserving: boolean): Promise<LoadedFile> {
    let read: GuardedRead | null;
    try {
      read = await readGuarded(this.path, { maxBytes: METADATA_MAX_BYTES });
    } catch (err) {
      if (err instanceof FileTooLargeError) {
        this.reportOnce(`too-large:${identityKey(err.stats)}`, () =>
          this.log.warn(
            { path: this.path, size: err.size, limit: err.limit },
            `${this.label} is larger than ${err.limit} bytes; treating as empty (set aside as .corrupt-* before the next write)`,
          ),
        );
        return { data: {}, corrupt: err.stats, unreadable: null };
      }
      if (err instanceof NotRegularFileError) {
        // Logged once, not on every read: the server reads it often.
        this.reportOnce(`not-regular:${err.kind}:${err.linkTarget ?? ''}`, () =>
          this.log.error(
            { path: this.path, kind: err.kind, target: err.linkTarget ?? undefined },
            `${this.label} unreadable; treating as empty: ${err.message}`,
          ),
        );
        return { data: {}, corrupt: null, unreadable: err };
      }
      this.reportOnce(`unreadable:${(err as NodeJS.ErrnoException).code ?? String(err)}`, () =>
        this.log.warn({ err, path: this.path }, `${this.label} unreadable; treating as empty`),
      );
      return { data: {}, corrupt: null, unreadable: err as Error };
    }
    if (!read) {
      this.reported = null;
      return { data: {}, corrupt: null, unreadable: null };
    }
    const { bytes, stats } = read;
    const parsed = parseObject(bytes.toString('utf8'), preserving);
    if (parsed || bytes.length === 0) {
      this.reported = null;
      return { data: parsed ?? {}, corrupt: null, unreadable: null };
    }
    this.reportOnce(`corrupt:${identityKey(stats)}`, () => this.log.warn({ path: this.path }, `${this.label} is not a JSON object; treating as empty`));
    return { data: {}, corrupt: stats, unreadable: null };
  }

  /** Runs `emit` unless the same problem (same key) was reported last. */
  private reportOnce(key: string, emit: () => void): void {
    if (this.reported === key) return;
    this.reported = key;
    emit();
  }

  /**
   * Just before our new file is renamed over the path: whatever is there
   * must still be a regular file (or nothing). A FIFO, device, folder or
   * link swapped in since our read is not replaced.
   */
  private async assertReplaceable(): Promise<Stats | null> {
    let stats: Stats;
    try {
      stats = await fsp.lstat(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    if (!stats.isFile()) {
      throw new NotRegularFileError(this.path, fileKind(stats), stats.isSymbolicLink() ? await fsp.readlink(this.path).catch(() => null) : null);
    }
    return stats;
  }

  /**
   * Keeps the corrupt file (whatever its size) as `<file>.corrupt-<timestamp>`
   * before our rename replaces it: a hard link, so the path never goes
   * missing and the bytes are never copied (a 1 GB file costs nothing), or
   * where links are not supported a rename. Either way it is the same file:
   * same bytes, mode and owner. Only the file we judged corrupt is set aside;
   * if another one took its place since, the update is refused.
   */
  private async setCorruptAside(judged: Stats): Promise<void> {
    const current = await this.assertReplaceable();
    if (!current) return; // Gone since we read it: nothing left to keep.
    const sameFile = (stats: Stats): boolean => stats.dev === judged.dev && stats.ino === judged.ino;
    if (!sameFile(current)) throw new Error(`${this.label} ${this.path} was replaced while being updated; not overwriting it`);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    // Loaded here: only a corrupt file needs it (see util/atomic-file.ts).
    const { randomBytes } = await import('node:crypto');
    let aside = `${this.path}.corrupt-${stamp}`;
    let linked = false;
    for (let attempt = 0; ; attempt++) {
      try {
        await fsp.link(this.path, aside);
        linked = true;
        break;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EEXIST' && attempt < 5) {
          aside = `${this.path}.corrupt-${stamp}-${randomBytes(3).toString('hex')}`;
          continue;
        }
        if (code === 'EEXIST') throw err;
        // No hard links here (or not allowed): rename, never over an existing name.
        if (
          await fsp.lstat(aside).then(
            () => true,
            () => false,
          )
        )
          aside = `${aside}-${randomBytes(3).toString('hex')}`;
        await fsp.rename(this.path, aside);
        break;
      }
    }
    const kept = await fsp.lstat(aside);
    if (!sameFile(kept)) {
      // Swapped between the check and the link: put nothing of ours in its way.
      if (linked) await fsp.unlink(aside).catch(() => undefined);
      throw new Error(`${this.label} ${this.path} was replaced while being updated; not overwriting it`);
    }
    // The new name must survive a power loss before the rename that replaces the original can.
    await syncDir(path.dirname(this.path));
    this.log.warn({ path: this.path, aside, size: kept.size }, `set the corrupt ${this.label} aside as ${path.basename(aside)} before replacing it`);
  }
}

/**
 * One version of the file at `file`, from one `lstat` (nanosecond times):
 * any write gives a new one (our writes and the Python tool's are renames,
 * so a new inode; an in-place write moves mtime, ctime or size). Null when
 * there is no regular file to cache (a link, a FIFO, ...): then every read
 * goes to the guarded read, which reports why.
 */
async function versionOf(file: string): Promise<string | null> {
  try {
    const st = await fsp.lstat(file, { bigint: true });
    if (!st.isFile()) return null;
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  } catch (err) {
    // No file is a version too (it reads as {}): a store that was never written costs one lstat a read.
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'absent' : null;
  }
}

/** Freezes a parsed JSON value all the way down (plain objects and arrays only). */
export function deepFreeze<T>(value: T): T {
  // A loop, not recursion: a hand-edited file may nest 100,000 deep.
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    if (typeof next !== 'object' || next === null || Object.isFrozen(next)) continue;
    Object.freeze(next);
    for (const child of Object.values(next)) pending.push(child);
  }
  return value;
}

/** Identifies one version of a file, so the same corrupt file is reported once. */
function identityKey(stats: Stats): string {
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}`;
}
