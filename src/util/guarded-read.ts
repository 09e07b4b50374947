/**
 * Reading a small file someone else can plant: a metadata file (the shared
 * sidecar, the per-instance stores, the sessions file), a StorageJSON. A
 * plain `readFile` of a FIFO blocks forever (no writer ever comes), of
 * `/dev/zero` never ends and grows without bound, of a 1 GB sparse file
 * allocates 1 GB. Here:
 *
 * - the path is checked first (`lstat`, or `stat` when links may be
 *   followed) and anything but a regular file is refused without being
 *   opened: opening a device can have effects of its own (a serial port
 *   toggles DTR and resets an ESP32 board), opening a FIFO wakes its writer;
 * - it is then opened `O_RDONLY | O_NONBLOCK` (plus `O_NOFOLLOW` when links
 *   are refused, so a link swapped in after the check fails with `ELOOP`),
 *   and `fstat` on the descriptor must show a regular file again;
 * - the size is capped twice: on the `fstat` size before reading, and while
 *   reading (never more than `maxBytes + 1` bytes are read), since a file
 *   can grow between the two.
 *
 * Refusals are {@link NotRegularFileError} (a symbolic link, a FIFO, a
 * device, a socket, a folder) and {@link FileTooLargeError}; both name the
 * path. A missing file is `null`, not an error.
 */
import { closeSync, constants as fsConstants, fstatSync, lstatSync, openSync, promises as fsp, readlinkSync, readSync, statSync, type Stats } from 'node:fs';

/** The cap for the metadata files (sidecar, stores, sessions): far above any real one. */
export const METADATA_MAX_BYTES = 64 * 1024 * 1024;
/** The cap for one StorageJSON (a real one is a few KiB). */
export const STORAGE_JSON_MAX_BYTES = 1024 * 1024;

export type FileKind = 'symbolic link' | 'FIFO' | 'character device' | 'block device' | 'socket' | 'folder' | 'regular file' | 'special file';

/** What `stats` describes, in words for an error message. */
export function fileKind(stats: Stats): FileKind {
  if (stats.isFile()) return 'regular file';
  if (stats.isSymbolicLink()) return 'symbolic link';
  if (stats.isFIFO()) return 'FIFO';
  if (stats.isCharacterDevice()) return 'character device';
  if (stats.isBlockDevice()) return 'block device';
  if (stats.isSocket()) return 'socket';
  if (stats.isDirectory()) return 'folder';
  return 'special file';
}

/** The path holds something other than a regular file (or a link, when links are refused). */
export class NotRegularFileError extends Error {
  readonly code = 'ENOTREGULAR';
  constructor(
    readonly path: string,
    readonly kind: FileKind,
    /** Where a refused link points, when it is one. */
    readonly linkTarget: string | null = null,
  ) {
    super(`${path} is a ${kind}${linkTarget === null ? '' : ` (to ${linkTarget})`}, not a regular file; refusing to read or replace it`);
    this.name = 'NotRegularFileError';
  }
}

/** The file is larger than the cap (by its size, or it grew past it while being read). */
export class FileTooLargeError extends Error {
  readonly code = 'EFILETOOLARGE';
  constructor(
    readonly path: string,
    /** The size seen: the fstat size, or the bytes read so far when it grew while being read. */
    readonly size: number,
    readonly limit: number,
    /** `fstat` of the file refused. */
    readonly stats: Stats,
  ) {
    super(`${path} is larger than ${limit} bytes (${size} seen); not reading it`);
    this.name = 'FileTooLargeError';
  }
}

export interface GuardedReadOptions {
  maxBytes: number;
  /** Follow a symbolic link at the path (StorageJSON); default false: a link is refused. */
  followLinks?: boolean;
}

export interface GuardedRead {
  bytes: Buffer;
  /** `fstat` of the descriptor the bytes came from (mode, owner, dev/ino). */
  stats: Stats;
}

const CHUNK = 64 * 1024;

