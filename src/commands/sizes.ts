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
import { coerceSidecarInt } from '../sidecar/coerce.js';
import { deviceEntry, SidecarStore } from '../sidecar/sidecar-store.js';
import { resolveDataDir } from '../storage/storage-json.js';
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
  /** Called as devices are walked, for a progress line. */
  onProgress?: (walked: number, configuration: string) => void;
  poolSize?: number;
}

export async function runSizesPass(configDir: string, options: SizesOptions): Promise<SizesReport> {
  await assertReadableDir(configDir);
  const dataDir = resolveDataDir(configDir);
  const store = new SidecarStore(configDir, { logger: options.logger });
  const scanner = new ConfigScanner(configDir, dataDir);
  const devices = await scanner.scan(await store.read());
  const byConfiguration = new Map(devices.map((device) => [device.configuration, device]));
  const walkedSizes = new Map<string, number>();

  const pool = new WalkPool({ size: options.poolSize, logger: options.logger });
  const refresher = new BuildSizeRefresher({
    store,
    walk: (root) => pool.walk(root),
    signals: (dirs) => pool.signals(dirs),
    listTargets: async () => devices.map((d) => ({ configuration: d.configuration, buildPath: d.build_path })),
    buildPathOf: async (configuration) => byConfiguration.get(configuration)?.build_path ?? null,
    onRefreshed: (configuration, result) => {
      walkedSizes.set(configuration, result.sizeBytes);
      options.onProgress?.(walkedSizes.size, configuration);
    },
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

  const sidecar = await store.read();
  const sized = devices.map((device): SizedDevice => {
    const walked = walkedSizes.has(device.configuration);
    const sizeBytes = device.build_path
      ? walked
        ? (walkedSizes.get(device.configuration) as number)
        : coerceSidecarInt(deviceEntry(sidecar, device.configuration)['build_size_bytes'])
      : 0;
    const state: SizeState = walked ? 'walked' : device.build_path && sizeBytes > 0 ? 'cached' : 'not compiled';
    return { device: { ...device, build_size_bytes: sizeBytes }, sizeBytes, walked, state };
  });
  sized.sort((a, b) => b.sizeBytes - a.sizeBytes || a.device.configuration.localeCompare(b.device.configuration));
  return {
    configDir,
    totalBytes: sized.reduce((sum, entry) => sum + entry.sizeBytes, 0),
    walked: walkedSizes.size,
    devices: sized,
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
      walked,
    })),
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
  return `${out.join('\n')}\n`;
}
