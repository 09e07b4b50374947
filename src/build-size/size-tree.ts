/**
 * The bounded tree of a device's biggest folders (issue 15), recorded by the
 * same walk that measures the device, so the disk map costs no extra walk.
 *
 * Every walker (the JS one, the native one, an "expand" step) reports
 * {@link FolderTotal}s: one per folder at most a few levels below where it
 * started, each the *inclusive* apparent bytes and files of that folder's
 * subtree. The pool re-roots each piece's folders under the piece's place in
 * the build folder and adds each piece's total to its ancestors, so a node is
 * always the sum of everything under it, whichever pieces its files came in.
 *
 * Inclusive totals make dropping a folder safe: its bytes are already in its
 * ancestors. That is how memory stays bounded on hostile trees (200k folders
 * at depth <= 3):
 * - one walk call (JS or native) tracks at most {@link MAX_TRACKED_FOLDERS};
 *   a folder past that gives its files to its nearest tracked ancestor.
 *   Below the cap (every real build folder: a few hundred folders at depth
 *   <= 3) both walkers report identical folders; past it, which folders are
 *   folded depends on listing order, but every sum stays exact;
 * - where pieces are merged (the pool, an expand's in-place walks), a piece's
 *   folders are final once it is done, so {@link FolderTotals} prunes the
 *   final ones to the biggest few whenever it reaches the cap: with a
 *   200k-folder build the map never holds more than the cap, and the big
 *   folders are still found.
 *
 * {@link boundSizeTree} then keeps the biggest: at least 1 % of the device's
 * bytes, at most 3 levels below the build folder, at most 50 nodes. Ranking
 * by (bytes desc, depth asc, path) makes the top N closed under ancestors
 * for free: a parent holds at least its child's bytes and is shallower.
 */
import type { SizeTreeNode } from '../shared/size-history.js';

/** Folders kept at most this many levels below the build folder. */
export const TREE_MAX_DEPTH = 3;
/** Nodes kept per device, the build folder itself included. */
export const TREE_MAX_NODES = 50;
/** A folder is kept only when it holds at least this share of the device's bytes. */
export const TREE_MIN_SHARE = 0.01;
/** Folders one walk (or the pool, per device) tracks before folding the rest into their ancestors. */
export const MAX_TRACKED_FOLDERS = 2048;

/** A folder's subtree: path relative to the walk's root (`''` is the root, `/`-separated), apparent bytes, files. */
export type FolderTotal = [relPath: string, bytes: number, files: number];

/** `child` under `parent`, both relative paths. */
export function joinRel(parent: string, child: string): string {
  if (parent === '') return child;
  if (child === '') return parent;
  return `${parent}/${child}`;
}

/** Levels below the root: `''` is 0, `a` is 1, `a/b` is 2. */
export function relDepth(rel: string): number {
  if (rel === '') return 0;
  let depth = 1;
  for (let i = 0; i < rel.length; i++) if (rel.charCodeAt(i) === 47) depth++;
  return depth;
}

/** Strict ancestors of `rel`, root first (`a/b/c` → `''`, `a`, `a/b`). */
export function ancestorsOf(rel: string): string[] {
  if (rel === '') return [];
  const out = [''];
  for (let i = rel.indexOf('/'); i >= 0; i = rel.indexOf('/', i + 1)) out.push(rel.slice(0, i));
  return out;
}

/** Sort order of the kept tree: bytes desc, then shallower first (a parent before an equal child), then path. */
function rankOrder(a: { rel: string; depth: number; bytes: number }, b: { rel: string; depth: number; bytes: number }): number {
  return b.bytes - a.bytes || a.depth - b.depth || (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0);
}

/**
 * Inclusive folder totals with a cap on how many folders are held. At the
 * cap it first prunes: a folder `isOpen` says can still grow is kept, and
 * of the final ones only the {@link TREE_MAX_NODES} - 1 biggest (one with
 * that many final folders ranked above it can never make the kept tree:
 * those never shrink). If that frees nothing, a new folder is not tracked;
 * since callers add every byte to all its ancestors too, no sum loses
 * anything either way.
 */
export class FolderTotals {
  private readonly totals = new Map<string, { bytes: number; files: number }>();

  constructor(
    private readonly isOpen: (rel: string) => boolean = () => true,
    private readonly cap = MAX_TRACKED_FOLDERS,
  ) {}

  get size(): number {
    return this.totals.size;
  }

  add(rel: string, bytes: number, files: number): void {
    let total = this.totals.get(rel);
    if (!total) {
      if (this.totals.size >= this.cap) this.prune();
      if (this.totals.size >= this.cap) return;
      total = { bytes: 0, files: 0 };
      this.totals.set(rel, total);
    }
    total.bytes += bytes;
    total.files += files;
  }

  entries(): FolderTotal[] {
    return [...this.totals].map(([rel, total]) => [rel, total.bytes, total.files]);
  }

  private prune(): void {
    const final: Ranked[] = [];
    for (const [rel, total] of this.totals) {
      if (rel !== '' && !this.isOpen(rel)) final.push({ rel, depth: relDepth(rel), bytes: total.bytes, files: total.files });
    }
    final.sort(rankOrder);
    for (const dropped of final.slice(TREE_MAX_NODES - 1)) this.totals.delete(dropped.rel);
  }
}

interface Ranked {
  rel: string;
  depth: number;
  bytes: number;
  files: number;
}

/**
 * The kept tree: the root (named `rootName`), plus the biggest folders of
 * `folders` (each at least 1 % of the root's bytes and not empty, at most
 * {@link TREE_MAX_DEPTH} levels down), {@link TREE_MAX_NODES} in all. A
 * folder whose parent is not kept is dropped too, so the tree never has a
 * gap. Children are ordered biggest first.
 */
export function boundSizeTree(rootName: string, folders: Iterable<FolderTotal>): SizeTreeNode {
  let rootBytes = 0;
  let rootFiles = 0;
  const candidates: Ranked[] = [];
  for (const [rel, bytes, files] of folders) {
    if (rel === '') {
      rootBytes = bytes;
      rootFiles = files;
    } else {
      candidates.push({ rel, depth: relDepth(rel), bytes, files });
    }
  }
  const root: SizeTreeNode = { name: rootName, bytes: rootBytes, files: rootFiles, children: [] };
  const minBytes = rootBytes * TREE_MIN_SHARE;
  const ranked = candidates.filter((folder) => folder.depth <= TREE_MAX_DEPTH && folder.bytes > 0 && folder.bytes >= minBytes).sort(rankOrder);
  const kept = new Map<string, SizeTreeNode>([['', root]]);
  for (const folder of ranked) {
    if (kept.size >= TREE_MAX_NODES) break;
    const cut = folder.rel.lastIndexOf('/');
    const parent = kept.get(cut < 0 ? '' : folder.rel.slice(0, cut));
    if (!parent) continue;
    const node: SizeTreeNode = { name: folder.rel.slice(cut + 1), bytes: folder.bytes, files: folder.files, children: [] };
    parent.children.push(node);
    kept.set(folder.rel, node);
  }
  return root;
}

/** Nodes in a tree, the root included. */
export function countNodes(node: SizeTreeNode): number {
  let count = 1;
  for (const child of node.children) count += countNodes(child);
  return count;
}
