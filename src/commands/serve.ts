/**
 * `device-builder serve`: option checks, demo fallback, the server's life
 * cycle and clean shutdown on SIGINT/SIGTERM.
 *
 * The password may come from `--password-file` or `DEVICE_BUILDER_PASSWORD`
 * (preferred: neither shows in the process list) or `--password` (visible
 * to every local user in `ps`; a warning says so).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { prepareDemoFleet, REDIRECTING_ENV } from '../demo/demo-fleet.js';
import { DeviceBuilderServer, isLoopbackHost } from '../server/server.js';
import { parseAllowedHosts } from '../server/host-check.js';
import { readGuarded } from '../util/guarded-read.js';
import type { Logger } from '../util/log.js';
import { assertReadableDir } from './config-dir.js';
import { UsageError } from './usage-error.js';

export interface ServeCliOptions {
  host: string;
  port: string;
  esphome?: string;
  password?: string;
  passwordFile?: string;
  trustedOrigin?: string[];
  allowedHost?: string[];
  demo?: boolean;
  sweepInterval: string;
}

/** `--sweep-interval <seconds>`: 0 disables the periodic stat-only sweep. */
export function parseSweepInterval(text: string): number {
  const seconds = Number(text);
  if (text.trim() === '' || !Number.isFinite(seconds) || seconds < 0 || (seconds > 0 && seconds < 1) || seconds > 86_400) {
    throw new UsageError(`invalid --sweep-interval ${JSON.stringify(text)}: use seconds from 1 to 86400, or 0 to disable`);
  }
  return Math.round(seconds * 1000);
}

export function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`invalid port ${JSON.stringify(text)}: use a number from 0 to 65535`);
  }
  return port;
}

/** Splits `--esphome "python3 -m esphome"` into a command and its leading arguments. */
export function parseEsphomeCommand(text: string | undefined): string[] {
  const parts = (text ?? 'esphome').trim().split(/\s+/).filter(Boolean);
  if (parts.length === 0) throw new UsageError('--esphome needs a command');
  return parts;
}

export function parseTrustedOrigins(origins: readonly string[] | undefined): string[] {
  return (origins ?? []).map((origin) => {
    try {
      const url = new URL(origin);
      if (url.origin === 'null' || !/^https?:$/.test(url.protocol)) throw new Error('not http(s)');
      return url.origin;
    } catch {
      throw new UsageError(`invalid --trusted-origin ${JSON.stringify(origin)}: use scheme://host[:port]`);
    }
  });
}

/** `--allowed-host` (repeatable) plus `DEVICE_BUILDER_ALLOWED_HOSTS` (comma or space separated). */
export function parseAllowedHostOptions(flags: readonly string[] | undefined, env: NodeJS.ProcessEnv): string[] {
  try {
    return parseAllowedHosts(flags, env['DEVICE_BUILDER_ALLOWED_HOSTS']);
  } catch (err) {
    throw new UsageError(
      `invalid --allowed-host ${JSON.stringify((err as Error).message)}: use a host name or IP address, optionally with :port ([v6]:port)`,
    );
  }
}

/**
 * The password from `--password-file` (the first line; a trailing newline
 * is not part of it), else `--password`, else `DEVICE_BUILDER_PASSWORD`.
 * Both options at once, an unreadable file or an empty one are usage errors.
 */
export async function resolvePassword(options: Pick<ServeCliOptions, 'password' | 'passwordFile'>, env: NodeJS.ProcessEnv, logger: Logger): Promise<string | null> {
  if (options.password !== undefined && options.passwordFile !== undefined) {
    throw new UsageError('give --password or --password-file, not both');
  }
  if (options.passwordFile !== undefined) {
    let text: string;
    try {
      // Guarded: a FIFO or device there neither hangs start-up nor is opened; a link (a secrets mount) is fine.
      const read = await readGuarded(options.passwordFile, { maxBytes: 64 * 1024, followLinks: true });
      if (read === null) throw new Error('no such file');
      if (process.platform !== 'win32' && (read.stats.mode & 0o077) !== 0) {
        logger.warn({ path: options.passwordFile }, 'the password file is readable by other users; chmod 600 it');
      }
      text = read.bytes.toString('utf8');
    } catch (err) {
      throw new UsageError(`cannot read --password-file ${JSON.stringify(options.passwordFile)}: ${(err as Error).message}`);
    }
    const password = text.split(/\r?\n/, 1)[0] ?? '';
    if (password === '') throw new UsageError(`--password-file ${JSON.stringify(options.passwordFile)} is empty`);
    return password;
  }
  if (options.password) {
    logger.warn('--password is visible to every local user in the process list; prefer DEVICE_BUILDER_PASSWORD or --password-file');
    return options.password;
  }
  return env['DEVICE_BUILDER_PASSWORD'] || null;
}

function withoutEsphomeDirs(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = { ...env };
  for (const key of REDIRECTING_ENV) delete copy[key];
  return copy;
}

export async function runServe(configDirArg: string | undefined, options: ServeCliOptions, logger: Logger): Promise<void> {
  const port = parsePort(options.port);
  const password = await resolvePassword(options, process.env, logger);
  if (!isLoopbackHost(options.host) && !password) {
    throw new UsageError(
      `refusing to listen on ${options.host} without a password: anyone who can reach it could delete devices. ` +
        'Set DEVICE_BUILDER_PASSWORD or --password-file, or bind to 127.0.0.1.',
    );
  }
  const trustedOrigins = parseTrustedOrigins(options.trustedOrigin);
  const allowedHosts = parseAllowedHostOptions(options.allowedHost, process.env);
  const sweepIntervalMs = parseSweepInterval(options.sweepInterval);
  let esphomeCommand = parseEsphomeCommand(options.esphome);
  const explicit = configDirArg || process.env['ESPHOME_CONFIG_DIR'];
  let configDir = path.resolve(explicit || 'config');
  let demo = false;
  if (options.demo || (!explicit && !existsSync(configDir))) {
    const fleet = await prepareDemoFleet(logger);
    configDir = fleet.configDir;
    if (!options.esphome) esphomeCommand = fleet.esphomeCommand;
    demo = true;
    logger.info({ configDir }, 'no ./config folder: serving a generated DEMO fleet (pass a config dir to use yours)');
  }
  await assertReadableDir(configDir);

  const server = new DeviceBuilderServer({
    configDir,
    host: options.host,
    port,
    esphomeCommand,
    password,
    trustedOrigins,
    allowedHosts,
    logger,
    demo,
    sweepIntervalMs,
    // The demo lives in its own folder: a user's ESPHome data-dir settings
    // must neither redirect it nor let its clean-all touch their builds.
    env: demo ? withoutEsphomeDirs(process.env) : process.env,
  });
  let url: string;
  try {
    url = await server.start();
  } catch (err) {
    await server.close().catch(() => undefined);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new UsageError(`port ${port} on ${options.host} is already in use (try --port)`);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new UsageError(`cannot listen on ${options.host}: no such address`);
    throw err;
  }
  process.stdout.write(`device-builder ${demo ? 'DEMO fleet ' : ''}dashboard for ${configDir}\n  ${url}\n`);

  await new Promise<void>((resolve) => {
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
  });
}
