/**
 * `device-builder sizes`: one refresh pass over a config dir, then a report.
 *
 * The pass is the server's own machinery run once: the fleet sweep compares
 * two stats per device with the cached pair, only stale devices are walked, and
 * their sizes are persisted, so a second run with nothing changed walks
 * nothing and costs a couple of stats per device.
 */
import type { WalkerChoice } from '../build-size/native-walker.js';
import { DEVICE_SOURCE } from '../refresher/build-size-refresher.js';
import type { Device } from '../shared/device.js';
import { formatBytes } from '../shared/format.js';
import { breakdownOf, type BuildSizeRefreshResult } from '../build-size/build-size.js';
import type { MetadataStore } from '../metadata/device-metadata.js';
import type { FieldUpdates } from '../sidecar/sidecar-store.js';
import { resolveDataDir } from '../storage/data-dir.js';
import type { OrphanBuild, PlatformioSummary } from '../shared/protocol.js';
import { diskWarning, type DiskSpace, type DiskWarning, type ReclaimPolicy } from '../shared/reclaim.js';
import { readDiskSpace, type DiskSpaceReader } from '../reclaim/disk-space.js';
import { readSavedFreeSpaceRule } from '../reclaim/reclaim-file.js';
import type { Logger } from '../util/log.js';
import { createSizingSystem } from '../sizing-system.js';
import { assertReadableDir } from './config-dir.js';

export type SizeState = 'cached' | 'walked' | 'not compiled';

export interface SizedDevice {
  device: Device;
  sizeBytes: number;
  walked: boolean;
  state: SizeState;
}

export interface SizesReport {
  configDir: string;
  /** ESPHome's data dir in use (StorageJSON, build folders, per-instance files). */
  dataDir: string;
  totalBytes: number;
  walked: number;
  devices: SizedDevice[];
  orphans: OrphanBuild[];
  orphanBytes: number;
  platformio: PlatformioSummary;
  /** The data dir's file system after the pass; null when `statfs` failed. */
  disk: DiskSpace | null;
  /** The free-space warning (below the saved reclaim policy's threshold, or below twice the largest build folder). */
  diskWarning: DiskWarning | null;
  /**
   * Why the measurements could not be saved (the sidecar lock stayed busy,
   * a read-only folder, ...); null when everything was saved. The figures
   * above are still this run's measurements.
   */
  saveError: string | null;
}

export interface SizesOptions {
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  /** ESPHome's data dir (default: from `env`, storage/data-dir.ts's rule). */
  dataDir?: string;
  walker?: WalkerChoice;
  /** Called as devices are walked, for a progress line. */
  onProgress?: (walked: number, configuration: string) => void;
  poolSize?: number;
  /** How the data dir's file system is read (tests simulate a full disk). */
  diskSpace?: DiskSpaceReader;
  /** The saved reclaim policy, for the free-space warning (default: {@link readSavedFreeSpaceRule}). */
  readPolicy?: () => Promise<ReclaimPolicy | null>;
}

