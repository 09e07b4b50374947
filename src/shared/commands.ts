/**
 * Every WebSocket command's arguments and result, described once for both
 * sides: the server's handlers (src/api/commands.ts) are checked against this
 * map (each zod schema must parse exactly the arguments given here, and each
 * handler must return the result given here), and the page's client derives
 * its `request`/`stream` types from it. Types only: nothing here reaches the
 * page's bundle, and zod stays on the server.
 *
 * A result is what goes on the wire: a handler with nothing to say answers
 * `null`.
 */
import type { Device } from './device.js';
import type { FirmwareJob, FirmwareJobSummary } from './jobs.js';
import type { ArchivedDevice, BulkResult, LoginResult, MessageId, OrphanBuild, PlatformioSummary, RemovalReport } from './protocol.js';
import type { ReclaimPlan, ReclaimPolicyInput, ReclaimRun, ReclaimState } from './reclaim.js';
import type { SizePoint, SizeTreeNode } from './size-history.js';

/** Server preferences: any JSON values by key (the page keeps its table settings there). */
export type Preferences = Record<string, unknown>;

type Configuration = { configuration: string };
type Configurations = { configurations: string[] };
type NoArgs = Record<string, never>;

export interface CommandMap {
  'auth/login': { args: { password: string } | { token: string }; result: LoginResult };
  'auth/logout': { args: NoArgs; result: { logged_out: boolean } };
  /** `chunked`: the snapshot comes as `initial_state` plus `devices_chunk` events (see docs/API.md). */
  subscribe_events: { args: { chunked?: boolean }; result: null };
  'devices/list': { args: NoArgs; result: Device[] };
  'devices/archive': { args: Configuration; result: RemovalReport };
  'devices/archive_bulk': { args: Configurations; result: BulkResult[] };
  /** The restored device, or null when its YAML cannot be read as a device. */
  'devices/unarchive': { args: Configuration; result: Device | null };
  'devices/list_archived': { args: NoArgs; result: ArchivedDevice[] };
  'devices/delete': { args: Configuration; result: RemovalReport };
  'devices/delete_bulk': { args: Configurations; result: BulkResult[] };
  'devices/delete_archived': { args: Configuration; result: { configuration: string; deleted: boolean } };
  'firmware/compile': { args: Configuration; result: FirmwareJobSummary };
  'firmware/upload': { args: Configuration & { port?: string }; result: FirmwareJobSummary };
  'firmware/install': { args: Configuration & { port?: string }; result: FirmwareJobSummary };
  'firmware/clean': { args: Configuration; result: FirmwareJobSummary };
  'firmware/compile_bulk': { args: Configurations; result: BulkResult[] };
  'firmware/clean_bulk': { args: Configurations; result: BulkResult[] };
  'firmware/reset_build_env': { args: NoArgs; result: FirmwareJobSummary };
  'firmware/get_jobs': { args: NoArgs; result: FirmwareJobSummary[] };
  'firmware/cancel': { args: { job_id: string }; result: { job_id: string; cancelled: boolean } };
  'firmware/follow_job': { args: { job_id: string }; result: { job: Omit<FirmwareJob, 'output'> | null; history: string[] } };
  'firmware/clear': { args: NoArgs; result: { removed: number } };
  'builds/list_orphans': { args: NoArgs; result: OrphanBuild[] };
  'builds/delete_orphan': { args: { build_path: string }; result: { build_path: string; deleted: boolean } };
  'builds/rescan': { args: NoArgs; result: OrphanBuild[] };
  'platformio/get': { args: NoArgs; result: PlatformioSummary };
  'platformio/refresh': { args: { force?: boolean }; result: PlatformioSummary };
  /** The saved reclaim policy, the run in progress and the next scheduled run. */
  'reclaim/get_policy': { args: NoArgs; result: ReclaimState };
  /** Saves the policy (fields left out keep their saved values; null turns a rule off). */
  'reclaim/set_policy': { args: { policy: ReclaimPolicyInput }; result: ReclaimState };
  /** The plan for the saved policy, or for a draft one (`policy`, not saved), from cached figures: no walk. */
  'reclaim/preview': { args: { policy?: ReclaimPolicyInput }; result: ReclaimPlan };
  /** Runs a plan a preview returned (`plan_id`, exactly those steps) or a fresh one of the saved policy; answers once it started, progress as events. */
  'reclaim/run': { args: { plan_id?: string }; result: ReclaimRun };
  /** Earlier runs, newest first. */
  'reclaim/history': { args: NoArgs; result: ReclaimRun[] };
  /** A device's build size over time (`configuration`), or the fleet total's (`{}`), oldest first. */
  'devices/size_history': { args: { configuration?: string }; result: SizePoint[] };
  /** A device's bounded tree of its biggest build folders, from its last walk; null when not walked since. */
  'devices/size_tree': { args: Configuration; result: SizeTreeNode | null };
  /** Ends a stream (a followed job, the subscription) opened by `message_id`. */
  unsubscribe: { args: { message_id: MessageId }; result: { unsubscribed: MessageId } };
  'preferences/get': { args: NoArgs; result: Preferences };
  /** `value`: any JSON value (16 KiB at most once serialised). */
  'preferences/set': { args: { key: string; value: unknown }; result: { key: string; value: unknown } };
}

export type CommandName = keyof CommandMap;
export type ArgsOf<C extends CommandName> = CommandMap[C]['args'];
export type ResultOf<C extends CommandName> = CommandMap[C]['result'];

/** Answered by the connection itself (ws-api.ts): the session and the streams. */
export type ConnectionCommandName = 'auth/login' | 'auth/logout' | 'unsubscribe';
/** Answered by a handler of src/api/commands.ts. */
export type HandlerCommandName = Exclude<CommandName, ConnectionCommandName>;
