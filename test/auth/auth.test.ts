import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuthError, AuthManager, SESSIONS_FILE, type AuthOptions } from '../../src/auth/auth.js';
import { FailureLimiter, normalizeAddress } from '../../src/auth/rate-limit.js';
import { captureLog } from '../helpers/capture-log.js';
import { cleanupTempDirs, makeTempDir, silentLogger } from '../helpers/fs-fixtures.js';

const PASSWORD = 'correct horse battery staple';
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const START = Date.UTC(2026, 0, 1);
const isWindows = process.platform === 'win32';

let dir: string;
let file: string;
let clock: number;

beforeEach(() => {
  dir = makeTempDir('auth-test-');
  file = path.join(dir, SESSIONS_FILE);
  clock = START;
});

afterEach(() => {
  cleanupTempDirs();
});

function manager(overrides: Partial<AuthOptions> = {}): AuthManager {
  return new AuthManager({
    password: PASSWORD,
    sessionsFile: file,
    logger: silentLogger,
    now: () => clock,
    ...overrides,
  });
}

function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

interface SessionsFile {
  version: number;
  sessions: Record<string, { created_at: number; expires_at: number; last_used_at: number }>;
}

function readSessions(): SessionsFile {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as SessionsFile;
}

/** The AuthError a promise rejects with (fails the test if it resolves or throws something else). */
async function authError(promise: Promise<unknown>): Promise<AuthError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(AuthError);
    return err as AuthError;
  }
  throw new Error('expected an AuthError');
}

async function failTimes(auth: AuthManager, times: number, address: string): Promise<void> {
  for (let i = 0; i < times; i++) {
    expect((await authError(auth.login('wrong', address))).code).toBe('not_authenticated');
  }
}

describe('requiresAuth', () => {
  it('is true with a password and false for null or empty', () => {
    expect(manager().requiresAuth).toBe(true);
    expect(manager({ password: null }).requiresAuth).toBe(false);
    expect(manager({ password: '' }).requiresAuth).toBe(false);
  });

  it('without a password validate accepts anything and login still hands out a token', async () => {
    const auth = manager({ password: null });
    expect(await auth.validate(undefined)).toBe(true);
    expect(await auth.validate('nonsense')).toBe(true);
    const grant = await auth.login('anything', '10.0.0.1');
    expect(grant.token).toMatch(/^[A-Za-z0-9_-]{43,}$/);
  });
});

describe('login', () => {
  it('returns a 256-bit base64url token that expires in 30 days', async () => {
    const grant = await manager().login(PASSWORD, '10.0.0.1');
    expect(grant.token).toMatch(/^[A-Za-z0-9_-]{43,}$/);
    expect(Buffer.from(grant.token, 'base64url').length).toBeGreaterThanOrEqual(32);
    expect(grant.expires_at).toBe(Math.floor((START + 30 * DAY) / 1000));
  });

  it('hands out a different token each time', async () => {
    const auth = manager();
    const a = await auth.login(PASSWORD, '10.0.0.1');
    const b = await auth.login(PASSWORD, '10.0.0.1');
    expect(a.token).not.toBe(b.token);
    expect(Object.keys(readSessions().sessions)).toHaveLength(2);
  });

  it('stores only the token hash, never the token', async () => {
    const { token, expires_at } = await manager().login(PASSWORD, '10.0.0.1');
    const raw = fs.readFileSync(file, 'utf8');
    expect(raw).not.toContain(token);
    expect(raw).not.toContain(PASSWORD);
    const data = readSessions();
    expect(data.version).toBe(1);
    expect(data.sessions[sha256Hex(token)]).toEqual({
      created_at: START / 1000,
      expires_at,
      last_used_at: START / 1000,
    });
  });

  it.skipIf(isWindows)('writes the sessions file with mode 0600 and leaves no temp files', async () => {
    await manager().login(PASSWORD, '10.0.0.1');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(dir)).toEqual([SESSIONS_FILE]);
  });

  it('sessions survive a restart', async () => {
    const { token } = await manager().login(PASSWORD, '10.0.0.1');
    const restarted = manager();
    expect(await restarted.validate(token)).toBe(true);
    expect((await restarted.resume(token, '10.0.0.2')).token).toBe(token);
  });

  it('rejects a wrong password with not_authenticated', async () => {
    const err = await authError(manager().login('wrong', '10.0.0.1'));
    expect(err.code).toBe('not_authenticated');
    expect(err.message).toBe('invalid password');
    expect(fs.existsSync(file)).toBe(false);
  });

  it('rejects a prefix or extension of the password', async () => {
    const auth = manager();
    expect((await authError(auth.login(PASSWORD.slice(0, -1), 'a'))).code).toBe('not_authenticated');
    expect((await authError(auth.login(`${PASSWORD}x`, 'a'))).code).toBe('not_authenticated');
    expect((await authError(auth.login('', 'a'))).code).toBe('not_authenticated');
  });

  it('rejects a non-string password with invalid_args', async () => {
    const auth = manager();
    for (const bad of [undefined, null, 42, { password: PASSWORD }, [PASSWORD]]) {
      expect((await authError(auth.login(bad, '10.0.0.1'))).code).toBe('invalid_args');
    }
  });
});