export async function runSizesPass(configDir: string, options: SizesOptions): Promise<SizesReport> {
  await assertReadableDir(configDir);
  const env = options.env ?? process.env;
  const dataDir = options.dataDir ?? resolveDataDir(configDir, env);
  let devices: Device[] = [];
  const walkedDevices = new Set<string>();
  // Measured but not saved: reported from the walk itself, so a busy lock costs the save, not the answer.
  const unsaved = new Map<string, BuildSizeRefreshResult>();
  const walkedOne = (configuration: string): void => {
    walkedDevices.add(configuration);
    options.onProgress?.(walkedDevices.size, configuration);
  };
  let guarded: GuardedStore | null = null;
  const sizing = createSizingSystem({
    configDir,
    dataDir,
    env,
    logger: options.logger,
    walker: options.walker,
    poolSize: options.poolSize,
    // A warm run is a couple of stats per device: no worker needs to start for it.
    inlineSignals: true,
    wrapStore: (metadata) => (guarded = stopWritingAfterFailure(metadata)),
    activeConfigurations: () => devices.map((device) => device.configuration),
    listTargets: async () => devices.map((d) => ({ configuration: d.configuration, buildPath: d.build_path })),
    onRefreshed: walkedOne,
    onPersistFailed: (kind, key, result) => {
      if (kind !== DEVICE_SOURCE) return;
      unsaved.set(key, result);
      walkedOne(key);
    },
  });
  const { store, scanner, orphans, platformio, refresher } = sizing;
  try {
    await store.cleanStaleTemps();
    devices = await scanner.scan(await store.read());
    refresher.start();
    await refresher.whenIdle();
  } finally {
    await sizing.close();
  }
  const failure = (guarded as GuardedStore | null)?.failure ?? null;

  // Re-assembled from the metadata the pass just wrote; the parse cache makes
  // this a stat and a StorageJSON read per device, no YAML parsing.
  const sidecar = await store.read();
  const sized = (await scanner.scan(sidecar)).map((scanned): SizedDevice => {
    const device = withUnsavedMeasurement(scanned, unsaved.get(scanned.configuration));
    const walked = walkedDevices.has(device.configuration);
    const sizeBytes = device.build_size_bytes;
    const state: SizeState = walked ? 'walked' : device.build_path && sizeBytes > 0 ? 'cached' : 'not compiled';
    return { device, sizeBytes, walked, state };
  });
  sized.sort((a, b) => b.sizeBytes - a.sizeBytes || a.device.configuration.localeCompare(b.device.configuration));
  const orphanList = await orphans.list();
  const disk = await (options.diskSpace ?? readDiskSpace)(dataDir);
  if (!disk) options.logger.warn({ dataDir }, 'could not read the free space of the data dir (statfs failed)');
  // What the next compile may write is about one device's build folder.
  const largestBuild = sized.reduce((largest, entry) => Math.max(largest, entry.sizeBytes), 0);
  const policy = await (options.readPolicy ?? (() => readSavedFreeSpaceRule(dataDir)))();
  return {
    configDir,
    dataDir,
    saveError: failure ? describeSaveError(failure) : null,
    totalBytes: sized.reduce((sum, entry) => sum + entry.sizeBytes, 0),
    walked: walkedDevices.size,
    devices: sized,
    orphans: orphanList,
    orphanBytes: orphanList.reduce((sum, orphan) => sum + orphan.build_size_bytes, 0),
    platformio: await platformio.summary(sidecar),
    disk,
    diskWarning: diskWarning(disk, policy, largestBuild),
  };
}

/**
 * The store `sizes` writes through: after one failed write (typically the
 * sidecar lock held past its timeout by another process) later writes fail
 * at once with the same error instead of waiting for the lock again per
 * batch, so a blocked run ends in seconds and reports what it measured.
 */
type GuardedStore = MetadataStore & { readonly failure: unknown };

function stopWritingAfterFailure(store: MetadataStore): GuardedStore {
  let failure: unknown = null;
  const guarded =
    <A extends unknown[]>(write: (...args: A) => Promise<void>) =>
    async (...args: A): Promise<void> => {
      if (failure !== null) throw failure;
      try {
        await write(...args);
      } catch (err) {
        failure = err;
        throw err;
      }
    };
  return {
    read: () => store.read(),
    readDevice: (configuration) => store.readDevice(configuration),
    readGlobal: (key) => store.readGlobal(key),
    updateGlobal: guarded((key: string, next: (current: unknown) => unknown) => store.updateGlobal(key, next)),
    updateDevice: guarded((configuration: string, fields: FieldUpdates) => store.updateDevice(configuration, fields)),
    updateDevices: guarded((updates: ReadonlyMap<string, FieldUpdates>) => store.updateDevices(updates)),
    scrubVolatile: guarded((configuration: string) => store.scrubVolatile(configuration)),
    removeDevice: guarded((configuration: string) => store.removeDevice(configuration)),
    flush: () => store.flush(),
    cleanStaleTemps: () => store.cleanStaleTemps(),
    get failure() {
      return failure;
    },
  };
}

function describeSaveError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A device as this run measured it, when that measurement could not be saved. */
function withUnsavedMeasurement(device: Device, result: BuildSizeRefreshResult | undefined): Device {
  if (!result || !device.build_path) return device;
  return {
    ...device,
    build_size_bytes: result.sizeBytes,
    build_disk_bytes: result.walk.diskBytes,
    build_size_breakdown: breakdownOf(result.walk),
  };
}

