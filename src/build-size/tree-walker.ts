/**
 * The JS tree walker, and the one-folder "expand" step the pool uses to
 * split a tree into pieces. Runs inside the walk workers (walk-worker.ts),
 * never on the server's event loop. Sync `readdirSync(withFileTypes)` +
 * `lstatSync` is the fastest way Node's own fs has to size a tree (measured
 * on 500k files: two such workers match `du -sb`; `fs.promises` per file is
 * 3-5x slower); the native walker (native-walker.ts) follows the same rules
 * with half the CPU and takes over whole subtrees when it is built.
 *
 * Rules that make the figure equal to what deleting the folder would free:
 * - symbolic links are never followed (a link costs its own size), so loops
 *   and links to `/` cannot run away;
 * - only regular files and links count; FIFOs, sockets and devices are never
 *   opened (lstat does not open), so a FIFO cannot block the walk; they are
 *   counted as skipped (reason `FIFO`, `socket`, `device`) so the debug log
 *   says what was left out;
 * - anything that vanishes or cannot be read is skipped and counted, an
 *   unreadable build folder itself included (it sizes 0, reported as skipped
 *   rather than as missing).
 *
 * Names that are not valid UTF-8 come back from `readdirSync` with U+FFFD
 * and would not round-trip; such a folder is re-read as raw bytes.
 *
 * Very wide folders stay cheap (measured on 200,000 entries): a root expand
 * reports its files per bucket, not per name, and a folder with more than
 * {@link MAX_SUBDIRS_HANDED_BACK} subfolders walks the rest itself instead of
 * handing each back as a task (one task per subfolder made 200,000 empty-ish
 * subfolders take 19 s instead of 2).
 */
import { lstatSync, readdirSync, type Dirent } from 'node:fs';
import { FolderTotals, joinRel, MAX_TRACKED_FOLDERS, type FolderTotal } from './size-tree.js';
import { bucketOf, type ExpandResult, type TreeTally, type WirePath } from './walk-protocol.js';

const SEP = '/';
const SEP_BYTES = Buffer.from(SEP);
const MAX_SKIPPED_SAMPLES = 5;
// One options object for every lstat: this runs once per file, hundreds of thousands of times.
const LSTAT_OPTIONS = { throwIfNoEntry: false } as const;
/** Subfolders of one folder handed back to the pool as separate pieces; the rest are walked in place. */
export const MAX_SUBDIRS_HANDED_BACK = 1024;
/** The root's `byChild` key per bucket: the pool only needs the bucket of each top-level name. */
const BUCKET_KEYS = { pioenvs: '.pioenvs', piolibdeps: '.piolibdeps', src: 'src', lock: 'dependencies.lock', other: '' } as const;

/** A path as the fs API takes it; Buffers arrive as plain Uint8Arrays after cloning. */
export type LocalPath = string | Buffer;

export function toLocal(p: WirePath): LocalPath {
  if (typeof p === 'string' || Buffer.isBuffer(p)) return p;
  return Buffer.from(p.buffer, p.byteOffset, p.byteLength);
}

function toBuffer(p: LocalPath): Buffer {
  return typeof p === 'string' ? Buffer.from(p) : p;
}

function newTally(): TreeTally {
  return { bytes: 0, diskBytes: 0, files: 0, dirs: 0, skipped: 0, skippedSamples: [], hardLinks: {}, folders: [], byChild: {} };
}

function skip(tally: TreeTally, where: LocalPath, err: unknown): void {
  tally.skipped++;
  if (tally.skippedSamples.length < MAX_SKIPPED_SAMPLES) {
    const shown = typeof where === 'string' ? where : toBuffer(where).toString('utf8');
    tally.skippedSamples.push(`${shown}: ${(err as NodeJS.ErrnoException)?.code ?? String(err)}`);
  }
}

type AnyDirent = Dirent | Dirent<Buffer>;

/** Lists a folder; string names unless one is not valid UTF-8, then bytes for all. */
function listDir(dir: LocalPath): { entries: AnyDirent[]; bytes: boolean } {
  if (typeof dir === 'string') {
    const entries = readdirSync(dir, { withFileTypes: true });
    if (!entries.some((entry) => entry.name.includes('\uFFFD'))) return { entries, bytes: false };
  }
  return { entries: readdirSync(toBuffer(dir), { withFileTypes: true, encoding: 'buffer' }), bytes: true };
}

function childPath(dir: LocalPath, entry: AnyDirent, bytes: boolean): LocalPath {
  if (!bytes) return (dir as string) + SEP + (entry.name as string);
  return Buffer.concat([toBuffer(dir), SEP_BYTES, entry.name as Buffer]);
}

