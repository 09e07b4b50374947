/**
 * Where each piece of device metadata lives, so that this program and the
 * Python Device Builder can share one config folder, share what they
 * measured, and never damage each other's files.
 *
 * Three files, one view:
 *
 * | file | holds | written by |
 * | --- | --- | --- |
 * | `<config>/.device-builder.json` (shared sidecar) | identity: `friendly_name`, `comment`, `mac_address`, `labels`, the Python tool's `_` catalogs | both tools, under `flock` on `.device-builder.json.lock` |
 * | `<data>/.device-builder-devices.json` (per-instance store) | the Python tool's `STORE_FIELDS`: build size and its freshness pair, ip, deployed/expected hashes, ... | both tools (the Python tool from memory, whole) |
 * | `<data>/.device-builder-ts.json` (ours) | our extras: allocated size and breakdown (with the pair they were measured at), unused build folders, PlatformIO figures, job history, page preferences | this program only |
 *
 * The current Python tool moved its live fields out of the shared sidecar
 * into the per-instance store (on the add-on the data dir is private to one
 * instance while the config folder may be shared). Until that store exists
 * (the "legacy" layout: an older Python tool, or none yet), the live fields
 * are read from the shared sidecar; the first time we must write one, we run
 * the Python tool's own migration: copy every `STORE_FIELDS` field into the
 * new store, write it, then strip those fields from the shared sidecar under
 * its lock. From then on they are read and written only in the store.
 *
 * The Python tool keeps the store in memory and rewrites it whole, so a
 * measurement we write while it runs can be overwritten by its older one.
 * That is safe because a size always travels with the freshness pair it was
 * measured at: an older triple makes the next sweep see a moved pair and
 * walk again; it never shows a wrong size. Our extras carry their own copy
 * of the pair and are used only while it equals the size's: a size the
 * Python tool measured is shown as it is (never walked again just for our
 * extras), without an allocated size or breakdown until our next walk.
 *
 * Nothing here writes the shared sidecar unless a device's identity changes,
 * it is archived or deleted, or the migration runs: starting and stopping the
 * server on a folder leaves `.device-builder.json` byte-identical.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { coerceSidecarInt } from '../sidecar/coerce.js';
import { deepFreeze, JsonObjectStore } from '../sidecar/json-object-store.js';
import {
  deviceEntry,
  isGlobalKey,
  SidecarStore,
  VOLATILE_DEVICE_FIELDS,
  type DeviceEntry,
  type FieldUpdates,
  type SidecarData,
} from '../sidecar/sidecar-store.js';
import type { FileLockOptions } from '../util/file-lock.js';
import type { Logger } from '../util/log.js';

export const INSTANCE_STORE_FILE = '.device-builder-devices.json';
export const OWN_STATE_FILE = '.device-builder-ts.json';

/** The fields the Python tool keeps in its per-instance store (its `STORE_FIELDS`). */
export const STORE_FIELDS = [
  'ip',
  'deployed_config_hash',
  'deployed_version',
  'api_encryption_active',
  'expected_config_hash',
  'build_size_bytes',
  'build_size_dir_mtime',
  'build_size_info_mtime',
  'regen_failed_mtime',
  'regen_failed_at',
] as const;

/** Measured with the size by our walk, and only ours. */
export const OWN_DEVICE_FIELDS = ['build_disk_bytes', 'build_size_breakdown'] as const;

const PAIR_FIELDS = ['build_size_dir_mtime', 'build_size_info_mtime'] as const;

const storeFieldSet: ReadonlySet<string> = new Set(STORE_FIELDS);
const ownFieldSet: ReadonlySet<string> = new Set(OWN_DEVICE_FIELDS);

/** `legacy`: no per-instance store yet, live fields in the shared sidecar; `migrated`: they live in the store. */
export type MetadataLayout = 'legacy' | 'migrated';

/**
 * What the rest of the program needs from device metadata: one merged
 * snapshot to read, and writes routed to the file that owns each field.
 */
