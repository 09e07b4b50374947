/**
 * The WebSocket envelope, shared by the server and the page. The Device
 * Builder's shape: the server's first frame is its info; then every request
 * `{command, message_id, args}` is answered by `{message_id, result}` or
 * `{message_id, error_code, details}`, and streams (subscriptions, followed
 * jobs) send `{message_id, event, data}` frames.
 */
import type { Device } from './device.js';
import type { FirmwareJobSummary } from './jobs.js';
import type { DiskSpace, ReclaimState } from './reclaim.js';

/**
 * Every `error_code` the server sends. A client that does not know a code
 * still has `details`, a sentence meant for the user; codes are only ever
 * added, never renamed.
 */
export const ERROR_CODES = [
  'invalid_message',
  'unknown_command',
  'invalid_args',
  'not_found',
  'internal_error',
  'not_authenticated',
  'rate_limited',
  /** A job is queued or running where the request needs none (the device's own job, a fleet reset); retry once it ends. */
  'busy',
  /** The server is stopping and accepts no new jobs. */
  'shutting_down',
  /** The request clashes with what is on disk (e.g. an archived YAML of that name already exists). */
  'conflict',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ServerInfo {
  server_version: string;
  /** `esphome version` at start-up; null when the CLI is missing. */
  esphome_version: string | null;
  requires_auth: boolean;
  /** True when serving the generated demo fleet. */
  demo: boolean;
  config_dir: string;
  /** ESPHome's data dir in use (StorageJSON, build folders, per-instance files); `/data` on the add-on. */
  data_dir: string;
}

/**
 * The first frame on a password-protected server, before login: only what
 * the login screen needs. The rest ({@link ServerInfo}: paths, versions)
 * comes in the `auth/login` result as `server_info`.
 */
export interface PreAuthServerInfo {
  server_version: string;
  requires_auth: true;
}

/** The server's first frame: full info without a password, else {@link PreAuthServerInfo}. */
export type ServerGreeting = ServerInfo | PreAuthServerInfo;

/** The `auth/login` result (password or token). */
export interface LoginResult {
  token: string;
  /** Unix seconds; 30 days, sliding. */
  expires_at: number;
  /** The full server info, now that the socket may see it. */
  server_info: ServerInfo;
}

export type MessageId = string | number;

export interface RequestFrame {
  command: string;
  message_id: MessageId;
  args?: Record<string, unknown>;
}

export type ResponseFrame =
  | { message_id: MessageId; result: unknown }
  | { message_id: MessageId | null; error_code: ErrorCode; details: string }
  | { message_id: MessageId; event: string; data: unknown };

export interface InitialState {
  devices: Device[];
  firmware_jobs: FirmwareJobSummary[];
  /** Build folders no device uses any more, largest first. */
  orphans: OrphanBuild[];
  platformio: PlatformioSummary;
  /** The data dir's file system (null when `statfs` failed). */
  disk: DiskSpace | null;
  /** The reclaim policy, a run in progress and the next scheduled run. */
  reclaim: ReclaimState;
  /**
   * Only when subscribed with `{chunked: true}`: how many devices the whole
   * snapshot holds, and whether `devices_chunk` events with the rest follow.
   */
  devices_total?: number;
  more?: boolean;
}

/** `devices_chunk`: the next devices of a chunked snapshot; live events follow the last (`more: false`). */
export interface DevicesChunk {
  devices: Device[];
  more: boolean;
}

/** A build folder under a build root that no active device's StorageJSON points to. */
export interface OrphanBuild {
  build_path: string;
  build_size_bytes: number;
  build_disk_bytes: number;
}

export type PlatformioPart = 'packages' | 'platforms' | '.cache';

/** The shared PlatformIO core folder's cached sizes. */
export interface PlatformioSummary {
  path: string;
  bytes: number;
  parts: Record<PlatformioPart, number>;
  /** The part being walked right now, with how far it got; null when idle. */
  walking: { part: PlatformioPart; files: number; bytes: number } | null;
}

/** Per-item outcome of a bulk command. */
export interface BulkResult {
  configuration: string;
  success: boolean;
  error?: string;
  job_id?: string;
}

/** What archive or delete did with the device's build folder. */
export interface RemovalReport {
  configuration: string;
  /**
   * `deleted`: the build folder (or a symlink standing in for it) is gone;
   * `none`: there was nothing to delete; `refused`: the guard refused it, or
   * the deletion failed part way (see `reason`). The YAML was handled either way.
   */
  build_folder: 'deleted' | 'none' | 'refused';
  reason?: string;
}

/** A YAML in `<config>/archive/`. */
export interface ArchivedDevice {
  configuration: string;
  name: string;
  friendly_name: string | null;
  comment: string | null;
}