describe('rate limiting', () => {
  it('locks an address for 5 minutes after 10 failures, even for the right password', async () => {
    const auth = manager();
    await failTimes(auth, 10, '10.0.0.1');
    const err = await authError(auth.login(PASSWORD, '10.0.0.1'));
    expect(err.code).toBe('rate_limited');
    expect(err.retryAfterSeconds).toBe(300);

    clock += 2 * MINUTE;
    const later = await authError(auth.login(PASSWORD, '10.0.0.1'));
    expect(later.code).toBe('rate_limited');
    expect(later.retryAfterSeconds).toBe(180);
  });

  it('does not affect other addresses', async () => {
    const auth = manager();
    await failTimes(auth, 10, '10.0.0.1');
    await expect(auth.login(PASSWORD, '10.0.0.2')).resolves.toHaveProperty('token');
  });

  it('treats an IPv4-mapped IPv6 address as the IPv4 address', async () => {
    const auth = manager();
    await failTimes(auth, 5, '10.0.0.1');
    await failTimes(auth, 5, '::ffff:10.0.0.1');
    expect((await authError(auth.login(PASSWORD, '10.0.0.1'))).code).toBe('rate_limited');
    expect(normalizeAddress('::FFFF:10.0.0.1')).toBe('10.0.0.1');
    expect(normalizeAddress('')).toBe('unknown');
  });

  it('lets the address in again once the lockout is over', async () => {
    const auth = manager();
    await failTimes(auth, 10, '10.0.0.1');
    clock += 5 * MINUTE - 1000;
    expect((await authError(auth.login(PASSWORD, '10.0.0.1'))).code).toBe('rate_limited');
    clock += 1000;
    await expect(auth.login(PASSWORD, '10.0.0.1')).resolves.toHaveProperty('token');
  });

  it('starts counting afresh after a lockout', async () => {
    const auth = manager();
    await failTimes(auth, 10, '10.0.0.1');
    clock += 5 * MINUTE;
    await failTimes(auth, 9, '10.0.0.1');
    await expect(auth.login(PASSWORD, '10.0.0.1')).resolves.toHaveProperty('token');
  });

  it('does not count failures older than the window', async () => {
    const auth = manager();
    await failTimes(auth, 9, '10.0.0.1');
    clock += 6 * MINUTE;
    await failTimes(auth, 9, '10.0.0.1');
    await expect(auth.login(PASSWORD, '10.0.0.1')).resolves.toHaveProperty('token');
  });

  it('slides the window: failures spread over more than 5 minutes never lock', async () => {
    const auth = manager();
    for (let i = 0; i < 30; i++) {
      await failTimes(auth, 1, '10.0.0.1');
      clock += 40_000; // 8 failures per 5-minute window at most
    }
    await expect(auth.login(PASSWORD, '10.0.0.1')).resolves.toHaveProperty('token');
  });

  it('a success clears earlier failures', async () => {
    const auth = manager();
    await failTimes(auth, 9, '10.0.0.1');
    await auth.login(PASSWORD, '10.0.0.1');
    await failTimes(auth, 9, '10.0.0.1');
    await expect(auth.login(PASSWORD, '10.0.0.1')).resolves.toHaveProperty('token');
  });

  it('counts failed resumes toward the same limit', async () => {
    const auth = manager();
    await failTimes(auth, 5, '10.0.0.1');
    for (let i = 0; i < 5; i++) {
      expect((await authError(auth.resume(`bogus-${i}`, '10.0.0.1'))).code).toBe('not_authenticated');
    }
    expect((await authError(auth.login(PASSWORD, '10.0.0.1'))).code).toBe('rate_limited');
    const { token } = await auth.login(PASSWORD, '10.0.0.2');
    expect((await authError(auth.resume(token, '10.0.0.1'))).code).toBe('rate_limited');
  });

  it('is checked before the password, so parallel guesses cannot exceed the limit', async () => {
    const auth = manager();
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => auth.login(i === 19 ? PASSWORD : 'wrong', '10.0.0.1')));
    const codes = results.map((r) => (r.status === 'rejected' ? (r.reason as AuthError).code : 'ok'));
    expect(codes.filter((c) => c === 'not_authenticated')).toHaveLength(10);
    expect(codes.filter((c) => c === 'rate_limited')).toHaveLength(10);
  });

  it('does not count invalid_args as a failure', async () => {
    const auth = manager();
    for (let i = 0; i < 20; i++) await authError(auth.login(123, '10.0.0.1'));
    await expect(auth.login(PASSWORD, '10.0.0.1')).resolves.toHaveProperty('token');
  });

  it('keeps the number of tracked addresses bounded', () => {
    let now = 0;
    const limiter = new FailureLimiter({
      maxFailures: 3,
      windowMs: 1000,
      lockoutMs: 1000,
      maxAddresses: 100,
      now: () => now,
    });
    for (let i = 0; i < 1000; i++) limiter.recordFailure(`10.0.${i >> 8}.${i & 255}`);
    expect(limiter.size).toBe(100);
    // The most recent addresses are the ones kept.
    limiter.recordFailure('10.0.3.231');
    limiter.recordFailure('10.0.3.231');
    expect(limiter.lockedFor('10.0.3.231')).toBe(1000);
    now = 1000;
    expect(limiter.lockedFor('10.0.3.231')).toBe(0);
  });
});

