/**
 * The dashboard server: wires the catalog, refresher, job queue, device
 * files, auth and metrics together behind Fastify (HTTP, `/ws`, the built
 * web page). This is the only module that knows all the others; each of
 * them can be built and tested alone.
 *
 * Triggers live here, in one place:
 * - a refreshed device is reloaded and pushed as `device_updated`;
 * - a successful compile/upload/install/clean asks the refresher for that
 *   device; a successful reset_build_env (`clean-all`, which deletes every
 *   build folder) asks for a fleet sweep; failed or cancelled jobs trigger
 *   nothing.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import { handleConnection } from '../api/ws-api.js';
import { ConnectionLimiter, DEFAULT_MAX_STREAMS, DEFAULT_MAX_STREAMS_PER_ADDRESS, OutboundBudget } from '../api/ws-limits.js';
import type { ApiServices } from '../api/commands.js';
import { AuthManager, type AuthOptions } from '../auth/auth.js';
import type { WalkPool } from '../build-size/walk-pool.js';
import type { WalkerChoice } from '../build-size/native-walker.js';
import { DeviceCatalog } from '../catalog/device-catalog.js';
import { DeviceFiles } from '../devices/device-files.js';
import { JobQueue } from '../jobs/job-queue.js';
import { DeviceBuilderMetrics } from '../metrics/metrics.js';
import { ORPHAN_SOURCE, type OrphanBuilds } from '../orphans/orphan-builds.js';
import { PLATFORMIO_SOURCE, type PlatformioCache } from '../platformio/platformio-cache.js';
import { DEVICE_SOURCE, type BuildSizeRefresher } from '../refresher/build-size-refresher.js';
import { EventBus } from '../events/event-bus.js';
import { HostPolicy, originAllowed } from './host-check.js';
import { takeInstanceLock, type InstanceLock } from './instance-lock.js';
import type { FirmwareJobSummary } from '../shared/jobs.js';
import type { ServerInfo } from '../shared/protocol.js';
import type { DeviceMetadata } from '../metadata/device-metadata.js';
import { resolveDataDir } from '../storage/data-dir.js';
import { createSizingSystem } from '../sizing-system.js';
import { diskChanged, readDiskSpace, type DiskSpaceReader } from '../reclaim/disk-space.js';
import { ReclaimService } from '../reclaim/reclaim-service.js';
import type { SizeHistoryStore } from '../size-history/size-history-store.js';
import type { DiskSpace } from '../shared/reclaim.js';
import type { Logger } from '../util/log.js';
import { PACKAGE_ROOT, PACKAGE_VERSION } from '../util/package-root.js';

export const SERVER_VERSION = PACKAGE_VERSION;
export const SESSIONS_FILE = '.device-builder-sessions.json';

export interface ServerOptions {
  configDir: string;
  host: string;
  port: number;
  /** The esphome command and any leading arguments, e.g. ['esphome'] or ['python3', '-m', 'esphome']. */
  esphomeCommand: string[];
  password: string | null;
  /** Origins (scheme://host:port) allowed to open the socket besides the page's own. */
  trustedOrigins?: string[];
  /**
   * `Host` headers answered besides loopback, the listen address and the
   * machine's name (`host` or `host:port`; see host-check.ts). Everything
   * else gets 403 before any handler runs (DNS rebinding).
   */
  allowedHosts?: string[];
  /** The server-wide failed-login limit (tests shorten the backoff); see login-limits.ts. */
  loginLimits?: AuthOptions['globalLimits'];
  logger: Logger;
  demo?: boolean;
  /** Base environment for child processes (PATH lookup of esphome included). */
  env?: NodeJS.ProcessEnv;
  rescanIntervalMs?: number;
  /** Folder of the built web page; null serves none. Default: web/dist of this package. */
  webRoot?: string | null;
  poolSize?: number;
  /** Which walker sizes folders (default: `DEVICE_BUILDER_WALKER`, else auto). */
  walker?: WalkerChoice;
  /**
   * Period of the stat-only sweep that notices compiles made from a terminal
   * (default 30 s; 0 disables). Two stats per folder; walks only what moved.
   */
  sweepIntervalMs?: number;
  /** Open WebSockets per source address (default 16); more are refused with HTTP 503 or close code 1013. */
  maxConnectionsPerAddress?: number;
  /** Open WebSockets in total (default 256). */
  maxConnections?: number;
  /** Open streams (subscriptions, followed jobs) per source address (default 64) and in total (default 1024). */
  maxStreamsPerAddress?: number;
  maxStreams?: number;
  /**
   * Bytes queued for all sockets together (default 64 MiB, each frame
   * counting 512 B more for its bookkeeping): past it the socket with the
   * most queued is dropped (1013) and new ones refused until it is back under.
   */
  maxQueuedBytes?: number;
  /** How the data dir's file system is read (default: `statfs`; tests simulate a full disk). */
  diskSpace?: DiskSpaceReader;
}