/** What a non-file, non-folder, non-link entry is, for the skipped samples. */
function specialKind(entry: { isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): string {
  if (entry.isFIFO()) return 'FIFO';
  if (entry.isSocket()) return 'socket';
  if (entry.isCharacterDevice() || entry.isBlockDevice()) return 'device';
  return 'unknown type';
}

/**
 * Counts one non-folder entry and returns its bytes; `'dir'` when it turned
 * out to be a folder (replaced under us) so the caller descends instead;
 * null when it takes no bytes or could not be read.
 */
function countEntry(tally: TreeTally, entry: AnyDirent, full: LocalPath): number | 'dir' | null {
  // Only regular files and links take bytes we would free; everything else
  // (FIFO, socket, device) is skipped without being opened.
  if (!entry.isFile() && !entry.isSymbolicLink()) {
    skip(tally, full, specialKind(entry));
    return null;
  }
  let stats;
  try {
    stats = lstatSync(full, LSTAT_OPTIONS);
  } catch (err) {
    skip(tally, full, err);
    return null;
  }
  if (!stats) {
    skip(tally, full, 'ENOENT');
    return null;
  }
  if (stats.isDirectory()) return 'dir';
  if (!stats.isFile() && !stats.isSymbolicLink()) {
    // Replaced by a FIFO/socket/device between the listing and the lstat.
    skip(tally, full, specialKind(stats));
    return null;
  }
  tally.bytes += stats.size;
  tally.files++;
  const allocated = stats.blocks * 512;
  if (stats.nlink > 1) tally.hardLinks[hardLinkKey(full, stats)] = allocated;
  else tally.diskBytes += allocated;
  return stats.size;
}

/**
 * `dev:ino` in exact decimal, the form the native walker uses too, so an
 * inode linked from both an expanded folder and a natively walked subtree
 * is counted once. Numbers past 2^53 are rounded, so re-read those as bigints.
 */
function hardLinkKey(full: LocalPath, stats: { dev: number; ino: number }): string {
  if (Number.isSafeInteger(stats.dev) && Number.isSafeInteger(stats.ino)) return `${stats.dev}:${stats.ino}`;
  const exact = lstatSync(full, { bigint: true, throwIfNoEntry: false });
  return exact ? `${exact.dev}:${exact.ino}` : `${stats.dev}:${stats.ino}`;
}

/** A path's part below `root` (`''` for the root), as text (bytes decoded as UTF-8, only for the tree's names). */
function relativeTo(root: LocalPath, full: LocalPath): string {
  if (typeof full === 'string') return full.length > (root as string).length ? full.slice((root as string).length + 1) : '';
  const rootBytes = typeof root === 'string' ? Buffer.byteLength(root) : root.byteLength;
  return full.byteLength > rootBytes ? full.subarray(rootBytes + 1).toString('utf8') : '';
}

/**
 * Everything under `root`, depth-first with an explicit stack (no recursion
 * limit). With `treeDepth` >= 0 it also records the inclusive totals of the
 * folders at most that many levels down (see size-tree.ts): each folder's
 * files go to its own node when it is tracked, else to its nearest tracked
 * ancestor's, and the nodes are summed bottom-up at the end. Native and JS
 * create nodes in the same way (on opening a folder, up to the same cap).
 */
export function walkTreeJs(root: LocalPath, treeDepth = -1): TreeTally {
  const tally = newTally();
  const stack: LocalPath[] = [root];
  // Parallel to `stack`: each folder's depth below root and the node its parent's files went to.
  const depths: number[] = [0];
  const owners: number[] = [-1];
  const nodeRel: string[] = [];
  const nodeParent: number[] = [];
  const nodeBytes: number[] = [];
  const nodeFiles: number[] = [];
  while (stack.length > 0) {
    const dir = stack.pop() as LocalPath;
    const depth = depths.pop() as number;
    let owner = owners.pop() as number;
    let listing;
    try {
      listing = listDir(dir);
    } catch (err) {
      skip(tally, dir, err);
      continue;
    }
    tally.dirs++;
    if (depth <= treeDepth && nodeRel.length < MAX_TRACKED_FOLDERS) {
      nodeRel.push(relativeTo(root, dir));
      nodeParent.push(owner);
      nodeBytes.push(0);
      nodeFiles.push(0);
      owner = nodeRel.length - 1;
    }
    for (const entry of listing.entries) {
      const full = childPath(dir, entry, listing.bytes);
      let counted: number | 'dir' | null = 'dir';
      if (!entry.isDirectory()) counted = countEntry(tally, entry, full);
      if (counted === 'dir') {
        stack.push(full);
        depths.push(depth + 1);
        owners.push(owner);
      } else if (counted !== null && owner >= 0) {
        nodeBytes[owner] = (nodeBytes[owner] as number) + counted;
        nodeFiles[owner] = (nodeFiles[owner] as number) + 1;
      }
    }
  }
  // Parents are created before their children, so one backwards pass sums each subtree.
  for (let i = nodeRel.length - 1; i > 0; i--) {
    const parent = nodeParent[i] as number;
    nodeBytes[parent] = (nodeBytes[parent] as number) + (nodeBytes[i] as number);
    nodeFiles[parent] = (nodeFiles[parent] as number) + (nodeFiles[i] as number);
  }
  tally.folders = nodeRel.map((rel, i): FolderTotal => [rel, nodeBytes[i] as number, nodeFiles[i] as number]);
  return tally;
}

function mergeTally(into: TreeTally, from: TreeTally): void {
  into.bytes += from.bytes;
  into.diskBytes += from.diskBytes;
  into.files += from.files;
  into.dirs += from.dirs;
  into.skipped += from.skipped;
  for (const sample of from.skippedSamples) if (into.skippedSamples.length < MAX_SKIPPED_SAMPLES) into.skippedSamples.push(sample);
  Object.assign(into.hardLinks, from.hardLinks);
}

/** Adds bytes under a root child's bucket key (one key per bucket, however many children). */
function addByChild(tally: TreeTally, name: string, bytes: number, diskBytes: number): void {
  const key = BUCKET_KEYS[bucketOf(name)];
  const child = (tally.byChild[key] ??= { bytes: 0, diskBytes: 0 });
  child.bytes += bytes;
  child.diskBytes += diskBytes;
}

function entryName(entry: AnyDirent, bytes: boolean): string {
  return bytes ? (entry.name as Buffer).toString('utf8') : (entry.name as string);
}

/**
 * One folder's own files, plus its subfolders handed back for the pool to
 * spread; past {@link MAX_SUBDIRS_HANDED_BACK}, subfolders are sized here
 * with `walkTree` (the walker the pool chose).
 */
export function expandDir(dir: LocalPath, isRoot: boolean, treeDepth: number, walkTree: (root: LocalPath, treeDepth: number) => TreeTally): ExpandResult {
  const tally = newTally();
  // Subfolders walked here keep their folders, re-rooted under their name; each is final once walked, so pruning may drop any.
  const walkedHere = new FolderTotals(() => false);
  const subdirs: WirePath[] = [];
  let listing;
  if (isRoot) {
    // The build folder itself must be a real folder: a symlinked build
    // folder is not followed either, its target is not ours to count.
    let stats;
    try {
      stats = lstatSync(dir, LSTAT_OPTIONS);
    } catch {
      stats = undefined;
    }
    if (!stats || !stats.isDirectory()) return { ...tally, subdirs, rootMissing: true };
  }
  try {
    listing = listDir(dir);
  } catch (err) {
    // A build folder that exists but cannot be listed (chmod 000, EIO) is
    // not "missing": it is skipped, so the debug log says why it sized 0.
    skip(tally, dir, err);
    return { ...tally, subdirs, rootMissing: false };
  }
  tally.dirs++;
  const walkHere = (full: LocalPath, entry: AnyDirent): void => {
    const sub = walkTree(full, treeDepth - 1);
    mergeTally(tally, sub);
    const name = entryName(entry, listing.bytes);
    for (const [rel, bytes, files] of sub.folders) walkedHere.add(joinRel(name, rel), bytes, files);
    if (isRoot) addByChild(tally, name, sub.bytes, sub.diskBytes);
  };
  for (const entry of listing.entries) {
    const full = childPath(dir, entry, listing.bytes);
    if (entry.isDirectory()) {
      if (subdirs.length < MAX_SUBDIRS_HANDED_BACK) subdirs.push(full);
      else walkHere(full, entry);
      continue;
    }
    const before = { bytes: tally.bytes, diskBytes: tally.diskBytes };
    const counted = countEntry(tally, entry, full);
    if (counted === 'dir') {
      if (subdirs.length < MAX_SUBDIRS_HANDED_BACK) subdirs.push(full);
      else walkHere(full, entry);
    } else if (isRoot && counted !== null) {
      addByChild(tally, entryName(entry, listing.bytes), tally.bytes - before.bytes, tally.diskBytes - before.diskBytes);
    }
  }
  if (treeDepth >= 0) {
    tally.folders = [['', tally.bytes, tally.files], ...walkedHere.entries()];
  }
  return { ...tally, subdirs, rootMissing: false };
}