describe('resume', () => {
  it('slides expires_at forward and returns the same token', async () => {
    const auth = manager();
    const grant = await auth.login(PASSWORD, '10.0.0.1');
    clock += 10 * DAY;
    const resumed = await auth.resume(grant.token, '10.0.0.1');
    expect(resumed.token).toBe(grant.token);
    expect(resumed.expires_at).toBe(grant.expires_at + 10 * 24 * 3600);
    expect(readSessions().sessions[sha256Hex(grant.token)]?.expires_at).toBe(resumed.expires_at);
  });

  it('keeps a session alive past 30 days while it is used', async () => {
    const auth = manager();
    const { token } = await auth.login(PASSWORD, '10.0.0.1');
    for (let i = 0; i < 4; i++) {
      clock += 20 * DAY;
      await auth.resume(token, '10.0.0.1');
    }
    expect(await manager().validate(token)).toBe(true);
  });

  it('rejects an expired token and prunes it from the file', async () => {
    const auth = manager();
    const { token } = await auth.login(PASSWORD, '10.0.0.1');
    const other = await auth.login(PASSWORD, '10.0.0.1');
    clock += 29 * DAY;
    await auth.resume(other.token, '10.0.0.1');
    clock += 2 * DAY;
    const err = await authError(auth.resume(token, '10.0.0.1'));
    expect(err.code).toBe('not_authenticated');
    const sessions = readSessions().sessions;
    expect(sessions[sha256Hex(token)]).toBeUndefined();
    expect(sessions[sha256Hex(other.token)]).toBeDefined();
  });

  it('prunes expired sessions when a restarted manager loads the file', async () => {
    const { token } = await manager().login(PASSWORD, '10.0.0.1');
    clock += 31 * DAY;
    const restarted = manager();
    expect(await restarted.validate(token)).toBe(false);
    await restarted.flush();
    expect(readSessions().sessions).toEqual({});
  });

  it('rejects unknown and non-string tokens', async () => {
    const auth = manager();
    await auth.login(PASSWORD, '10.0.0.1');
    expect((await authError(auth.resume('x'.repeat(43), '10.0.0.1'))).code).toBe('not_authenticated');
    expect((await authError(auth.resume('', '10.0.0.1'))).code).toBe('not_authenticated');
    expect((await authError(auth.resume('y'.repeat(100_000), '10.0.0.1'))).code).toBe('not_authenticated');
    expect((await authError(auth.resume(undefined, '10.0.0.1'))).code).toBe('invalid_args');
  });

  it('does not write the file for an unknown token', async () => {
    const auth = manager();
    await auth.login(PASSWORD, '10.0.0.1');
    const before = fs.statSync(file).ino;
    await authError(auth.resume('x'.repeat(43), '10.0.0.2'));
    expect(await auth.validate('x'.repeat(43))).toBe(false);
    expect(fs.statSync(file).ino).toBe(before);
  });
});