export const DEFAULT_SWEEP_INTERVAL_MS = 30_000;
/** Every how many periodic sweeps the unused build folders are looked for again. */
const ORPHAN_SWEEP_EVERY = 10;

export { originAllowed } from './host-check.js';

const DEFAULT_WEB_ROOT = path.join(PACKAGE_ROOT, 'web', 'dist');

export class DeviceBuilderServer {
  readonly app: FastifyInstance;
  /** Every event the parts publish; `subscribe_events` forwards it (shared/events.ts). */
  readonly bus: EventBus;
  readonly store: DeviceMetadata;
  readonly catalog: DeviceCatalog;
  readonly pool: WalkPool;
  readonly refresher: BuildSizeRefresher;
  readonly jobs: JobQueue;
  readonly files: DeviceFiles;
  readonly auth: AuthManager;
  readonly metrics: DeviceBuilderMetrics;
  readonly orphans: OrphanBuilds;
  readonly platformio: PlatformioCache;
  readonly dataDir: string;
  /** The reclaim policy, its previews, runs and triggers (reclaim/reclaim-service.ts). */
  readonly reclaim: ReclaimService;
  /** Device and fleet size histories and size trees (size-history/size-history-store.ts). */
  readonly sizeHistory: SizeHistoryStore;
  /** Open WebSockets per address and in total. */
  readonly limiter: ConnectionLimiter;
  /** Open streams per address and in total. */
  readonly streamLimiter: ConnectionLimiter;
  /** Bytes queued for all WebSockets together. */
  readonly budget: OutboundBudget;
  private sweepTimer: NodeJS.Timeout | null = null;
  /** The data dir's file system as last read: `InitialState.disk`, `/metrics`, the free-space rule. */
  private diskReading: DiskSpace | null = null;
  private diskReadFailureLogged = false;
  /** A stat-only sweep's follow-up (disk reading, free-space rule) is waiting for the refresher to go idle. */
  private afterSweepPending = false;
  private esphomeVersion: string | null = null;
  private closing: Promise<void> | null = null;
  /** Held from start() to the end of close(): one job-running process per data dir (instance-lock.ts). */
  private instanceLock: InstanceLock | null = null;

