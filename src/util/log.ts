/**
 * One pino logger for the process. Logs go to stderr so the CLI's stdout
 * stays clean for tables and `--json`; the level comes from
 * `DEVICE_BUILDER_LOG_LEVEL` (default `info`, `silent` in tests).
 *
 * On a terminal a person reads short lines (time, level, message, the few
 * fields logged with it) through pino-pretty; anywhere else, or with
 * `DEVICE_BUILDER_LOG_FORMAT=json`, one JSON object per line for machines.
 * pino-pretty is loaded only when it is used.
 */
import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

export type LogFormat = 'json' | 'pretty';

function prettyStderr(): DestinationStream {
  // CommonJS, and only needed on a terminal: required on demand, not imported.
  const pinoPretty = createRequire(import.meta.url)('pino-pretty') as (options: Record<string, unknown>) => DestinationStream;
  return pinoPretty({
    destination: 2,
    sync: true,
    colorize: process.stderr.isTTY === true,
    translateTime: 'SYS:HH:MM:ss',
    ignore: 'pid,hostname',
    singleLine: true,
  });
}

export function createLogger(level = process.env['DEVICE_BUILDER_LOG_LEVEL'] ?? 'info', format: LogFormat = 'json'): Logger {
  return pino({ level, base: undefined }, format === 'pretty' ? prettyStderr() : pino.destination({ fd: 2, sync: true }));
}

/** Shared default; modules accept a logger so tests can capture output. */
export const log: Logger = createLogger();
