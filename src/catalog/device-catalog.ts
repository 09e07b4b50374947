/**
 * The live device catalog: the server's in-memory view of the config dir.
 *
 * It is what `devices/list` answers from (no disk I/O per request), and the
 * single place that decides whether something changed: every rescan or
 * reload diffs against the previous Device and emits `device_added`,
 * `device_updated` or `device_removed` exactly once per real change, so
 * clients never see duplicates however many triggers fire.
 *
 * Changes arrive from three directions: a file watch on the config dir
 * (debounced; YAML files and folders only, see {@link triggersRescan}), a
 * rescan every few seconds while someone is subscribed (watch
 * events are not guaranteed on every file system), and explicit reloads
 * after a refresh or a file operation. All are serialized by one mutex.
 *
 * Events go on the server's event bus (events/event-bus.ts), as objects
 * shared by every listener and never changed afterwards; the WebSocket
 * fan-out (event-hub.ts) serialises each one once. The periodic rescan runs
 * while the bus has a listener for device events (the fan-out, while a
 * stream is open): the bus tells the catalog whenever its listeners change.
 */
import { watch, type FSWatcher } from 'node:fs';
import type { BuildTarget } from '../build-size/build-size.js';
import { ConfigScanner } from '../config/config-scanner.js';
import type { Device } from '../shared/device.js';
import type { DeviceEvent } from '../shared/events.js';
import type { MetadataStore } from '../metadata/device-metadata.js';
import type { Logger } from '../util/log.js';
import { Mutex } from '../util/mutex.js';
import { EventBus } from '../events/event-bus.js';

export type CatalogEvent = DeviceEvent;

const DEVICE_EVENTS = ['device_added', 'device_updated', 'device_removed'] as const satisfies readonly DeviceEvent['event'][];

export interface DeviceCatalogOptions {
  configDir: string;
  dataDir: string;
  store: MetadataStore;
  logger: Logger;
  /** Rescan period while someone listens for device events (default 5 s). */
  rescanIntervalMs?: number;
  /** Where device events are published (default: a bus of its own, for a catalog used alone). */
  bus?: EventBus;
  /** The scanner to read YAML through (its parse cache shared with the refresher's assembly); default: a new one. */
  scanner?: ConfigScanner;
}

const WATCH_DEBOUNCE_MS = 150;

export class DeviceCatalog {
  private readonly scanner: ConfigScanner;
  private readonly devices = new Map<string, Device>();
  private readonly bus: EventBus;
  private readonly unwatchBus: () => void;
  private readonly mutex = new Mutex();
  private readonly log: Logger;
  private readonly rescanIntervalMs: number;
  private watcher: FSWatcher | null = null;
  private rescanTimer: NodeJS.Timeout | null = null;
  private debounceTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private firstScanDone = false;
  private markScanned!: () => void;
  private readonly firstScan = new Promise<void>((resolve) => (this.markScanned = resolve));
  /** Full rescans and single-device reloads so far (the bench counts what a cold start costs). */
  readonly stats = { rescans: 0, reloads: 0 };

  constructor(private readonly options: DeviceCatalogOptions) {
    this.scanner = options.scanner ?? new ConfigScanner(options.configDir, options.dataDir);
    this.log = options.logger;
    this.rescanIntervalMs = options.rescanIntervalMs ?? 5000;
    this.bus = options.bus ?? new EventBus(this.log);
    this.unwatchBus = this.bus.watchListeners(() => this.updateRescanTimer());
    this.updateRescanTimer(); // a shared bus may have device listeners already
  }

  /**
   * Whether the first full scan has finished (successfully or not). The
   * server listens before it, so a 50,000-file config dir does not keep the
   * page from loading; commands wait for {@link whenScanned} (ws-api.ts).
   */
  get scanned(): boolean {
    return this.firstScanDone;
  }

  /** Resolves once the first scan has finished (or failed, or the catalog closed). */
  whenScanned(): Promise<void> {
    return this.firstScan;
  }

  private scanFinished(): void {
    if (this.firstScanDone) return;
    this.firstScanDone = true;
    this.markScanned();
  }

  /** Devices sorted by configuration name. */
  list(): Device[] {
    return [...this.devices.values()];
  }

  get(configuration: string): Device | undefined {
    return this.devices.get(configuration);
  }

  get size(): number {
    return this.devices.size;
  }

  /** What the refresher needs for a fleet sweep. */
  targets(): BuildTarget[] {
    return this.list().map((device) => ({ configuration: device.configuration, buildPath: device.build_path }));
  }

  /** Device events only, from the bus; returns the unsubscribe function. */
  subscribe(listener: (event: CatalogEvent) => void): () => void {
    return this.bus.on(this, DEVICE_EVENTS, listener);
  }