  constructor(private readonly options: ServerOptions) {
    const { configDir, logger } = options;
    const env = options.env ?? process.env;
    this.dataDir = resolveDataDir(configDir, env);
    this.bus = new EventBus(logger);
    this.limiter = new ConnectionLimiter(options.maxConnectionsPerAddress, options.maxConnections);
    this.streamLimiter = new ConnectionLimiter(options.maxStreamsPerAddress ?? DEFAULT_MAX_STREAMS_PER_ADDRESS, options.maxStreams ?? DEFAULT_MAX_STREAMS);
    this.budget = new OutboundBudget(options.maxQueuedBytes);
    // The same assembly as `sizes` (sizing-system.ts); what differs is that
    // the live catalog says which devices exist and hears every measurement.
    const sizing = createSizingSystem({
      configDir,
      dataDir: this.dataDir,
      env,
      logger,
      walker: options.walker,
      poolSize: options.poolSize,
      bus: this.bus,
      // Every walk counted and timed for /metrics; the options carry PlatformIO's progress callback.
      wrapWalk: (walk) => (root, walkOptions) => this.metrics.timeWalk(() => walk(root, walkOptions)),
      activeConfigurations: () => this.catalog.list().map((device) => device.configuration),
      // The catalog's own view: the watch, its periodic rescan and the
      // reloads after every job keep it current, so a sweep costs two stats
      // per folder and no YAML or StorageJSON reads (5,000 devices: 2 s -> ms).
      listTargets: async () => {
        await this.catalog.whenScanned();
        return this.catalog.targets();
      },
      onRefreshed: (configuration) => this.catalog.reload(configuration),
      onUnchanged: (configuration) => this.catalog.reload(configuration),
    });
    ({
      metadata: this.store,
      pool: this.pool,
      orphans: this.orphans,
      platformio: this.platformio,
      refresher: this.refresher,
      sizeHistory: this.sizeHistory,
    } = sizing);
    this.catalog = new DeviceCatalog({
      configDir,
      dataDir: this.dataDir,
      store: this.store,
      scanner: sizing.scanner,
      logger,
      rescanIntervalMs: options.rescanIntervalMs,
      bus: this.bus,
    });
    this.metrics = new DeviceBuilderMetrics(this.catalog, {
      connections: () => this.limiter.size,
      queuedBytes: () => this.budget.queuedBytes,
      disk: () => this.diskReading,
    });
    this.jobs = new JobQueue({ configDir, dataDir: this.dataDir, esphomeCommand: options.esphomeCommand, store: this.store, logger, env, bus: this.bus });
    // A bus listener on the final job events (see JobQueue.onFinished).
    this.jobs.onFinished((job) => this.onJobFinished(job));
    this.files = new DeviceFiles({ configDir, dataDir: this.dataDir, store: this.store, logger, env });
    this.reclaim = new ReclaimService({
      configDir,
      dataDir: this.dataDir,
      bus: this.bus,
      logger,
      jobs: this.jobs,
      orphans: this.orphans,
      refresher: this.refresher,
      store: this.store,
      signals: (dirs) => this.pool.signals(dirs),
      devices: () => this.catalog.list(),
      buildPathOf: async (configuration) => this.catalog.get(configuration)?.build_path,
      readDisk: () => this.readDisk(),
      whenReady: async () => {
        await this.catalog.whenScanned();
        await this.refresher.whenIdle();
      },
    });
    // What a run freed becomes a marker on the fleet's size-history chart.
    this.reclaim.onRunFinished((run) => {
      if (run.freed_bytes > 0) this.sizeHistory.markReclaimed(run.freed_bytes);
    });
    this.auth = new AuthManager({
      password: options.password,
      // Per instance, like the Python tool's store: the config folder may be shared (the add-on).
      sessionsFile: path.join(this.dataDir, SESSIONS_FILE),
      logger,
      globalLimits: options.loginLimits,
    });
    this.app = Fastify({
      loggerInstance: logger as FastifyBaseLogger,
      // Per-request lines would drown the log of a dashboard that polls nothing but sockets.
      logController: new LogController({ disableRequestLogging: true }),
      trustProxy: false,
    }) as unknown as FastifyInstance;
  }

  get serverInfo(): ServerInfo {
    return {
      server_version: SERVER_VERSION,
      esphome_version: this.esphomeVersion,
      requires_auth: this.auth.requiresAuth,
      demo: this.options.demo ?? false,
      config_dir: this.options.configDir,
      data_dir: this.dataDir,
    };
  }

