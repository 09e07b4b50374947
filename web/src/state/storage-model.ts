/**
 * The disk beyond each device's Build Size, as data: unused build folders,
 * the PlatformIO cache, what "Reset build environment" frees, a build
 * folder's breakdown, and how paths are shortened for display. Pure
 * functions over the shared protocol types, tested without a browser; the
 * components only render what these return.
 */
import type { BuildSizeBreakdown, Device } from '../../../src/shared/device.js';
import type { OrphanBuild, PlatformioPart, PlatformioSummary } from '../../../src/shared/protocol.js';

const MIB = 1024 * 1024;

// ---- paths ------------------------------------------------------------------

function separatorOf(path: string): '/' | '\\' {
  return !path.includes('/') && path.includes('\\') ? '\\' : '/';
}

/** The last segment of a path ("old-thing") and the folder it is in. */
export function splitPath(path: string): { name: string; parent: string } {
  const sep = separatorOf(path);
  const trimmed = path.length > 1 && path.endsWith(sep) ? path.slice(0, -1) : path;
  const at = trimmed.lastIndexOf(sep);
  if (at < 0) return { name: trimmed, parent: '' };
  return { name: trimmed.slice(at + 1), parent: at === 0 ? sep : trimmed.slice(0, at) };
}

/**
 * A path that fits in about `max` characters: the first folder and as many
 * trailing segments as fit, with "…" for the middle
 * (`/var/…/esphome/.esphome/build`). The end of a path is what tells folders
 * apart, so it is kept; a last segment too long on its own keeps its end.
 * The full path belongs in a tooltip next to it.
 */
export function shortenPath(path: string, max = 44): string {
  if (path.length <= max) return path;
  const sep = separatorOf(path);
  const segments = path.split(sep);
  const last = segments[segments.length - 1] ?? '';
  // "/var" for "/var/lib/…", "C:\Users" for Windows, "relative" for relative paths.
  const headCount = segments[0] === '' ? 2 : segments[0]?.endsWith(':') ? 2 : 1;
  const head = segments.slice(0, headCount).join(sep);
  let tail = last;
  for (let i = segments.length - 2; i >= headCount; i--) {
    const candidate = `${segments[i]}${sep}${tail}`;
    if (`${head}${sep}…${sep}${candidate}`.length > max) break;
    tail = candidate;
  }
  const withHead = `${head}${sep}…${sep}${tail}`;
  if (withHead.length <= max) return withHead;
  const bare = `…${sep}${tail}`;
  if (bare.length <= max) return bare;
  return `…${last.slice(-(max - 1))}`;
}

/** The folder every path is in, when they share one (so rows can show just the name). */
export function commonParent(paths: readonly string[]): string | null {
  let shared: string | null = null;
  for (const path of paths) {
    const { parent } = splitPath(path);
    if (shared === null) shared = parent;
    else if (shared !== parent) return null;
  }
  return shared;
}

// ---- unused build folders ---------------------------------------------------

export function orphanTotal(orphans: readonly OrphanBuild[]): number {
  return orphans.reduce((sum, orphan) => sum + Math.max(0, orphan.build_size_bytes), 0);
}

// ---- reset build environment ------------------------------------------------

export interface ResetFrees {
  /** Everything below added up. */
  total: number;
  /** The devices' build folders (their Build Size). */
  devices: number;
  /** Devices with a build folder. */
  compiled: number;
  /** The unused build folders. */
  orphans: number;
  orphanCount: number;
  /** PlatformIO's download cache (`.cache`); its packages and platforms stay. */
  cache: number;
}

/**
 * What `esphome clean-all` (reset_build_env) deletes: every build folder in
 * the data dir, the devices' and the unused ones, and PlatformIO's `.cache`.
 */