describe('validate', () => {
  it('accepts a live token and rejects anything else', async () => {
    const auth = manager();
    const { token } = await auth.login(PASSWORD, '10.0.0.1');
    expect(await auth.validate(token)).toBe(true);
    expect(await auth.validate(`${token}x`)).toBe(false);
    expect(await auth.validate('')).toBe(false);
    expect(await auth.validate(undefined)).toBe(false);
    expect(await auth.validate(null)).toBe(false);
  });

  it('slides expiry but writes at most once a minute per session', async () => {
    const auth = manager();
    const { token, expires_at } = await auth.login(PASSWORD, '10.0.0.1');
    const hash = sha256Hex(token);
    clock += 30_000;
    expect(await auth.validate(token)).toBe(true);
    // Within the minute: memory slides, the file does not change.
    expect(readSessions().sessions[hash]?.expires_at).toBe(expires_at);
    clock += 30_000;
    expect(await auth.validate(token)).toBe(true);
    expect(readSessions().sessions[hash]?.expires_at).toBe(expires_at + 60);
    expect(readSessions().sessions[hash]?.last_used_at).toBe(START / 1000 + 60);
  });

  it('a slide held only in memory is written with the next change', async () => {
    const auth = manager();
    const { token, expires_at } = await auth.login(PASSWORD, '10.0.0.1');
    clock += 10_000;
    await auth.validate(token);
    await auth.login(PASSWORD, '10.0.0.1');
    expect(readSessions().sessions[sha256Hex(token)]?.expires_at).toBe(expires_at + 10);
  });
});

describe('logout', () => {
  it('revokes the session, in memory and on disk', async () => {
    const auth = manager();
    const { token } = await auth.login(PASSWORD, '10.0.0.1');
    await auth.logout(token);
    expect(await auth.validate(token)).toBe(false);
    expect((await authError(auth.resume(token, '10.0.0.1'))).code).toBe('not_authenticated');
    expect(readSessions().sessions).toEqual({});
    expect(await manager().validate(token)).toBe(false);
  });

  it('is idempotent and leaves other sessions alone', async () => {
    const auth = manager();
    const a = await auth.login(PASSWORD, '10.0.0.1');
    const b = await auth.login(PASSWORD, '10.0.0.1');
    await auth.logout(a.token);
    await expect(auth.logout(a.token)).resolves.toBeUndefined();
    await expect(auth.logout('never-issued')).resolves.toBeUndefined();
    expect(await auth.validate(b.token)).toBe(true);
  });

  it('rejects a non-string token with invalid_args', async () => {
    expect((await authError(manager().logout(42))).code).toBe('invalid_args');
  });
});

describe('bearerToken', () => {
  it('parses the Authorization header', () => {
    expect(AuthManager.bearerToken('Bearer abc')).toBe('abc');
    expect(AuthManager.bearerToken('bearer abc')).toBe('abc');
    expect(AuthManager.bearerToken('BEARER   abc  ')).toBe('abc');
    expect(AuthManager.bearerToken('Basic x')).toBeNull();
    expect(AuthManager.bearerToken(undefined)).toBeNull();
    expect(AuthManager.bearerToken('Bearer ')).toBeNull();
    expect(AuthManager.bearerToken('Bearer')).toBeNull();
    expect(AuthManager.bearerToken('Bearer a b')).toBeNull();
    expect(AuthManager.bearerToken('Bearerabc')).toBeNull();
  });

  it('round-trips a real token', async () => {
    const auth = manager();
    const { token } = await auth.login(PASSWORD, '10.0.0.1');
    expect(await auth.validate(AuthManager.bearerToken(`Bearer ${token}`))).toBe(true);
  });
});

