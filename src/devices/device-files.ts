/**
 * Archive, unarchive and delete a device's files (behaviour items 25-27).
 *
 * - Archive wipes the device's build folder, moves its YAML to
 *   `<config>/archive/`, removes its StorageJSON and scrubs the volatile
 *   sidecar fields (identity fields such as friendly_name stay).
 * - Delete wipes the build folder and removes the YAML, StorageJSON and the
 *   whole sidecar entry.
 *
 * Every build-folder deletion goes through {@link checkBuildFolderDeletable}:
 * a refusal is logged and reported, never fatal, and the YAML is still
 * archived or deleted. All checks (name, existence, conflicts, guard) run
 * before anything changes, so a bad request touches nothing. The YAML is the
 * user's data: it is moved with rename, or copied, fsynced and only then
 * unlinked when the archive folder is on another file system.
 */
import { constants as fsConstants, promises as fsp, type Dirent, type Stats } from 'node:fs';
import path from 'node:path';
import { isDeviceFileName, isSafeConfigurationName } from '../config/config-scanner.js';
import { MAX_YAML_BYTES, parseDeviceYaml, type DeviceYaml } from '../config/device-yaml.js';
import type { MetadataStore } from '../metadata/device-metadata.js';
import { deviceEntry } from '../sidecar/sidecar-store.js';
import { readStorageJson, storageJsonPath } from '../storage/storage-json.js';
import type { ArchivedDevice, RemovalReport } from '../shared/protocol.js';
import { syncDir } from '../util/atomic-file.js';
import type { Logger } from '../util/log.js';
import { Mutex } from '../util/mutex.js';
import { checkBuildFolderDeletable, defaultBuildRoots, type GuardVerdict } from './delete-guard.js';
import { describeIncomplete, removeTree as defaultRemoveTree, type RemoveTreeFn } from './tree-remover.js';

export const ARCHIVE_DIR = 'archive';

export type DeviceFileErrorCode = 'not_found' | 'invalid_args' | 'conflict';

export class DeviceFileError extends Error {
  constructor(
    readonly code: DeviceFileErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DeviceFileError';
  }
}

export interface DeviceFilesOptions {
  configDir: string;
  dataDir: string;
  store: MetadataStore;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  /** How build folders are deleted (default: tree-remover.ts, which never crosses a symlink); tests pass another engine. */
  removeTree?: RemoveTreeFn;
}

export type { ArchivedDevice, RemovalReport };

interface BuildFolderPlan {
  /** The folder we would wipe, before the guard; null when there is none. */
  candidate: string | null;
  verdict: GuardVerdict | null;
}

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

function stem(configuration: string): string {
  return configuration.slice(0, configuration.length - path.extname(configuration).length);
}

async function lstatOrNull(target: string): Promise<Stats | null> {
  try {
    return await fsp.lstat(target);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return null;
    throw err;
  }
}

async function exists(target: string): Promise<boolean> {
  return (await lstatOrNull(target)) !== null;
}

