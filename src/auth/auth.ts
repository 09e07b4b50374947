/**
 * Password login for the dashboard (`--password` / `DEVICE_BUILDER_PASSWORD`).
 *
 * - `login(password)` compares in constant time and hands out a random
 *   256-bit token (base64url, 43 chars); `resume(token)` re-attaches a new
 *   socket to an existing session; `logout(token)` revokes it; `validate`
 *   checks an HTTP `Authorization: Bearer <token>`.
 * - Sessions last 30 days, sliding: every successful use pushes the expiry
 *   out again. Only `sha256(token)` is stored, in
 *   `<data dir>/.device-builder-sessions.json` (see {@link SessionStore}).
 *   Slide-only updates are written at most once a minute per session, so a
 *   busy client cannot cause a write storm; a crash loses at most that
 *   minute of sliding.
 * - 10 failed `login`/`resume` attempts from one address within 5 minutes
 *   lock that address out for 5 minutes (see {@link FailureLimiter}). The
 *   lock is checked before the credential is looked at.
 * - On top of that, failed password logins from all addresses together are
 *   limited (30 in 5 minutes close password login for everyone for 30 s,
 *   doubling to 15 minutes; see {@link GlobalLoginLimiter}), so rotating
 *   source addresses does not buy more guesses. Token resumes are exempt.
 * - A session that ends (logout, eviction at the session cap, expiry found
 *   on the way) is reported to {@link AuthManager.watchSession} watchers, so
 *   every socket that logged in with that token loses it at once, not just
 *   the one that logged out.
 * - Without a password (`requiresAuth` false) nothing is protected:
 *   `validate` accepts anything, `login` hands out a token for any string
 *   (harmless, it guards nothing), and no failures are counted.
 * - Tokens and passwords are never logged.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Logger } from '../util/log.js';
import { GLOBAL_LOGIN_DEFAULTS, GlobalLoginLimiter, type GlobalLoginLimiterOptions } from './login-limits.js';
import { FailureLimiter, normalizeAddress } from './rate-limit.js';
import { SessionStore, type SessionRecord } from './session-store.js';

export { SESSIONS_FILE } from './session-store.js';

export type AuthErrorCode = 'not_authenticated' | 'rate_limited' | 'invalid_args';

export class AuthError extends Error {
  constructor(
    readonly code: AuthErrorCode,
    message: string,
    /** For `rate_limited`: whole seconds until the address may try again. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'AuthError';
  }
}

export interface AuthOptions {
  /** null or '' disables authentication. */
  password: string | null;
  /** Usually `<data dir>/.device-builder-sessions.json`. */
  sessionsFile: string;
  logger: Logger;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
  /** Sliding session lifetime; default 30 days. */
  sessionTtlMs?: number;
  /** Failures within `failureWindowMs` that lock an address; default 10. */
  maxFailures?: number;
  /** Default 5 minutes. */
  failureWindowMs?: number;
  /** Default 5 minutes. */
  lockoutMs?: number;
  /** Addresses tracked for rate limiting before the least recent is forgotten; default 10,000. */
  maxTrackedAddresses?: number;
  /** Live sessions kept before the least recently used is dropped; default 1,000. */
  maxSessions?: number;
  /** The server-wide failed-login limit; defaults in {@link GLOBAL_LOGIN_DEFAULTS}. */
  globalLimits?: Partial<Omit<GlobalLoginLimiterOptions, 'now'>>;
}

export interface SessionGrant {
  token: string;
  /** Unix seconds. */
  expires_at: number;
}

export const DEFAULT_SESSION_TTL_MS = 30 * 24 * 60 * 60 * 1000;
export const DEFAULT_MAX_FAILURES = 10;
export const DEFAULT_FAILURE_WINDOW_MS = 5 * 60 * 1000;
export const DEFAULT_LOCKOUT_MS = 5 * 60 * 1000;
const DEFAULT_MAX_TRACKED_ADDRESSES = 10_000;
const DEFAULT_MAX_SESSIONS = 1_000;
/** A slide alone is written at most this often per session. */
const SLIDE_PERSIST_INTERVAL_S = 60;
/** Our tokens are 43 chars; anything far longer is not worth hashing. */
const MAX_TOKEN_LENGTH = 256;

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

function tokenHash(token: string): string {
  return sha256(token).toString('hex');
}

export class AuthManager {
  private readonly passwordDigest: Buffer | null;
  private readonly store: SessionStore;
  private readonly limiter: FailureLimiter;
  private readonly globalLimiter: GlobalLoginLimiter;
  /** Callbacks per session hash, fired once when that session ends. */
  private readonly watchers = new Map<string, Set<() => void>>();
  private readonly now: () => number;
  private readonly ttlMs: number;
  private readonly maxSessions: number;
  private readonly log: Logger;
  private loadChecked = false;