function openFlags(followLinks: boolean): number {
  return fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | (followLinks ? 0 : fsConstants.O_NOFOLLOW);
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** The refusal for a path whose check (or descriptor) says it is not a regular file. */
async function refusal(file: string, stats: Stats): Promise<NotRegularFileError> {
  const kind = fileKind(stats);
  return new NotRegularFileError(file, kind, kind === 'symbolic link' ? await fsp.readlink(file).catch(() => null) : null);
}

function refusalSync(file: string, stats: Stats): NotRegularFileError {
  const kind = fileKind(stats);
  return new NotRegularFileError(file, kind, kind === 'symbolic link' ? linkTargetSync(file) : null);
}

function linkTargetSync(file: string): string | null {
  try {
    return readlinkSync(file);
  } catch {
    return null;
  }
}

/** How many bytes to ask for next: the rest of the known size (at least one chunk), never past the cap + 1. */
function nextReadSize(total: number, expected: number, maxBytes: number): number {
  return Math.max(1, Math.min(Math.max(expected - total, CHUNK), maxBytes + 1 - total));
}

/**
 * Reads `file` under the guard; null when it does not exist.
 * @throws NotRegularFileError, FileTooLargeError, or the system error (EACCES, EIO, ...).
 */
export async function readGuarded(file: string, options: GuardedReadOptions): Promise<GuardedRead | null> {
  const follow = options.followLinks ?? false;
  let before: Stats;
  try {
    before = follow ? await fsp.stat(file) : await fsp.lstat(file);
  } catch (err) {
    if (isMissing(err)) return null;
    throw err;
  }
  if (!before.isFile()) throw await refusal(file, before);
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(file, openFlags(follow));
  } catch (err) {
    if (isMissing(err)) return null;
    // Swapped for a link after the check.
    if ((err as NodeJS.ErrnoException).code === 'ELOOP' && !follow) {
      throw new NotRegularFileError(file, 'symbolic link', await fsp.readlink(file).catch(() => null));
    }
    throw err;
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw await refusal(file, stats);
    if (stats.size > options.maxBytes) throw new FileTooLargeError(file, stats.size, options.maxBytes, stats);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buffer = Buffer.allocUnsafe(nextReadSize(total, stats.size, options.maxBytes));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      chunks.push(bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead));
      total += bytesRead;
      if (total > options.maxBytes) throw new FileTooLargeError(file, total, options.maxBytes, stats);
    }
    return { bytes: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total), stats };
  } finally {
    await handle.close();
  }
}

/** {@link readGuarded}, synchronously. */
export function readGuardedSync(file: string, options: GuardedReadOptions): GuardedRead | null {
  const follow = options.followLinks ?? false;
  let before: Stats;
  try {
    before = follow ? statSync(file) : lstatSync(file);
  } catch (err) {
    if (isMissing(err)) return null;
    throw err;
  }
  if (!before.isFile()) throw refusalSync(file, before);
  let fd: number;
  try {
    fd = openSync(file, openFlags(follow));
  } catch (err) {
    if (isMissing(err)) return null;
    if ((err as NodeJS.ErrnoException).code === 'ELOOP' && !follow) throw new NotRegularFileError(file, 'symbolic link', linkTargetSync(file));
    throw err;
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw refusalSync(file, stats);
    if (stats.size > options.maxBytes) throw new FileTooLargeError(file, stats.size, options.maxBytes, stats);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buffer = Buffer.allocUnsafe(nextReadSize(total, stats.size, options.maxBytes));
      const bytesRead = readSync(fd, buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      chunks.push(bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead));
      total += bytesRead;
      if (total > options.maxBytes) throw new FileTooLargeError(file, total, options.maxBytes, stats);
    }
    return { bytes: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total), stats };
  } finally {
    closeSync(fd);
  }
}

/**
 * Resolves when `file` is a regular file or missing; rejects with
 * {@link NotRegularFileError} otherwise. Writers call it just before their
 * rename, so a FIFO, device, folder or link at the path is never replaced.
 */
export async function assertRegularOrMissing(file: string): Promise<void> {
  let stats: Stats;
  try {
    stats = await fsp.lstat(file);
  } catch (err) {
    if (isMissing(err)) return;
    throw err;
  }
  if (!stats.isFile()) throw await refusal(file, stats);
}
