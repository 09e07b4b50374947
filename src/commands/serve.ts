/**
 * `device-builder serve`: the demo fallback, the server's life cycle and
 * clean shutdown on SIGINT/SIGTERM. Its options were read and checked by
 * settings.ts (port, password sources, hosts, origins, sweep interval).
 */
import { prepareDemoFleet, REDIRECTING_ENV } from '../demo/demo-fleet.js';
import { DeviceBuilderServer } from '../server/server.js';
import type { ServeSettings } from './settings.js';
import type { Logger } from '../util/log.js';
import { assertReadableDir } from './config-dir.js';
import { UsageError } from './usage-error.js';
import { InstanceLockBusyError } from '../server/instance-lock.js';

function withoutEsphomeDirs(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = { ...env };
  for (const key of REDIRECTING_ENV) delete copy[key];
  return copy;
}

export async function runServe(settings: ServeSettings, logger: Logger): Promise<void> {
  const { host, port } = settings;
  let { configDir, esphomeCommand } = settings;
  if (settings.demo) {
    const fleet = await prepareDemoFleet(logger);
    configDir = fleet.configDir;
    if (!settings.esphomeGiven) esphomeCommand = fleet.esphomeCommand;
    logger.info({ configDir }, 'no ./config folder: serving a generated DEMO fleet (pass a config dir to use yours)');
  }
  await assertReadableDir(configDir);

  const { demo } = settings;
  const server = new DeviceBuilderServer({
    configDir,
    host,
    port,
    esphomeCommand,
    password: settings.password,
    trustedOrigins: settings.trustedOrigins,
    allowedHosts: settings.allowedHosts,
    logger,
    demo,
    sweepIntervalMs: settings.sweepIntervalMs,
    walker: settings.walker,
    // The demo lives in its own folder: a user's ESPHome data-dir settings
    // must neither redirect it nor let its clean-all touch their builds.
    env: demo ? withoutEsphomeDirs(settings.env) : settings.env,
  });
  let url: string;
  try {
    url = await server.start();
  } catch (err) {
    await server.close().catch(() => undefined);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new UsageError(`port ${port} on ${host} is already in use (try --port)`);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new UsageError(`cannot listen on ${host}: no such address`);
    if (err instanceof InstanceLockBusyError) throw new UsageError(err.message);
    throw err;
  }
  process.stdout.write(`device-builder ${demo ? 'DEMO fleet ' : ''}dashboard for ${configDir}\n  ${url}\n`);

  // The URL goes out as soon as the server listens (it already answers); the
  // state loads behind it, and a failed load (the server closes itself) ends
  // the command with that error.
  await new Promise<void>((resolve, reject) => {
    const stop = (signal: NodeJS.Signals): void => {
      logger.info({ signal }, 'shutting down');
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      server.close().then(resolve, (err: unknown) => {
        logger.error({ err }, 'error during shutdown');
        resolve();
      });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    server.ready.catch((err: unknown) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      reject(err instanceof Error ? err : new Error(String(err)));
    });
  });
}
