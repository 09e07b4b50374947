/**
 * Every WebSocket command, described once: its argument schema (zod, strict,
 * so unknown or mistyped arguments are refused rather than ignored) and its
 * handler. The connection layer (`ws-api.ts`) owns the envelope, auth and
 * streaming; this module owns what each command means.
 *
 * The argument and result types are the shared map's (src/shared/commands.ts),
 * which the page's client uses too: {@link COMMANDS} is checked against it, so
 * a schema that parses other arguments, a handler that returns something else,
 * or a command missing on either side does not compile.
 */
import path from 'node:path';
import { z } from 'zod';
import type { BuildSizeRefresher } from '../refresher/build-size-refresher.js';
import type { DeviceCatalog } from '../catalog/device-catalog.js';
import { isDeviceFileName, isSafeConfigurationName } from '../config/config-scanner.js';
import { DeviceFileError, type DeviceFiles } from '../devices/device-files.js';
import { DEVICE_PORT_RULE, isValidDevicePort } from '../jobs/device-port.js';
import { JobQueueError, type JobQueue } from '../jobs/job-queue.js';
import type { EventBus } from '../events/event-bus.js';
import type { ArgsOf, HandlerCommandName, Preferences, ResultOf } from '../shared/commands.js';
import type { Device } from '../shared/device.js';
import type { BulkResult, InitialState } from '../shared/protocol.js';
import { isFinished, type JobType } from '../shared/jobs.js';
import { ORPHAN_SOURCE, OrphanError, type OrphanBuilds } from '../orphans/orphan-builds.js';
import { PLATFORMIO_SOURCE, type PlatformioCache } from '../platformio/platformio-cache.js';
import type { MetadataStore } from '../metadata/device-metadata.js';
import type { DiskSpace } from '../shared/reclaim.js';
import type { Logger } from '../util/log.js';
import type { ReclaimService } from '../reclaim/reclaim-service.js';
import { ApiError } from './api-error.js';
import { eventHubFor } from './event-hub.js';
import { RECLAIM_SPECS } from './reclaim-commands.js';
import { SIZE_HISTORY_COMMANDS } from './size-history-commands.js';
import type { SizeHistoryStore } from '../size-history/size-history-store.js';

/** What command handlers act on; assembled by the server. */
export interface ApiServices {
  configDir: string;
  catalog: DeviceCatalog;
  jobs: JobQueue;
  /** Where the catalog, jobs, orphans and PlatformIO cache publish; `subscribe_events` forwards it. */
  bus: EventBus;
  files: DeviceFiles;
  refresher: BuildSizeRefresher;
  orphans: OrphanBuilds;
  platformio: PlatformioCache;
  store: MetadataStore;
  /** The reclaim policy, its previews, runs and history (reclaim/reclaim-service.ts). */
  reclaim: ReclaimService;
  /** Device and fleet size histories and size trees (size-history/size-history-store.ts). */
  sizeHistory: SizeHistoryStore;
  /** The data dir's file system as last read (the server re-reads it on sweeps, jobs and reclaim runs). */
  disk: () => DiskSpace | null;
  logger: Logger;
}

/** One frame of a snapshot: an event whose data is already JSON text. */
export interface SnapshotFrame {
  event: string;
  json: string;
}

/** A stream a command opened on its connection (subscription, followed job). */
export interface StreamSink {
  event(name: string, data: unknown): void;
  /** An event whose data is already JSON text (serialised once for every stream, see event-hub.ts). */
  eventJson(name: string, json: string): void;
  /**
   * Sends the stream's opening frames, pulled one at a time, each once the
   * previous one reached the kernel; they do not count against the
   * slow-client limit, and events sent meanwhile wait behind them, so the
   * client sees the snapshot first and then every change in order. Its first
   * frame is pulled (and sent) before this returns.
   */
  snapshot(frames: Iterator<SnapshotFrame>): void;
  /** Registers cleanup that runs when the stream ends: `unsubscribe`, or the socket closes. */
  onClose(cleanup: () => void): void;
}

export interface CommandContext {
  services: ApiServices;
  stream: StreamSink;
}

/**
 * One command as the connection layer calls it, after `args` parsed the
 * request. A method, so every precisely typed entry of {@link COMMANDS} fits
 * this one shape without a cast.
 */
export interface CommandSpec {
  readonly args: z.ZodType;
  handler(args: unknown, ctx: CommandContext): unknown;
}

/**
 * What the shared map says of one command. `handler` is a property, so its
 * argument is checked both ways: the schema's output must be the map's
 * arguments, no more and no less.
 */
