/**
 * A small persistent pool of walk workers (default 2, the core count here)
 * and the coordinator that spreads one tree across all of them.
 *
 * One thread walking a tree is about 2x slower than `du -sb`; two match it.
 * So a walk is split: the build folder and the first levels below it are
 * "expanded" (a worker lists one folder and hands its subfolders back) until
 * there are enough pieces to keep every worker busy, then each remaining
 * subtree is walked whole by one worker. The pieces' tallies are summed
 * here, with hard-linked inodes counted once across the whole walk.
 *
 * Each worker holds up to {@link TASKS_PER_WORKER} tasks, so it starts its
 * next piece the moment one finishes instead of idling through a round trip
 * to the main thread (measured: about 10% faster, 8% less CPU, on a 500k-file
 * fleet). Workers are ref'd only while they hold a task, so an idle pool
 * never keeps a CLI process alive, and a crashed worker is replaced and its
 * tasks failed.
 *
 * The same walk records the device's size tree (size-tree.ts): each piece
 * reports the inclusive totals of its folders down to 3 levels below the
 * build folder, re-rooted here under the piece's place, and each piece's
 * total is added to the piece's ancestors, so the merged folders are exact
 * sums however the tree was split. `tree: false` leaves it out (the bench
 * measures what recording costs).
 *
 * Whole subtrees are sized by the native walker when it is built (about
 * twice as fast per file), else by the JS walker; the pool decides once, so
 * every worker of one pool counts the same way.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { log as defaultLog, type Logger } from '../util/log.js';
import { NO_SIGNAL, readBuildDirSignal, type BuildDirSignal } from './freshness.js';
import type { SizeTreeNode } from '../shared/size-history.js';
import { ancestorsOf, boundSizeTree, FolderTotals, joinRel, relDepth, TREE_MAX_DEPTH } from './size-tree.js';
import { nativeWalkerStatus, resolveWalkerEngine, WALKER_ENV, walkerChoiceFromEnv, type WalkerChoice, type WalkerEngine } from './native-walker.js';
import {
  BUCKETS,
  bucketOf,
  type Bucket,
  type ExpandResult,
  type TreeTally,
  type WalkRequest,
  type WalkResponse,
  type WalkWorkerData,
  type WirePath,
} from './walk-protocol.js';

/** Sizes of one build folder; `breakdown` attributes bytes by top-level folder. */
export interface WalkResult {
  bytes: number;
  diskBytes: number;
  files: number;
  dirs: number;
  skipped: number;
  skippedSamples: string[];
  breakdown: Record<Bucket, number>;
  /** The bounded tree of the biggest folders (size-tree.ts); null when the root is missing or the walk was asked for none. */
  tree?: SizeTreeNode | null;
}

export function emptyWalkResult(): WalkResult {
  return {
    bytes: 0,
    diskBytes: 0,
    files: 0,
    dirs: 0,
    skipped: 0,
    skippedSamples: [],
    breakdown: Object.fromEntries(BUCKETS.map((bucket) => [bucket, 0])) as Record<Bucket, number>,
    tree: null,
  };
}

/** How far a walk has got: what was counted so far. */
export interface WalkProgress {
  files: number;
  bytes: number;
}

export interface WalkOptions {
  /** Called as pieces of the tree finish, at most every {@link PROGRESS_INTERVAL_MS}. */
  onProgress?: (progress: WalkProgress) => void;
  /** Record the size tree (default true); false only to measure what recording costs. */
  tree?: boolean;
}

const PROGRESS_INTERVAL_MS = 250;

/** Anything that can size a tree: the pool, or a stand-in in unit tests of callers. */
export type WalkFn = (root: string, options?: WalkOptions) => Promise<WalkResult>;

type RequestBody = WalkRequest extends infer R ? (R extends WalkRequest ? Omit<R, 'id'> : never) : never;

interface Task {
  body: RequestBody;
  resolve: (response: WalkResponse & { ok: true }) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  /** Tasks posted to this worker, in the order it will answer them. */
  tasks: Task[];
}

