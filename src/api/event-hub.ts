/**
 * The `subscribe_events` fan-out: one listener on the server's event bus
 * (events/event-bus.ts) however many streams are open, and each event's data
 * serialised to JSON once; every stream then only wraps that text in its own
 * small envelope (`{"message_id":…,"event":…,"data":<text>}`, ws-api.ts).
 * With 300 sockets × 32 streams a 20,000-line job used to cost 192 million
 * `JSON.stringify` calls; now it costs 20,000.
 *
 * The hub listens only while a stream is open, so the catalog's periodic
 * rescan (which runs while the bus has a device-event listener) still runs
 * only while someone is subscribed.
 */
import type { LiveEvent } from '../shared/events.js';
import type { ApiServices } from './commands.js';

/** What the hub needs of a stream: the event's data, already JSON text. */
export interface JsonEventSink {
  eventJson(name: string, json: string): void;
}

type Sources = Pick<ApiServices, 'bus' | 'logger'>;

export class EventHub {
  private readonly sinks = new Set<JsonEventSink>();

  constructor(private readonly sources: Sources) {}

  get size(): number {
    return this.sinks.size;
  }

  /** Adds a stream; returns its removal. Events published from now on reach it, in publish order. */
  add(sink: JsonEventSink): () => void {
    this.sinks.add(sink);
    if (this.sinks.size === 1) this.sources.bus.on(this, (event) => this.broadcast(event));
    return () => {
      if (!this.sinks.delete(sink)) return;
      if (this.sinks.size === 0) this.sources.bus.removeListeners(this);
    };
  }

  private broadcast(event: LiveEvent): void {
    if (this.sinks.size === 0) return;
    const json = JSON.stringify(event.data) ?? 'null';
    // A copy: a sink may end (and leave) while we go round.
    for (const sink of [...this.sinks]) {
      try {
        sink.eventJson(event.event, json);
      } catch (err) {
        this.sources.logger.error({ err, event: event.event }, 'event sink failed');
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
