/**
 * Server latency with a large fleet: `devices/list` and `subscribe_events`
 * (through `initial_state`) against the real server on a loopback port, 1,000
 * devices. Times are round trips seen by a client in this process, so they
 * include the client's JSON parse: an upper bound on the server's own time.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { DeviceBuilderServer } from '../src/server/server.js';
import { createLogger } from '../src/util/log.js';
import { median } from './stats.js';

export interface ServerLatencyResult {
  devices: number;
  runs: number;
  listMs: number;
  subscribeMs: number;
  listBytes: number;
}

/** A config dir of `count` compiled-looking devices with cached sizes (no build trees: nothing to walk). */
function writeFleet(root: string, count: number): string {
  const configDir = path.join(root, `server${count}`);
  rmSync(configDir, { recursive: true, force: true });
  mkdirSync(path.join(configDir, '.esphome', 'storage'), { recursive: true });
  const sidecar: Record<string, unknown> = {};
  for (let i = 0; i < count; i++) {
    const name = `node-${String(i).padStart(4, '0')}`;
    const configuration = `${name}.yaml`;
    writeFileSync(
      path.join(configDir, configuration),
      `substitutions:\n  name: ${name}\nesphome:\n  name: \${name}\n  friendly_name: Node ${i}\n  area: Floor ${i % 7}\nesp32:\n  board: esp32dev\nwifi:\n  ssid: !secret wifi_ssid\n  password: !secret wifi_password\napi:\nota:\n  - platform: esphome\nlogger:\n`,
    );
    writeFileSync(
      path.join(configDir, '.esphome', 'storage', `${configuration}.json`),
      JSON.stringify({ storage_version: 1, name, esphome_version: '2026.11.0', core_platform: 'esp32', address: `${name}.local`, build_path: null }),
    );
    sidecar[configuration] = { friendly_name: `Node ${i}`, build_size_bytes: 100_000_000 + i };
  }
  writeFileSync(path.join(configDir, '.device-builder.json'), JSON.stringify(sidecar));
  return configDir;
}

function open(url: string): Promise<{ socket: WebSocket; next: () => Promise<string> }> {
  const socket = new WebSocket(url);
  const queue: string[] = [];
  const waiters: ((frame: string) => void)[] = [];
  socket.on('message', (raw) => {
    const text = raw.toString();
    const waiter = waiters.shift();
    if (waiter) waiter(text);
    else queue.push(text);
  });
  const next = (): Promise<string> => {
    const queued = queue.shift();
    return queued !== undefined ? Promise.resolve(queued) : new Promise((resolve) => waiters.push(resolve));
  };
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve({ socket, next }));
    socket.once('error', reject);
  });
}

export async function measureServerLatency(root: string, devices = 1000, runs = 20): Promise<ServerLatencyResult> {
  const configDir = writeFleet(root, devices);
  const server = new DeviceBuilderServer({
    configDir,
    host: '127.0.0.1',
    port: 0,
    esphomeCommand: ['esphome'],
    password: null,
    logger: createLogger('silent'),
    webRoot: null,
    sweepIntervalMs: 0,
    env: { ...process.env, PLATFORMIO_CORE_DIR: path.join(configDir, '.no-platformio') },
  });
  const url = `${(await server.start()).replace('http', 'ws')}ws`;
  try {
    await server.refresher.whenIdle();
    const client = await open(url);
    await client.next(); // server info
    const list: number[] = [];
    let listBytes = 0;
    for (let i = 0; i < runs + 3; i++) {
      const started = performance.now();
      client.socket.send(JSON.stringify({ command: 'devices/list', message_id: i }));
      const reply = await client.next();
      const parsed = JSON.parse(reply) as { result: unknown[] };
      if (parsed.result.length !== devices) throw new Error(`devices/list returned ${parsed.result.length} devices`);
      if (i >= 3) list.push(performance.now() - started);
      listBytes = reply.length;
    }
    client.socket.close();

    const subscribe: number[] = [];
    for (let i = 0; i < runs + 3; i++) {
      const sub = await open(url);
      await sub.next();
      const started = performance.now();
      sub.socket.send(JSON.stringify({ command: 'subscribe_events', message_id: 's' }));
      const initial = JSON.parse(await sub.next()) as { event: string; data: { devices: unknown[] } };
      if (initial.event !== 'initial_state' || initial.data.devices.length !== devices) throw new Error('bad initial_state');
      if (i >= 3) subscribe.push(performance.now() - started);
      sub.socket.close();
    }
    return { devices, runs, listMs: median(list), subscribeMs: median(subscribe), listBytes };
  } finally {
    await server.close();
  }
}