describe('sessions file robustness', () => {
  it('reads a corrupt file as no sessions, warns, and replaces it on the next login', async () => {
    fs.writeFileSync(file, '{not json');
    const { logger, lines } = captureLog();
    const auth = manager({ logger });
    expect(await auth.validate('x'.repeat(43))).toBe(false);
    expect(lines().some((line) => line['level'] === 40 && /corrupt/.test(String(line['msg'])))).toBe(true);
    const { token } = await auth.login(PASSWORD, '10.0.0.1');
    expect(Object.keys(readSessions().sessions)).toEqual([sha256Hex(token)]);
  });

  it('reads wrong shapes and versions as no sessions', async () => {
    for (const content of ['[]', '{"version": 2, "sessions": {}}', '{"version": 1, "sessions": []}', '']) {
      fs.writeFileSync(file, content);
      const auth = manager();
      expect(await auth.validate('x'.repeat(43))).toBe(false);
      await expect(auth.login(PASSWORD, '10.0.0.1')).resolves.toHaveProperty('token');
    }
  });

  it('skips malformed entries but keeps good ones', async () => {
    const { token } = await manager().login(PASSWORD, '10.0.0.1');
    const data = readSessions() as unknown as { sessions: Record<string, unknown> };
    data.sessions['not-a-hash'] = { created_at: 1, expires_at: 2, last_used_at: 1 };
    data.sessions['a'.repeat(64)] = { created_at: 'yesterday' };
    fs.writeFileSync(file, JSON.stringify(data));
    expect(await manager().validate(token)).toBe(true);
  });

  it('never logs the password or a token', async () => {
    const { logger, lines } = captureLog();
    const auth = manager({ logger });
    await authError(auth.login('wrong-guess', '10.0.0.1'));
    const { token } = await auth.login(PASSWORD, '10.0.0.1');
    await auth.validate(token);
    await auth.logout(token);
    const text = JSON.stringify(lines());
    expect(lines().length).toBeGreaterThan(0);
    for (const secret of [PASSWORD, 'wrong-guess', token, sha256Hex(token)]) expect(text).not.toContain(secret);
  });

  it('does not hand out a token it cannot write, and keeps working once it can', async () => {
    // A file where the sessions file's folder should be: the folder cannot be created.
    const missingDir = path.join(dir, 'not-yet');
    fs.writeFileSync(missingDir, 'in the way');
    const target = path.join(missingDir, SESSIONS_FILE);
    const auth = manager({ sessionsFile: target });
    await expect(auth.login(PASSWORD, '10.0.0.1')).rejects.toThrow(/EEXIST|ENOTDIR/);
    fs.rmSync(missingDir);
    const { token } = await auth.login(PASSWORD, '10.0.0.1');
    const data = JSON.parse(fs.readFileSync(target, 'utf8')) as SessionsFile;
    // The failed login left nothing behind.
    expect(Object.keys(data.sessions)).toEqual([sha256Hex(token)]);
  });

  it('treats a missing file as no sessions without creating it', async () => {
    const auth = manager();
    expect(await auth.validate('x'.repeat(43))).toBe(false);
    expect(fs.existsSync(file)).toBe(false);
  });

  it('caps live sessions, dropping the least recently used', async () => {
    const auth = manager({ maxSessions: 3 });
    const tokens: string[] = [];
    for (let i = 0; i < 3; i++) {
      tokens.push((await auth.login(PASSWORD, '10.0.0.1')).token);
      clock += MINUTE;
    }
    await auth.validate(tokens[0]); // tokens[1] is now the least recently used
    tokens.push((await auth.login(PASSWORD, '10.0.0.1')).token);
    expect(await auth.validate(tokens[1])).toBe(false);
    for (const i of [0, 2, 3]) expect(await auth.validate(tokens[i])).toBe(true);
    expect(Object.keys(readSessions().sessions)).toHaveLength(3);
  });
});
