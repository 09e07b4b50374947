/**
 * Size histories and size trees (issue 15), per instance in the data dir:
 * `<data>/.device-builder-ts-sizes/`, one small file per device plus
 * `fleet.json` for the fleet total. Never in the shared sidecar
 * (`.device-builder.json` is the Python tool's too and must not grow).
 *
 * Why one file per device: 5,000 devices × (tree + 100 points) in one JSON
 * file is ~20 MB, rewritten on every persist batch of 32 measurements. A
 * device's own file is ~1-5 KB, and a measurement rewrites only its own
 * (atomically: temp + rename, util/atomic-file.ts). The file name is derived
 * from the configuration (a sanitized stem for a human reading the folder,
 * plus 16 hex of its SHA-256 so two names never share a file), never a path
 * built from raw input. Points and tree nodes are stored as arrays, not
 * objects, which halves the bytes; the wire shapes (shared/size-history.ts)
 * are rebuilt on read.
 *
 * Writes never sit on the walk loop: the refresher only queues a
 * measurement ({@link SizeHistoryStore.recordDevice}, synchronous, a map
 * insert) and one background writer drains the queue, one file at a time.
 * Reads are guarded (util/guarded-read.ts: a size cap, links and FIFOs
 * refused); a file that is unreadable, too large or not what we wrote reads
 * as empty and is replaced by the next write, so a corrupt file never
 * crashes anything nor blocks new points.
 *
 * When a point is appended: when the bytes changed, or at least an hour after
 * the last point. A re-walk that finds the same size (a no-op compile, a
 * touched folder) adds no information, and bursts of them would push real
 * changes out of the last 100 points; the hourly point keeps the chart's
 * time axis honest ("still this size at that time"). Reclaim markers are
 * always appended.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { SIZE_HISTORY_LIMIT, type SizePoint, type SizeTreeNode } from '../shared/size-history.js';
import { TREE_MAX_DEPTH, TREE_MAX_NODES } from '../build-size/size-tree.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { readGuarded } from '../util/guarded-read.js';
import { log as defaultLog, type Logger } from '../util/log.js';

/** The folder under the data dir, per instance. */
export const SIZES_DIR = '.device-builder-ts-sizes';
/** The fleet total's history; device files always end in `-<16 hex>.json`, so they never take this name. */
export const FLEET_FILE = 'fleet.json';
/** Far above a real file (a device's is at most a few KB): anything bigger is not ours and reads as empty. */
export const SIZE_FILE_MAX_BYTES = 256 * 1024;
/** An unchanged size is appended again only this long after the last point. */
export const SAME_SIZE_POINT_INTERVAL_S = 3600;
const FORMAT_VERSION = 1;
const MAX_NAME_LENGTH = 255;

/** A point on disk: `[time, bytes]`, or `[time, bytes, reclaimed_bytes]` for a reclaim marker. */
type StoredPoint = [number, number] | [number, number, number];
/** A tree node on disk: `[name, bytes, files, children]`. */
type StoredNode = [string, number, number, StoredNode[]];

interface DeviceFile {
  v: number;
  configuration: string;
  tree: StoredNode | null;
  history: StoredPoint[];
}

interface FleetFile {
  v: number;
  history: StoredPoint[];
}

/** What a device's file holds, in the wire shapes. */
export interface DeviceSizes {
  tree: SizeTreeNode | null;
  history: SizePoint[];
}

