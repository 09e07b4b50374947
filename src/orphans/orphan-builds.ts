/**
 * Orphaned build folders: folders under a build root that no active device's
 * StorageJSON points to, left behind by deleted or renamed devices, or by
 * YAMLs moved away by hand. Often the biggest single thing a user can
 * reclaim, and invisible in the Python Device Builder.
 *
 * Build roots are `<data>/build` (and `$ESPHOME_BUILD_PATH`) plus the parent
 * of every build path any StorageJSON names, keeping only roots the delete
 * guard accepts (so a hand-edited StorageJSON pointing into the config dir
 * never makes the config dir's folders look like orphans).
 *
 * Orphans are sized by the refresher like devices (same two-stat pair, same
 * one worker), cached in our per-instance state file (`<data>/.device-builder-ts.json`,
 * see metadata/device-metadata.ts) under `_orphan_builds`, keyed by path.
 * A changed set or size is published as `orphans_updated` on the server's
 * event bus (the list is read only when someone listens for it).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { folderCacheEntry, type BuildSizeRefreshResult, type BuildTarget } from '../build-size/build-size.js';
import { cachedSignal } from '../build-size/freshness.js';
import { coerceSidecarInt } from '../sidecar/coerce.js';
import { checkBuildFolderDeletable, defaultBuildRoots } from '../devices/delete-guard.js';
import { describeIncomplete, removeTree as defaultRemoveTree, type RemoveTreeFn } from '../devices/tree-remover.js';
import type { SizeSource } from '../refresher/size-source.js';
import type { MetadataStore } from '../metadata/device-metadata.js';
import { EventBus } from '../events/event-bus.js';
import type { SidecarData } from '../sidecar/sidecar-store.js';
import { interpretStorageJson, resolvedBuildPath, STORAGE_JSON_READ } from '../storage/storage-json.js';
import type { OrphanBuild } from '../shared/protocol.js';
import { readGuarded } from '../util/guarded-read.js';
import type { Logger } from '../util/log.js';

export const ORPHAN_SECTION = '_orphan_builds';
export const ORPHAN_SOURCE = 'orphan';

export type { OrphanBuild };

export interface OrphanScan {
  roots: string[];
  orphans: string[];
}

type Section = Record<string, Record<string, unknown>>;

function section(data: SidecarData): Section {
  const value = data[ORPHAN_SECTION];
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Section) : {};
}

function entryOf(data: SidecarData, buildPath: string): Record<string, unknown> {
  const entry = section(data)[buildPath];
  return typeof entry === 'object' && entry !== null && !Array.isArray(entry) ? entry : {};
}

/** A StorageJSON found in the storage folder, read as readStorageJson does (regular file, 1 MiB, never blocks); null when it cannot be. */
async function readJsonFile(file: string): Promise<unknown> {
  try {
    const read = await readGuarded(file, STORAGE_JSON_READ);
    return read ? JSON.parse(read.bytes.toString('utf8')) : null;
  } catch {
    return null;
  }
}

/**
 * Files only ESPHome writes into a build folder (a plain PlatformIO project
 * has `platformio.ini` and `.pioenvs` too, and may be someone's source).
 */
const BUILD_FOLDER_MARKERS = ['build_info.json', path.join('src', 'esphome.h')];

async function looksLikeBuildFolder(dir: string): Promise<boolean> {
  for (const marker of BUILD_FOLDER_MARKERS) {
    if (
      await fsp.lstat(path.join(dir, marker)).then(
        () => true,
        () => false,
      )
    )
      return true;
  }
  return false;
}

async function subfolders(root: string): Promise<string[]> {
  try {
    const entries = await fsp.readdir(root, { withFileTypes: true });
    // Links are not folders we own: deleting one would free nothing of ours.
    return entries.filter((entry) => entry.isDirectory()).map((entry) => path.join(root, entry.name));
  } catch {
    return [];
  }
}

export interface OrphanBuildsOptions {
  configDir: string;
  dataDir: string;
  store: MetadataStore;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  /** The device file names currently in the config dir. */
  activeConfigurations: () => Iterable<string>;
  /** How folders are deleted (default: tree-remover.ts, which never crosses a symlink); tests pass another engine. */
  removeTree?: RemoveTreeFn;
  /** Where `orphans_updated` is published (default: a bus of its own). */
  bus?: EventBus;
}

export class OrphanBuilds {
  private current: OrphanScan = { roots: [], orphans: [] };
  private readonly bus: EventBus;
  readonly source: SizeSource;

  constructor(private readonly options: OrphanBuildsOptions) {
    this.bus = options.bus ?? new EventBus(options.logger);
    this.source = {
      kind: ORPHAN_SOURCE,
      targets: async () => (await this.rescan()).map((dir): BuildTarget => ({ configuration: dir, buildPath: dir })),
      // A folder that stopped being an orphan (its device came back) is not ours to size.
      dirOf: async (dir) => (this.current.orphans.includes(dir) ? dir : null),
      cached: (snapshot, dir) => cachedSignal(entryOf(snapshot, dir)),
      persist: (dir, result) => this.persist(dir, result),
      refreshed: () => this.notify(),
    };
  }

  /** Where orphans are looked for, and the orphans found, by the last scan. */
  get lastScan(): OrphanScan {
    return this.current;
  }