async function unlinkIfPresent(target: string): Promise<void> {
  try {
    await fsp.unlink(target);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
}

/**
 * Moves one file without ever losing it: rename on the same file system;
 * across file systems (EXDEV) copy without clobbering, fsync the copy and
 * its folder, and only then unlink the original.
 */
export async function moveFile(source: string, destination: string): Promise<void> {
  try {
    await fsp.rename(source, destination);
  } catch (err) {
    if (errnoCode(err) !== 'EXDEV') throw err;
    await copyDurably(source, destination);
    await fsp.unlink(source);
  }
  await syncDir(path.dirname(destination));
  if (path.dirname(source) !== path.dirname(destination)) await syncDir(path.dirname(source));
}

async function copyDurably(source: string, destination: string): Promise<void> {
  const stats = await fsp.lstat(source);
  if (stats.isSymbolicLink()) {
    // A symlinked YAML (shared config) moves as the link, not as a copy of its target.
    await fsp.symlink(await fsp.readlink(source), destination);
    return;
  }
  try {
    await fsp.copyFile(source, destination, fsConstants.COPYFILE_EXCL);
  } catch (err) {
    // EEXIST: someone else's file; anything else may have left a partial copy of ours.
    if (errnoCode(err) !== 'EEXIST') await unlinkIfPresent(destination).catch(() => undefined);
    throw err;
  }
  try {
    const handle = await fsp.open(destination, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (err) {
    // The original is untouched; drop the copy we could not make durable.
    await unlinkIfPresent(destination).catch(() => undefined);
    throw err;
  }
  await syncDir(path.dirname(destination));
}

/** Reads and parses a YAML for the few fields we need; null when unreadable. */
async function readDeviceYaml(file: string): Promise<DeviceYaml | null> {
  try {
    const stats = await fsp.stat(file);
    if (!stats.isFile() || stats.size > MAX_YAML_BYTES) return null;
    return parseDeviceYaml(await fsp.readFile(file, 'utf8')).device;
  } catch {
    return null;
  }
}

function stringField(entry: Record<string, unknown>, key: string): string | null {
  const value = entry[key];
  return typeof value === 'string' && value !== '' ? value : null;
}

export class DeviceFiles {
  readonly configDir: string;
  readonly dataDir: string;
  readonly archiveDir: string;
  private readonly store: MetadataStore;
  private readonly log: Logger;
  private readonly env: NodeJS.ProcessEnv;
  private readonly removeTree: RemoveTreeFn;
  /** One file operation at a time, so two requests never race on the same device. */
  private readonly mutex = new Mutex();

  constructor(options: DeviceFilesOptions) {
    this.configDir = path.resolve(options.configDir);
    this.dataDir = path.resolve(options.dataDir);
    this.archiveDir = path.join(this.configDir, ARCHIVE_DIR);
    this.store = options.store;
    this.log = options.logger;
    this.env = options.env ?? process.env;
    this.removeTree = options.removeTree ?? defaultRemoveTree;
  }

  /** Wipes the build folder (guarded), moves the YAML to archive/, removes StorageJSON, scrubs volatile sidecar fields. */
  archive(configuration: string): Promise<RemovalReport> {
    return this.mutex.run(async () => {
      const name = this.validate(configuration);
      const yamlFile = await this.requireYaml(this.liveYaml(name), name);
      const archived = path.join(this.archiveDir, name);
      if (await exists(archived)) {
        throw new DeviceFileError('conflict', `${ARCHIVE_DIR}/${name} already exists; delete or rename it first`);
      }
      const plan = await this.planBuildFolder(name, yamlFile);
      // Creating the folder first means a failure here happens before anything is lost.
      await this.ensureArchiveDir();
      const report = await this.wipeBuildFolder(name, plan, 'archive');
      if (await exists(archived)) {
        throw new DeviceFileError('conflict', `${ARCHIVE_DIR}/${name} appeared while archiving; the YAML was left in place`);
      }
      await moveFile(yamlFile, archived);
      await unlinkIfPresent(storageJsonPath(this.dataDir, name));
      await this.store.scrubVolatile(name);
      this.log.info({ configuration: name, build_folder: report.build_folder }, 'archived device');
      return report;
    });
  }

  /** Moves archive/<file> back into the config dir. */
  unarchive(configuration: string): Promise<void> {
    return this.mutex.run(async () => {
      const name = this.validate(configuration);
      const archived = await this.requireYaml(path.join(this.archiveDir, name), name, 'is not archived');
      const live = this.liveYaml(name);
      if (await exists(live)) {
        throw new DeviceFileError('conflict', `${name} already exists in the config dir; rename or delete it first`);
      }
      await moveFile(archived, live);
      this.log.info({ configuration: name }, 'unarchived device');
    });
  }

  /** Device YAMLs in archive/ (same file rules as the scanner), sorted by file name. */
  async listArchived(): Promise<ArchivedDevice[]> {
    let entries: Dirent[];
    try {
      entries = await fsp.readdir(this.archiveDir, { withFileTypes: true });
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return [];
      throw err;
    }
    const sidecar = await this.store.read();
    const result: ArchivedDevice[] = [];
    for (const entry of entries) {
      if (!isDeviceFileName(entry.name) || !isSafeConfigurationName(entry.name)) continue;
      const file = path.join(this.archiveDir, entry.name);
      if (!entry.isFile() && !entry.isSymbolicLink()) continue;
      if (entry.isSymbolicLink()) {
        const stats = await fsp.stat(file).catch(() => null);
        if (!stats?.isFile()) continue;
      }
      const yaml = await readDeviceYaml(file);
      const sidecarEntry = deviceEntry(sidecar, entry.name);
      result.push({
        configuration: entry.name,
        name: yaml?.name ?? stem(entry.name),
        friendly_name: yaml?.friendlyName ?? stringField(sidecarEntry, 'friendly_name'),
        comment: yaml?.comment ?? stringField(sidecarEntry, 'comment'),
      });
    }
    return result.sort((a, b) => (a.configuration < b.configuration ? -1 : a.configuration > b.configuration ? 1 : 0));
  }

  /** Wipes the build folder (guarded), removes the YAML, its StorageJSON and its sidecar entry. */
  delete(configuration: string): Promise<RemovalReport> {
    return this.mutex.run(async () => {
      const name = this.validate(configuration);
      const yamlFile = await this.requireYaml(this.liveYaml(name), name);
      const plan = await this.planBuildFolder(name, yamlFile);
      const report = await this.wipeBuildFolder(name, plan, 'delete');
      await fsp.unlink(yamlFile);
      await syncDir(this.configDir);
      await unlinkIfPresent(storageJsonPath(this.dataDir, name));
      await this.store.removeDevice(name);
      this.log.info({ configuration: name, build_folder: report.build_folder }, 'deleted device');
      return report;
    });
  }

  /** Removes archive/<file> and its sidecar entry, unless a live device of the same name still uses it. */
  deleteArchived(configuration: string): Promise<void> {
    return this.mutex.run(async () => {
      const name = this.validate(configuration);
      const archived = await this.requireYaml(path.join(this.archiveDir, name), name, 'is not archived');
      await fsp.unlink(archived);
      await syncDir(this.archiveDir);
      // The sidecar entry is keyed by file name: a live YAML of the same name owns it now.
      if (!(await exists(this.liveYaml(name)))) await this.store.removeDevice(name);
      this.log.info({ configuration: name }, 'deleted archived device');
    });
  }

  /**
   * The device's build folder: StorageJSON's `build_path` when set (the
   * authority), else `<data>/<esphome.build_path | $ESPHOME_BUILD_PATH |
   * build>/<esphome.name>` when that folder exists; null otherwise. Not
   * guarded: callers that delete must use the guard.
   */
  async buildFolderOf(configuration: string): Promise<string | null> {
    const name = this.validate(configuration);
    const yaml = await readDeviceYaml(this.liveYaml(name));
    return (await this.locateBuildFolder(name, yaml)).candidate;
  }

  private validate(configuration: unknown): string {
    if (!isSafeConfigurationName(configuration)) {
      throw new DeviceFileError('invalid_args', 'configuration must be a plain file name (no /, \\, NUL, . or ..)');
    }
    if (!isDeviceFileName(configuration)) {
      throw new DeviceFileError('invalid_args', `${configuration} is not a device YAML file name`);
    }
    return configuration;
  }

  private liveYaml(configuration: string): string {
    return path.join(this.configDir, configuration);
  }

  /** The YAML path when it is a file or a symlink (even a dangling one); else not_found. */
  private async requireYaml(file: string, configuration: string, missing = 'does not exist'): Promise<string> {
    const stats = await lstatOrNull(file);
    if (!stats) throw new DeviceFileError('not_found', `${configuration} ${missing}`);
    if (!stats.isFile() && !stats.isSymbolicLink()) {
      throw new DeviceFileError('not_found', `${configuration} is not a file`);
    }
    return file;
  }

  private async ensureArchiveDir(): Promise<void> {
    await fsp.mkdir(this.archiveDir, { recursive: true });
    const stats = await fsp.stat(this.archiveDir);
    if (!stats.isDirectory()) throw new Error(`${this.archiveDir} is not a folder`);
  }

  private async locateBuildFolder(configuration: string, yaml: DeviceYaml | null): Promise<{ candidate: string | null; option: string | null }> {
    const option = yaml?.buildPathOption ?? null;
    const storage = await readStorageJson(this.dataDir, configuration);
    if (storage?.buildPath) return { candidate: storage.buildPath, option };
    if (!yaml?.name) return { candidate: null, option };
    const root = option ?? (this.env['ESPHOME_BUILD_PATH'] || 'build');
    const computed = path.resolve(this.dataDir, root, yaml.name);
    return { candidate: (await exists(computed)) ? computed : null, option };
  }

  private async planBuildFolder(configuration: string, yamlFile: string): Promise<BuildFolderPlan> {
    const yaml = await readDeviceYaml(yamlFile);
    const { candidate, option } = await this.locateBuildFolder(configuration, yaml);
    if (candidate === null) return { candidate, verdict: null };
    const verdict = checkBuildFolderDeletable(candidate, {
      configDir: this.configDir,
      dataDir: this.dataDir,
      buildRoots: defaultBuildRoots(this.dataDir, this.env, option),
    });
    return { candidate, verdict };
  }

  private async wipeBuildFolder(configuration: string, plan: BuildFolderPlan, action: string): Promise<RemovalReport> {
    const { candidate, verdict } = plan;
    if (candidate === null || verdict === null) return { configuration, build_folder: 'none' };
    if (!verdict.ok) {
      this.log.warn(
        { configuration, build_path: candidate, reason: verdict.reason },
        `refusing to delete the build folder on ${action}; the YAML is still handled`,
      );
      return { configuration, build_folder: 'refused', reason: verdict.reason };
    }
    try {
      // Re-checked now rather than trusting the plan: what is there decides how it goes.
      const stats = await lstatOrNull(verdict.path);
      if (!stats) return { configuration, build_folder: 'none' };
      if (stats.isSymbolicLink()) {
        // Remove the link itself; its target is not ours to delete.
        await fsp.unlink(verdict.path);
      } else {
        // Never by path: a folder swapped for a symlink mid-delete is unlinked
        // as a link, mounts are left alone, and it runs off the event loop.
        const removal = await this.removeTree(verdict.path);
        if (!removal.complete) {
          const reason = `could not delete all of build folder ${verdict.path}: ${describeIncomplete(removal)}`;
          this.log.warn({ configuration, build_path: verdict.path, removal }, `${reason}; the YAML is still handled`);
          return { configuration, build_folder: 'refused', reason };
        }
      }
    } catch (err) {
      const reason = `could not delete build folder ${verdict.path}: ${(err as Error).message}`;
      this.log.warn({ configuration, build_path: verdict.path, err }, `${reason}; the YAML is still handled`);
      return { configuration, build_folder: 'refused', reason };
    }
    this.log.info({ configuration, build_path: verdict.path, symlink: verdict.symlink }, `deleted build folder on ${action}`);
    return { configuration, build_folder: 'deleted' };
  }
}
