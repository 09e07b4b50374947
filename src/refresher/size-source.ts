/**
 * Something whose folders the refresher keeps sized: the devices' build
 * folders, orphaned build folders, the PlatformIO cache's parts. Each source
 * says where its folders are, where their cached pair and size live, and
 * what to do with a fresh measurement; the refresher owns the one worker,
 * the one-walk-at-a-time rule and the sweeps for all of them.
 */
import type { BuildSizeRefreshResult, BuildTarget } from '../build-size/build-size.js';
import type { BuildDirSignal } from '../build-size/freshness.js';
import type { WalkProgress } from '../build-size/walk-pool.js';
import type { SidecarData } from '../sidecar/sidecar-store.js';

export interface SizeSource {
  /** Namespaces this source's keys in the shared pending set. */
  readonly kind: string;
  /** Every folder this source sizes, for a sweep (`configuration` is the source's key). */
  targets(): Promise<BuildTarget[]>;
  /** One key's folder, read fresh; null when it has none. */
  dirOf(key: string): Promise<string | null>;
  /** The pair cached for `key` in a sidecar snapshot. */
  cached(snapshot: SidecarData, key: string): BuildDirSignal;
  /** Writes a fresh measurement to the sidecar. */
  persist(key: string, result: BuildSizeRefreshResult): Promise<void>;
  /** Writes several in one sidecar write, when the source can. */
  persistMany?(entries: [key: string, result: BuildSizeRefreshResult][]): Promise<void>;
  /** Called after a persisted refresh (reload, push to clients). */
  refreshed?(key: string, result: BuildSizeRefreshResult): unknown;
  /** Called when a key asked for with a report ({@link BuildSizeRefresher.requestReport}) was checked and had not moved. */
  unchanged?(key: string): unknown;
  /** Called while a long walk of `key` runs. */
  progress?(key: string, progress: WalkProgress): void;
}