  /**
   * Listens, then loads state (job history, disk, reclaim record) and starts
   * the first scan of the config dir and the background worker; returns the
   * URL without waiting for either (the job history of a big fleet takes
   * tens of ms to read, a 50,000-file folder many seconds): HTTP and `/ws`
   * answer at once, commands wait for the scan ({@link DeviceCatalog.whenScanned}),
   * which starts once the state is loaded. {@link ready} says when that is.
   */
  async start(): Promise<string> {
    // Before anything is read or written: a second server on this data dir is refused here.
    this.instanceLock = await takeInstanceLock(this.dataDir);
    await this.registerRoutes();
    await this.app.listen({ host: this.options.host, port: this.options.port });
    this.ready = this.loadState();
    // Whoever awaits `ready` sees the error too; the server cannot run on without its state.
    this.ready.catch((err: unknown) => {
      this.options.logger.fatal({ err }, 'loading the job history, disk or reclaim record failed; stopping');
      void this.close();
    });
    this.catalog.startWatching();
    // Its first sweep waits for that scan, so whenIdle() covers the scan too.
    this.refresher.start();
    const interval = this.options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
    if (interval > 0) {
      // Build and PlatformIO folders every time; the unused-folder scan reads
      // every StorageJSON, so it runs every tenth time (and after every job).
      let ticks = 0;
      this.sweepTimer = setInterval(() => {
        ticks++;
        this.refresher.requestSweep(ticks % ORPHAN_SWEEP_EVERY === 0 ? undefined : [DEVICE_SOURCE, PLATFORMIO_SOURCE]);
        this.afterSweep();
      }, interval);
      this.sweepTimer.unref();
    }
    const address = this.app.server.address();
    const port = typeof address === 'object' && address ? address.port : this.options.port;
    const host = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host;
    return `http://${host}:${port}/`;
  }

  /**
   * Resolves once start() loaded the state and began the first scan (on the
   * next turn after listen, so its synchronous start and esphome's spawn
   * never delay the first request); rejects, and the server closes, when the
   * state could not be loaded.
   */
  ready: Promise<void> = Promise.resolve();

  private async loadState(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    await this.store.cleanStaleTemps();
    await this.jobs.init();
    await this.readDisk();
    await this.reclaim.start();
    if (this.closing) return;
    this.catalog.rescan().catch((err: unknown) => this.options.logger.error({ err }, 'first scan of the config dir failed'));
    void this.detectEsphomeVersion();
  }

  /** Stops accepting jobs, cancels the running one, stops the worker, flushes the sidecar. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      // Never beside a half-loaded state (start() returns before it is loaded).
      await this.ready.catch(() => undefined);
      if (this.sweepTimer) clearInterval(this.sweepTimer);
      this.jobs.stopAccepting();
      // A run in progress is aborted (its clean job cancelled) and recorded before the queue stops.
      await this.reclaim.close();
      await this.jobs.shutdown();
      // Before the refresher: closing settles whenScanned(), which a sweep
      // waits on; closed before the first scan ran (setImmediate in start()),
      // nothing else ever would.
      this.catalog.close();
      await this.refresher.stop();
      await this.pool.close();
      await this.app.close();
      await this.store.flush();
      await this.sizeHistory.flush();
      await this.instanceLock?.release();
    })();
    return this.closing;
  }

  /** The data dir's file system as last read (null when `statfs` failed). */
  get disk(): DiskSpace | null {
    return this.diskReading;
  }

  /**
   * Reads the data dir's file system again; publishes `disk_updated` when
   * the reading moved by a MiB or more (a compile's log lines must not
   * become an event each). Returns the reading.
   */
  async readDisk(): Promise<DiskSpace | null> {
    const next = await (this.options.diskSpace ?? readDiskSpace)(this.dataDir);
    if (!next && !this.diskReadFailureLogged) {
      this.diskReadFailureLogged = true;
      this.options.logger.warn(
        { dataDir: this.dataDir },
        'could not read the free space of the data dir (statfs failed); the free-space guard is off until it can',
      );
    }
    if (next) this.diskReadFailureLogged = false;
    const changed = diskChanged(this.diskReading, next);
    this.diskReading = next;
    if (changed) this.bus.publish({ event: 'disk_updated', data: { disk: next } });
    return next;
  }

