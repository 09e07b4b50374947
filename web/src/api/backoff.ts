/**
 * The reconnect schedule. After a server restart every open tab reconnects;
 * exponential growth keeps a dead server from being hammered, and jitter
 * spreads the tabs out so they do not all knock at the same instant.
 * Pure: the random source is a parameter so the schedule can be tested.
 */
export interface BackoffOptions {
  /** Delay before the first retry. */
  initialMs: number;
  /** The delay never grows past this. */
  maxMs: number;
  factor: number;
  /** 0.2 = each delay is drawn from ±20% of its nominal value. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 15_000, factor: 2, jitter: 0.2 };

/** Nominal (jitter-free) delay before retry number `attempt` (0-based). */
export function nominalDelay(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF): number {
  const exponent = Math.max(0, Math.floor(attempt));
  return Math.min(options.maxMs, options.initialMs * options.factor ** exponent);
}

/** The delay to wait before retry number `attempt`, jitter applied, never above `maxMs`. */
export function backoffDelay(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const nominal = nominalDelay(attempt, options);
  const spread = nominal * options.jitter;
  const r = Math.min(1, Math.max(0, random()));
  return Math.round(Math.min(options.maxMs, Math.max(0, nominal - spread + 2 * spread * r)));
}
