/**
 * Failed-login accounting per client address.
 *
 * - Each address keeps a sliding window of failure timestamps; a failure
 *   older than `windowMs` no longer counts.
 * - The `maxFailures`-th failure inside the window locks the address for
 *   `lockoutMs`, counted from that failure. While locked, callers must
 *   refuse the attempt before looking at the credential, so a locked
 *   address learns nothing.
 * - A success clears the address's failures, but never ends a lockout in
 *   progress (callers check the lock first, so a locked address cannot
 *   succeed anyway).
 * - Memory stays bounded: an address holds at most `maxFailures`
 *   timestamps, and at most `maxAddresses` addresses are tracked; past
 *   that the least recently touched one is forgotten.
 */

export interface FailureLimiterOptions {
  maxFailures: number;
  windowMs: number;
  lockoutMs: number;
  maxAddresses: number;
  /** Milliseconds since the epoch. */
  now: () => number;
}

interface AddressState {
  /** Failure times (ms) inside the window, oldest first. */
  failures: number[];
  /** End of the lockout (ms), or 0 when not locked. */
  lockedUntil: number;
}

/** `::ffff:1.2.3.4` and `1.2.3.4` are the same client. */
export function normalizeAddress(address: string): string {
  const trimmed = address.trim().toLowerCase();
  if (trimmed === '') return 'unknown';
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(trimmed);
  return mapped?.[1] ?? trimmed;
}

export class FailureLimiter {
  /** Insertion order is recency order: touching an address re-inserts it. */
  private readonly addresses = new Map<string, AddressState>();

  constructor(private readonly options: FailureLimiterOptions) {}

  /** How many addresses are tracked (for tests and metrics). */
  get size(): number {
    return this.addresses.size;
  }

  /** Milliseconds left in `address`'s lockout; 0 when it may try. */
  lockedFor(address: string): number {
    const key = normalizeAddress(address);
    const state = this.addresses.get(key);
    if (!state || state.lockedUntil === 0) return 0;
    const left = state.lockedUntil - this.options.now();
    if (left > 0) return left;
    // The lockout is over; its failures were dropped when it began.
    this.addresses.delete(key);
    return 0;
  }

  /** Counts a failure; returns true when it started a lockout. */
  recordFailure(address: string): boolean {
    const key = normalizeAddress(address);
    const now = this.options.now();
    const state = this.addresses.get(key) ?? { failures: [], lockedUntil: 0 };
    if (state.lockedUntil > now) return false;
    const cutoff = now - this.options.windowMs;
    state.failures = state.failures.filter((at) => at > cutoff);
    state.failures.push(now);
    let locked = false;
    if (state.failures.length >= this.options.maxFailures) {
      state.lockedUntil = now + this.options.lockoutMs;
      state.failures = [];
      locked = true;
    } else {
      state.lockedUntil = 0;
    }
    this.touch(key, state);
    return locked;
  }

  /** Clears `address`'s failures unless it is locked out. */
  recordSuccess(address: string): void {
    const key = normalizeAddress(address);
    const state = this.addresses.get(key);
    if (state && state.lockedUntil <= this.options.now()) this.addresses.delete(key);
  }

  private touch(key: string, state: AddressState): void {
    this.addresses.delete(key);
    this.addresses.set(key, state);
    while (this.addresses.size > this.options.maxAddresses) {
      const oldest = this.addresses.keys().next();
      if (oldest.done) break;
      this.addresses.delete(oldest.value);
    }
  }
}