export function resetFrees(devices: Iterable<Device>, orphans: readonly OrphanBuild[], platformio: PlatformioSummary | null): ResetFrees {
  let deviceBytes = 0;
  let compiled = 0;
  for (const device of devices) {
    if (device.build_size_bytes <= 0) continue;
    deviceBytes += device.build_size_bytes;
    compiled++;
  }
  const orphanBytes = orphanTotal(orphans);
  const cache = Math.max(0, platformio?.parts['.cache'] ?? 0);
  return {
    total: deviceBytes + orphanBytes + cache,
    devices: deviceBytes,
    compiled,
    orphans: orphanBytes,
    orphanCount: orphans.length,
    cache,
  };
}

// ---- PlatformIO -------------------------------------------------------------

export interface PlatformioPartView {
  part: PlatformioPart;
  label: string;
  description: string;
  bytes: number;
  /** Of the PlatformIO total, 0..1. */
  share: number;
  /** Files and bytes seen so far while this part is being walked; null otherwise. */
  walking: { files: number; bytes: number } | null;
}

export const PLATFORMIO_PARTS: readonly { part: PlatformioPart; label: string; description: string }[] = [
  { part: 'packages', label: 'packages', description: 'Toolchains and frameworks' },
  { part: 'platforms', label: 'platforms', description: 'Board platforms' },
  { part: '.cache', label: '.cache', description: 'Downloads, freed by a reset' },
];

export function platformioParts(summary: PlatformioSummary): PlatformioPartView[] {
  const total = summary.bytes > 0 ? summary.bytes : 0;
  return PLATFORMIO_PARTS.map(({ part, label, description }) => {
    const bytes = Math.max(0, summary.parts[part] ?? 0);
    const walking = summary.walking?.part === part ? { files: summary.walking.files, bytes: summary.walking.bytes } : null;
    return { part, label, description, bytes, share: total > 0 ? bytes / total : 0, walking };
  });
}

// ---- one build folder ---------------------------------------------------------

export type BreakdownKey = 'pioenvs' | 'piolibdeps' | 'src' | 'other';

export interface BreakdownPart {
  key: BreakdownKey;
  label: string;
  bytes: number;
  /** Of the parts' sum, 0..1. */
  share: number;
  /** Deleted by `esphome clean`. */
  cleanable: boolean;
}

const BREAKDOWN_LABELS: readonly { key: BreakdownKey; label: string; cleanable: boolean }[] = [
  { key: 'pioenvs', label: '.pioenvs', cleanable: true },
  { key: 'piolibdeps', label: '.piolibdeps', cleanable: true },
  { key: 'src', label: 'src', cleanable: false },
  { key: 'other', label: 'other', cleanable: false },
];

/** The four parts of a build folder in a fixed order, with their share of the whole. */
export function breakdownParts(breakdown: BuildSizeBreakdown): BreakdownPart[] {
  const sizes = BREAKDOWN_LABELS.map((entry) => Math.max(0, breakdown[entry.key] ?? 0));
  const sum = sizes.reduce((a, b) => a + b, 0);
  return BREAKDOWN_LABELS.map((entry, i) => {
    const bytes = sizes[i] ?? 0;
    return { ...entry, bytes, share: sum > 0 ? bytes / sum : 0 };
  });
}

/**
 * Whether the allocated size is worth showing next to the apparent one: it
 * differs by at least 10 % and at least 1 MiB (many small files round up to
 * whole blocks; sparse or compressed files take less). Unknown (0) is not
 * shown.
 */
export function allocatedDiffers(apparent: number, allocated: number): boolean {
  if (apparent <= 0 || allocated <= 0) return false;
  const diff = Math.abs(allocated - apparent);
  return diff >= MIB && diff >= apparent * 0.1;
}

/** Width of a bar segment as a CSS percentage, never below a visible sliver for a non-zero part. */
export function segmentWidth(share: number): string {
  if (share <= 0) return '0%';
  return `${Math.max(share * 100, 1.5).toFixed(2)}%`;
}