export interface MetadataStore {
  /** One snapshot of every device's fields (identity, live fields, our extras) and our `_` sections. */
  read(): Promise<SidecarData>;
  readDevice(configuration: string): Promise<DeviceEntry>;
  readGlobal(key: string): Promise<unknown>;
  updateGlobal(key: string, next: (current: unknown) => unknown): Promise<void>;
  updateDevice(configuration: string, fields: FieldUpdates): Promise<void>;
  updateDevices(updates: ReadonlyMap<string, FieldUpdates>): Promise<void>;
  /** Archive: volatile fields go from every file, identity stays. */
  scrubVolatile(configuration: string): Promise<void>;
  /** Delete: the device's entry goes from every file. */
  removeDevice(configuration: string): Promise<void>;
  flush(): Promise<void>;
  cleanStaleTemps(): Promise<number>;
}

function pick(entry: DeviceEntry, keys: ReadonlySet<string>): DeviceEntry {
  const picked: DeviceEntry = {};
  for (const key of keys) if (Object.hasOwn(entry, key)) picked[key] = entry[key];
  return picked;
}

function deviceKeys(data: SidecarData): string[] {
  return Object.keys(data).filter((key) => !isGlobalKey(key));
}

/**
 * Whether `store` has an entry for `configuration` (holding one of `fields`,
 * when given). Checked on a plain read before a locked write, so archiving or
 * deleting a device that one file never knew leaves that file, and its lock
 * file, untouched; the locked update re-checks on its own fresh read.
 */
async function holdsAny(store: JsonObjectStore, configuration: string, fields?: readonly string[]): Promise<boolean> {
  const data = await store.read();
  if (!Object.hasOwn(data, configuration)) return false;
  if (!fields) return true;
  const entry = deviceEntry(data, configuration);
  return fields.some((field) => Object.hasOwn(entry, field));
}

function samePair(a: DeviceEntry, b: DeviceEntry): boolean {
  return PAIR_FIELDS.every((field) => coerceSidecarInt(a[field]) === coerceSidecarInt(b[field]));
}

/**
 * The merged view of the three files (pure). Identity from the shared
 * sidecar; live fields from the store when it exists (else from the shared
 * sidecar, as the Python tool reads them); our extras only when measured at
 * the same pair as the size.
 */
export function mergeMetadata(shared: SidecarData, instance: SidecarData | null, own: SidecarData): SidecarData {
  const view: SidecarData = {};
  for (const [key, value] of Object.entries(own)) if (isGlobalKey(key)) view[key] = value;
  const keys = new Set([...deviceKeys(shared), ...(instance ? deviceKeys(instance) : []), ...deviceKeys(own)]);
  for (const key of keys) {
    const entry = mergeEntry(shared, instance, own, key);
    if (Object.keys(entry).length > 0) view[key] = entry;
  }
  return view;
}

/** One device's entry of {@link mergeMetadata}'s view ({} when no file knows it). */
export function mergeEntry(shared: SidecarData, instance: SidecarData | null, own: SidecarData, key: string): DeviceEntry {
  const sharedEntry = deviceEntry(shared, key);
  const entry: DeviceEntry = {};
  let legacy = false;
  for (const [field, value] of Object.entries(sharedEntry)) {
    if (ownFieldSet.has(field)) {
      legacy = true;
      continue;
    }
    if (instance && storeFieldSet.has(field)) continue;
    entry[field] = value;
  }
  if (instance) Object.assign(entry, pick(deviceEntry(instance, key), storeFieldSet));
  // Versions of ours before the split kept the extras beside the triple in the shared sidecar.
  const extras = Object.hasOwn(own, key) ? deviceEntry(own, key) : legacy ? sharedEntry : {};
  if (samePair(extras, entry)) Object.assign(entry, pick(extras, ownFieldSet));
  return entry;
}

