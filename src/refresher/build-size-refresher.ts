/**
 * Keeps every cached build size true, in the background.
 *
 * One worker (see {@link WakeWorker}) drains a set of pending keys, one walk
 * at a time so disk I/O stays bounded under bulk bursts (a bulk clean of 50
 * devices is 50 checks in a row, not 50 walks at once). What gets sized
 * comes from {@link SizeSource}s: the devices' build folders always, plus
 * orphaned build folders and the PlatformIO cache in the server. Its first
 * cycle sweeps every source with two stats per folder, which catches
 * compiles made with the CLI while the dashboard was down; `requestSweep()`
 * repeats that on demand (after `clean-all`, on a stat-only timer).
 *
 * Per drain cycle the sidecar is read once; each key is checked against that
 * snapshot and, when its pair moved, walked, persisted and reported (the
 * server reloads the device and pushes `device_updated`). A failing key,
 * callback or sweep is logged and the worker moves on.
 *
 * Each persisted device measurement is also handed to the size history
 * (size-history/size-history-store.ts: a point and the walk's size tree),
 * which only queues it; its own writer writes the files, so the walk loop
 * never waits on them. After a cycle that changed any device's size, the
 * fleet total (the sum of every device's cached size) gets a point too.
 */
import {
  buildSizeFieldUpdates,
  deviceCachedSignal,
  findStaleBuildDirs,
  refreshBuildSizeIfStale,
  type BuildSizeRefreshResult,
  type BuildTarget,
  type SignalsFn,
} from '../build-size/build-size.js';
import { signalsEqual, wholeSeconds, type BuildDirSignal } from '../build-size/freshness.js';
import type { WalkFn } from '../build-size/walk-pool.js';
import type { MetadataStore } from '../metadata/device-metadata.js';
import { deviceEntry, type SidecarData } from '../sidecar/sidecar-store.js';
import type { SizeTreeNode } from '../shared/size-history.js';
import type { Logger } from '../util/log.js';
import { raceAbort, WakeWorker } from '../worker/wake-worker.js';
import type { SizeSource } from './size-source.js';

export const DEVICE_SOURCE = 'device';

export interface BuildSizeRefresherDeps {
  store: MetadataStore;
  walk: WalkFn;
  signals: SignalsFn;
  /** Every device and its current build folder, for a fleet sweep. */
  listTargets: () => Promise<BuildTarget[]>;
  /** One device's current build folder (read fresh: a compile may have just moved it). */
  buildPathOf: (configuration: string) => Promise<string | null>;
  onRefreshed?: (configuration: string, result: BuildSizeRefreshResult) => unknown;
  /** A device asked for with {@link BuildSizeRefresher.requestReport} was checked and its folder had not moved. */
  onUnchanged?: (configuration: string) => unknown;
  /** Further things to keep sized with the same worker (orphans, PlatformIO). */
  extraSources?: SizeSource[];
  /** A measurement that could not be persisted (lock busy, disk full); `sizes` still reports it. */
  onPersistFailed?: (kind: string, key: string, result: BuildSizeRefreshResult, err: unknown) => void;
  /** Where measurements are kept over time (size-history-store.ts); none: no history. */
  sizeHistory?: SizeHistoryRecorder;
  logger: Logger;
}

/** What the refresher hands the size history: both calls only queue, never wait on a write. */
export interface SizeHistoryRecorder {
  recordDevice(configuration: string, bytes: number, tree: SizeTreeNode | null): void;
  recordFleetTotal(bytes: number): void;
}

export interface RefresherStats {
  walks: number;
  sweeps: number;
  walkSeconds: number;
}

/** The devices' build folders, cached in their sidecar entries. */
function deviceSource(deps: BuildSizeRefresherDeps): SizeSource {
  return {
    kind: DEVICE_SOURCE,
    targets: deps.listTargets,
    dirOf: deps.buildPathOf,
    cached: deviceCachedSignal,
    persist: (configuration, result) => deps.store.updateDevice(configuration, buildSizeFieldUpdates(result)),
    persistMany: (entries) => deps.store.updateDevices(new Map(entries.map(([configuration, result]) => [configuration, buildSizeFieldUpdates(result)]))),
    refreshed: deps.onRefreshed,
    unchanged: deps.onUnchanged,
  };
}

// NUL cannot occur in a file name or path, so it cleanly separates kind and key.
const SEP = '\0';

/** Measurements are written in batches of this many, or after this long, whichever comes first. */
const PERSIST_BATCH = 32;
const PERSIST_BATCH_MS = 250;