  /** Finds the orphans now; publishes `orphans_updated` when the set changed. Returns their paths. */
  async rescan(): Promise<string[]> {
    const scan = await this.scan();
    const changed = scan.orphans.join('\0') !== this.current.orphans.join('\0');
    this.current = scan;
    if (changed) {
      await this.pruneCache(scan.orphans);
      await this.notify();
    }
    return scan.orphans;
  }

  /** Orphans with their cached sizes, largest first. */
  async list(): Promise<OrphanBuild[]> {
    const data = await this.options.store.read();
    return this.current.orphans
      .map((dir) => {
        const entry = entryOf(data, dir);
        return {
          build_path: dir,
          build_size_bytes: coerceSidecarInt(entry['build_size_bytes']),
          build_disk_bytes: coerceSidecarInt(entry['build_disk_bytes']),
        };
      })
      .sort((a, b) => b.build_size_bytes - a.build_size_bytes || a.build_path.localeCompare(b.build_path));
  }

  /**
   * Deletes one orphan. Only a path the last scan listed is accepted, and
   * the delete guard still has the last word.
   */
  async delete(buildPath: string): Promise<void> {
    await this.rescan();
    if (!this.current.orphans.includes(buildPath)) throw new OrphanError('not_found', `${buildPath} is not an unused build folder`);
    const verdict = checkBuildFolderDeletable(buildPath, {
      configDir: this.options.configDir,
      dataDir: this.options.dataDir,
      buildRoots: this.current.roots,
    });
    if (!verdict.ok) {
      this.options.logger.warn({ buildPath, reason: verdict.reason }, 'refused to delete an unused build folder');
      throw new OrphanError('invalid_args', `refused: ${verdict.reason}`);
    }
    if (verdict.symlink) await fsp.unlink(verdict.path);
    else {
      // Never by path: see devices/tree-remover.ts.
      const removal = await (this.options.removeTree ?? defaultRemoveTree)(verdict.path);
      if (!removal.complete) {
        await this.rescan();
        const reason = describeIncomplete(removal);
        this.options.logger.warn({ buildPath, removal }, `could not delete all of an unused build folder: ${reason}`);
        throw new Error(`could not delete all of ${buildPath}: ${reason}`);
      }
    }
    this.options.logger.info({ buildPath }, 'deleted an unused build folder');
    await this.rescan();
  }

  private async scan(): Promise<OrphanScan> {
    const { configDir, dataDir, env } = this.options;
    const active = new Set(this.options.activeConfigurations());
    const storageDir = path.join(dataDir, 'storage');
    let storageFiles: string[] = [];
    try {
      storageFiles = (await fsp.readdir(storageDir)).filter((name) => name.endsWith('.json'));
    } catch {
      // No StorageJSON at all: only the default roots.
    }
    const claimed = new Set<string>();
    const candidateRoots = defaultBuildRoots(dataDir, env);
    for (const file of storageFiles) {
      const storage = interpretStorageJson(await readJsonFile(path.join(storageDir, file)));
      const buildPath = resolvedBuildPath(configDir, storage);
      if (buildPath === null) continue;
      candidateRoots.push(path.dirname(buildPath));
      if (active.has(file.slice(0, -'.json'.length))) claimed.add(buildPath);
    }
    // A root is usable only if the guard would let us delete something in it.
    const roots = [...new Set(candidateRoots)].filter(
      (root) => checkBuildFolderDeletable(path.join(root, 'probe'), { configDir, dataDir, buildRoots: [root] }).ok,
    );
    const defaults = new Set(defaultBuildRoots(dataDir, env));
    const orphans: string[] = [];
    for (const root of roots) {
      for (const dir of await subfolders(root)) {
        if (claimed.has(dir)) continue;
        // A root known only from a StorageJSON's build_path may be any folder
        // (a hand-edited ~/Documents/kitchen makes ~/Documents one): there,
        // only folders that look like ESPHome build folders are unused builds.
        if (!defaults.has(root) && !(await looksLikeBuildFolder(dir))) continue;
        orphans.push(dir);
      }
    }
    return { roots, orphans: [...new Set(orphans)].sort() };
  }

  private async persist(dir: string, result: BuildSizeRefreshResult): Promise<void> {
    await this.options.store.updateGlobal(ORPHAN_SECTION, (current) => {
      const next: Section = { ...(typeof current === 'object' && current !== null && !Array.isArray(current) ? (current as Section) : {}) };
      if (result.sizeBytes === 0 && result.signal.dirMtime === 0) delete next[dir];
      else {
        next[dir] = folderCacheEntry(result);
      }
      return Object.keys(next).length > 0 ? next : undefined;
    });
  }

  /** Drops cache entries of folders that are no longer orphans. */
  private async pruneCache(orphans: readonly string[]): Promise<void> {
    const keep = new Set(orphans);
    await this.options.store.updateGlobal(ORPHAN_SECTION, (current) => {
      if (typeof current !== 'object' || current === null || Array.isArray(current)) return undefined;
      const next = Object.fromEntries(Object.entries(current).filter(([dir]) => keep.has(dir)));
      return Object.keys(next).length > 0 ? next : undefined;
    });
  }

  private async notify(): Promise<void> {
    if (this.bus.listenerCount('orphans_updated') === 0) return;
    this.bus.publish({ event: 'orphans_updated', data: { orphans: await this.list() } });
  }
}

export class OrphanError extends Error {
  constructor(
    readonly code: 'not_found' | 'invalid_args',
    message: string,
  ) {
    super(message);
  }
}