/** The file a device's tree and history live in: a sanitized stem plus a hash, never the raw name. */
export function deviceFileName(configuration: string): string {
  const hash = createHash('sha256').update(configuration).digest('hex').slice(0, 16);
  const stem = configuration
    .replace(/\.ya?ml$/i, '')
    .replace(/[^A-Za-z0-9_-]/g, '_')
    .slice(0, 64);
  return `${stem}-${hash}.json`;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

/** Stored points, or null when any is not one (the whole file then reads as empty). */
function parsePoints(value: unknown): SizePoint[] | null {
  if (!Array.isArray(value) || value.length > SIZE_HISTORY_LIMIT) return null;
  const points: SizePoint[] = [];
  for (const item of value) {
    if (!Array.isArray(item) || (item.length !== 2 && item.length !== 3) || !item.every(isCount)) return null;
    const [time, bytes, reclaimed] = item as number[];
    points.push(
      reclaimed === undefined ? { time: time as number, bytes: bytes as number } : { time: time as number, bytes: bytes as number, reclaimed_bytes: reclaimed },
    );
  }
  return points;
}

function storePoints(points: readonly SizePoint[]): StoredPoint[] {
  return points.map((point) => (point.reclaimed_bytes === undefined ? [point.time, point.bytes] : [point.time, point.bytes, point.reclaimed_bytes]));
}

/** A stored tree within the same bounds the walk keeps (depth, node count), or null. */
function parseTree(value: unknown): SizeTreeNode | null {
  let nodes = 0;
  const parse = (item: unknown, depth: number): SizeTreeNode | null => {
    if (!Array.isArray(item) || item.length !== 4 || depth > TREE_MAX_DEPTH || ++nodes > TREE_MAX_NODES) return null;
    const [name, bytes, files, children] = item as unknown[];
    if (typeof name !== 'string' || name.length > MAX_NAME_LENGTH || !isCount(bytes) || !isCount(files) || !Array.isArray(children)) return null;
    const node: SizeTreeNode = { name, bytes, files, children: [] };
    for (const child of children) {
      const parsed = parse(child, depth + 1);
      if (!parsed) return null;
      node.children.push(parsed);
    }
    return node;
  };
  return parse(value, 0);
}

function storeTree(node: SizeTreeNode): StoredNode {
  return [node.name, node.bytes, node.files, node.children.map(storeTree)];
}

/**
 * Appends `point` unless it repeats the last size within
 * {@link SAME_SIZE_POINT_INTERVAL_S} (reclaim markers always go in); keeps
 * the last {@link SIZE_HISTORY_LIMIT}. True when it was appended.
 */
export function appendPoint(history: SizePoint[], point: SizePoint): boolean {
  const last = history[history.length - 1];
  const repeat = last && last.bytes === point.bytes && point.time - last.time < SAME_SIZE_POINT_INTERVAL_S && point.reclaimed_bytes === undefined;
  if (repeat) return false;
  history.push(point);
  if (history.length > SIZE_HISTORY_LIMIT) history.splice(0, history.length - SIZE_HISTORY_LIMIT);
  return true;
}

/** What a walk measured for one device, waiting for the writer. */
interface PendingDevice {
  points: SizePoint[];
  tree: SizeTreeNode | null;
}

type FleetOp = { kind: 'total'; point: SizePoint } | { kind: 'reclaimed'; time: number; freed: number };

export interface SizeHistoryStoreOptions {
  logger?: Logger;
  /** Unix seconds (tests move time). */
  now?: () => number;
}

export class SizeHistoryStore {
  /** `<data>/.device-builder-ts-sizes`. */
  readonly dir: string;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly pendingDevices = new Map<string, PendingDevice>();
  private readonly pendingFleet: FleetOp[] = [];
  private writing: Promise<void> | null = null;

  constructor(dataDir: string, options: SizeHistoryStoreOptions = {}) {
    this.dir = path.join(dataDir, SIZES_DIR);
    this.log = options.logger ?? defaultLog;
    this.now = options.now ?? (() => Math.floor(Date.now() / 1000));
  }

  /** Queues one device's measurement (a point and its tree); written in the background. */
  recordDevice(configuration: string, bytes: number, tree: SizeTreeNode | null): void {
    const pending = this.pendingDevices.get(configuration) ?? { points: [], tree: null };
    appendPoint(pending.points, { time: this.now(), bytes });
    pending.tree = tree;
    this.pendingDevices.set(configuration, pending);
    this.startWriter();
  }

  /** Queues a fleet total (the sum of the devices' build sizes). */
  recordFleetTotal(bytes: number): void {
    this.pendingFleet.push({ kind: 'total', point: { time: this.now(), bytes } });
    this.startWriter();
  }

  /**
   * Queues a reclaim marker: a fleet point with `reclaimed_bytes`, at the
   * total as last measured (the refresher's next measurement shows the drop;
   * the marker never guesses a total nobody measured).
   */
  markReclaimed(freedBytes: number): void {
    if (!isCount(freedBytes)) throw new Error(`freed bytes must be a non-negative number (got ${String(freedBytes)})`);
    this.pendingFleet.push({ kind: 'reclaimed', time: this.now(), freed: freedBytes });
    this.startWriter();
  }

  /**
   * Drops a deleted device's history and tree: its queued measurement and
   * its file (a link there is removed, never followed). Archived devices
   * keep theirs for when they come back.
   */
  async forget(configuration: string): Promise<void> {
    this.pendingDevices.delete(configuration);
    await this.flush();
    await fsp.rm(path.join(this.dir, deviceFileName(configuration)), { force: true });
  }

  /** Waits until everything queued so far is written. */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  /** A device's tree and history; empty when never measured or the file is unreadable. */
  async readDevice(configuration: string): Promise<DeviceSizes> {
    const file = (await this.readJson(path.join(this.dir, deviceFileName(configuration)))) as Partial<DeviceFile> | null;
    // A hash collision or a hand-copied file: another device's data is not this one's.
    if (!file || file.configuration !== configuration) return { tree: null, history: [] };
    const history = parsePoints(file.history);
    const tree = file.tree === null ? null : parseTree(file.tree);
    return { tree, history: history ?? [] };
  }

  async readHistory(configuration: string): Promise<SizePoint[]> {
    return (await this.readDevice(configuration)).history;
  }

  async readTree(configuration: string): Promise<SizeTreeNode | null> {
    return (await this.readDevice(configuration)).tree;
  }

  async readFleetHistory(): Promise<SizePoint[]> {
    const file = (await this.readJson(path.join(this.dir, FLEET_FILE))) as Partial<FleetFile> | null;
    return parsePoints(file?.history) ?? [];
  }

  /** Reads a file of ours as JSON; null when missing, refused, too large or not JSON (logged, never thrown). */
  private async readJson(file: string): Promise<unknown> {
    try {
      const read = await readGuarded(file, { maxBytes: SIZE_FILE_MAX_BYTES });
      if (!read) return null;
      const parsed: unknown = JSON.parse(read.bytes.toString('utf8'));
      return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? parsed : null;
    } catch (err) {
      this.log.warn({ err, file }, 'size history file unreadable; it reads as empty and the next measurement replaces it');
      return null;
    }
  }

  private startWriter(): void {
    if (this.writing) return;
    // Started on a later turn: a burst of recordDevice calls from one persist batch is one writer run.
    this.writing = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.writeAll())
      .catch((err: unknown) => this.log.error({ err }, 'writing size histories failed'))
      .finally(() => {
        this.writing = null;
        if (this.pendingDevices.size > 0 || this.pendingFleet.length > 0) this.startWriter();
      });
  }

  private async writeAll(): Promise<void> {
    if (!(await this.ensureDir())) {
      // Dropped rather than kept forever: the next measurement tries again.
      this.pendingDevices.clear();
      this.pendingFleet.splice(0);
      return;
    }
    while (this.pendingDevices.size > 0) {
      const [configuration, pending] = this.pendingDevices.entries().next().value as [string, PendingDevice];
      this.pendingDevices.delete(configuration);
      try {
        await this.writeDevice(configuration, pending);
      } catch (err) {
        this.log.error({ err, configuration }, 'writing a size history failed');
      }
    }
    if (this.pendingFleet.length > 0) {
      try {
        await this.writeFleet(this.pendingFleet.splice(0));
      } catch (err) {
        this.log.error({ err }, 'writing the fleet size history failed');
      }
    }
  }

  /** Creates our folder; false (logged) when the path is taken by something that is not a folder (a link is never followed). */
  private async ensureDir(): Promise<boolean> {
    try {
      await fsp.mkdir(this.dir, { recursive: true, mode: 0o755 });
      const stats = await fsp.lstat(this.dir);
      if (stats.isDirectory()) return true;
      this.log.error({ dir: this.dir }, 'size history folder is not a folder (a link?); histories are not written');
    } catch (err) {
      this.log.error({ err, dir: this.dir }, 'cannot create the size history folder');
    }
    return false;
  }

  private async writeDevice(configuration: string, pending: PendingDevice): Promise<void> {
    const before = await this.readDevice(configuration);
    const history = before.history;
    let changed = false;
    for (const point of pending.points) changed = appendPoint(history, point) || changed;
    const tree = pending.tree ? storeTree(pending.tree) : null;
    const treeBefore = before.tree ? storeTree(before.tree) : null;
    if (!changed && JSON.stringify(tree) === JSON.stringify(treeBefore)) return;
    const file: DeviceFile = { v: FORMAT_VERSION, configuration, tree, history: storePoints(history) };
    await writeFileAtomic(path.join(this.dir, deviceFileName(configuration)), JSON.stringify(file));
  }

  private async writeFleet(ops: FleetOp[]): Promise<void> {
    const history = await this.readFleetHistory();
    let changed = false;
    for (const op of ops) {
      const point = op.kind === 'total' ? op.point : { time: op.time, bytes: history[history.length - 1]?.bytes ?? 0, reclaimed_bytes: op.freed };
      changed = appendPoint(history, point) || changed;
    }
    if (!changed) return;
    const file: FleetFile = { v: FORMAT_VERSION, history: storePoints(history) };
    await writeFileAtomic(path.join(this.dir, FLEET_FILE), JSON.stringify(file));
  }
}
