/**
 * The login sessions file `<data dir>/.device-builder-sessions.json` (per instance):
 *
 *     { "version": 1, "sessions": { "<sha256 hex of token>": { created_at, expires_at, last_used_at } } }
 *
 * - Only token hashes are stored, never tokens, so reading the file does
 *   not let anyone log in. Times are unix seconds.
 * - Read once, lazily, and kept in memory; every change is written from
 *   memory, atomically (temp file in the same folder, fsync, rename, fsync
 *   folder), mode 0600, one write at a time under a mutex.
 * - Expired sessions are dropped on load and on every write.
 * - A missing, unreadable or corrupt file reads as no sessions (a warning is
 *   logged for the latter two). Replacing it later is safe: it only holds
 *   hashes, so the worst case is that users log in again. Over 64 MiB it is
 *   not read (corrupt) and the next save replaces it, without a copy.
 * - Read through util/guarded-read.ts (`O_NOFOLLOW | O_NONBLOCK`, regular
 *   files only): a FIFO, device, folder or symbolic link at the path reads
 *   as no sessions with an error logged, and is never replaced: every save
 *   (so every login) rejects with that error until it is removed.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic-file.js';
import { assertRegularOrMissing, FileTooLargeError, METADATA_MAX_BYTES, NotRegularFileError, readGuarded } from '../util/guarded-read.js';
import type { Logger } from '../util/log.js';
import { Mutex } from '../util/mutex.js';

export const SESSIONS_FILE = '.device-builder-sessions.json';
export const SESSIONS_FILE_VERSION = 1;

export interface SessionRecord {
  created_at: number;
  expires_at: number;
  last_used_at: number;
}

const HASH_PATTERN = /^[0-9a-f]{64}$/;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function parseRecord(value: unknown): SessionRecord | null {
  if (!isObject(value)) return null;
  const { created_at, expires_at, last_used_at } = value;
  if (!isTime(created_at) || !isTime(expires_at) || !isTime(last_used_at)) return null;
  return { created_at, expires_at, last_used_at };
}

export class SessionStore {
  readonly path: string;
  private readonly dir: string;
  private readonly mutex = new Mutex();
  private loaded: Promise<Map<string, SessionRecord>> | null = null;
  /** How many expired sessions the first read dropped (the file still holds them until the next write). */
  prunedOnLoad = 0;
  /** `last_used_at` of each session as last written, to throttle slide-only writes. */
  private readonly savedLastUsed = new Map<string, number>();

  constructor(
    file: string,
    private readonly log: Logger,
    /** Unix seconds. */
    private readonly nowSeconds: () => number,
  ) {
    this.path = path.resolve(file);
    this.dir = path.dirname(this.path);
  }

  /**
   * The live in-memory map (hash → record), read from disk on first use.
   * Callers mutate it and then call {@link save}.
   */
  sessions(): Promise<Map<string, SessionRecord>> {
    this.loaded ??= this.load();
    return this.loaded;
  }

  /** `last_used_at` of `hash` as it is on disk, or undefined when never written. */
  lastSavedUse(hash: string): number | undefined {
    return this.savedLastUsed.get(hash);
  }

  /** Drops expired sessions from memory; returns how many went. */
  pruneExpired(sessions: Map<string, SessionRecord>): number {
    const now = this.nowSeconds();
    let removed = 0;
    for (const [hash, record] of sessions) {
      if (record.expires_at <= now) {
        sessions.delete(hash);
        this.savedLastUsed.delete(hash);
        removed++;
      }
    }
    return removed;
  }

  /** Writes the in-memory sessions (expired ones dropped) to disk. Serialized. */
  async save(): Promise<void> {
    await this.mutex.run(async () => {
      const sessions = await this.sessions();
      this.pruneExpired(sessions);
      const snapshot: Record<string, SessionRecord> = {};
      for (const [hash, record] of sessions) snapshot[hash] = { ...record };
      await this.writeAtomic({ version: SESSIONS_FILE_VERSION, sessions: snapshot });
      this.savedLastUsed.clear();
      for (const [hash, record] of Object.entries(snapshot)) this.savedLastUsed.set(hash, record.last_used_at);
    });
  }

  /** Resolves once every write queued so far has finished. */
  async flush(): Promise<void> {
    await this.mutex.run(async () => undefined);
  }

  private async load(): Promise<Map<string, SessionRecord>> {
    const sessions = new Map<string, SessionRecord>();
    let raw: string;
    try {
      const read = await readGuarded(this.path, { maxBytes: METADATA_MAX_BYTES });
      if (!read) return sessions;
      raw = read.bytes.toString('utf8');
    } catch (err) {
      if (err instanceof NotRegularFileError) {
        // Never replaced: every save refuses with this error while it is there.
        this.log.error({ path: this.path, kind: err.kind }, `sessions file unreadable; starting with no sessions: ${err.message}`);
      } else if (err instanceof FileTooLargeError) {
        this.log.warn(
          { path: this.path, size: err.size, limit: err.limit },
          'sessions file is too large to be real; starting with no sessions (the next login replaces it)',
        );
      } else {
        this.log.warn({ err, path: this.path }, 'sessions file unreadable; starting with no sessions');
      }
      return sessions;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      parsed = undefined;
    }
    if (!isObject(parsed) || parsed['version'] !== SESSIONS_FILE_VERSION || !isObject(parsed['sessions'])) {
      this.log.warn({ path: this.path }, 'sessions file is corrupt or of an unknown version; starting with no sessions');
      return sessions;
    }
    let skipped = 0;
    for (const [hash, value] of Object.entries(parsed['sessions'])) {
      const record = parseRecord(value);
      if (!HASH_PATTERN.test(hash) || !record) {
        skipped++;
        continue;
      }
      sessions.set(hash, record);
      this.savedLastUsed.set(hash, record.last_used_at);
    }
    if (skipped > 0) this.log.warn({ path: this.path, skipped }, 'ignored malformed entries in the sessions file');
    this.prunedOnLoad = this.pruneExpired(sessions);
    return sessions;
  }

  private async writeAtomic(data: unknown): Promise<void> {
    // A FIFO, device, folder or link at the path is not ours to replace.
    await assertRegularOrMissing(this.path);
    // The data dir may not exist yet (nothing compiled); ESPHome creates it the same way.
    await fsp.mkdir(path.dirname(this.path), { recursive: true });
    // 0600 from creation, so the file is never readable by others, not even briefly.
    await writeFileAtomic(this.path, `${JSON.stringify(data, null, 2)}\n`, 0o600, {
      // Nor one put there while the temp was written.
      beforeRename: () => assertRegularOrMissing(this.path),
    });
  }
}
