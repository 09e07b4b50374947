/**
 * The `subscribe_events` fan-out: one listener on each source (catalog, job
 * queue, orphans, PlatformIO cache) however many streams are open, and each
 * event's data serialised to JSON once; every stream then only wraps that
 * text in its own small envelope (`{"message_id":…,"event":…,"data":<text>}`,
 * ws-api.ts). With 300 sockets × 32 streams a 20,000-line job used to cost
 * 192 million `JSON.stringify` calls; now it costs 20,000.
 *
 * The hub listens only while a stream is open, so the catalog's periodic
 * rescan still runs only while someone is subscribed.
 */
import type { ApiServices } from './commands.js';

/** What the hub needs of a stream: the event's data, already JSON text. */
export interface JsonEventSink {
  eventJson(name: string, json: string): void;
}

type Sources = Pick<ApiServices, 'catalog' | 'jobs' | 'orphans' | 'platformio' | 'logger'>;

export class EventHub {
  private readonly sinks = new Set<JsonEventSink>();
  private detach: (() => void)[] = [];

  constructor(private readonly sources: Sources) {}

  get size(): number {
    return this.sinks.size;
  }

  /** Adds a stream; returns its removal. Events emitted from now on reach it, in emit order. */
  add(sink: JsonEventSink): () => void {
    this.sinks.add(sink);
    if (this.sinks.size === 1) this.attach();
    return () => {
      if (!this.sinks.delete(sink)) return;
      if (this.sinks.size === 0) this.release();
    };
  }

  private attach(): void {
    const { catalog, jobs, orphans, platformio } = this.sources;
    this.detach = [
      orphans.subscribe((list) => this.broadcast('orphans_updated', { orphans: list })),
      platformio.subscribe(({ event, data }) => this.broadcast(event, data)),
      catalog.subscribe(({ event, data }) => this.broadcast(event, data)),
      jobs.subscribe((jobEvent) => this.broadcast(jobEvent.event, jobEvent.data)),
    ];
  }

  private release(): void {
    for (const detach of this.detach.splice(0)) detach();
  }

  private broadcast(name: string, data: unknown): void {
    if (this.sinks.size === 0) return;
    const json = JSON.stringify(data) ?? 'null';
    // A copy: a sink may end (and leave) while we go round.
    for (const sink of [...this.sinks]) {
      try {
        sink.eventJson(name, json);
      } catch (err) {
        this.sources.logger.error({ err, event: name }, 'event sink failed');
      }
    }
  }
}

const hubs = new WeakMap<object, EventHub>();

/** The hub of one server (keyed by its services object). */
export function eventHubFor(services: Sources): EventHub {
  let hub = hubs.get(services);
  if (!hub) {
    hub = new EventHub(services);
    hubs.set(services, hub);
  }
  return hub;
}