  constructor(options: AuthOptions) {
    this.now = options.now ?? Date.now;
    this.ttlMs = options.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS;
    this.maxSessions = options.maxSessions ?? DEFAULT_MAX_SESSIONS;
    this.log = options.logger;
    // Only the digest is kept: comparing fixed-length digests means the
    // comparison time says nothing about the password's length.
    this.passwordDigest = options.password ? sha256(options.password) : null;
    this.store = new SessionStore(options.sessionsFile, options.logger, () => this.nowSeconds());
    this.limiter = new FailureLimiter({
      maxFailures: options.maxFailures ?? DEFAULT_MAX_FAILURES,
      windowMs: options.failureWindowMs ?? DEFAULT_FAILURE_WINDOW_MS,
      lockoutMs: options.lockoutMs ?? DEFAULT_LOCKOUT_MS,
      maxAddresses: options.maxTrackedAddresses ?? DEFAULT_MAX_TRACKED_ADDRESSES,
      now: this.now,
    });
    this.globalLimiter = new GlobalLoginLimiter({ ...GLOBAL_LOGIN_DEFAULTS, ...options.globalLimits, now: this.now });
  }

  /** Whether a password is set, i.e. sockets must log in first. */
  get requiresAuth(): boolean {
    return this.passwordDigest !== null;
  }

  /** Path of the sessions file. */
  get sessionsFile(): string {
    return this.store.path;
  }

  /**
   * Checks `password` and starts a session.
   * @throws AuthError `invalid_args` (not a string), `rate_limited` (address
   *   locked out, or password login closed server-wide; both checked before
   *   the password), `not_authenticated` (wrong password).
   *   Rejects with the file-system error when the session cannot be written.
   */
  async login(password: unknown, address: string): Promise<SessionGrant> {
    if (typeof password !== 'string') throw new AuthError('invalid_args', 'password must be a string');
    if (this.passwordDigest) {
      // Lock check, comparison and failure accounting run without an await
      // in between, so parallel attempts cannot slip past the limit.
      this.refuseIfLocked(address);
      const globalMs = this.globalLimiter.lockedFor();
      if (globalMs > 0) {
        throw new AuthError('rate_limited', 'too many failed logins on this server; try again later', Math.ceil(globalMs / 1000));
      }
      if (!timingSafeEqual(sha256(password), this.passwordDigest)) {
        this.recordFailure(address, 'login');
        const lockout = this.globalLimiter.recordFailure();
        if (lockout > 0) {
          this.log.warn({ lockout_s: Math.ceil(lockout / 1000) }, 'too many failed logins from all addresses; password login closed for everyone');
        }
        throw new AuthError('not_authenticated', 'invalid password');
      }
      this.limiter.recordSuccess(address);
    }
    const sessions = await this.sessions();
    const token = randomBytes(32).toString('base64url');
    const { nowS, expiresAt } = this.times();
    this.evictForRoom(sessions);
    const hash = tokenHash(token);
    sessions.set(hash, { created_at: nowS, expires_at: expiresAt, last_used_at: nowS });
    try {
      await this.store.save();
    } catch (err) {
      // A session that would not survive a restart is not handed out.
      sessions.delete(hash);
      throw err;
    }
    this.log.info({ address: normalizeAddress(address), sessions: sessions.size }, 'login');
    return { token, expires_at: expiresAt };
  }

  /**
   * Re-attaches to an existing session: slides its expiry and returns the
   * same token with the new `expires_at`.
   * @throws AuthError `invalid_args` (not a string), `rate_limited`,
   *   `not_authenticated` (unknown, revoked or expired; counts as a failure).
   */
  async resume(token: unknown, address: string): Promise<SessionGrant> {
    if (typeof token !== 'string') throw new AuthError('invalid_args', 'token must be a string');
    const sessions = await this.sessions();
    if (this.requiresAuth) this.refuseIfLocked(address);
    const { hash, expired } = this.lookup(sessions, token);
    if (!hash) {
      if (this.requiresAuth) this.recordFailure(address, 'resume');
      if (expired) await this.saveBestEffort();
      throw new AuthError('not_authenticated', 'invalid or expired session');
    }
    if (this.requiresAuth) this.limiter.recordSuccess(address);
    const record = await this.slide(hash, sessions);
    return { token, expires_at: record.expires_at };
  }

  /**
   * For HTTP `Authorization: Bearer <token>`: whether the token names a live
   * session (sliding its expiry when it does). Always true without a password.
   */
  async validate(token: string | undefined | null): Promise<boolean> {
    if (!this.requiresAuth) return true;
    if (typeof token !== 'string') return false;
    const sessions = await this.sessions();
    const { hash, expired } = this.lookup(sessions, token);
    if (!hash) {
      if (expired) await this.saveBestEffort();
      return false;
    }
    await this.slide(hash, sessions);
    return true;
  }

