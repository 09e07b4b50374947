/**
 * Every event the server sends on a stream, as one discriminated union: the
 * server publishes these objects and the page switches on the same type, so
 * a renamed event or a changed payload is a compile error on both sides.
 * The names and JSON payloads are the WebSocket API's (docs/API.md); they
 * are only ever added to.
 *
 * Events. Live ones go on the server's one event bus (events/event-bus.ts)
 * and `subscribe_events` forwards all of them (api/event-hub.ts):
 * - the device catalog: `device_added`, `device_updated`, `device_removed`;
 * - the job queue: `job_queued`, `job_started`, `job_output`,
 *   `job_completed`, `job_failed`, `job_cancelled`, `jobs_cleared`;
 * - the unused build folders: `orphans_updated`;
 * - the PlatformIO cache: `platformio_progress`, `platformio_updated`;
 * - reclaim: `reclaim_policy_updated`, `reclaim_started`, `reclaim_progress`,
 *   `reclaim_finished`, and the data dir's file system: `disk_updated`.
 * The refresher publishes nothing itself: what it measures reaches clients
 * through the catalog, orphans and PlatformIO events it triggers.
 *
 * Snapshot ones open a `subscribe_events` stream and never go on the bus:
 * `initial_state`, then `devices_chunk` when subscribed with `chunked`.
 * `firmware/follow_job` streams carry `job_output` and the final `job_*`.
 */
import type { Device } from './device.js';
import type { FirmwareJobSummary } from './jobs.js';
import type { DevicesChunk, InitialState, OrphanBuild, PlatformioSummary } from './protocol.js';
import type { DiskSpace, ReclaimProgress, ReclaimRun, ReclaimState } from './reclaim.js';

export type DeviceEvent =
  | { event: 'device_added'; data: { device: Device } }
  | { event: 'device_updated'; data: { device: Device } }
  | { event: 'device_removed'; data: { device: Device } };

/** A job reached its final state (sent once per job). */
export type JobFinishedEvent =
  | { event: 'job_completed'; data: FirmwareJobSummary }
  | { event: 'job_failed'; data: FirmwareJobSummary }
  | { event: 'job_cancelled'; data: FirmwareJobSummary };

export type JobEvent =
  | { event: 'job_queued'; data: FirmwareJobSummary }
  | { event: 'job_started'; data: FirmwareJobSummary }
  | { event: 'job_output'; data: { job_id: string; line: string } }
  | JobFinishedEvent
  /** `firmware/clear` dropped these finished jobs from the history. */
  | { event: 'jobs_cleared'; data: { job_ids: string[] } };

export type StorageEvent =
  /** The unused build folders changed (the set, or a size), largest first. */
  | { event: 'orphans_updated'; data: { orphans: OrphanBuild[] } }
  /** A PlatformIO part is being walked: how far it got. */
  | { event: 'platformio_progress'; data: NonNullable<PlatformioSummary['walking']> }
  | { event: 'platformio_updated'; data: PlatformioSummary };

export type ReclaimEvent =
  /** The policy was saved, a run started or ended, or the schedule moved. */
  | { event: 'reclaim_policy_updated'; data: ReclaimState }
  | { event: 'reclaim_started'; data: ReclaimRun }
  /** One step of a run reached its end. */
  | { event: 'reclaim_progress'; data: ReclaimProgress }
  | { event: 'reclaim_finished'; data: ReclaimRun }
  /** The data dir's file system free/total changed (read on each sweep and after each run). */
  | { event: 'disk_updated'; data: { disk: DiskSpace | null } };

/** What goes on the bus and reaches every subscribed stream as it happens. */
export type LiveEvent = DeviceEvent | JobEvent | StorageEvent | ReclaimEvent;

/** The opening frames of a `subscribe_events` stream, sent to that stream only. */
export type SnapshotEvent = { event: 'initial_state'; data: InitialState } | { event: 'devices_chunk'; data: DevicesChunk };

export type ServerEvent = LiveEvent | SnapshotEvent;
export type ServerEventName = ServerEvent['event'];
export type LiveEventName = LiveEvent['event'];
/** The payload of one event, by name: `EventData<'device_added'>` is `{device: Device}`. */
export type EventData<N extends ServerEventName> = Extract<ServerEvent, { event: N }>['data'];

/** The job queue's events (its subscribers listen to exactly these). */
export const JOB_EVENT_NAMES = [
  'job_queued',
  'job_started',
  'job_output',
  'job_completed',
  'job_failed',
  'job_cancelled',
  'jobs_cleared',
] as const satisfies readonly LiveEventName[];

/** Every name, for the page to tell ours from a newer server's (kept equal to the union below). */
export const SERVER_EVENT_NAMES = [
  'device_added',
  'device_updated',
  'device_removed',
  ...JOB_EVENT_NAMES,
  'orphans_updated',
  'platformio_progress',
  'platformio_updated',
  'reclaim_policy_updated',
  'reclaim_started',
  'reclaim_progress',
  'reclaim_finished',
  'disk_updated',
  'initial_state',
  'devices_chunk',
] as const satisfies readonly ServerEventName[];

// A name added to the union but not to the list fails here.
type Missing = Exclude<ServerEventName, (typeof SERVER_EVENT_NAMES)[number]>;
const _everyName: [Missing] extends [never] ? true : Missing = true;

const NAMES: ReadonlySet<string> = new Set(SERVER_EVENT_NAMES);

/**
 * Whether a frame's event is one this page knows. Only the name is checked:
 * the data is the server's own (same union, same build), so it is taken as
 * typed; unknown names (a newer server) are for the caller to skip.
 */
export function isServerEvent(frame: { event: string; data: unknown }): frame is ServerEvent {
  return NAMES.has(frame.event);
}
