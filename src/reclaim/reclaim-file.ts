/**
 * Where the reclaim record lives, and the one field of it `sizes` needs,
 * read without the record's store: reclaim-store.ts validates with zod, and
 * `sizes` (which only warns below the saved free-space threshold) must not
 * load zod at start-up. The store and this reader name the file here, once.
 */
import path from 'node:path';
import { DEFAULT_RECLAIM_POLICY, type ReclaimPolicy } from '../shared/reclaim.js';
import { readGuarded } from '../util/guarded-read.js';

/** `<data>/.device-builder-ts-reclaim.json`: the policy and the runs, per instance (never the shared sidecar). */
export const RECLAIM_STATE_FILE = '.device-builder-ts-reclaim.json';

/**
 * The saved policy's free-space threshold, all the warning needs: the
 * default policy with that one rule, or null when there is none or the file
 * cannot be read (a bad value is no threshold, as the store would drop it).
 */
export async function readSavedFreeSpaceRule(dataDir: string): Promise<ReclaimPolicy | null> {
  try {
    const read = await readGuarded(path.join(dataDir, RECLAIM_STATE_FILE), { maxBytes: 4 * 1024 * 1024 });
    const data: unknown = read ? JSON.parse(read.bytes.toString('utf8')) : null;
    const minFree = (data as { _policy?: { min_free?: unknown } } | null)?._policy?.min_free;
    if (typeof minFree !== 'object' || minFree === null) return null;
    const { bytes, percent } = minFree as { bytes?: unknown; percent?: unknown };
    if (typeof bytes === 'number' && Number.isFinite(bytes) && bytes >= 0) return { ...DEFAULT_RECLAIM_POLICY, min_free: { bytes } };
    if (typeof percent === 'number' && percent > 0 && percent < 100) return { ...DEFAULT_RECLAIM_POLICY, min_free: { percent } };
    return null;
  } catch {
    return null;
  }
}