/** The `--json` shape: one object, stable keys. */
export function sizesReportJson(report: SizesReport): object {
  return {
    config_dir: report.configDir,
    data_dir: report.dataDir,
    total_bytes: report.totalBytes,
    walked: report.walked,
    devices: report.devices.map(({ device, sizeBytes, walked }) => ({
      configuration: device.configuration,
      name: device.name,
      friendly_name: device.friendly_name,
      build_path: device.build_path,
      build_size_bytes: sizeBytes,
      build_disk_bytes: device.build_disk_bytes,
      walked,
    })),
    orphans: report.orphans.map(({ build_path, build_size_bytes }) => ({ build_path, build_size_bytes })),
    orphan_bytes: report.orphanBytes,
    platformio: { path: report.platformio.path, bytes: report.platformio.bytes, parts: report.platformio.parts },
    disk: report.disk ? { path: report.disk.path, free_bytes: report.disk.free_bytes, total_bytes: report.disk.total_bytes } : null,
  };
}

/** A plain-text table, largest first, with a total line. */
export function renderSizesTable(report: SizesReport): string {
  const header = ['NAME', 'CONFIG', 'BUILD SIZE', 'STATE'];
  const rows = report.devices.map(({ device, sizeBytes, state }) => [device.name, device.configuration, sizeBytes > 0 ? formatBytes(sizeBytes) : '—', state]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, column) => (column === 2 ? cell.padStart(widths[column] ?? 0) : cell.padEnd(widths[column] ?? 0)))
      .join('  ')
      .trimEnd();
  const compiled = report.devices.filter((entry) => entry.sizeBytes > 0).length;
  const out = [line(header), ...rows.map(line)];
  out.push(
    '',
    `Total: ${formatBytes(report.totalBytes)} in ${compiled} of ${report.devices.length} devices` +
      ` (${report.walked} walked, ${report.devices.length - report.walked} from cache)`,
  );
  if (report.orphans.length > 0) {
    out.push('', `Unused build folders (no device uses them; ${formatBytes(report.orphanBytes)} reclaimable):`);
    const width = Math.max(...report.orphans.map((orphan) => formatBytes(orphan.build_size_bytes).length));
    for (const orphan of report.orphans) out.push(`  ${formatBytes(orphan.build_size_bytes).padStart(width)}  ${orphan.build_path}`);
  }
  const pio = report.platformio;
  out.push(
    '',
    pio.bytes > 0
      ? `PlatformIO cache ${pio.path}: ${formatBytes(pio.bytes)} (packages ${formatBytes(pio.parts.packages)}, platforms ${formatBytes(pio.parts.platforms)}, .cache ${formatBytes(pio.parts['.cache'])})`
      : `PlatformIO cache ${pio.path}: empty or not found`,
  );
  out.push('', renderDiskLine(report.disk));
  if (report.diskWarning) out.push(renderDiskWarning(report.diskWarning));
  return `${out.join('\n')}\n`;
}

/** `Disk: 12.3 GB free of 29.0 GB (data dir /config/.esphome)`. */
export function renderDiskLine(disk: DiskSpace | null): string {
  return disk
    ? `Disk: ${formatBytes(disk.free_bytes)} free of ${formatBytes(disk.total_bytes)} (data dir ${disk.path})`
    : 'Disk: free space unknown (statfs of the data dir failed)';
}

/** The free-space warning as one line, with what to do about it. */
export function renderDiskWarning(warning: DiskWarning): string {
  return warning.kind === 'below_policy'
    ? `Warning: free space ${formatBytes(warning.free_bytes)} is below the reclaim policy's ${formatBytes(warning.threshold_bytes)}; preview a clean-up with \`device-builder reclaim\`.`
    : `Warning: only ${formatBytes(warning.free_bytes)} free, less than twice the largest build folder (${formatBytes(warning.largest_build_bytes)}): the next compile may not fit. Preview a clean-up with \`device-builder reclaim\`.`;
}