const TASKS_PER_WORKER = 2;

// Built code runs the compiled .js beside this file. Under the test runner
// this module is TypeScript source, so the worker bootstraps tsx's loader in
// its own thread first (Node 20 does not pass `--import` hooks to workers).
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(FROM_SOURCE ? './walk-worker.ts' : './walk-worker.js', import.meta.url);

function startWorker(workerData: WalkWorkerData): Worker {
  if (!FROM_SOURCE) return new Worker(WORKER_URL, { workerData });
  // Resolved here, not in the worker: eval'd code resolves bare names from
  // the process's cwd, which may be any folder.
  const tsxDir = path.dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
  const tsxApi = pathToFileURL(path.join(tsxDir, 'dist', 'esm', 'api', 'index.mjs')).href;
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((tsx) => tsx.register()).then(() => import(${JSON.stringify(WORKER_URL.href)}));`;
  return new Worker(bootstrap, { eval: true, workerData });
}

/** How many pieces per worker a walk is split into before subtrees are walked whole. */
const PIECES_PER_WORKER = 16;

export interface WalkPoolOptions {
  /** Worker threads (default 2, the core count the walk was tuned on). */
  size?: number;
  logger?: Logger;
  /** `auto` (default: native when built, else JS), `native` (error if not built) or `js`; default from `DEVICE_BUILDER_WALKER`. */
  walker?: WalkerChoice;
  /**
   * Take the two stats per folder of {@link WalkPool.signals} on the calling
   * thread: for a process with nothing else to keep answering (the CLI), where
   * a warm run then starts no worker at all. The server keeps them in workers,
   * so a hung mount never stalls it.
   */
  inlineSignals?: boolean;
  /** Pieces per worker a walk is split into before subtrees are walked whole (default {@link PIECES_PER_WORKER}; 0 walks each top-level folder whole). */
  piecesPerWorker?: number;
}

export class WalkPool {
  readonly size: number;
  /** The walker every worker of this pool uses for whole subtrees. */
  readonly engine: WalkerEngine;
  /** Shared with the workers: set on close so a native walk stops at its next folder. */
  private readonly abort = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
  private readonly piecesPerWorker: number;
  private readonly inlineSignals: boolean;
  private readonly slots: Slot[] = [];
  private readonly queue: Task[] = [];
  private nextId = 1;
  private closed = false;
  private readonly log: Logger;

  /** Throws when `walker` (or `DEVICE_BUILDER_WALKER`) is invalid, or is `native` and the addon is not built. */
  constructor(options: WalkPoolOptions = {}) {
    this.size = Math.max(1, Math.floor(options.size ?? 2));
    this.log = options.logger ?? defaultLog;
    const choice = options.walker ?? walkerChoiceFromEnv();
    this.engine = resolveWalkerEngine(choice);
    // Said once per pool (one per `serve` or `sizes`), so a user can tell which walker measured and why.
    const status = nativeWalkerStatus();
    if (this.engine === 'native') {
      this.log.info({ walker: 'native', path: status.available ? status.path : undefined }, 'walker: native (the built addon)');
    } else if (choice === 'js') {
      this.log.info({ walker: 'js' }, `walker: js (${WALKER_ENV}=js)`);
    } else {
      // The silent case worth a warning: e.g. `npm install -g` skipped the build (see the README).
      this.log.warn(
        { walker: 'js', reason: status.available ? undefined : status.reason },
        'walker: js, the native addon is not built (same figures, about twice the CPU per file)',
      );
    }
    this.piecesPerWorker = Math.max(0, Math.floor(options.piecesPerWorker ?? PIECES_PER_WORKER));
    this.inlineSignals = options.inlineSignals ?? false;
  }

  /** Worker threads running now (they start on the first task). */
  get workerCount(): number {
    return this.slots.length;
  }

  /** Sizes everything under `root`; a missing root (or a symlink as root) sizes 0. */
  async walk(root: string, options: WalkOptions = {}): Promise<WalkResult> {
    const result = emptyWalkResult();
    let lastProgress = performance.now();
    const report = (): void => {
      if (!options.onProgress || performance.now() - lastProgress < PROGRESS_INTERVAL_MS) return;
      lastProgress = performance.now();
      options.onProgress({ files: result.files, bytes: result.bytes });
    };
    const hardLinks = new Map<string, number>();
    // Pieces not yet merged, counted at their place and each ancestor of it (deeper pieces at their
    // level-3 ancestor): a folder with a count can still grow, so pruning keeps it.
    const openUnder = new Map<string, number>();
    const treePlace = (rel: string): string => (relDepth(rel) <= TREE_MAX_DEPTH ? rel : rel.split('/', TREE_MAX_DEPTH).join('/'));
    const markOpen = (place: string, delta: number): void => {
      for (const at of [...ancestorsOf(place), place]) {
        const count = (openUnder.get(at) ?? 0) + delta;
        if (count > 0) openUnder.set(at, count);
        else openUnder.delete(at);
      }
    };
    const isOpen = (rel: string): boolean => openUnder.has(rel);
    const folders = options.tree === false ? null : new FolderTotals(isOpen);
    /** How many levels a piece at `rel` should record below itself; -1: none. */
    const depthFor = (rel: string): number => (folders ? Math.max(-1, TREE_MAX_DEPTH - relDepth(rel)) : -1);
    const addFolders = (tally: TreeTally, rel: string): void => {
      if (!folders) return;
      // The piece's whole total belongs to each ancestor deep enough to be in the tree...
      for (const ancestor of ancestorsOf(rel)) if (relDepth(ancestor) <= TREE_MAX_DEPTH) folders.add(ancestor, tally.bytes, tally.files);
      // ...and its own folders (itself included) go where the piece sits.
      for (const [sub, bytes, files] of tally.folders) folders.add(joinRel(rel, sub), bytes, files);
    };
    const add = (tally: TreeTally, bucket: Bucket | null): void => {
      result.bytes += tally.bytes;
      result.diskBytes += tally.diskBytes;
      result.files += tally.files;
      result.dirs += tally.dirs;
      result.skipped += tally.skipped;
      for (const sample of tally.skippedSamples) if (result.skippedSamples.length < 20) result.skippedSamples.push(sample);
      for (const [key, bytes] of Object.entries(tally.hardLinks)) hardLinks.set(key, bytes);
      if (bucket) result.breakdown[bucket] += tally.bytes;
    };

    const top = (await this.run({ kind: 'expand', dir: root, root: true, treeDepth: depthFor('') })).result as ExpandResult;
    if (top.rootMissing) return result;
    add(top, null);
    addFolders(top, '');
    for (const [name, child] of Object.entries(top.byChild)) result.breakdown[bucketOf(name)] += child.bytes;

    const budget = this.size * this.piecesPerWorker;
    let created = 1;
    let outstanding = 0;
    let failure: Error | null = null;
    let finish: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (finish = resolve));

    const schedule = (dir: WirePath, bucket: Bucket, rel: string): void => {
      const expand = created < budget;
      created++;
      outstanding++;
      const treeDepth = depthFor(rel);
      const place = treePlace(rel);
      if (folders) markOpen(place, 1);
      const body: RequestBody = expand ? { kind: 'expand', dir, root: false, treeDepth } : { kind: 'walk', dir, treeDepth };
      this.run(body)
        .then(
          (response) => {
            const tally = response.result as TreeTally | ExpandResult;
            add(tally, bucket);
            // Its sub-pieces are scheduled (and so open) only below, after its own folders are merged.
            addFolders(tally, rel);
            if (folders) markOpen(place, -1);
            report();
            if ('subdirs' in tally) for (const sub of tally.subdirs) schedule(sub, bucket, joinRel(rel, baseName(sub)));
          },
          (err: Error) => {
            failure ??= err;
          },
        )
        .finally(() => {
          if (--outstanding === 0) finish();
        });
    };
    for (const sub of top.subdirs) schedule(sub, bucketOf(baseName(sub)), baseName(sub));
    if (outstanding === 0) finish();
    await done;
    if (failure) throw failure;

    for (const bytes of hardLinks.values()) result.diskBytes += bytes;
    if (folders) result.tree = boundSizeTree(baseName(root), folders.entries());
    if (result.skipped > 0) {
      this.log.debug({ root, skipped: result.skipped, samples: result.skippedSamples }, 'walk skipped entries');
    }
    return result;
  }

  /** Freshness pairs for many folders, split across the workers. */
  async signals(dirs: readonly string[]): Promise<BuildDirSignal[]> {
    if (dirs.length === 0) return [];
    if (this.inlineSignals) return dirs.map((dir) => readBuildDirSignal(dir));
    const chunk = Math.ceil(dirs.length / this.size);
    const parts: Promise<number[]>[] = [];
    for (let start = 0; start < dirs.length; start += chunk) {
      const slice = dirs.slice(start, start + chunk);
      parts.push(this.run({ kind: 'signals', dirs: slice }).then((response) => response.result as number[]));
    }
    const flat = (await Promise.all(parts)).flat();
    return dirs.map((_, index) => ({
      dirMtime: flat[index * 4] ?? 0,
      infoMtime: flat[index * 4 + 1] ?? 0,
      dirMtimeMs: flat[index * 4 + 2] ?? 0,
      infoMtimeMs: flat[index * 4 + 3] ?? 0,
    }));
  }

  async signal(dir: string): Promise<BuildDirSignal> {
    return (await this.signals([dir]))[0] ?? NO_SIGNAL;
  }

  /** Stops every worker; queued and running tasks fail. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.abort, 0, 1);
    const err = new Error('walk pool closed');
    for (const task of this.queue.splice(0)) task.reject(err);
    await Promise.all(
      this.slots.splice(0).map(async (slot) => {
        for (const task of slot.tasks.splice(0)) task.reject(err);
        await slot.worker.terminate();
      }),
    );
  }

  private run(body: RequestBody): Promise<WalkResponse & { ok: true }> {
    if (this.closed) return Promise.reject(new Error('walk pool closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ body, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const slot = this.freeSlot();
      if (!slot) return;
      const task = this.queue.shift() as Task;
      slot.tasks.push(task);
      slot.worker.ref();
      slot.worker.postMessage({ ...task.body, id: this.nextId++ });
    }
  }

  /** An idle worker first (spawning one if the pool is not full), else the least loaded one with room. */
  private freeSlot(): Slot | null {
    const idle = this.slots.find((slot) => slot.tasks.length === 0);
    if (idle) return idle;
    if (this.slots.length < this.size) return this.spawn();
    let best: Slot | null = null;
    for (const slot of this.slots) {
      if (slot.tasks.length < TASKS_PER_WORKER && (!best || slot.tasks.length < best.tasks.length)) best = slot;
    }
    return best;
  }

  private spawn(): Slot {
    const worker = startWorker({ engine: this.engine, abort: this.abort });
    const slot: Slot = { worker, tasks: [] };
    worker.unref();
    worker.on('message', (response: WalkResponse) => {
      // A worker answers its tasks in the order they were posted.
      const task = slot.tasks.shift();
      if (slot.tasks.length === 0) worker.unref();
      if (task) {
        if (response.ok) task.resolve(response);
        else task.reject(new Error(response.error));
      }
      this.dispatch();
    });
    const fail = (err: Error): void => {
      const index = this.slots.indexOf(slot);
      if (index < 0) return;
      this.slots.splice(index, 1);
      if (!this.closed) this.log.error({ err }, 'walk worker died; replacing it');
      for (const task of slot.tasks.splice(0)) task.reject(err);
      if (!this.closed) this.dispatch();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`walk worker exited with code ${code}`)));
    this.slots.push(slot);
    return slot;
  }
}

function baseName(dir: WirePath): string {
  return typeof dir === 'string' ? path.basename(dir) : path.basename(Buffer.from(dir).toString('utf8'));
}