  /** Re-reads the whole config dir and emits one event per change. */
  async rescan(): Promise<void> {
    try {
      await this.scanOnce();
    } finally {
      this.scanFinished();
    }
  }

  private async scanOnce(): Promise<void> {
    await this.mutex.run(async () => {
      this.stats.rescans++;
      const fresh = await this.scanner.scan(await this.options.store.read());
      const seen = new Set<string>();
      const next = new Map<string, Device>();
      for (const device of fresh) {
        seen.add(device.configuration);
        next.set(device.configuration, device);
      }
      const events: CatalogEvent[] = [];
      for (const [configuration, device] of this.devices) {
        if (!seen.has(configuration)) events.push({ event: 'device_removed', data: { device } });
      }
      for (const device of fresh) {
        const before = this.devices.get(device.configuration);
        if (!before) events.push({ event: 'device_added', data: { device } });
        else if (!sameDevice(before, device)) events.push({ event: 'device_updated', data: { device } });
      }
      this.devices.clear();
      // The scanner returns devices sorted, so insertion order stays sorted.
      for (const [configuration, device] of next) this.devices.set(configuration, device);
      for (const event of events) this.emit(event);
    });
  }

  /** Re-reads one device (after a refresh, a job or a file operation). */
  async reload(configuration: string): Promise<Device | undefined> {
    return this.mutex.run(async () => {
      this.stats.reloads++;
      // Only this device's entry is merged: a reload per walk must not cost a fleet-wide merge.
      const entry = await this.options.store.readDevice(configuration);
      const device = await this.scanner.loadDevice(configuration, { [configuration]: entry });
      const before = this.devices.get(configuration);
      if (!device) {
        if (before) {
          this.devices.delete(configuration);
          this.emit({ event: 'device_removed', data: { device: before } });
        }
        return undefined;
      }
      if (!before) {
        this.devices.set(configuration, device);
        this.sortDevices();
        this.emit({ event: 'device_added', data: { device } });
      } else if (!sameDevice(before, device)) {
        this.devices.set(configuration, device);
        this.emit({ event: 'device_updated', data: { device } });
      }
      return device;
    });
  }

  /** Watches the config dir for added, removed and edited YAML files. */
  startWatching(): void {
    if (this.watcher || this.closed) return;
    try {
      this.watcher = watch(this.options.configDir, { persistent: false }, (_type, name) => {
        if (triggersRescan(name)) this.scheduleRescan();
      });
      this.watcher.on('error', (err) => {
        this.log.warn({ err }, 'config dir watch failed; relying on periodic rescans');
        this.watcher?.close();
        this.watcher = null;
      });
    } catch (err) {
      this.log.warn({ err }, 'cannot watch the config dir; relying on periodic rescans');
    }
  }

  close(): void {
    this.closed = true;
    this.scanFinished();
    this.watcher?.close();
    this.watcher = null;
    if (this.rescanTimer) clearInterval(this.rescanTimer);
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.rescanTimer = null;
    this.debounceTimer = null;
    this.unwatchBus();
    this.bus.removeListeners(this);
  }

  private scheduleRescan(): void {
    if (this.closed) return;
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = null;
      this.rescan().catch((err: unknown) => this.log.error({ err }, 'config dir rescan failed'));
    }, WATCH_DEBOUNCE_MS);
    this.debounceTimer.unref();
  }

  private updateRescanTimer(): void {
    const wanted = !this.closed && DEVICE_EVENTS.some((name) => this.bus.listenerCount(name) > 0);
    if (wanted && !this.rescanTimer) {
      this.rescanTimer = setInterval(() => this.scheduleRescan(), this.rescanIntervalMs);
      this.rescanTimer.unref();
    } else if (!wanted && this.rescanTimer) {
      clearInterval(this.rescanTimer);
      this.rescanTimer = null;
    }
  }

  private sortDevices(): void {
    const sorted = [...this.devices].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    this.devices.clear();
    for (const [configuration, device] of sorted) this.devices.set(configuration, device);
  }

  private emit(event: CatalogEvent): void {
    // A closed catalog tells no one (a reload may still finish after close).
    if (!this.closed) this.bus.publish(event);
  }
}

/**
 * Whether a change to this top-level name can change the device list: a
 * YAML file, or a folder ESPHome may read includes from (a plain name
 * without an extension). Hidden names (`.device-builder.json`, its lock and
 * temps, `.esphome`) and other files never do, so our own writes never cost
 * a fleet rescan. An unnamed event (the platform could not tell) does.
 */
export function triggersRescan(name: string | Buffer | null): boolean {
  if (name === null) return true;
  const text = name.toString();
  if (text.startsWith('.')) return false;
  return /\.ya?ml$/i.test(text) || !text.includes('.');
}

function sameDevice(a: Device, b: Device): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