/** Splits one device's updates by the file that owns each field. */
function routeFields(fields: FieldUpdates): { live: FieldUpdates; own: FieldUpdates; shared: FieldUpdates } {
  const live: FieldUpdates = {};
  const own: FieldUpdates = {};
  const shared: FieldUpdates = {};
  for (const [field, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    if (storeFieldSet.has(field)) live[field] = value;
    else if (ownFieldSet.has(field)) own[field] = value;
    else shared[field] = value;
  }
  // The extras are valid only at the pair they were measured at: keep it beside them.
  if (Object.keys(own).length > 0) for (const field of PAIR_FIELDS) own[field] = fields[field] ?? null;
  return { live, own, shared };
}

export interface DeviceMetadataOptions {
  logger: Logger;
  /** Cross-process lock options for every file (tests shorten the wait). */
  lock?: Omit<FileLockOptions, 'logger'>;
}

export class DeviceMetadata implements MetadataStore {
  readonly shared: SidecarStore;
  readonly instance: JsonObjectStore;
  readonly own: JsonObjectStore;
  private readonly log: Logger;
  /** The last merged view and the snapshots it was made from. */
  private merged: { shared: SidecarData; instance: SidecarData | null; own: SidecarData; view: SidecarData } | null = null;

  constructor(
    readonly configDir: string,
    readonly dataDir: string,
    options: DeviceMetadataOptions,
  ) {
    this.log = options.logger;
    this.shared = new SidecarStore(configDir, { logger: options.logger, lock: options.lock });
    // The Python tool takes no lock on its store; ours keeps our own processes (server, `sizes` from cron) apart.
    this.instance = new JsonObjectStore(path.join(dataDir, INSTANCE_STORE_FILE), {
      logger: options.logger,
      label: 'per-instance store',
      lock: { ...options.lock, logger: options.logger },
    });
    this.own = new JsonObjectStore(path.join(dataDir, OWN_STATE_FILE), {
      logger: options.logger,
      label: 'device-builder-ts state',
      lock: { ...options.lock, logger: options.logger },
    });
  }

  /** Which layout the folder is in right now. */
  async layout(): Promise<MetadataLayout> {
    return (await this.instance.exists()) ? 'migrated' : 'legacy';
  }

  async read(): Promise<SidecarData> {
    const [shared, instance, own] = await Promise.all([this.shared.read(), this.readInstance(), this.own.read()]);
    // The stores hand out one frozen snapshot per file version: while none
    // of the three changed, the merge of them has not either.
    const last = this.merged;
    if (last && last.shared === shared && last.instance === instance && last.own === own) return last.view;
    const view = deepFreeze(mergeMetadata(shared, instance, own));
    this.merged = { shared, instance, own, view };
    return view;
  }

  /** One device's merged entry: what {@link read} holds for it, without merging the whole fleet. */
  async readDevice(configuration: string): Promise<DeviceEntry> {
    const [shared, instance, own] = await Promise.all([this.shared.read(), this.readInstance(), this.own.read()]);
    return deepFreeze(mergeEntry(shared, instance, own, configuration));
  }

  async readGlobal(key: string): Promise<unknown> {
    return this.own.readGlobal(key);
  }

  async updateGlobal(key: string, next: (current: unknown) => unknown): Promise<void> {
    await this.ensureDataDir();
    await this.own.updateGlobal(key, next);
  }

  async updateDevice(configuration: string, fields: FieldUpdates): Promise<void> {
    await this.updateDevices(new Map([[configuration, fields]]));
  }

  /**
   * Live fields first (store), then our extras, then identity (shared
   * sidecar): a crash in between leaves extras from an older pair, which
   * costs one walk, never a wrong figure.
   */
  async updateDevices(updates: ReadonlyMap<string, FieldUpdates>): Promise<void> {
    const live = new Map<string, FieldUpdates>();
    const own = new Map<string, FieldUpdates>();
    const shared = new Map<string, FieldUpdates>();
    for (const [configuration, fields] of updates) {
      const routed = routeFields(fields);
      if (Object.keys(routed.live).length > 0) live.set(configuration, routed.live);
      if (Object.keys(routed.own).length > 0) own.set(configuration, routed.own);
      if (Object.keys(routed.shared).length > 0) shared.set(configuration, routed.shared);
    }
    if (live.size > 0) await this.writeLive(live);
    if (own.size > 0) {
      await this.ensureDataDir();
      await this.own.updateDevices(own);
    }
    if (shared.size > 0) await this.shared.updateDevices(shared);
  }

  async scrubVolatile(configuration: string): Promise<void> {
    const volatile = VOLATILE_DEVICE_FIELDS.filter((field) => !ownFieldSet.has(field));
    const live = volatile.filter((field) => storeFieldSet.has(field));
    if (await holdsAny(this.shared, configuration, volatile)) await this.shared.scrubFields(configuration, volatile);
    if (await holdsAny(this.instance, configuration, live)) await this.instance.scrubFields(configuration, live);
    if (await holdsAny(this.own, configuration)) await this.own.removeDevice(configuration);
  }

  async removeDevice(configuration: string): Promise<void> {
    for (const store of [this.shared, this.instance, this.own]) {
      if (await holdsAny(store, configuration)) await store.removeDevice(configuration);
    }
  }

  async flush(): Promise<void> {
    await Promise.all([this.shared.flush(), this.instance.flush(), this.own.flush()]);
  }

  async cleanStaleTemps(): Promise<number> {
    const counts = await Promise.all([this.shared.cleanStaleTemps(), this.instance.cleanStaleTemps(), this.own.cleanStaleTemps()]);
    return counts.reduce((sum, count) => sum + count, 0);
  }

  private async readInstance(): Promise<SidecarData | null> {
    // Checked on every read: the Python tool may create the store (migrate) while we run.
    return (await this.instance.exists()) ? this.instance.read() : null;
  }

  private async writeLive(updates: ReadonlyMap<string, FieldUpdates>): Promise<void> {
    if (!(await this.instance.exists())) await this.migrate();
    await this.instance.updateDevices(updates);
  }

  /**
   * The Python tool's migration, run by whichever tool first needs the
   * store: copy the live fields out of the shared sidecar into a new store,
   * write it, and only then strip them from the shared sidecar under its
   * lock. A crash in between leaves both files with the same data; the next
   * start sees the store and does not migrate again.
   */
  async migrate(): Promise<void> {
    await this.ensureDataDir();
    let copied = 0;
    // Under the sidecar lock from the read to the strip: a busy lock means
    // nothing is written at all, and no identity edit slips in between. The
    // store is written first, from the same (preserving) snapshot, so a
    // Python `1.0` is copied as `1.0`.
    await this.shared.update(
      (data) => {
        let changed = false;
        for (const key of deviceKeys(data)) {
          const entry = deviceEntry(data, key);
          const kept = Object.fromEntries(Object.entries(entry).filter(([field]) => !storeFieldSet.has(field)));
          if (Object.keys(kept).length === Object.keys(entry).length) continue;
          changed = true;
          if (Object.keys(kept).length === 0) delete data[key];
          else data[key] = kept;
        }
        return changed;
      },
      {
        beforeMutate: async (snapshot) => {
          await this.instance.update((store) => {
            for (const key of deviceKeys(snapshot)) {
              // Someone (the Python tool) created the store meanwhile: what it holds wins.
              if (Object.hasOwn(store, key)) continue;
              const fields = pick(deviceEntry(snapshot, key), storeFieldSet);
              if (Object.keys(fields).length === 0) continue;
              store[key] = fields;
              copied++;
            }
            // Written even when empty: the file's existence is what says "migrated".
            return true;
          });
        },
      },
    );
    this.log.info({ store: this.instance.path, devices: copied }, 'moved live device fields into the per-instance store');
  }

  private async ensureDataDir(): Promise<void> {
    await fsp.mkdir(this.dataDir, { recursive: true });
  }
}
