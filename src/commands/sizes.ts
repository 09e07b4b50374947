/**
 * `device-builder sizes`: one refresh pass over a config dir, then a report.
 *
 * The pass is the server's own machinery run once: the fleet sweep compares
 * two stats per device with the sidecar, only stale devices are walked, and
 * their sizes are persisted, so a second run with nothing changed walks
 * nothing and costs a couple of stats per device.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { ConfigScanner } from '../config/config-scanner.js';
import { WalkPool } from '../build-size/walk-pool.js';
import { BuildSizeRefresher } from '../refresher/build-size-refresher.js';
import type { Device } from '../shared/device.js';
import { formatBytes } from '../shared/format.js';
import { SidecarStore } from '../sidecar/sidecar-store.js';
import { resolveDataDir } from '../storage/storage-json.js';
import { OrphanBuilds } from '../orphans/orphan-builds.js';
import { PlatformioCache } from '../platformio/platformio-cache.js';
import type { OrphanBuild, PlatformioSummary } from '../shared/protocol.js';
import type { Logger } from '../util/log.js';

export type SizeState = 'cached' | 'walked' | 'not compiled';

export interface SizedDevice {
  device: Device;
  sizeBytes: number;
  walked: boolean;
  state: SizeState;
}

export interface SizesReport {
  configDir: string;
  totalBytes: number;
  walked: number;
  devices: SizedDevice[];
  orphans: OrphanBuild[];
  orphanBytes: number;
  platformio: PlatformioSummary;
}

/** A user-facing failure: one line on stderr and exit code 2. */
export class UsageError extends Error {}

/** `[config_dir]`, else `$ESPHOME_CONFIG_DIR`, else `./config`. */
export function resolveConfigDir(arg: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(arg || env['ESPHOME_CONFIG_DIR'] || 'config');
}

/** Fails with a one-line reason unless `dir` is a folder we can list. */
export async function assertReadableDir(dir: string): Promise<void> {
  try {
    const stats = await fsp.stat(dir);
    if (!stats.isDirectory()) throw new UsageError(`config dir is not a folder: ${dir}`);
    await fsp.readdir(dir);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such folder' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new UsageError(`cannot read config dir ${dir}: ${why}`);
  }
}

export interface SizesOptions {
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  /** Called as devices are walked, for a progress line. */
  onProgress?: (walked: number, configuration: string) => void;
  poolSize?: number;
}

export async function runSizesPass(configDir: string, options: SizesOptions): Promise<SizesReport> {
  await assertReadableDir(configDir);
  const env = options.env ?? process.env;
  const dataDir = resolveDataDir(configDir, env);
  const store = new SidecarStore(configDir, { logger: options.logger });
  await store.cleanStaleTemps();
  const scanner = new ConfigScanner(configDir, dataDir);
  const devices = await scanner.scan(await store.read());
  const byConfiguration = new Map(devices.map((device) => [device.configuration, device]));
  const walkedDevices = new Set<string>();

  const orphans = new OrphanBuilds({
    configDir,
    dataDir,
    store,
    logger: options.logger,
    env,
    activeConfigurations: () => byConfiguration.keys(),
  });
  const platformio = new PlatformioCache(store, env);
  const pool = new WalkPool({ size: options.poolSize, logger: options.logger });
  const refresher = new BuildSizeRefresher({
    store,
    walk: (root) => pool.walk(root),
    signals: (dirs) => pool.signals(dirs),
    listTargets: async () => devices.map((d) => ({ configuration: d.configuration, buildPath: d.build_path })),
    buildPathOf: async (configuration) => byConfiguration.get(configuration)?.build_path ?? null,
    onRefreshed: (configuration) => {
      walkedDevices.add(configuration);
      options.onProgress?.(walkedDevices.size, configuration);
    },
    extraSources: [orphans.source, platformio.source],
    logger: options.logger,
  });
  try {
    refresher.start();
    await refresher.whenIdle();
  } finally {
    await refresher.stop();
    await pool.close();
    await store.flush();
  }

  // Re-assembled from the sidecar the pass just wrote; the parse cache makes
  // this a stat and a StorageJSON read per device, no YAML parsing.
  const sidecar = await store.read();
  const sized = (await scanner.scan(sidecar)).map((device): SizedDevice => {
    const walked = walkedDevices.has(device.configuration);
    const sizeBytes = device.build_size_bytes;
    const state: SizeState = walked ? 'walked' : device.build_path && sizeBytes > 0 ? 'cached' : 'not compiled';
    return { device, sizeBytes, walked, state };
  });
  sized.sort((a, b) => b.sizeBytes - a.sizeBytes || a.device.configuration.localeCompare(b.device.configuration));
  const orphanList = await orphans.list();
  return {
    configDir,
    totalBytes: sized.reduce((sum, entry) => sum + entry.sizeBytes, 0),
    walked: walkedDevices.size,
    devices: sized,
    orphans: orphanList,
    orphanBytes: orphanList.reduce((sum, orphan) => sum + orphan.build_size_bytes, 0),
    platformio: await platformio.summary(sidecar),
  };
}

/** The `--json` shape: one object, stable keys. */
export function sizesReportJson(report: SizesReport): object {
  return {
    config_dir: report.configDir,
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
  };
}

/** A plain-text table, largest first, with a total line. */
export function renderSizesTable(report: SizesReport): string {
  const header = ['NAME', 'CONFIG', 'BUILD SIZE', 'STATE'];
  const rows = report.devices.map(({ device, sizeBytes, state }) => [
    device.name,
    device.configuration,
    sizeBytes > 0 ? formatBytes(sizeBytes) : '—',
    state,
  ]);
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
  return `${out.join('\n')}\n`;
}
