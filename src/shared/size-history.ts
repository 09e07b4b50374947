/**
 * What the disk map and the size charts show (issue 15), as the server and
 * the page see them: a device's bounded tree of its biggest folders, kept
 * from the walk that measured it, and size histories.
 */

/**
 * One folder of a device's build tree. The root is the build folder itself;
 * children are its biggest sub-folders (each at least 1 % of the device's
 * bytes, at most 3 levels below the build folder, at most 50 nodes a
 * device). What the kept children do not cover is the parent's `bytes`
 * minus theirs (the page draws it as "other").
 */
export interface SizeTreeNode {
  /** The folder's own name (the root: the build folder's name). */
  name: string;
  /** Apparent bytes under it, from the same walk as the device's total. */
  bytes: number;
  /** Files under it. */
  files: number;
  children: SizeTreeNode[];
}

/** One measurement: unix seconds and apparent bytes. */
export interface SizePoint {
  time: number;
  bytes: number;
  /** Set on the fleet total's points that a reclaim run caused: what it freed. */
  reclaimed_bytes?: number;
}

/** Points kept per history (oldest dropped first). */
export const SIZE_HISTORY_LIMIT = 100;
