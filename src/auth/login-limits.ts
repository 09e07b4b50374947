/**
 * A server-wide limit on failed password logins, on top of the per-address
 * {@link FailureLimiter}.
 *
 * Why: the per-address limit (10 failures in 5 minutes) is blind to an
 * attacker who rotates source addresses. On loopback alone there are 16
 * million of them (127.0.0.0/8), and on a LAN or behind IPv6 plenty more: a
 * review found the password with 200 guesses from 127.x addresses, 9 each,
 * never limited. This limiter counts failures from every address together:
 *
 * - `maxFailures` (default 30) failed password logins within `windowMs`
 *   (default 5 minutes), from any mix of addresses, close password login for
 *   everyone for a backoff: 30 s the first time, doubling each time the limit
 *   trips again, up to `maxLockoutMs` (15 minutes).
 * - While closed, every password login is refused with `rate_limited`
 *   before the password is compared, so the right password does not get in
 *   either (otherwise the lock would not slow the guesser at all).
 * - It recovers on its own: when a backoff ends the failure count starts
 *   from zero, so a correct login then succeeds; and after
 *   `resetAfterMs` (default 1 hour) without the limit tripping the backoff
 *   falls back to 30 s. A correct login is therefore never locked out
 *   forever, only while someone keeps guessing, and then at most 15 minutes
 *   at a time with 30 guesses per cycle (120 an hour instead of unlimited).
 * - Token resumes are neither counted nor refused: a 256-bit token cannot be
 *   guessed, so a guessing storm must not log out the people already signed
 *   in (their page reloads resume by token). Failed resumes still count
 *   towards the per-address limit.
 *
 * State is a fixed-size window of timestamps: memory is O(maxFailures).
 */

export interface GlobalLoginLimiterOptions {
  maxFailures: number;
  windowMs: number;
  baseLockoutMs: number;
  maxLockoutMs: number;
  resetAfterMs: number;
  /** Milliseconds since the epoch. */
  now: () => number;
}

export const GLOBAL_LOGIN_DEFAULTS = {
  maxFailures: 30,
  windowMs: 5 * 60 * 1000,
  baseLockoutMs: 30 * 1000,
  maxLockoutMs: 15 * 60 * 1000,
  resetAfterMs: 60 * 60 * 1000,
} as const;

export class GlobalLoginLimiter {
  /** Failure times (ms) inside the window, oldest first; at most `maxFailures`. */
  private failures: number[] = [];
  private lockedUntil = 0;
  /** How many times the limit tripped in a row (drives the doubling). */
  private level = 0;
  /** When the last lockout ended (ms); `level` resets `resetAfterMs` later. */
  private lastLockEnd = 0;

  constructor(private readonly options: GlobalLoginLimiterOptions) {}

  /** Milliseconds until password logins are accepted again; 0 when open. */
  lockedFor(): number {
    const left = this.lockedUntil - this.options.now();
    return left > 0 ? left : 0;
  }

  /** The backoff the next trip would impose (for logs and tests). */
  get nextLockoutMs(): number {
    this.decay(this.options.now());
    return this.lockoutFor(this.level);
  }

  /** Counts one failed password login; returns the lockout it started in ms, or 0. */
  recordFailure(): number {
    const now = this.options.now();
    if (this.lockedUntil > now) return 0;
    this.decay(now);
    const cutoff = now - this.options.windowMs;
    this.failures = this.failures.filter((at) => at > cutoff);
    this.failures.push(now);
    if (this.failures.length < this.options.maxFailures) return 0;
    const lockout = this.lockoutFor(this.level);
    this.level++;
    this.lockedUntil = now + lockout;
    this.lastLockEnd = this.lockedUntil;
    this.failures = [];
    return lockout;
  }

  private lockoutFor(level: number): number {
    const { baseLockoutMs, maxLockoutMs } = this.options;
    // 2^level overflows nothing here: the cap is reached long before.
    return Math.min(maxLockoutMs, baseLockoutMs * 2 ** Math.min(level, 30));
  }

  private decay(now: number): void {
    if (this.level > 0 && now - this.lastLockEnd >= this.options.resetAfterMs) this.level = 0;
  }
}