  /**
   * Revokes the session; unknown or already revoked tokens are fine. The
   * revocation takes effect in memory at once; rejects with the file-system
   * error when it cannot be written (it would not survive a restart).
   */
  async logout(token: unknown): Promise<void> {
    if (typeof token !== 'string') throw new AuthError('invalid_args', 'token must be a string');
    const sessions = await this.sessions();
    if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) return;
    if (!sessions.delete(tokenHash(token))) return;
    this.notifyEnded(sessions);
    await this.store.save();
    this.log.info({ sessions: sessions.size }, 'logout');
  }

  /**
   * Calls `onEnded` once when the session of `token` ends (logout from any
   * socket, eviction, expiry noticed on the way); returns an unsubscribe.
   * A socket watches the token it logged in with so that a logout elsewhere
   * also ends its streams at once.
   */
  watchSession(token: string, onEnded: () => void): () => void {
    if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) return () => undefined;
    const hash = tokenHash(token);
    let set = this.watchers.get(hash);
    if (!set) {
      set = new Set();
      this.watchers.set(hash, set);
    }
    set.add(onEnded);
    return () => {
      const current = this.watchers.get(hash);
      current?.delete(onEnded);
      if (current?.size === 0) this.watchers.delete(hash);
    };
  }

  /** Resolves once every sessions-file write queued so far has finished. */
  async flush(): Promise<void> {
    await this.store.flush();
  }

  /** The token of an `Authorization: Bearer <token>` header (scheme case-insensitive), else null. */
  static bearerToken(header: string | undefined): string | null {
    if (typeof header !== 'string') return null;
    const match = /^[ \t]*bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    return match?.[1] ?? null;
  }

  private nowSeconds(): number {
    return Math.floor(this.now() / 1000);
  }

  private times(): { nowS: number; expiresAt: number } {
    const now = this.now();
    return { nowS: Math.floor(now / 1000), expiresAt: Math.floor((now + this.ttlMs) / 1000) };
  }

  private async sessions(): Promise<Map<string, SessionRecord>> {
    const sessions = await this.store.sessions();
    if (!this.loadChecked) {
      this.loadChecked = true;
      // Expired sessions dropped on load leave the file on the next write.
      if (this.store.prunedOnLoad > 0) await this.saveBestEffort();
    }
    return sessions;
  }

  /**
   * The hash of `token` when it names a live session. An expired session
   * found on the way is dropped from memory and reported as `expired` so the
   * caller writes the removal; unknown tokens cause no write at all.
   */
  private lookup(sessions: Map<string, SessionRecord>, token: string): { hash: string | null; expired: boolean } {
    if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) return { hash: null, expired: false };
    const hash = tokenHash(token);
    const record = sessions.get(hash);
    if (!record) return { hash: null, expired: false };
    if (record.expires_at <= this.nowSeconds()) {
      sessions.delete(hash);
      this.notifyEnded(sessions);
      return { hash: null, expired: true };
    }
    return { hash, expired: false };
  }

  /** Pushes the expiry out; writes only if this session's last write is a minute old. */
  private async slide(hash: string, sessions: Map<string, SessionRecord>): Promise<SessionRecord> {
    const { nowS, expiresAt } = this.times();
    const record = sessions.get(hash);
    if (!record) throw new AuthError('not_authenticated', 'invalid or expired session');
    record.last_used_at = nowS;
    record.expires_at = Math.max(record.expires_at, expiresAt);
    const saved = this.store.lastSavedUse(hash);
    if (saved === undefined || nowS - saved >= SLIDE_PERSIST_INTERVAL_S) await this.saveBestEffort();
    return { ...record };
  }

  /** At the session cap, drops the least recently used sessions. */
  private evictForRoom(sessions: Map<string, SessionRecord>): void {
    this.store.pruneExpired(sessions);
    while (sessions.size >= this.maxSessions && sessions.size > 0) {
      let oldest: string | null = null;
      let oldestUse = Infinity;
      for (const [hash, record] of sessions) {
        if (record.last_used_at < oldestUse) {
          oldest = hash;
          oldestUse = record.last_used_at;
        }
      }
      if (oldest === null) break;
      sessions.delete(oldest);
    }
    this.notifyEnded(sessions);
  }

  /** Writes sessions, logging rather than failing: used where memory already holds the truth. */
  private async saveBestEffort(): Promise<void> {
    try {
      await this.store.save();
    } catch (err) {
      this.log.error({ err, path: this.store.path }, 'could not write the sessions file');
    }
  }

  /** Fires (once) the watchers of every watched session no longer in `sessions`. */
  private notifyEnded(sessions: Map<string, SessionRecord>): void {
    for (const [hash, callbacks] of [...this.watchers]) {
      if (sessions.has(hash)) continue;
      this.watchers.delete(hash);
      for (const callback of callbacks) {
        try {
          callback();
        } catch (err) {
          this.log.error({ err }, 'session watcher failed');
        }
      }
    }
  }

  private refuseIfLocked(address: string): void {
    const lockedMs = this.limiter.lockedFor(address);
    if (lockedMs > 0) {
      throw new AuthError('rate_limited', 'too many failed attempts; try again later', Math.ceil(lockedMs / 1000));
    }
  }

  private recordFailure(address: string, action: 'login' | 'resume'): void {
    const locked = this.limiter.recordFailure(address);
    const where = normalizeAddress(address);
    if (locked) this.log.warn({ address: where, action }, 'too many failed attempts; address locked out');
    else this.log.warn({ address: where, action }, 'failed authentication attempt');
  }
}
