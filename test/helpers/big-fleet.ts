/**
 * Big fleets against a real server process (`attack-server.ts`): many YAML
 * files, or a few with megabyte comments. Measures how long the server takes
 * to listen and whether a subscribed client that reads everything gets the
 * whole fleet (`initial_state`, then any `devices_chunk` events) without
 * being dropped. Used by `test/server/big-fleet.test.ts` and
 * `stress/ws-attack.stress.ts`.
 */
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { makeTempDir } from './fs-fixtures.js';
import { spawnServer, waitUntil } from './ws-attack.js';

export interface BigFleetOptions {
  devices: number;
  /** Devices (the first ones) whose YAML carries a comment of `commentBytes`. */
  bigComments?: number;
  commentBytes?: number;
  /** Subscribe with `{chunked: true}` (what the page sends); else the legacy single `initial_state`. */
  chunked?: boolean;
  timeoutMs?: number;
}

export interface BigFleetReport {
  devices: number;
  /** The server's own start() time, as it measured it. */
  listenMs: number;
  /** From the URL line to the first frame on /ws. */
  greetingMs: number;
  /** From sending subscribe_events to the last device of the snapshot. */
  snapshotMs: number;
  devicesReceived: number;
  /** The longest `comment` received. */
  longestComment: number;
  largestFrame: number;
  frames: number;
  closeCode: number | null;
  error: string | null;
}

export function writeFleet(options: Pick<BigFleetOptions, 'devices' | 'bigComments' | 'commentBytes'>): string {
  const dir = makeTempDir('dbts-bigfleet-');
  for (let i = 0; i < options.devices; i++) {
    const name = `node${String(i).padStart(5, '0')}`;
    const comment = i < (options.bigComments ?? 0) ? `  comment: "${'c'.repeat(options.commentBytes ?? 0)}"\n` : '';
    fs.writeFileSync(path.join(dir, `${name}.yaml`), `esphome:\n  name: ${name}\n  friendly_name: Node ${i}\n${comment}esp32:\n  board: esp32dev\n`);
  }
  return dir;
}

export async function bigFleetLoad(options: BigFleetOptions): Promise<BigFleetReport> {
  const configDir = writeFleet(options);
  const server = await spawnServer({ configDir, rescanIntervalMs: 60_000 });
  const report: BigFleetReport = {
    devices: options.devices,
    listenMs: server.listenMs,
    greetingMs: 0,
    snapshotMs: 0,
    devicesReceived: 0,
    longestComment: 0,
    largestFrame: 0,
    frames: 0,
    closeCode: null,
    error: null,
  };
  const socket = new WebSocket(server.wsUrl);
  try {
    const opened = performance.now();
    let greeted = false;
    let complete = false;
    let subscribedAt = 0;
    socket.on('error', () => undefined);
    socket.on('close', (code) => (report.closeCode = code));
    socket.on('message', (raw) => {
      const text = raw.toString();
      report.frames++;
      report.largestFrame = Math.max(report.largestFrame, Buffer.byteLength(text));
      const frame = JSON.parse(text) as {
        event?: string;
        error_code?: string;
        details?: string;
        data?: { devices?: { comment: string | null }[]; more?: boolean };
      };
      if (!greeted) {
        greeted = true;
        report.greetingMs = performance.now() - opened;
        subscribedAt = performance.now();
        socket.send(JSON.stringify({ command: 'subscribe_events', message_id: 1, ...(options.chunked ? { args: { chunked: true } } : {}) }));
        return;
      }
      if (frame.error_code) report.error = `${frame.error_code}: ${frame.details}`;
      if (frame.event === 'initial_state' || frame.event === 'devices_chunk') {
        for (const device of frame.data?.devices ?? []) {
          report.devicesReceived++;
          report.longestComment = Math.max(report.longestComment, device.comment?.length ?? 0);
        }
        if (frame.data?.more !== true) {
          complete = true;
          report.snapshotMs = performance.now() - subscribedAt;
        }
      }
    });
    await waitUntil(() => complete || report.closeCode !== null || report.error !== null, options.timeoutMs ?? 120_000, 20).catch(() => undefined);
    // A drop for "too slow" comes with the next frame after the snapshot: give it a moment.
    await new Promise((resolve) => setTimeout(resolve, 300));
    // A copy: the close handler would write the code of our own terminate below into it.
    return { ...report };
  } finally {
    socket.terminate();
    await server.close();
    fs.rmSync(configDir, { recursive: true, force: true });
  }
}
