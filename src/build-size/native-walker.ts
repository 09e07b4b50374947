/**
 * The optional native tree sizer (`native/walk_native.c`, built by
 * `npm install` into `build/Release/walk_native.node`).
 *
 * It walks with `openat` + `fstatat` relative to the open folder, where the
 * JS walker does one full-path `lstatSync` per file; on a 500k-file fleet
 * that halves the CPU a walk costs (see README, Performance). It is
 * optional: without a C compiler the install still succeeds and the walk
 * workers use the JS walker, which counts exactly the same things.
 *
 * `DEVICE_BUILDER_WALKER=js` forces the JS walker, `=native` makes a
 * missing addon an error instead of a fallback; the default is `auto`.
 */
import { getSystemErrorName } from 'node:util';
import { loadNativeAddon } from '../util/native-addon.js';
import type { FolderTotal } from './size-tree.js';
import type { TreeTally } from './walk-protocol.js';

export type WalkerEngine = 'native' | 'js';
export type WalkerChoice = WalkerEngine | 'auto';

export const WALKER_ENV = 'DEVICE_BUILDER_WALKER';

/** What the addon's `walkTree` returns: a TreeTally before its samples are formatted. */
interface NativeTally {
  bytes: number;
  diskBytes: number;
  files: number;
  dirs: number;
  skipped: number;
  /** [path, errno] for an error, [path, kind] for a FIFO/socket/device left out. */
  skippedSamples: [string, number | string][];
  hardLinks: Record<string, number>;
  /** Present from the build that records the size tree on (an older build has none: see load()). */
  folders?: FolderTotal[];
}

interface NativeAddon {
  walkTree(dir: string | Uint8Array, abort?: Int32Array, treeDepth?: number): NativeTally;
}

/** `treeDepth` >= 0 records the inclusive totals of folders that many levels down (size-tree.ts); default none. */
export type NativeWalkTree = (dir: string | Uint8Array, abort?: Int32Array, treeDepth?: number) => TreeTally;

export type NativeWalkerStatus = { available: true; path: string } | { available: false; reason: string };

let cached: { status: NativeWalkerStatus; walkTree: NativeWalkTree | null } | null = null;

function reasonText(reason: number | string): string {
  if (typeof reason === 'string') return reason;
  try {
    return getSystemErrorName(-reason);
  } catch {
    return `errno ${reason}`;
  }
}

/** Loads the addon once per thread (util/native-addon.ts); never throws. */
function load(): { status: NativeWalkerStatus; walkTree: NativeWalkTree | null } {
  if (cached) return cached;
  const loaded = loadNativeAddon();
  if (!loaded.addon) {
    cached = { status: { available: false, reason: loaded.reason }, walkTree: null };
    return cached;
  }
  if (typeof loaded.addon['walkTree'] !== 'function') {
    cached = { status: { available: false, reason: `${loaded.path} has no walkTree (an older build?)` }, walkTree: null };
    return cached;
  }
  const addon = loaded.addon as unknown as NativeAddon;
  // An addon built before the size tree would silently record none: probe it
  // once (`/dev/null/x` can never exist) and fall back to the JS walker.
  if (!Array.isArray(addon.walkTree('/dev/null/x', undefined, 0).folders)) {
    cached = { status: { available: false, reason: `${loaded.path} records no size tree (an older build? npm rebuild rebuilds it)` }, walkTree: null };
    return cached;
  }
  const walkTree: NativeWalkTree = (dir, abort, treeDepth = -1) => {
    const raw = addon.walkTree(dir, abort, treeDepth);
    return {
      bytes: raw.bytes,
      diskBytes: raw.diskBytes,
      files: raw.files,
      dirs: raw.dirs,
      skipped: raw.skipped,
      skippedSamples: raw.skippedSamples.map(([where, reason]) => `${where}: ${reasonText(reason)}`),
      hardLinks: raw.hardLinks,
      folders: raw.folders ?? [],
      byChild: {},
    };
  };
  cached = { status: { available: true, path: loaded.path }, walkTree };
  return cached;
}

export function nativeWalkerStatus(): NativeWalkerStatus {
  return load().status;
}

/** The addon's walkTree, or null when it is not available in this install. */
export function nativeWalkTree(): NativeWalkTree | null {
  return load().walkTree;
}

/** `DEVICE_BUILDER_WALKER`, validated; anything else is a configuration error, not a silent default. */
export function walkerChoiceFromEnv(env: NodeJS.ProcessEnv = process.env): WalkerChoice {
  const value = env[WALKER_ENV]?.trim().toLowerCase();
  if (value === undefined || value === '') return 'auto';
  if (value === 'auto' || value === 'native' || value === 'js') return value;
  throw new Error(`${WALKER_ENV} must be auto, native or js (got ${JSON.stringify(env[WALKER_ENV])})`);
}

/** Which walker a pool will use for `choice`; `native` without the addon is an error. */
export function resolveWalkerEngine(choice: WalkerChoice): WalkerEngine {
  if (choice !== 'auto' && choice !== 'native' && choice !== 'js') {
    throw new Error(`walker must be auto, native or js (got ${JSON.stringify(choice)})`);
  }
  if (choice === 'js') return 'js';
  const status = nativeWalkerStatus();
  if (status.available) return 'native';
  if (choice === 'native') throw new Error(`native walker requested but unavailable: ${status.reason}`);
  return 'js';
}
