/**
 * Keeps every device's cached build size true, in the background.
 *
 * One worker (see {@link WakeWorker}) drains a set of configuration names,
 * one walk at a time so disk I/O stays bounded under bulk bursts (a bulk
 * clean of 50 devices is 50 checks in a row, not 50 walks at once). Its first
 * cycle sweeps the whole fleet with two stats per device, which catches
 * compiles made with the CLI while the dashboard was down; `requestSweep()`
 * repeats that on demand (after `clean-all`, or on a stat-only timer).
 *
 * Per drain cycle the sidecar is read once; each device is checked against
 * that snapshot and, when its pair moved, walked and persisted, then
 * reported through `onRefreshed` (the server reloads it and pushes
 * `device_updated`). A failing device, callback or sweep is logged and the
 * worker moves on.
 */
import {
  buildSizeFieldUpdates,
  findStaleBuildDirs,
  refreshBuildSizeIfStale,
  type BuildSizeRefreshResult,
  type BuildTarget,
  type SignalsFn,
} from '../build-size/build-size.js';
import { cachedSignal } from '../build-size/freshness.js';
import type { WalkFn } from '../build-size/walk-pool.js';
import { deviceEntry, type SidecarStore } from '../sidecar/sidecar-store.js';
import type { Logger } from '../util/log.js';
import { raceAbort, WakeWorker } from '../worker/wake-worker.js';

export interface BuildSizeRefresherDeps {
  store: SidecarStore;
  walk: WalkFn;
  signals: SignalsFn;
  /** Every device and its current build folder, for a fleet sweep. */
  listTargets: () => Promise<BuildTarget[]>;
  /** One device's current build folder (read fresh: a compile may have just moved it). */
  buildPathOf: (configuration: string) => Promise<string | null>;
  onRefreshed?: (configuration: string, result: BuildSizeRefreshResult) => unknown;
  logger: Logger;
}

export interface RefresherStats {
  walks: number;
  sweeps: number;
  walkSeconds: number;
}

export class BuildSizeRefresher extends WakeWorker<string> {
  readonly stats: RefresherStats = { walks: 0, sweeps: 0, walkSeconds: 0 };
  private sweepRequested = true;

  constructor(private readonly deps: BuildSizeRefresherDeps) {
    super('build-size-refresher', deps.logger);
  }

  /** Asks for a two-stat check of every device; stale ones are then walked. */
  requestSweep(): void {
    this.sweepRequested = true;
    this.notify();
  }

  protected override hasExtraWork(): boolean {
    return this.sweepRequested;
  }

  protected override async initial(): Promise<void> {
    await this.sweepIfRequested();
  }

  protected override async drain(configurations: string[]): Promise<void> {
    await this.sweepIfRequested();
    if (configurations.length === 0) return;
    const snapshot = await this.deps.store.read();
    for (const configuration of configurations) {
      if (this.abortSignal.aborted) return;
      await this.refreshOne(configuration, cachedSignal(deviceEntry(snapshot, configuration)));
    }
  }

  private async sweepIfRequested(): Promise<void> {
    if (!this.sweepRequested) return;
    this.sweepRequested = false;
    try {
      const targets = await this.deps.listTargets();
      const stale = await findStaleBuildDirs(targets, await this.deps.store.read(), this.deps.signals);
      this.stats.sweeps++;
      for (const configuration of stale) this.pending.add(configuration);
      if (stale.length > 0) this.log.debug({ stale: stale.length }, 'fleet sweep found stale build folders');
    } catch (err) {
      this.log.error({ err }, 'fleet sweep failed; individual requests are still served');
    }
  }

  private async refreshOne(configuration: string, cached: ReturnType<typeof cachedSignal>): Promise<void> {
    let result: BuildSizeRefreshResult | null;
    try {
      const buildPath = await this.deps.buildPathOf(configuration);
      const started = performance.now();
      result = await raceAbort(
        refreshBuildSizeIfStale(buildPath, cached, this.deps.signals, this.deps.walk),
        this.abortSignal,
      );
      if (!result) return;
      this.stats.walks++;
      this.stats.walkSeconds += (performance.now() - started) / 1000;
      await this.deps.store.updateDevice(configuration, buildSizeFieldUpdates(result));
    } catch (err) {
      if (this.abortSignal.aborted) return;
      this.log.error({ err, configuration }, 'build size refresh failed');
      return;
    }
    try {
      await this.deps.onRefreshed?.(configuration, result);
    } catch (err) {
      this.log.error({ err, configuration }, 'build size refreshed callback failed');
    }
  }
}
