/**
 * The page's state: devices, jobs, unused build folders, the PlatformIO
 * cache, the data dir's disk and the reclaim policy with its runs as the
 * event stream describes them, the server preferences, and the connection
 * status. Components read it through {@link StoreController} and
 * re-render when it changes.
 *
 * On every (re)connection the store subscribes again (chunked: a big fleet
 * comes as `initial_state` with the first devices, then `devices_chunk`
 * events with the rest, and live events only after the last chunk);
 * `initial_state` replaces everything wholesale, so anything that changed
 * while the page was offline is picked up without a reload. Changes are coalesced to
 * one notification per animation frame: a burst of `device_updated` events
 * (a fleet sweep) costs one render, not hundreds.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import type { Device } from '../../../src/shared/device.js';
import { isServerEvent, type ServerEvent } from '../../../src/shared/events.js';
import { isFinished, type FirmwareJobSummary } from '../../../src/shared/jobs.js';
import type { OrphanBuild, PlatformioSummary } from '../../../src/shared/protocol.js';
import type { DiskSpace, ReclaimProgress, ReclaimRun, ReclaimState } from '../../../src/shared/reclaim.js';
import { RequestError, type ApiClient, type ConnectionStatus, type StreamHandle } from '../api/client.js';
import type { Preferences } from '../api/commands.js';

export type Schedule = (flush: () => void) => void;

/** One flush per frame when the page is visible; a timer where frames are unavailable. */
export const frameSchedule: Schedule = (flush) => {
  if (typeof requestAnimationFrame === 'function' && typeof document !== 'undefined' && document.visibilityState === 'visible') {
    requestAnimationFrame(() => flush());
  } else {
    setTimeout(flush, 16);
  }
};

export class Store {
  readonly devices = new Map<string, Device>();
  readonly jobs = new Map<string, FirmwareJobSummary>();
  /** Build folders no device uses, largest first (as the server sorts them). */
  orphans: readonly OrphanBuild[] = [];
  /** The shared PlatformIO folder's sizes; null until the server said. */
  platformio: PlatformioSummary | null = null;
  /** The data dir's file system; null until the server said, or when `statfs` failed. */
  disk: DiskSpace | null = null;
  /** The saved reclaim policy, the run in progress and the next scheduled run; null until the server said. */
  reclaim: ReclaimState | null = null;
  /**
   * Reclaim runs, newest first: what `reclaim/history` answered (see
   * {@link setReclaimRuns}) with the runs seen starting and ending since.
   */
  reclaimRuns: readonly ReclaimRun[] = [];
  /** True once `reclaim/history` answered (until then `reclaimRuns` holds only what the events brought). */
  reclaimRunsLoaded = false;
  preferences: Preferences = {};
  status: ConnectionStatus;
  /** True once `initial_state` arrived (devices are known, or the first of them while chunks follow). */
  loaded = false;
  /** While a chunked snapshot is still arriving: how many devices it holds in all; null otherwise. */
  devicesPending: { received: number; total: number } | null = null;
  prefsLoaded = false;
  /** Bumped on each change of the matching part, for memoised derivations. */
  devicesRevision = 0;
  jobsRevision = 0;
  prefsRevision = 0;
  /** Bumped when the orphans or the PlatformIO summary change. */
  storageRevision = 0;
  /** Bumped when the disk reading, the reclaim policy, a run or its progress change. */
  reclaimRevision = 0;

  private readonly listeners = new Set<() => void>();
  private readonly finishedListeners = new Set<(job: FirmwareJobSummary) => void>();
  private readonly reclaimListeners = new Set<(run: ReclaimRun) => void>();
  private subscription: StreamHandle<unknown> | null = null;
  private scheduled = false;
  private readonly schedule: Schedule;

