/**
 * The sizing system, assembled once for both `serve` and `sizes`: the
 * metadata files, the config scanner, the walk pool, the unused-folder and
 * PlatformIO sources, and the refresher that keeps them all sized. The two
 * commands differ only in what they pass in: which devices exist (the
 * server's live catalog, or one scan), what happens after a measurement
 * (reload and push, or a progress line), and how writes fail (`sizes` stops
 * writing after the first failure, see commands/sizes.ts).
 *
 * Every device measurement the refresher persists also lands in the size
 * history (per instance, `<data>/.device-builder-ts-sizes/`, see
 * size-history/size-history-store.ts): a point and the walk's size tree.
 *
 * One build-path rule everywhere: a device's folder is StorageJSON's
 * `build_path` resolved against the config folder, read fresh for every
 * check (storage/storage-json.ts), as ESPHome resolves it.
 */
import type { BuildSizeRefreshResult, BuildTarget } from './build-size/build-size.js';
import type { WalkerChoice } from './build-size/native-walker.js';
import { WalkPool, type WalkFn } from './build-size/walk-pool.js';
import { ConfigScanner } from './config/config-scanner.js';
import { DeviceMetadata, type MetadataStore } from './metadata/device-metadata.js';
import { OrphanBuilds } from './orphans/orphan-builds.js';
import { PlatformioCache } from './platformio/platformio-cache.js';
import { BuildSizeRefresher } from './refresher/build-size-refresher.js';
import { SizeHistoryStore } from './size-history/size-history-store.js';
import type { EventBus } from './events/event-bus.js';
import { readStorageJson, resolvedBuildPath } from './storage/storage-json.js';
import type { Logger } from './util/log.js';

export interface SizingSystemOptions {
  configDir: string;
  /** ESPHome's data dir (settings.ts). */
  dataDir: string;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  walker?: WalkerChoice;
  poolSize?: number;
  /** Freshness stats on the main thread (`sizes`: nothing else to keep answering; see WalkPool). */
  inlineSignals?: boolean;
  /** Where orphan and PlatformIO events are published (the server's bus); none for `sizes`. */
  bus?: EventBus;
  /** Wraps the metadata the whole system writes through (`sizes`: stop after the first failed write). */
  wrapStore?: (store: DeviceMetadata) => MetadataStore;
  /** Wraps every walk (the server times them for /metrics). */
  wrapWalk?: (walk: WalkFn) => WalkFn;
  /** Configurations whose build folders are in use; every other folder in a build root is unused. */
  activeConfigurations: () => Iterable<string>;
  /** Every device and its build folder, for a fleet sweep. */
  listTargets: () => Promise<BuildTarget[]>;
  onRefreshed?: (configuration: string, result: BuildSizeRefreshResult) => unknown;
  onUnchanged?: (configuration: string) => unknown;
  onPersistFailed?: (kind: string, key: string, result: BuildSizeRefreshResult, err: unknown) => void;
}

export interface SizingSystem {
  /** The three metadata files as one (metadata/device-metadata.ts). */
  metadata: DeviceMetadata;
  /** What everything writes through: {@link metadata}, wrapped when asked. */
  store: MetadataStore;
  scanner: ConfigScanner;
  pool: WalkPool;
  orphans: OrphanBuilds;
  platformio: PlatformioCache;
  refresher: BuildSizeRefresher;
  /** Device and fleet size histories and size trees (the API reads them; the reclaim service marks what it freed). */
  sizeHistory: SizeHistoryStore;
  /** Stops the refresher and the pool, then waits for every write. */
  close(): Promise<void>;
}

export function createSizingSystem(options: SizingSystemOptions): SizingSystem {
  const { configDir, dataDir, env, logger } = options;
  const metadata = new DeviceMetadata(configDir, dataDir, { logger });
  const store = options.wrapStore?.(metadata) ?? metadata;
  const scanner = new ConfigScanner(configDir, dataDir, { persistCache: true, logger });
  const pool = new WalkPool({ size: options.poolSize, walker: options.walker, inlineSignals: options.inlineSignals, logger });
  const orphans = new OrphanBuilds({ configDir, dataDir, store, logger, env, bus: options.bus, activeConfigurations: options.activeConfigurations });
  const platformio = new PlatformioCache(store, env, options.bus);
  const walk: WalkFn = (root, walkOptions) => pool.walk(root, walkOptions);
  const sizeHistory = new SizeHistoryStore(dataDir, { logger });
  const refresher = new BuildSizeRefresher({
    store,
    walk: options.wrapWalk?.(walk) ?? walk,
    signals: (dirs) => pool.signals(dirs),
    listTargets: options.listTargets,
    buildPathOf: async (configuration) => resolvedBuildPath(configDir, await readStorageJson(dataDir, configuration)),
    onRefreshed: options.onRefreshed,
    onUnchanged: options.onUnchanged,
    onPersistFailed: options.onPersistFailed,
    sizeHistory,
    extraSources: [orphans.source, platformio.source],
    logger,
  });
  return {
    metadata,
    store,
    scanner,
    pool,
    orphans,
    platformio,
    refresher,
    sizeHistory,
    async close() {
      await refresher.stop();
      await pool.close();
      await Promise.all([store.flush(), sizeHistory.flush()]);
    },
  };
}
