/**
 * Prometheus metrics (`GET /metrics`). A registry per server instance, not
 * prom-client's global one, so tests can run several servers in a process.
 * Build sizes are read from the catalog at scrape time, so a scrape always
 * reports what the dashboard shows and costs no disk I/O.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DeviceCatalog } from '../catalog/device-catalog.js';
import type { FirmwareJobSummary } from '../shared/jobs.js';
import type { DiskSpace } from '../shared/reclaim.js';

/** What the metrics read besides the catalog, each at scrape time from memory. */
export interface MetricsSources {
  connections: () => number;
  queuedBytes: () => number;
  /** The data dir's file system as last read (the server re-reads it on every sweep, job and reclaim run); null when unknown. */
  disk?: () => DiskSpace | null;
}

export class DeviceBuilderMetrics {
  readonly registry = new Registry();
  private readonly walks: Counter;
  private readonly walkSeconds: Histogram;
  private readonly jobs: Counter<'job_type' | 'status'>;
  readonly slowClientsDropped: Counter;
  readonly connectionsRefused: Counter<'reason'>;

  constructor(catalog: DeviceCatalog, sockets: MetricsSources = { connections: () => 0, queuedBytes: () => 0 }) {
    const registers = [this.registry];
    new Gauge({
      name: 'device_builder_build_size_bytes',
      help: 'Cached apparent size of each device build folder, in bytes.',
      labelNames: ['configuration', 'name'] as const,
      registers,
      collect() {
        this.reset();
        for (const device of catalog.list()) {
          this.set({ configuration: device.configuration, name: device.name }, device.build_size_bytes);
        }
      },
    });
    new Gauge({
      name: 'device_builder_build_size_total_bytes',
      help: 'Sum of all devices build folder sizes, in bytes.',
      registers,
      collect() {
        this.set(catalog.list().reduce((sum, device) => sum + device.build_size_bytes, 0));
      },
    });
    new Gauge({
      name: 'device_builder_devices',
      help: 'Devices in the config dir.',
      registers,
      collect() {
        this.set(catalog.size);
      },
    });
    this.walks = new Counter({
      name: 'device_builder_build_size_walks_total',
      help: 'Build folder walks performed (each a full tree measurement).',
      registers,
    });
    this.walkSeconds = new Histogram({
      name: 'device_builder_build_size_walk_seconds',
      help: 'Time to walk one build folder.',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.jobs = new Counter({
      name: 'device_builder_firmware_jobs_total',
      help: 'Firmware jobs finished, by type and final status.',
      labelNames: ['job_type', 'status'] as const,
      registers,
    });
    this.slowClientsDropped = new Counter({
      name: 'device_builder_ws_slow_clients_dropped_total',
      help: 'WebSocket clients disconnected for falling behind (their own limit, 1008) or holding the most when the server-wide outbound budget was exceeded (1013).',
      registers,
    });
    this.connectionsRefused = new Counter({
      name: 'device_builder_ws_connections_refused_total',
      help: 'WebSocket connections refused: per_address or total connection limit, or overloaded (outbound budget exceeded).',
      labelNames: ['reason'] as const,
      registers,
    });
    new Gauge({
      name: 'device_builder_ws_connections',
      help: 'Open WebSocket connections.',
      registers,
      collect() {
        this.set(sockets.connections());
      },
    });
    new Gauge({
      name: 'device_builder_ws_queued_bytes',
      help: 'Bytes queued for all WebSocket clients, not yet taken by the kernel (with a per-frame overhead).',
      registers,
      collect() {
        this.set(sockets.queuedBytes());
      },
    });
    // The last reading, not a statfs per scrape: a hung mount must not hang /metrics.
    new Gauge({
      name: 'device_builder_disk_free_bytes',
      help: "Bytes an unprivileged process may still write on the data dir's file system (statfs bavail x bsize).",
      labelNames: ['path'] as const,
      registers,
      collect() {
        this.reset();
        const disk = sockets.disk?.();
        if (disk) this.set({ path: disk.path }, disk.free_bytes);
      },
    });
    new Gauge({
      name: 'device_builder_disk_total_bytes',
      help: "Size of the data dir's file system in bytes (statfs blocks x bsize).",
      labelNames: ['path'] as const,
      registers,
      collect() {
        this.reset();
        const disk = sockets.disk?.();
        if (disk) this.set({ path: disk.path }, disk.total_bytes);
      },
    });
  }

  /** Runs one walk, counted and timed. */
  async timeWalk<T>(walk: () => Promise<T>): Promise<T> {
    const end = this.walkSeconds.startTimer();
    try {
      return await walk();
    } finally {
      end();
      this.walks.inc();
    }
  }

  jobFinished(job: FirmwareJobSummary): void {
    this.jobs.inc({ job_type: job.job_type, status: job.status });
  }
}