type SpecFor<C extends HandlerCommandName> = {
  readonly args: z.ZodType<ArgsOf<C>>;
  readonly handler: (args: ArgsOf<C>, ctx: CommandContext) => ResultOf<C> | Promise<ResultOf<C>>;
};

const MAX_BULK = 1000;

const configurationArg = z
  .string()
  .refine(isSafeConfigurationName, 'must be a plain file name of at most 255 bytes (no /, \\, NUL, "." or "..")')
  .refine(isDeviceFileName, 'must name a .yaml or .yml device file');

const configurationOnly = z.strictObject({ configuration: configurationArg });
const configurationList = z.strictObject({ configurations: z.array(configurationArg).min(1).max(MAX_BULK) });
const noArgs = z.strictObject({});
/** `--device` value for esphome: never something it would read as an option (see device-port.ts). */
const portArg = z.string().min(1).max(255).refine(isValidDevicePort, DEVICE_PORT_RULE);
const jobIdArg = z.strictObject({ job_id: z.string().min(1).max(100) });

/** A schema and its handler, typed by the schema's output (checked against the shared map below). */
function define<S extends z.ZodType, R>(args: S, handler: (args: z.output<S>, ctx: CommandContext) => R | Promise<R>) {
  return { args, handler };
}

/** The device must be in the catalog: `not_found` otherwise. */
function requireDevice(services: ApiServices, configuration: string): void {
  if (!services.catalog.get(configuration)) throw new ApiError('not_found', `no device ${configuration}`);
}

/** Destructive file operations wait for a device's job to end: the job is writing that folder (`busy`). */
function requireNoActiveJob(services: ApiServices, configuration: string): void {
  const job = services.jobs.activeJobFor(configuration);
  if (job) throw new ApiError('busy', `a ${job.job_type} job is ${job.status} for ${configuration}; cancel it first`);
}

/** DeviceFileError codes are API codes (`not_found`, `invalid_args`, `conflict`). */
function fileError(err: unknown): never {
  if (err instanceof DeviceFileError) throw new ApiError(err.code, err.message);
  throw err;
}

/**
 * Archive or delete one device: both wipe its build folder, so both wait for
 * its job, and both change which build folders are orphans.
 */
async function removeOne(services: ApiServices, configuration: string, action: 'archive' | 'delete') {
  requireDevice(services, configuration);
  requireNoActiveJob(services, configuration);
  const report = await services.files[action](configuration).catch(fileError);
  if (action === 'delete') {
    await services.sizeHistory
      .forget(configuration)
      .catch((err: unknown) => services.logger.warn({ err, configuration }, 'could not remove the size history of a deleted device'));
  }
  await services.catalog.reload(configuration);
  services.refresher.requestSweep([ORPHAN_SOURCE]);
  return report;
}

/** Runs `task` per device, reporting each outcome instead of failing the whole batch. */
async function bulk(configurations: string[], task: (configuration: string) => Promise<Partial<BulkResult> | void>): Promise<BulkResult[]> {
  const results: BulkResult[] = [];
  for (const configuration of new Set(configurations)) {
    try {
      const extra = (await task(configuration)) ?? {};
      results.push({ configuration, success: true, ...extra });
    } catch (err) {
      results.push({ configuration, success: false, error: (err as Error).message });
    }
  }
  return results;
}

/** Queues a job; the queue's refusal keeps its code (`shutting_down`, `invalid_args`). */
function enqueueJob(services: ApiServices, type: JobType, configuration: string, port: string | null) {
  try {
    return services.jobs.enqueue(type, configuration, { port });
  } catch (err) {
    throw new ApiError(err instanceof JobQueueError ? err.code : 'invalid_args', (err as Error).message);
  }
}

function startJob(services: ApiServices, type: Exclude<JobType, 'reset_build_env'>, configuration: string, port: string | null) {
  requireDevice(services, configuration);
  return enqueueJob(services, type, configuration, port);
}

