/**
 * The real dashboard server in a process of its own, for attacks whose cost
 * is measured as the server's RSS (`/proc/<pid>/status`) without the
 * attacking clients' memory mixed in. Options come as JSON in argv[2]; the
 * URL is printed as `URL <url>` once it listens; SIGTERM closes it.
 */
import { DeviceBuilderServer, type ServerOptions } from '../../src/server/server.js';
import { createLogger } from '../../src/util/log.js';

const options = JSON.parse(process.argv[2] ?? '{}') as Omit<ServerOptions, 'logger'>;
const server = new DeviceBuilderServer({ ...options, logger: createLogger(process.env['DEVICE_BUILDER_LOG_LEVEL'] ?? 'warn') });
const started = performance.now();
const url = await server.start();
await server.ready;
console.log(`URL ${url} ${(performance.now() - started).toFixed(0)}`);
process.on('SIGTERM', () => {
  void server.close().finally(() => process.exit(0));
});