interface Measured {
  source: SizeSource;
  key: string;
  result: BuildSizeRefreshResult;
}

function logKeyOf(source: SizeSource, key: string): Record<string, string> {
  return source.kind === DEVICE_SOURCE ? { configuration: key } : { kind: source.kind, key };
}

export class BuildSizeRefresher extends WakeWorker<string> {
  readonly stats: RefresherStats = { walks: 0, sweeps: 0, walkSeconds: 0 };
  private readonly sources = new Map<string, SizeSource>();
  /**
   * The exact pair each key was last measured at (see freshness.ts): lets
   * a change made in the same second as our walk still count as a change.
   */
  private readonly measuredAt = new Map<string, BuildDirSignal>();
  /** Source kinds whose sweep is due; all of them at start. */
  private readonly sweepsDue = new Set<string>();
  /** Pending keys whose check is reported even when nothing moved (see {@link requestReport}). */
  private readonly reportDue = new Set<string>();
  /** A device measurement was persisted in this drain cycle: the fleet total gets a point at its end. */
  private deviceMeasuredThisCycle = false;

  constructor(private readonly deps: BuildSizeRefresherDeps) {
    super('build-size-refresher', deps.logger);
    for (const source of [deviceSource(deps), ...(deps.extraSources ?? [])]) {
      this.sources.set(source.kind, source);
      this.sweepsDue.add(source.kind);
    }
  }

  /** Asks for one device's check (and walk, if its pair moved). */
  override request(configuration: string): void {
    this.requestKey(DEVICE_SOURCE, configuration);
  }

  /**
   * Like {@link request}, and the device is reported either way: through
   * `onRefreshed` when its folder moved (after the walk is persisted), else
   * through `onUnchanged`. After a job the server reloads the device from
   * that one report, so a finished compile costs one catalog reload.
   */
  requestReport(configuration: string): void {
    this.reportDue.add(`${DEVICE_SOURCE}${SEP}${configuration}`);
    this.request(configuration);
  }

  /** Asks for a check of one key of any source. */
  requestKey(kind: string, key: string): void {
    if (!this.sources.has(kind)) throw new Error(`unknown size source ${kind}`);
    super.request(`${kind}${SEP}${key}`);
  }

  /** Asks for a two-stat check of every folder of the given sources (default: all); stale ones are then walked. */
  requestSweep(kinds: readonly string[] = [...this.sources.keys()]): void {
    for (const kind of kinds) if (this.sources.has(kind)) this.sweepsDue.add(kind);
    this.notify();
  }

  protected override hasExtraWork(): boolean {
    return this.sweepsDue.size > 0;
  }

  protected override async initial(): Promise<void> {
    await this.sweepIfRequested();
  }

  protected override async drain(keys: string[]): Promise<void> {
    await this.sweepIfRequested();
    if (keys.length === 0) return;
    const snapshot = await this.deps.store.read();
    const batch: Measured[] = [];
    let batchStarted = 0;
    for (const pendingKey of keys) {
      if (this.abortSignal.aborted) return;
      const [kind = '', key = ''] = pendingKey.split(SEP);
      const source = this.sources.get(kind);
      if (!source) continue;
      const measured = await this.measureOne(source, key, snapshot);
      const report = this.reportDue.delete(pendingKey);
      if (!measured) {
        if (report) await this.report(source, key);
        continue;
      }
      if (batch.length === 0) batchStarted = performance.now();
      batch.push(measured);
      if (batch.length >= PERSIST_BATCH || performance.now() - batchStarted >= PERSIST_BATCH_MS) {
        await this.persistBatch(batch.splice(0));
      }
    }
    if (!this.abortSignal.aborted) await this.persistBatch(batch);
    if (this.deviceMeasuredThisCycle) {
      this.deviceMeasuredThisCycle = false;
      await this.recordFleetTotal();
    }
  }

  /** The sum of every device's cached size, as a fleet point (one sidecar read, after the cycle's walks). */
  private async recordFleetTotal(): Promise<void> {
    const history = this.deps.sizeHistory;
    if (!history) return;
    try {
      const [targets, snapshot] = await Promise.all([this.deps.listTargets(), this.deps.store.read()]);
      let total = 0;
      for (const { configuration } of targets) {
        const bytes = deviceEntry(snapshot, configuration)['build_size_bytes'];
        if (typeof bytes === 'number' && Number.isFinite(bytes) && bytes > 0) total += bytes;
      }
      history.recordFleetTotal(total);
    } catch (err) {
      this.log.error({ err }, 'recording the fleet size total failed');
    }
  }