const PREFERENCES_KEY = '_preferences';
/** What `preferences/set` stores: an object whose values are anything JSON. */
function isPreferences(value: unknown): value is Preferences {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
/** Any JSON value; the map calls it `unknown`, which is all the handler needs to store it. */
const preferenceValue: z.ZodType<unknown> = z.json().refine((value) => JSON.stringify(value).length <= 16 * 1024, 'value too large');

/** Commands that open a stream on their socket (ended by `unsubscribe` or close). */
export const STREAMING_COMMANDS: ReadonlySet<string> = new Set(['subscribe_events', 'firmware/follow_job']);

/**
 * `devices_chunk` events carry about this many bytes of devices (and a
 * chunked `initial_state` its first chunk), so a 50,000-device snapshot
 * never sits in memory, or in a socket's queue, as one 14 MB frame.
 */
export const SNAPSHOT_CHUNK_BYTES = 256 * 1024;

type SnapshotRest = Omit<InitialState, 'devices' | 'devices_total' | 'more'>;

/** The legacy snapshot (no `chunked`): one `initial_state` with every device, as before. */
function* wholeSnapshot(devices: Device[], rest: SnapshotRest): Generator<SnapshotFrame> {
  const state: InitialState = { devices, ...rest };
  yield { event: 'initial_state', json: JSON.stringify(state) };
}

/**
 * `initial_state` with the first chunk of devices, `devices_total` and
 * `more`, then `devices_chunk {devices, more}` until `more` is false. Each
 * chunk is serialised when its turn comes, from the devices as they were at
 * subscription (Device objects are replaced, never changed).
 */
export function* chunkedSnapshot(devices: readonly Device[], rest: SnapshotRest, chunkBytes = SNAPSHOT_CHUNK_BYTES): Generator<SnapshotFrame> {
  let index = 0;
  const take = (): string => {
    const parts: string[] = [];
    let bytes = 0;
    while (index < devices.length && (parts.length === 0 || bytes < chunkBytes)) {
      const json = JSON.stringify(devices[index++]);
      parts.push(json);
      bytes += json.length;
    }
    return `[${parts.join(',')}]`;
  };
  const first = take();
  const restJson = JSON.stringify(rest).slice(1, -1);
  yield {
    event: 'initial_state',
    json: `{"devices":${first},${restJson},"devices_total":${devices.length},"more":${index < devices.length}}`,
  };
  while (index < devices.length) {
    const chunk = take();
    yield { event: 'devices_chunk', json: `{"devices":${chunk},"more":${index < devices.length}}` };
  }
}

const SPECS = {
  subscribe_events: define(z.strictObject({ chunked: z.boolean().optional() }), async ({ chunked }, { services, stream }) => {
    const [orphans, platformio] = await Promise.all([services.orphans.list(), services.platformio.summary()]);
    // From here to the end, synchronous: no change can fall between the snapshot and the live events.
    const devices = services.catalog.list();
    const rest: SnapshotRest = { firmware_jobs: services.jobs.list(), orphans, platformio, disk: services.disk(), reclaim: services.reclaim.state() };
    stream.snapshot(chunked ? chunkedSnapshot(devices, rest) : wholeSnapshot(devices, rest));
    stream.onClose(eventHubFor(services).add(stream));
    return null;
  }),

  'devices/list': define(noArgs, (_args, { services }) => services.catalog.list()),

  'devices/archive': define(configurationOnly, ({ configuration }, { services }) => removeOne(services, configuration, 'archive')),
  'devices/archive_bulk': define(configurationList, ({ configurations }, { services }) =>
    bulk(configurations, async (configuration) => {
      await removeOne(services, configuration, 'archive');
    }),
  ),
  'devices/unarchive': define(configurationOnly, async ({ configuration }, { services }) => {
    await services.files.unarchive(configuration).catch(fileError);
    return (await services.catalog.reload(configuration)) ?? null;
  }),
  'devices/list_archived': define(noArgs, (_args, { services }) => services.files.listArchived()),
  'devices/delete': define(configurationOnly, ({ configuration }, { services }) => removeOne(services, configuration, 'delete')),
  'devices/delete_bulk': define(configurationList, ({ configurations }, { services }) =>
    bulk(configurations, async (configuration) => {
      await removeOne(services, configuration, 'delete');
    }),
  ),
  'devices/delete_archived': define(configurationOnly, async ({ configuration }, { services }) => {
    await services.files.deleteArchived(configuration).catch(fileError);
    return { configuration, deleted: true };
  }),

  'firmware/compile': define(configurationOnly, ({ configuration }, { services }) => startJob(services, 'compile', configuration, null)),
  'firmware/upload': define(z.strictObject({ configuration: configurationArg, port: portArg.optional() }), (args, { services }) =>
    startJob(services, 'upload', args.configuration, args.port ?? null),
  ),
  'firmware/install': define(z.strictObject({ configuration: configurationArg, port: portArg.optional() }), (args, { services }) =>
    startJob(services, 'install', args.configuration, args.port ?? null),
  ),
  'firmware/clean': define(configurationOnly, ({ configuration }, { services }) => startJob(services, 'clean', configuration, null)),
  'firmware/compile_bulk': define(configurationList, ({ configurations }, { services }) =>
    bulk(configurations, async (configuration) => ({ job_id: startJob(services, 'compile', configuration, null).job_id })),
  ),
  'firmware/clean_bulk': define(configurationList, ({ configurations }, { services }) =>
    bulk(configurations, async (configuration) => ({ job_id: startJob(services, 'clean', configuration, null).job_id })),
  ),
  'firmware/reset_build_env': define(noArgs, (_args, { services }) => enqueueJob(services, 'reset_build_env', path.basename(services.configDir), null)),
  'firmware/get_jobs': define(noArgs, (_args, { services }) => services.jobs.list()),
  'firmware/cancel': define(jobIdArg, ({ job_id }, { services }) => {
    if (!services.jobs.get(job_id)) throw new ApiError('not_found', `no job ${job_id}`);
    return { job_id, cancelled: services.jobs.cancel(job_id) };
  }),
  'firmware/follow_job': define(jobIdArg, ({ job_id }, { services, stream }) => {
    const followed = services.jobs.follow(
      job_id,
      (line) => stream.event('job_output', { job_id, line }),
      (job) => stream.event(`job_${job.status}`, job),
    );
    if (!followed) throw new ApiError('not_found', `no job ${job_id}`);
    stream.onClose(followed.unsubscribe);
    const job = services.jobs.get(job_id);
    return { job: job ? { ...job, output: undefined } : null, history: followed.history };
  }),
  'firmware/clear': define(noArgs, (_args, { services }) => ({ removed: services.jobs.clear() })),

  'builds/list_orphans': define(noArgs, (_args, { services }) => services.orphans.list()),
  'builds/delete_orphan': define(
    z.strictObject({
      build_path: z
        .string()
        .min(1)
        .max(4096)
        .refine((p) => !p.includes('\0'), 'must not contain NUL'),
    }),
    async ({ build_path }, { services }) => {
      // clean-all is deleting every build folder right now; let it finish.
      const reset = services.jobs.list().find((job) => job.job_type === 'reset_build_env' && !isFinished(job.status));
      if (reset) throw new ApiError('busy', `a reset of the build environment is ${reset.status}; wait for it to finish`);
      try {
        await services.orphans.delete(build_path);
      } catch (err) {
        if (err instanceof OrphanError) throw new ApiError(err.code, err.message);
        throw err;
      }
      return { build_path, deleted: true };
    },
  ),
  // Answers once the check (and any walk it led to) is done, with the fresh list.
  'builds/rescan': define(noArgs, async (_args, { services }) => {
    services.refresher.requestSweep([ORPHAN_SOURCE]);
    await services.refresher.whenIdle();
    return services.orphans.list();
  }),

  'platformio/get': define(noArgs, (_args, { services }) => services.platformio.summary()),
  // Answers once the check is done. The pair only sees the part folders' own
  // mtimes, so files added deep inside (a download in .cache/downloads) need
  // `force`, which forgets the cached pairs and re-measures every part.
  'platformio/refresh': define(z.strictObject({ force: z.boolean().optional() }), async ({ force }, { services }) => {
    if (force) await services.platformio.forget();
    services.refresher.requestSweep([PLATFORMIO_SOURCE]);
    await services.refresher.whenIdle();
    return services.platformio.summary();
  }),

  'preferences/get': define(noArgs, async (_args, { services }) => {
    const prefs = await services.store.readGlobal(PREFERENCES_KEY);
    return isPreferences(prefs) ? prefs : {};
  }),
  'preferences/set': define(
    z.strictObject({
      key: z
        .string()
        .min(1)
        .max(64)
        .regex(/^[A-Za-z0-9_.-]+$/),
      value: preferenceValue,
    }),
    async ({ key, value }, { services }) => {
      await services.store.updateGlobal(PREFERENCES_KEY, (current) => {
        const base = typeof current === 'object' && current !== null && !Array.isArray(current) ? current : {};
        return { ...base, [key]: value };
      });
      return { key, value };
    },
  ),

  ...RECLAIM_SPECS,
  ...SIZE_HISTORY_COMMANDS,
} satisfies { [C in HandlerCommandName]: SpecFor<C> };

// Assignability alone lets a schema drop an optional argument the map has
// (`port?`): the names must match too.
type SchemaArgs<C extends HandlerCommandName> = z.output<(typeof SPECS)[C]['args']>;
type ArgNameMismatch = {
  [C in HandlerCommandName]: Exclude<keyof ArgsOf<C>, keyof SchemaArgs<C>> | Exclude<keyof SchemaArgs<C>, keyof ArgsOf<C>>;
}[HandlerCommandName];
const _sameArgNames: [ArgNameMismatch] extends [never] ? true : ArgNameMismatch = true;

/** Every handler command by name, for the connection layer's dispatch. */
export const COMMANDS: Readonly<Record<string, CommandSpec>> = SPECS;