  /**
   * After a periodic stat-only sweep has run (the refresher is idle again):
   * read the disk and let the reclaim policy's free-space rule look at it.
   * One follow-up at a time: a sweep slower than the period does not stack them.
   */
  private afterSweep(): void {
    if (this.afterSweepPending) return;
    this.afterSweepPending = true;
    void this.refresher
      .whenIdle()
      .then(async () => {
        this.afterSweepPending = false;
        if (this.closing) return;
        const disk = await this.readDisk();
        await this.reclaim.checkFreeSpace(disk);
      })
      .catch((err: unknown) => {
        this.afterSweepPending = false;
        this.options.logger.error({ err }, 'the check after a sweep (disk space, reclaim free-space rule) failed');
      });
  }

  private onJobFinished(job: FirmwareJobSummary): void {
    this.metrics.jobFinished(job);
    void this.readDisk().catch((err: unknown) => this.options.logger.error({ err }, 'reading the disk after a job failed'));
    if (job.status !== 'completed') return;
    if (job.job_type === 'reset_build_env') {
      // clean-all deleted every build folder and PlatformIO's cache: everything moved.
      this.refresher.requestSweep();
      return;
    }
    // A compile may have written StorageJSON (new build path, version) and
    // moved the folder: one check (which reads the build path fresh), then
    // one reload either way. A renamed device leaves its old folder behind:
    // look for orphans.
    this.refresher.requestReport(job.configuration);
    this.refresher.requestSweep([ORPHAN_SOURCE]);
  }

  private async detectEsphomeVersion(): Promise<void> {
    const [command, ...prefix] = this.options.esphomeCommand;
    if (!command) return;
    await new Promise<void>((resolve) => {
      execFile(command, [...prefix, 'version'], { timeout: 15_000, env: this.options.env ?? process.env }, (err, stdout) => {
        const match = /Version:\s*(\S+)/.exec(stdout ?? '');
        this.esphomeVersion = err || !match ? null : (match[1] ?? null);
        if (err) this.options.logger.warn({ command }, 'esphome CLI not found or not working; firmware jobs will fail');
        resolve();
      });
    });
  }