  constructor(
    readonly client: ApiClient,
    options: { schedule?: Schedule } = {},
  ) {
    this.schedule = options.schedule ?? frameSchedule;
    this.status = client.status;
    client.onStatus((status) => {
      this.status = status;
      this.changed();
    });
    client.onReady(() => void this.resubscribe());
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A job reached completed / failed / cancelled while we were watching the stream. */
  onJobFinished(listener: (job: FirmwareJobSummary) => void): () => void {
    this.finishedListeners.add(listener);
    return () => this.finishedListeners.delete(listener);
  }

  /** A reclaim run ended (`reclaim_finished`), wherever it was started. */
  onReclaimFinished(listener: (run: ReclaimRun) => void): () => void {
    this.reclaimListeners.add(listener);
    return () => this.reclaimListeners.delete(listener);
  }

  /** What `reclaim/history` answered (newest first); a run the events already brought in is kept at its newest state. */
  setReclaimRuns(runs: readonly ReclaimRun[]): void {
    const known = new Map(this.reclaimRuns.map((run) => [run.run_id, run]));
    const merged = runs.map((run) => {
      const seen = known.get(run.run_id);
      // The history may have been read just before the run's last event: keep whichever is further along.
      return seen && seen.finished_at !== null && run.finished_at === null ? seen : run;
    });
    const listed = new Set(merged.map((run) => run.run_id));
    const newer = this.reclaimRuns.filter((run) => !listed.has(run.run_id));
    this.reclaimRuns = sortRuns([...newer, ...merged]);
    this.reclaimRunsLoaded = true;
    this.reclaimRevision++;
    this.changed();
  }

  /** Sets one server preference, optimistically; the previous value is restored if the server refuses. */
  async setPreference(key: string, value: unknown): Promise<void> {
    const previous = this.preferences;
    this.preferences = { ...previous, [key]: value };
    this.prefsRevision++;
    this.changed();
    try {
      await this.client.request('preferences/set', { key, value });
    } catch (err) {
      this.preferences = { ...this.preferences, [key]: previous[key] };
      this.prefsRevision++;
      this.changed();
      throw err;
    }
  }

  /**
   * Applies one frame of the `subscribe_events` stream as it came off the
   * socket (public for tests). Names this page does not know (a newer
   * server's) are skipped; the rest are the shared {@link ServerEvent} union.
   */
  applyEvent(event: string, data: unknown): void {
    const frame = { event, data };
    if (isServerEvent(frame)) this.apply(frame);
  }

  private apply(message: ServerEvent): void {
    switch (message.event) {
      case 'initial_state': {
        const state = message.data;
        this.devices.clear();
        for (const device of state.devices) this.devices.set(device.configuration, device);
        this.jobs.clear();
        for (const job of state.firmware_jobs) this.jobs.set(job.job_id, job);
        this.orphans = Array.isArray(state.orphans) ? state.orphans : [];
        this.platformio = state.platformio ?? null;
        this.disk = state.disk ?? null;
        this.reclaim = state.reclaim ?? null;
        if (state.reclaim?.running) this.upsertRun(state.reclaim.running);
        this.loaded = true;
        this.devicesPending = state.more === true ? { received: state.devices.length, total: state.devices_total ?? state.devices.length } : null;
        this.devicesRevision++;
        this.jobsRevision++;
        this.storageRevision++;
        this.reclaimRevision++;
        break;
      }
      case 'devices_chunk': {
        const chunk = message.data;
        for (const device of chunk.devices) this.devices.set(device.configuration, device);
        this.devicesPending =
          chunk.more && this.devicesPending ? { ...this.devicesPending, received: this.devicesPending.received + chunk.devices.length } : null;
        this.devicesRevision++;
        break;
      }
      case 'orphans_updated': {
        this.orphans = message.data.orphans;
        this.storageRevision++;
        break;
      }
      case 'platformio_progress': {
        if (!this.platformio) return;
        this.platformio = { ...this.platformio, walking: message.data };
        this.storageRevision++;
        break;
      }
      case 'platformio_updated': {
        this.platformio = message.data;
        this.storageRevision++;
        break;
      }
      case 'disk_updated': {
        this.disk = message.data.disk;
        this.reclaimRevision++;
        break;
      }
      case 'reclaim_policy_updated': {
        this.reclaim = message.data;
        if (message.data.running) this.upsertRun(message.data.running);
        this.reclaimRevision++;
        break;
      }
      case 'reclaim_started': {
        const run = message.data;
        this.reclaim = this.reclaim ? { ...this.reclaim, running: run } : null;
        this.upsertRun(run);
        this.reclaimRevision++;
        break;
      }
      case 'reclaim_progress': {
        if (!this.applyProgress(message.data)) return;
        this.reclaimRevision++;
        break;
      }
      case 'reclaim_finished': {
        const run = message.data;
        if (this.reclaim?.running?.run_id === run.run_id) this.reclaim = { ...this.reclaim, running: null };
        this.upsertRun(run);
        this.reclaimRevision++;
        for (const listener of [...this.reclaimListeners]) listener(run);
        break;
      }
      case 'jobs_cleared': {
        let removed = false;
        for (const id of message.data.job_ids) removed = this.jobs.delete(id) || removed;
        if (!removed) return;
        this.jobsRevision++;
        break;
      }
      case 'device_added':
      case 'device_updated': {
        const device = message.data.device;
        this.devices.set(device.configuration, device);
        this.devicesRevision++;
        break;
      }
      case 'device_removed': {
        const device = message.data.device;
        this.devices.delete(device.configuration);
        this.devicesRevision++;
        break;
      }
      case 'job_queued':
      case 'job_started':
      case 'job_completed':
      case 'job_failed':
      case 'job_cancelled': {
        const job = message.data;
        const before = this.jobs.get(job.job_id);
        this.jobs.set(job.job_id, job);
        this.jobsRevision++;
        if (isFinished(job.status) && (!before || !isFinished(before.status))) {
          for (const listener of [...this.finishedListeners]) listener(job);
        }
        break;
      }
      case 'job_output':
        return; // the job log follows its job on its own stream
      default: {
        // Every event of the union is handled above: a new one fails here.
        const _unhandled: never = message;
        return;
      }
    }
    this.changed();
  }

  /** Puts a run in the history (replacing the one of the same id), newest first. */
  private upsertRun(run: ReclaimRun): void {
    this.reclaimRuns = sortRuns([run, ...this.reclaimRuns.filter((r) => r.run_id !== run.run_id)]);
  }

  /** Records a step's result on the run in progress; false when the run is not one we know. */
  private applyProgress(progress: ReclaimProgress): boolean {
    const running = this.reclaim?.running;
    const run = running?.run_id === progress.run_id ? running : this.reclaimRuns.find((r) => r.run_id === progress.run_id);
    if (!run) return false;
    const results = [...run.results];
    results[progress.index] = progress.result;
    // Holes (a progress event missed while offline) would be undefined: keep the results dense.
    const updated: ReclaimRun = { ...run, results: results.filter((r) => r !== undefined) };
    if (this.reclaim && running?.run_id === progress.run_id) this.reclaim = { ...this.reclaim, running: updated };
    this.upsertRun(updated);
    return true;
  }

  private async resubscribe(): Promise<void> {
    this.subscription?.close();
    const handle = this.client.stream('subscribe_events', { chunked: true }, (event, data) => this.applyEvent(event, data));
    this.subscription = handle;
    const prefs = this.client.request('preferences/get', {}).then(
      (preferences) => {
        this.preferences = preferences ?? {};
        this.prefsLoaded = true;
        this.prefsRevision++;
        this.changed();
      },
      (err: unknown) => {
        // Defaults stay in force; the table still works. A drop is retried on reconnect.
        if (!isDisconnect(err)) console.warn('could not load preferences', err);
        this.prefsLoaded = true;
        this.changed();
      },
    );
    try {
      await handle.result;
    } catch (err) {
      if (!isDisconnect(err)) console.warn('subscribe_events failed', err);
    }
    await prefs;
  }

  private changed(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.schedule(() => {
      this.scheduled = false;
      for (const listener of [...this.listeners]) listener();
    });
  }
}

/** Newest first (by start time), as `reclaim/history` orders them. */
function sortRuns(runs: ReclaimRun[]): ReclaimRun[] {
  return runs.sort((a, b) => b.started_at - a.started_at);
}

function isDisconnect(err: unknown): boolean {
  return err instanceof RequestError && (err.code === 'disconnected' || err.code === 'offline');
}

/** Re-renders a Lit host whenever the store changes. */
export class StoreController implements ReactiveController {
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly host: ReactiveControllerHost,
    private readonly store: () => Store | undefined,
  ) {
    host.addController(this);
  }

  hostConnected(): void {
    this.attach();
  }

  /** Call when the store property is set after connection. */
  attach(): void {
    this.unsubscribe?.();
    const store = this.store();
    this.unsubscribe = store ? store.subscribe(() => this.host.requestUpdate()) : null;
  }

  hostDisconnected(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
  }
}
