/**
 * One pino logger for the process. Logs go to stderr so the CLI's stdout
 * stays clean for tables and `--json`; the level comes from
 * `DEVICE_BUILDER_LOG_LEVEL` (default `info`, `silent` in tests).
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level = process.env['DEVICE_BUILDER_LOG_LEVEL'] ?? 'info'): Logger {
  return pino({ level, base: undefined }, pino.destination({ fd: 2, sync: true }));
}

/** Shared default; modules accept a logger so tests can capture output. */
export const log: Logger = createLogger();