  private async registerRoutes(): Promise<void> {
    const { app } = this;
    const trusted = this.options.trustedOrigins ?? [];
    await app.register(fastifyWebsocket, { options: { maxPayload: 1024 * 1024 } });
    // After the websocket plugin's own onRequest hook (it only marks upgrades,
    // so that a refused upgrade's socket is destroyed), before every route.
    this.guardHost(app);

    const services: ApiServices = {
      configDir: this.options.configDir,
      catalog: this.catalog,
      jobs: this.jobs,
      bus: this.bus,
      files: this.files,
      refresher: this.refresher,
      orphans: this.orphans,
      platformio: this.platformio,
      store: this.store,
      reclaim: this.reclaim,
      sizeHistory: this.sizeHistory,
      disk: () => this.diskReading,
      logger: this.options.logger,
    };

    const { limiter, budget } = this;
    /** Refusals logged once per address and reason (bounded), so a flood cannot flood the log. */
    const refusalsLogged = new Set<string>();
    const refused = (reason: string, address: string): void => {
      this.metrics.connectionsRefused.inc({ reason });
      const key = `${reason} ${address}`;
      if (refusalsLogged.size < 100 && !refusalsLogged.has(key)) {
        refusalsLogged.add(key);
        this.options.logger.warn(
          { reason, address, connections: limiter.size, queued_bytes: budget.queuedBytes },
          'refused a WebSocket: connection limit or outbound budget reached',
        );
      }
    };
    const refusal = (address: string) => (budget.overloaded ? 'overloaded' : limiter.check(address));

    app.get(
      '/ws',
      {
        websocket: true,
        preValidation: async (request, reply) => {
          if (!originAllowed(request.headers.origin, request.headers.host, trusted)) {
            this.options.logger.warn({ origin: request.headers.origin }, 'refused WebSocket from a foreign origin');
            await reply.code(403).send({ error: 'origin not allowed' });
            return;
          }
          // Cheap refusal before the upgrade; the handler re-checks (upgrades may race past this).
          const reason = refusal(request.ip);
          if (reason) {
            refused(reason, request.ip);
            await reply.code(503).header('retry-after', '5').send({ error: 'too many connections; try again later', reason });
          }
        },
      },
      (socket, request) => {
        const address = request.ip;
        const reason = budget.overloaded ? 'overloaded' : limiter.acquire(address);
        if (reason) {
          refused(reason, address);
          socket.close(1013, 'try again later: too many connections');
          return;
        }
        socket.once('close', () => limiter.release(address));
        handleConnection(socket, address, {
          services,
          auth: this.auth,
          serverInfo: () => this.serverInfo,
          logger: this.options.logger,
          onSlowClientDropped: () => this.metrics.slowClientsDropped.inc(),
          budget,
          streamLimiter: this.streamLimiter,
        });
      },
    );

    app.get('/metrics', async (request, reply) => {
      if (!(await this.httpAuthorized(request))) return reply.code(401).send({ error: 'not_authenticated' });
      return reply.type(this.metrics.registry.contentType).send(await this.metrics.registry.metrics());
    });

    // Liveness only: without a token it must not tell anything about the fleet.
    app.get('/healthz', async () => ({ ok: true }));

    const webRoot = this.options.webRoot === undefined ? DEFAULT_WEB_ROOT : this.options.webRoot;
    if (webRoot && existsSync(path.join(webRoot, 'index.html'))) {
      await app.register(fastifyStatic, { root: webRoot, prefix: '/', index: ['index.html'] });
    } else {
      app.get('/', async (_request, reply) =>
        reply.type('text/html').send('<!doctype html><title>device-builder-ts</title><p>The web page is not built. Run <code>npm run build</code>.</p>'),
      );
    }
  }

  /**
   * Every request and upgrade (static files, 404s and `/ws` included) is
   * refused with 403 unless its Host is ours: see host-check.ts. An
   * onRequest hook on the root, added before any route or the static files,
   * so nothing answers first. (Node itself answers 400 to an HTTP/1.1
   * request without a Host; HTTP/1.0 ones reach this hook and get 403.)
   */
  private guardHost(app: FastifyInstance): void {
    const policy = new HostPolicy({ listenHost: this.options.host, allowedHosts: this.options.allowedHosts });
    const logged = new Set<string>();
    app.addHook('onRequest', async (request, reply) => {
      const socket = request.raw.socket;
      const host = request.headers.host;
      if (policy.allows(host, socket.localAddress, socket.localPort)) return;
      const shown = String(host ?? '(none)').slice(0, 100);
      // Once per Host value (bounded), so a hostile page cannot flood the log.
      if (logged.size < 100 && !logged.has(shown)) {
        logged.add(shown);
        this.options.logger.warn(
          { host: shown, url: request.url.slice(0, 100) },
          'refused a request for a Host that is not ours (DNS rebinding?); add it with --allowed-host if it is yours',
        );
      }
      await reply.code(403).header('connection', 'close').send({ error: 'host not allowed' });
    });
  }

  private async httpAuthorized(request: FastifyRequest): Promise<boolean> {
    if (!this.auth.requiresAuth) return true;
    return this.auth.validate(AuthManager.bearerToken(request.headers.authorization));
  }
}
