/**
 * Messages between the walk pool (main thread) and its workers. Kept in one
 * place so both ends agree on the shape; plain data only, because messages
 * are structured-cloned across the thread boundary.
 */
import type { WalkerEngine } from './native-walker.js';
import type { FolderTotal } from './size-tree.js';

/** Where a file's bytes are attributed, by the top-level folder it lives under. */
export type Bucket = 'pioenvs' | 'piolibdeps' | 'src' | 'lock' | 'other';

export const BUCKETS: readonly Bucket[] = ['pioenvs', 'piolibdeps', 'src', 'lock', 'other'];

/** Which bucket a direct child of a build folder belongs to. */
export function bucketOf(topLevelName: string): Bucket {
  switch (topLevelName) {
    case '.pioenvs':
      return 'pioenvs';
    case '.piolibdeps':
      return 'piolibdeps';
    case 'src':
      return 'src';
    case 'dependencies.lock':
      return 'lock';
    default:
      return 'other';
  }
}

/** A folder path; a Buffer when its name is not valid UTF-8 and must round-trip as bytes. */
export type WirePath = string | Uint8Array;

/** What each walk worker is started with. */
export interface WalkWorkerData {
  /** The walker for whole subtrees, decided once by the pool. */
  engine: WalkerEngine;
  /** Set to 1 (on a SharedArrayBuffer) when the pool closes: the native walker stops at its next folder. */
  abort: Int32Array;
}

export type WalkRequest =
  /** Sum the files directly in `dir` and hand back its subfolders (for splitting work). */
  | { id: number; kind: 'expand'; dir: WirePath; root: boolean; treeDepth: number }
  /** Sum everything under `dir`, recursively. */
  | { id: number; kind: 'walk'; dir: WirePath; treeDepth: number }
  /** Freshness pairs for many build folders: two stats each. */
  | { id: number; kind: 'signals'; dirs: string[] };

export interface TreeTally {
  /** Apparent bytes of regular files and symlinks (a link's own size). */
  bytes: number;
  /** Allocated bytes (blocks × 512) of files with a single link. */
  diskBytes: number;
  files: number;
  dirs: number;
  /** Entries that vanished or could not be read mid-walk. */
  skipped: number;
  /** Up to a few skipped paths with the reason, for the debug log. */
  skippedSamples: string[];
  /** Multiply-linked inodes as `dev:ino` → allocated bytes, deduplicated by the pool. */
  hardLinks: Record<string, number>;
  /**
   * Inclusive totals of the folders at most `treeDepth` levels below the
   * walk's root (see size-tree.ts), parents before children; empty when the
   * request's `treeDepth` was negative (no tree recorded).
   */
  folders: FolderTotal[];
  /** Per top-level child (only filled by a root expand). */
  byChild: Record<string, { bytes: number; diskBytes: number }>;
}

export type ExpandResult = TreeTally & { subdirs: WirePath[]; rootMissing: boolean };

export type WalkResponse =
  | { id: number; ok: true; kind: 'expand'; result: ExpandResult }
  | { id: number; ok: true; kind: 'walk'; result: TreeTally }
  | { id: number; ok: true; kind: 'signals'; result: number[] }
  | { id: number; ok: false; error: string };
