/**
 * The server's one event bus: the device catalog, the job queue, the unused
 * build folders and the PlatformIO cache publish their {@link LiveEvent}s
 * here (who publishes what: shared/events.ts), and whoever needs them
 * listens: the `subscribe_events` fan-out (api/event-hub.ts), the server's
 * job → refresh trigger (through `JobQueue.onFinished`), tests. The
 * refresher publishes nothing of its own; what it measures reaches clients
 * as the catalog, orphan and PlatformIO events it causes.
 *
 * - Listeners run synchronously, in the order they were added, and every
 *   listener sees the same event object (never change it: the fan-out
 *   serialises it once for every socket).
 * - A listener that throws is logged; the others still run, and the
 *   publisher never sees the error.
 * - Each listener has an owner; `removeListeners(owner)` drops all of an
 *   owner's at once, so a part that stops cannot leave one behind.
 * - A listener may ask for some event names only; `listenerCount(name)`
 *   tells a publisher whether anyone wants an event before it does costly
 *   work for it (the catalog's periodic rescan, the orphan list).
 */
import type { LiveEvent, LiveEventName } from '../shared/events.js';
import { log, type Logger } from '../util/log.js';

/** The events of the given names, narrowed: `LiveEventOf<'job_output'>` has `data.line`. */
export type LiveEventOf<N extends LiveEventName> = Extract<LiveEvent, { event: N }>;

interface Entry {
  readonly owner: object;
  readonly listener: (event: LiveEvent) => void;
  /** Null: every event. */
  readonly names: ReadonlySet<string> | null;
}

export class EventBus {
  /** Replaced, never changed, on add and remove: publish walks it without copying. */
  private entries: readonly Entry[] = [];
  private readonly watchers = new Set<() => void>();

  constructor(private readonly logger: Pick<Logger, 'error'> = log) {}

  /** How many listeners would receive an event of this name (every listener without a name). */
  listenerCount(name?: LiveEventName): number {
    if (name === undefined) return this.entries.length;
    let count = 0;
    for (const entry of this.entries) if (entry.names === null || entry.names.has(name)) count++;
    return count;
  }

  publish(event: LiveEvent): void {
    for (const entry of this.entries) {
      if (entry.names !== null && !entry.names.has(event.event)) continue;
      try {
        entry.listener(event);
      } catch (err) {
        this.logger.error({ err, event: event.event }, 'event listener failed');
      }
    }
  }

  /** Every event, until the returned function or `removeListeners(owner)`. */
  on(owner: object, listener: (event: LiveEvent) => void): () => void;
  /** Only events with one of these names, typed as such. */
  on<N extends LiveEventName>(owner: object, names: readonly N[], listener: (event: LiveEventOf<N>) => void): () => void;
  on(owner: object, namesOrListener: readonly LiveEventName[] | ((event: LiveEvent) => void), maybeListener?: (event: LiveEvent) => void): () => void {
    const names = typeof namesOrListener === 'function' ? null : new Set<string>(namesOrListener);
    const listener = typeof namesOrListener === 'function' ? namesOrListener : maybeListener;
    if (listener === undefined) throw new TypeError('EventBus.on: no listener');
    const entry: Entry = { owner, listener, names };
    this.entries = [...this.entries, entry];
    this.changed();
    return () => this.remove((e) => e === entry);
  }

  /** Drops every listener this owner added. */
  removeListeners(owner: object): void {
    this.remove((e) => e.owner === owner);
  }

  /**
   * Called after listeners are added or removed (not per event), so a
   * publisher can start or stop work that only matters while someone listens.
   */
  watchListeners(watcher: () => void): () => void {
    this.watchers.add(watcher);
    return () => this.watchers.delete(watcher);
  }

  private remove(match: (entry: Entry) => boolean): void {
    const kept = this.entries.filter((e) => !match(e));
    if (kept.length === this.entries.length) return;
    this.entries = kept;
    this.changed();
  }

  private changed(): void {
    for (const watcher of [...this.watchers]) {
      try {
        watcher();
      } catch (err) {
        this.logger.error({ err }, 'event bus watcher failed');
      }
    }
  }
}