  private async sweepIfRequested(): Promise<void> {
    if (this.sweepsDue.size === 0) return;
    const kinds = [...this.sweepsDue];
    this.sweepsDue.clear();
    let snapshot: SidecarData | null = null;
    for (const kind of kinds) {
      const source = this.sources.get(kind) as SizeSource;
      try {
        const targets = await source.targets();
        snapshot ??= await this.deps.store.read();
        const stale = await findStaleBuildDirs(targets, snapshot, this.deps.signals, (data, key) => this.cachedWithExact(source, data, key));
        for (const key of stale) this.pending.add(`${kind}${SEP}${key}`);
        if (stale.length > 0) this.log.debug({ kind, stale: stale.length }, 'sweep found stale folders');
      } catch (err) {
        this.log.error({ err, kind }, 'sweep failed; individual requests are still served');
      }
    }
    this.stats.sweeps++;
  }

  /** The sidecar's whole-second pair, with the exact times we measured at when they still describe it. */
  private cachedWithExact(source: SizeSource, snapshot: SidecarData, key: string): BuildDirSignal {
    const cached = source.cached(snapshot, key);
    const exact = this.measuredAt.get(`${source.kind}${SEP}${key}`);
    if (!exact || !signalsEqual(wholeSeconds(exact), cached)) return cached;
    return { ...cached, dirMtimeMs: exact.dirMtimeMs, infoMtimeMs: exact.infoMtimeMs };
  }

  /** Checks one key and walks it if its pair moved; null when nothing changed or it failed. */
  private async measureOne(source: SizeSource, key: string, snapshot: SidecarData): Promise<Measured | null> {
    const cached = this.cachedWithExact(source, snapshot, key);
    const progress = source.progress;
    const walk: WalkFn = progress ? (root) => this.deps.walk(root, { onProgress: (p) => progress(key, p) }) : this.deps.walk;
    try {
      const dir = await source.dirOf(key);
      const started = performance.now();
      const result = await raceAbort(refreshBuildSizeIfStale(dir, cached, this.deps.signals, walk), this.abortSignal);
      if (!result) return null;
      this.stats.walks++;
      this.stats.walkSeconds += (performance.now() - started) / 1000;
      return { source, key, result };
    } catch (err) {
      if (!this.abortSignal.aborted) this.log.error({ err, ...logKeyOf(source, key) }, 'build size refresh failed');
      return null;
    }
  }

  private async report(source: SizeSource, key: string): Promise<void> {
    try {
      await source.unchanged?.(key);
    } catch (err) {
      this.log.error({ err, ...logKeyOf(source, key) }, 'build size unchanged callback failed');
    }
  }

  /**
   * Writes a batch of measurements, one sidecar write per source where it
   * can (a cold start of 1,000 devices is then ~30 writes, not 1,000), and
   * only then reports them: a reload must read what was persisted.
   */
  private async persistBatch(batch: Measured[]): Promise<void> {
    if (batch.length === 0) return;
    const bySource = new Map<SizeSource, Measured[]>();
    for (const measured of batch) bySource.set(measured.source, [...(bySource.get(measured.source) ?? []), measured]);
    for (const [source, entries] of bySource) {
      const persisted: Measured[] = [];
      if (source.persistMany) {
        try {
          await source.persistMany(entries.map(({ key, result }) => [key, result]));
          persisted.push(...entries);
        } catch (err) {
          this.log.error({ err, kind: source.kind, count: entries.length }, 'persisting build sizes failed');
          for (const { key, result } of entries) this.deps.onPersistFailed?.(source.kind, key, result, err);
        }
      } else {
        for (const entry of entries) {
          try {
            await source.persist(entry.key, entry.result);
            persisted.push(entry);
          } catch (err) {
            this.log.error({ err, ...logKeyOf(source, entry.key) }, 'persisting a build size failed');
            this.deps.onPersistFailed?.(source.kind, entry.key, entry.result, err);
          }
        }
      }
      for (const { key, result } of persisted) {
        this.measuredAt.set(`${source.kind}${SEP}${key}`, result.signal);
        if (source.kind === DEVICE_SOURCE && this.deps.sizeHistory) {
          this.deps.sizeHistory.recordDevice(key, result.sizeBytes, result.walk.tree ?? null);
          this.deviceMeasuredThisCycle = true;
        }
        try {
          await source.refreshed?.(key, result);
        } catch (err) {
          this.log.error({ err, ...logKeyOf(source, key) }, 'build size refreshed callback failed');
        }
      }
    }
  }
}
