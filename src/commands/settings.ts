/**
 * Every setting the program takes from its environment and command line,
 * read and checked in one place, once, when a command starts. A bad value
 * is a {@link UsageError} naming the variable or option, before anything is
 * read or written; the commands then pass plain typed values down.
 *
 * The engines' variables (`DEVICE_BUILDER_WALKER`, `_FLOCK`, `_REMOVER`) are
 * also read where the engines are chosen, because those modules are used
 * without the CLI too (tests, the walk worker); here they are checked up
 * front so a typo fails the command instead of its first walk or lock.
 *
 * Kept light: the CLI imports this before it knows which command runs, so
 * nothing here may pull in the server stack.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { walkerChoiceFromEnv, type WalkerChoice } from '../build-size/native-walker.js';
import { UsageError } from './usage-error.js';
import { removerChoiceFromEnv, type RemoverChoice } from '../devices/tree-remover.js';
import { resolveDataDir } from '../storage/data-dir.js';
import { flockChoiceFromEnv, type FlockChoice } from '../util/file-lock.js';
import { readGuarded } from '../util/guarded-read.js';
import type { LogFormat, Logger } from '../util/log.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** What every command needs. */
export interface Settings {
  /** `[config_dir]`, else `$ESPHOME_CONFIG_DIR`, else `./config`; absolute. */
  configDir: string;
  /** Whether the config dir was named (argument or `$ESPHOME_CONFIG_DIR`) rather than the `./config` default. */
  configDirGiven: boolean;
  /** ESPHome's data dir for that config dir (storage/data-dir.ts's rule). */
  dataDir: string;
  logLevel: LogLevel;
  /** `DEVICE_BUILDER_LOG_FORMAT`: human lines on a terminal, JSON lines otherwise (util/log.ts). */
  logFormat: LogFormat;
  walker: WalkerChoice;
  flock: FlockChoice;
  remover: RemoverChoice;
  /** The environment children (esphome) start from. */
  env: NodeJS.ProcessEnv;
}

/** `serve`'s options as commander hands them over (all text). */
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

export interface ServeSettings extends Settings {
  host: string;
  port: number;
  esphomeCommand: string[];
  /** Whether `--esphome` was given (the demo only swaps in its fake esphome when not). */
  esphomeGiven: boolean;
  password: string | null;
  trustedOrigins: string[];
  allowedHosts: string[];
  sweepIntervalMs: number;
  demo: boolean;
}

/** Reads the settings every command shares; throws a UsageError naming the bad one. */
export function readSettings(configDirArg: string | undefined, env: NodeJS.ProcessEnv, defaults: { logLevel: LogLevel }): Settings {
  const named = configDirArg || env['ESPHOME_CONFIG_DIR'];
  const configDir = path.resolve(named || 'config');
  return {
    configDir,
    configDirGiven: Boolean(named),
    dataDir: resolveDataDir(configDir, env),
    logLevel: parseLogLevel(env['DEVICE_BUILDER_LOG_LEVEL'], defaults.logLevel),
    logFormat: parseLogFormat(env['DEVICE_BUILDER_LOG_FORMAT'], process.stderr.isTTY === true),
    walker: asUsage(() => walkerChoiceFromEnv(env)),
    flock: asUsage(() => flockChoiceFromEnv(env)),
    remover: asUsage(() => removerChoiceFromEnv(env)),
    env,
  };
}

/** `serve`'s settings: the shared ones plus its options, each checked. */
export async function readServeSettings(
  configDirArg: string | undefined,
  options: ServeCliOptions,
  env: NodeJS.ProcessEnv,
  logger: Logger,
): Promise<ServeSettings> {
  const base = readSettings(configDirArg, env, { logLevel: 'info' });
  const port = parsePort(options.port);
  const password = await resolvePassword(options, env, logger);
  if (!isLoopbackHost(options.host) && !password) {
    throw new UsageError(
      `refusing to listen on ${options.host} without a password: anyone who can reach it could delete devices. ` +
        'Set DEVICE_BUILDER_PASSWORD or --password-file, or bind to 127.0.0.1.',
    );
  }
  return {
    ...base,
    host: options.host,
    port,
    esphomeCommand: parseEsphomeCommand(options.esphome),
    esphomeGiven: options.esphome !== undefined,
    password,
    trustedOrigins: parseTrustedOrigins(options.trustedOrigin),
    allowedHosts: await parseAllowedHostOptions(options.allowedHost, env),
    sweepIntervalMs: parseSweepInterval(options.sweepInterval),
    // No folder named and no ./config: the generated demo fleet.
    demo: Boolean(options.demo) || (!base.configDirGiven && !existsSync(base.configDir)),
  };
}

function asUsage<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export function parseLogLevel(text: string | undefined, fallback: LogLevel): LogLevel {
  const value = text?.trim().toLowerCase();
  if (value === undefined || value === '') return fallback;
  if ((LOG_LEVELS as readonly string[]).includes(value)) return value as LogLevel;
  throw new UsageError(`DEVICE_BUILDER_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(text)})`);
}

/** `DEVICE_BUILDER_LOG_FORMAT`: `json`, `pretty`, or unset/`auto` (pretty when stderr is a terminal). */
export function parseLogFormat(value: string | undefined, stderrIsTty: boolean): LogFormat {
  const text = value?.trim().toLowerCase();
  if (text === 'json' || text === 'pretty') return text;
  if (text === undefined || text === '' || text === 'auto') return stderrIsTty ? 'pretty' : 'json';
  throw new UsageError(`DEVICE_BUILDER_LOG_FORMAT must be auto, json or pretty (got ${JSON.stringify(value)})`);
}

/** Refuses non-loopback binds without a password: the dashboard can delete files. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
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
export async function parseAllowedHostOptions(flags: readonly string[] | undefined, env: NodeJS.ProcessEnv): Promise<string[]> {
  // Only `serve` needs it, and it brings node:net and node:os: other commands start without them.
  const { parseAllowedHosts } = await import('../server/host-check.js');
  try {
    return parseAllowedHosts(flags, env['DEVICE_BUILDER_ALLOWED_HOSTS']);
  } catch (err) {
    throw new UsageError(`invalid --allowed-host ${JSON.stringify((err as Error).message)}: use a host name or IP address, optionally with :port ([v6]:port)`);
  }
}

/**
 * The password from `--password-file` (the first line; a trailing newline
 * is not part of it), else `--password`, else `DEVICE_BUILDER_PASSWORD`.
 * Both options at once, an unreadable file or an empty one are usage errors.
 */
export async function resolvePassword(
  options: Pick<ServeCliOptions, 'password' | 'passwordFile'>,
  env: NodeJS.ProcessEnv,
  logger: Logger,
): Promise<string | null> {
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
