/**
 * The server-wide failed-login limit, alone (fake clock) and inside
 * AuthManager: rotating addresses no longer buy unlimited guesses, the lock
 * holds against the right password, and it recovers.
 */
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuthError, AuthManager, SESSIONS_FILE } from '../../src/auth/auth.js';
import { GLOBAL_LOGIN_DEFAULTS, GlobalLoginLimiter } from '../../src/auth/login-limits.js';
import { cleanupTempDirs, makeTempDir, silentLogger } from '../helpers/fs-fixtures.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const PASSWORD = 'correct horse battery staple';
let clock: number;

beforeEach(() => {
  clock = Date.UTC(2026, 0, 1);
});
afterEach(cleanupTempDirs);

function limiter(): GlobalLoginLimiter {
  return new GlobalLoginLimiter({ ...GLOBAL_LOGIN_DEFAULTS, now: () => clock });
}

function trip(global: GlobalLoginLimiter): number {
  let started = 0;
  for (let i = 0; i < GLOBAL_LOGIN_DEFAULTS.maxFailures; i++) started = global.recordFailure();
  return started;
}

describe('GlobalLoginLimiter', () => {
  it('closes after 30 failures in 5 minutes, for 30 s, then opens with a fresh count', () => {
    const global = limiter();
    for (let i = 0; i < 29; i++) expect(global.recordFailure()).toBe(0);
    expect(global.lockedFor()).toBe(0);
    expect(global.recordFailure()).toBe(30 * SECOND);
    expect(global.lockedFor()).toBe(30 * SECOND);
    clock += 30 * SECOND;
    expect(global.lockedFor()).toBe(0);
    // The count started again: 29 more failures do not close it.
    for (let i = 0; i < 29; i++) expect(global.recordFailure()).toBe(0);
    expect(global.lockedFor()).toBe(0);
  });

  it('does not count failures older than the window', () => {
    const global = limiter();
    for (let i = 0; i < 29; i++) global.recordFailure();
    clock += 5 * MINUTE + 1;
    expect(global.recordFailure()).toBe(0);
    expect(global.lockedFor()).toBe(0);
  });

  it('doubles the backoff each time it trips again, up to 15 minutes', () => {
    const global = limiter();
    const lockouts: number[] = [];
    for (let i = 0; i < 8; i++) {
      lockouts.push(trip(global));
      clock += global.lockedFor();
    }
    expect(lockouts.map((ms) => ms / SECOND)).toEqual([30, 60, 120, 240, 480, 900, 900, 900]);
  });

  it('falls back to 30 s after an hour without tripping', () => {
    const global = limiter();
    trip(global);
    clock += global.lockedFor();
    trip(global);
    clock += global.lockedFor();
    expect(global.nextLockoutMs).toBe(120 * SECOND);
    clock += 60 * MINUTE;
    expect(global.nextLockoutMs).toBe(30 * SECOND);
    expect(trip(global)).toBe(30 * SECOND);
  });

  it('does not count failures made while closed (they were refused unchecked)', () => {
    const global = limiter();
    trip(global);
    for (let i = 0; i < 100; i++) expect(global.recordFailure()).toBe(0);
    clock += global.lockedFor();
    expect(global.lockedFor()).toBe(0);
    expect(global.nextLockoutMs).toBe(60 * SECOND);
  });
});

describe('AuthManager with the global limit', () => {
  function manager(): AuthManager {
    return new AuthManager({
      password: PASSWORD,
      sessionsFile: path.join(makeTempDir('login-limits-'), SESSIONS_FILE),
      logger: silentLogger,
      now: () => clock,
    });
  }

  async function code(promise: Promise<unknown>): Promise<string> {
    try {
      await promise;
      return 'ok';
    } catch (err) {
      expect(err).toBeInstanceOf(AuthError);
      return (err as AuthError).code;
    }
  }

  it('200 guesses from rotating addresses, 9 each: closed after 30, even for the right password, open again after the backoff', async () => {
    const auth = manager();
    const outcomes: string[] = [];
    for (let i = 0; i < 200; i++) {
      const address = `127.0.0.${Math.floor(i / 9) + 2}`; // 9 guesses each: under the per-address limit of 10
      const guess = i === 150 ? PASSWORD : `guess-${i}`;
      outcomes.push(await code(auth.login(guess, address)));
    }
    expect(outcomes.slice(0, 30).every((c) => c === 'not_authenticated')).toBe(true);
    expect(outcomes.slice(30).every((c) => c === 'rate_limited')).toBe(true);
    expect(outcomes[150]).toBe('rate_limited');
    const refused = await authErrorOf(auth.login(PASSWORD, '127.0.9.9'));
    expect(refused.retryAfterSeconds).toBeGreaterThan(0);
    expect(refused.retryAfterSeconds).toBeLessThanOrEqual(30);

    clock += 30 * SECOND;
    expect(await code(auth.login(PASSWORD, '127.0.9.9'))).toBe('ok');
  });

  it('keeps token resumes working while password login is closed', async () => {
    const auth = manager();
    const { token } = await auth.login(PASSWORD, '127.0.0.1');
    for (let i = 0; i < 30; i++) await code(auth.login('wrong', `127.0.1.${i + 1}`));
    expect(await code(auth.login(PASSWORD, '127.0.0.1'))).toBe('rate_limited');
    expect(await code(auth.resume(token, '127.0.0.1'))).toBe('ok');
    // Failed resumes neither trip nor extend the global lock.
    clock += 30 * SECOND;
    for (let i = 0; i < 40; i++) await code(auth.resume(`x${i}`, `127.0.2.${i + 1}`));
    expect(await code(auth.login(PASSWORD, '127.0.0.1'))).toBe('ok');
  });

  async function authErrorOf(promise: Promise<unknown>): Promise<AuthError> {
    try {
      await promise;
    } catch (err) {
      if (err instanceof AuthError) return err;
      throw err;
    }
    throw new Error('expected an AuthError');
  }
});
