/// <reference lib="dom" />
/**
 * Shared test data for the page's tests: devices and jobs shaped like the
 * server's, and a fake WebSocket the client can be driven with.
 */
import type { Device } from '../../src/shared/device.js';
import type { FirmwareJobSummary } from '../../src/shared/jobs.js';
import { DEFAULT_RECLAIM_POLICY, type ReclaimState } from '../../src/shared/reclaim.js';
import type { SocketLike } from '../../web/src/api/client.js';

export function device(name: string, overrides: Partial<Device> = {}): Device {
  return {
    name,
    friendly_name: `${name[0]?.toUpperCase() ?? ''}${name.slice(1)}`,
    configuration: `${name}.yaml`,
    comment: null,
    area: null,
    target_platform: 'esp32',
    address: `${name}.local`,
    deployed_version: null,
    build_path: null,
    build_size_bytes: 0,
    build_disk_bytes: overrides.build_size_bytes ?? 0,
    build_size_breakdown: null,
    last_compiled: null,
    error: null,
    ...overrides,
  };
}

export function job(configuration: string, overrides: Partial<FirmwareJobSummary> = {}): FirmwareJobSummary {
  return {
    job_id: `job-${configuration}-${Math.random().toString(36).slice(2)}`,
    configuration,
    job_type: 'compile',
    status: 'running',
    created_at: 1000,
    started_at: 1001,
    completed_at: null,
    exit_code: null,
    port: null,
    error: null,
    ...overrides,
  };
}

export const MB = 1024 * 1024;

/** `InitialState.reclaim` of a server whose policy was never saved: every rule off, nothing running. */
export const RECLAIM_OFF: ReclaimState = { policy: DEFAULT_RECLAIM_POLICY, running: null, next_run_at: null };

/** A socket the test plays the server for: `sent` holds parsed frames, `receive` delivers one. */
export class FakeSocket implements SocketLike {
  static instances: FakeSocket[] = [];
  readyState = 0;
  sent: Record<string, unknown>[] = [];
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: unknown) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;

  constructor(readonly url: string) {
    FakeSocket.instances.push(this);
  }

  static reset(): void {
    FakeSocket.instances = [];
  }

  static get last(): FakeSocket {
    const socket = FakeSocket.instances[FakeSocket.instances.length - 1];
    if (!socket) throw new Error('no socket was opened');
    return socket;
  }

  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }

  close(): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({});
  }

  /**
   * Opens and sends the server-info frame: the full info, or (with
   * `requires_auth`) only what a password-protected server sends before login.
   */
  open(info: Partial<{ requires_auth: boolean; demo: boolean; esphome_version: string | null }> = {}): void {
    this.readyState = 1;
    this.onopen?.({});
    if (info.requires_auth) {
      this.receive({ server_version: '0.1.0', requires_auth: true });
      return;
    }
    this.receive({
      server_version: '0.1.0',
      esphome_version: '2026.11.0',
      requires_auth: false,
      demo: false,
      config_dir: '/config',
      data_dir: '/config/.esphome',
      ...info,
    });
  }

  receive(frame: unknown): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }

  /** The last frame sent with this command. */
  lastSent(command: string): Record<string, unknown> {
    const frame = [...this.sent].reverse().find((f) => f['command'] === command);
    if (!frame) throw new Error(`no ${command} was sent; sent: ${this.sent.map((f) => f['command']).join(', ')}`);
    return frame;
  }

  reply(command: string, result: unknown): void {
    this.receive({ message_id: this.lastSent(command)['message_id'], result });
  }
}

/** Lets pending promise callbacks run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}
