/**
 * The shared PlatformIO core folder (`$PLATFORMIO_CORE_DIR`, else
 * `~/.platformio`): toolchains and framework packages every ESPHome compile
 * pulls in, which grow by about a gigabyte a month and which no per-device
 * figure shows. Its `packages`, `platforms` and `.cache` folders are sized by
 * the refresher like build folders (same two-stat pair, same one worker),
 * cached in our per-instance state file under `_platformio`, which remembers the core path
 * so pointing at another core folder invalidates the cache.
 *
 * A first walk of a big core folder takes seconds, so progress is reported
 * while it runs: `platformio_progress` during a walk, `platformio_updated`
 * after each check, both on the server's event bus.
 */
import os from 'node:os';
import path from 'node:path';
import { folderCacheEntry, type BuildSizeRefreshResult, type BuildTarget } from '../build-size/build-size.js';
import { cachedSignal, NO_SIGNAL } from '../build-size/freshness.js';
import type { WalkProgress } from '../build-size/walk-pool.js';
import type { SizeSource } from '../refresher/size-source.js';
import { EventBus } from '../events/event-bus.js';
import { coerceSidecarInt } from '../sidecar/coerce.js';
import type { PlatformioPart, PlatformioSummary } from '../shared/protocol.js';
import type { MetadataStore } from '../metadata/device-metadata.js';
import type { SidecarData } from '../sidecar/sidecar-store.js';

export const PLATFORMIO_SECTION = '_platformio';
export const PLATFORMIO_SOURCE = 'platformio';
export const PLATFORMIO_PARTS: readonly PlatformioPart[] = ['packages', 'platforms', '.cache'];
export type { PlatformioPart, PlatformioSummary };

export function resolvePlatformioDir(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env['PLATFORMIO_CORE_DIR'];
  return path.resolve(fromEnv || path.join(os.homedir(), '.platformio'));
}

type Section = { path?: unknown; parts?: Record<string, Record<string, unknown>> };

function isPart(key: string): key is PlatformioPart {
  return (PLATFORMIO_PARTS as readonly string[]).includes(key);
}

export class PlatformioCache {
  readonly dir: string;
  readonly source: SizeSource;
  private walking: PlatformioSummary['walking'] = null;

  constructor(
    private readonly store: MetadataStore,
    env: NodeJS.ProcessEnv = process.env,
    /** Where its events are published (default: a bus of its own). */
    private readonly bus: EventBus = new EventBus(),
  ) {
    this.dir = resolvePlatformioDir(env);
    this.source = {
      kind: PLATFORMIO_SOURCE,
      targets: async () => PLATFORMIO_PARTS.map((part): BuildTarget => ({ configuration: part, buildPath: path.join(this.dir, part) })),
      dirOf: async (part) => (isPart(part) ? path.join(this.dir, part) : null),
      cached: (snapshot, part) => {
        const entry = this.partEntry(snapshot, part);
        return entry ? cachedSignal(entry) : NO_SIGNAL;
      },
      persist: (part, result) => this.persist(part, result),
      refreshed: async () => {
        this.walking = null;
        this.bus.publish({ event: 'platformio_updated', data: await this.summary() });
      },
      progress: (part, progress) => this.onProgress(part, progress),
    };
  }

  async summary(snapshot?: SidecarData): Promise<PlatformioSummary> {
    const data = snapshot ?? (await this.store.read());
    const parts = Object.fromEntries(PLATFORMIO_PARTS.map((part) => [part, coerceSidecarInt(this.partEntry(data, part)?.['build_size_bytes'])])) as Record<
      PlatformioPart,
      number
    >;
    return {
      path: this.dir,
      bytes: PLATFORMIO_PARTS.reduce((sum, part) => sum + parts[part], 0),
      parts,
      walking: this.walking,
    };
  }

  /** Drops every cached pair, so the next check re-measures every part. */
  async forget(): Promise<void> {
    await this.store.updateGlobal(PLATFORMIO_SECTION, () => undefined);
  }

  /** A part's cache entry, only if it was measured for this same core folder. */
  private partEntry(snapshot: SidecarData, part: string): Record<string, unknown> | null {
    const value = snapshot[PLATFORMIO_SECTION] as Section | undefined;
    if (typeof value !== 'object' || value === null || value.path !== this.dir) return null;
    const entry = value.parts?.[part];
    return typeof entry === 'object' && entry !== null && !Array.isArray(entry) ? entry : null;
  }

  private onProgress(part: string, progress: WalkProgress): void {
    if (!isPart(part)) return;
    const walking = { part, files: progress.files, bytes: progress.bytes };
    this.walking = walking;
    this.bus.publish({ event: 'platformio_progress', data: walking });
  }

  private async persist(part: string, result: BuildSizeRefreshResult): Promise<void> {
    await this.store.updateGlobal(PLATFORMIO_SECTION, (current) => {
      const base = current as Section | undefined;
      const sameDir = typeof base === 'object' && base !== null && base.path === this.dir;
      const parts = { ...(sameDir && typeof base.parts === 'object' && base.parts !== null ? base.parts : {}) };
      if (result.signal.dirMtime === 0) delete parts[part];
      else {
        parts[part] = folderCacheEntry(result);
      }
      return Object.keys(parts).length > 0 ? { path: this.dir, parts } : undefined;
    });
  }
}
