/**
 * Starts the real dashboard server on an ephemeral loopback port against a
 * temp config dir, with the project's fake `esphome` first on PATH.
 */
import path from 'node:path';
import { DeviceBuilderServer, type ServerOptions } from '../../src/server/server.js';
import { silentLogger } from './fs-fixtures.js';
import { REPO_ROOT } from './run-cli.js';
import { WsClient } from './ws-client.js';

export const FAKE_ESPHOME_BIN = path.join(REPO_ROOT, 'test', 'fixtures', 'bin');

export interface RunningServer {
  server: DeviceBuilderServer;
  url: string;
  wsUrl: string;
  connect(options?: { origin?: string; localAddress?: string }): Promise<WsClient>;
  close(): Promise<void>;
}

const open: RunningServer[] = [];

export async function startServer(configDir: string, overrides: Partial<ServerOptions> = {}): Promise<RunningServer> {
  const server = new DeviceBuilderServer({
    configDir,
    host: '127.0.0.1',
    port: 0,
    esphomeCommand: ['esphome'],
    password: null,
    logger: silentLogger,
    env: {
      ...process.env,
      PATH: `${FAKE_ESPHOME_BIN}${path.delimiter}${process.env['PATH'] ?? ''}`,
      FAKE_ESPHOME_FILES: '60',
      // Never size the machine's real PlatformIO folder from a test.
      PLATFORMIO_CORE_DIR: path.join(configDir, '.platformio-test'),
    },
    webRoot: null,
    rescanIntervalMs: 300,
    ...overrides,
  });
  const url = await server.start();
  // Tests act on the job queue and the reclaim service directly: their state is loaded once this resolves.
  await server.ready;
  const wsUrl = `${url.replace(/^http/, 'ws')}ws`;
  const clients: WsClient[] = [];
  const running: RunningServer = {
    server,
    url,
    wsUrl,
    connect: async (options) => {
      const client = await WsClient.connect(wsUrl, options);
      clients.push(client);
      return client;
    },
    close: async () => {
      await Promise.all(clients.map((client) => client.close()));
      await server.close();
    },
  };
  open.push(running);
  return running;
}

export async function stopServers(): Promise<void> {
  for (const running of open.splice(0)) await running.close();
}
