/**
 * The commands the page sends, with their arguments and results, typed from
 * the shared protocol modules. The server describes each command once with a
 * zod schema (`src/api/commands.ts`); this map is the page's view of it.
 */
import type { Device } from '../../../src/shared/device.js';
import type { FirmwareJob, FirmwareJobSummary } from '../../../src/shared/jobs.js';
import type {
  ArchivedDevice,
  BulkResult,
  LoginResult,
  MessageId,
  OrphanBuild,
  PlatformioSummary,
  RemovalReport,
} from '../../../src/shared/protocol.js';

/** `{token, expires_at, server_info}`; `server_info` is the full server info (see protocol.ts). */
export type { LoginResult } from '../../../src/shared/protocol.js';

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
  'devices/unarchive': { args: Configuration; result: unknown };
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
  /** Ends a stream (a followed job, the subscription) opened by `message_id`. */
  unsubscribe: { args: { message_id: MessageId }; result: { unsubscribed: MessageId } };
  'preferences/get': { args: NoArgs; result: Preferences };
  'preferences/set': { args: { key: string; value: unknown }; result: { key: string; value: unknown } };
}

export type CommandName = keyof CommandMap;
export type ArgsOf<C extends CommandName> = CommandMap[C]['args'];
export type ResultOf<C extends CommandName> = CommandMap[C]['result'];
