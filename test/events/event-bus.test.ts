import { describe, expect, it } from 'vitest';
import { EventHub } from '../../src/api/event-hub.js';
import { EventBus } from '../../src/events/event-bus.js';
import type { Device } from '../../src/shared/device.js';
import { isServerEvent, SERVER_EVENT_NAMES, type EventData, type LiveEvent, type ServerEvent } from '../../src/shared/events.js';
import type { FirmwareJobSummary } from '../../src/shared/jobs.js';
import { captureLog } from '../helpers/capture-log.js';

const device = { configuration: 'kitchen.yaml' } as Device;
const job = { job_id: 'j1', status: 'completed' } as FirmwareJobSummary;

const added: LiveEvent = { event: 'device_added', data: { device } };
const output: LiveEvent = { event: 'job_output', data: { job_id: 'j1', line: 'Compiling' } };
const completed: LiveEvent = { event: 'job_completed', data: job };

/** Compile-time check: switching on the name narrows the data, no casts. */
function describeEvent(event: ServerEvent): string {
  switch (event.event) {
    case 'device_added':
    case 'device_updated':
    case 'device_removed':
      return `${event.event} ${event.data.device.configuration}`;
    case 'job_output':
      return `line ${event.data.line}`;
    case 'jobs_cleared':
      return `cleared ${event.data.job_ids.length}`;
    case 'orphans_updated':
      return `orphans ${event.data.orphans.length}`;
    case 'platformio_progress':
      return `walking ${event.data.part}`;
    case 'platformio_updated':
      return `platformio ${event.data.bytes}`;
    case 'initial_state':
      return `snapshot ${event.data.devices.length}`;
    case 'devices_chunk':
      return `chunk ${event.data.devices.length}`;
    case 'reclaim_policy_updated':
      return `policy ${event.data.policy.enabled}`;
    case 'reclaim_started':
    case 'reclaim_finished':
      return `${event.event} ${event.data.run_id}`;
    case 'reclaim_progress':
      return `step ${event.data.index}`;
    case 'disk_updated':
      return `disk ${event.data.disk?.free_bytes ?? null}`;
    default:
      return `${event.event} ${event.data.job_id}`;
  }
}

describe('EventBus', () => {
  it('delivers every event to every listener, in the order listeners were added and events published', () => {
    const bus = new EventBus(captureLog().logger);
    const seen: string[] = [];
    bus.on({}, (event) => seen.push(`a:${describeEvent(event)}`));
    bus.on({}, (event) => seen.push(`b:${describeEvent(event)}`));
    bus.publish(added);
    bus.publish(output);
    expect(seen).toEqual(['a:device_added kitchen.yaml', 'b:device_added kitchen.yaml', 'a:line Compiling', 'b:line Compiling']);
  });

  it('hands every listener the same event object', () => {
    const bus = new EventBus(captureLog().logger);
    const got: LiveEvent[] = [];
    bus.on({}, (event) => got.push(event));
    bus.on({}, (event) => got.push(event));
    bus.publish(added);
    expect(got[0]).toBe(added);
    expect(got[1]).toBe(added);
  });

  it('filters by name, and narrows the listener to those events', () => {
    const bus = new EventBus(captureLog().logger);
    const finished: string[] = [];
    bus.on({}, ['job_completed', 'job_failed', 'job_cancelled'], (event) => finished.push(`${event.event}:${event.data.status}`));
    bus.publish(added);
    bus.publish(output);
    bus.publish(completed);
    expect(finished).toEqual(['job_completed:completed']);
    expect(bus.listenerCount('job_completed')).toBe(1);
    expect(bus.listenerCount('device_added')).toBe(0);
    expect(bus.listenerCount()).toBe(1);
  });

  it('removeListeners(owner) drops all of that owner’s listeners and no one else’s', () => {
    const bus = new EventBus(captureLog().logger);
    const owner = {};
    const other = {};
    const seen: string[] = [];
    bus.on(owner, () => seen.push('owner 1'));
    bus.on(owner, ['device_added'], () => seen.push('owner 2'));
    bus.on(other, () => seen.push('other'));
    expect(bus.listenerCount()).toBe(3);
    bus.removeListeners(owner);
    expect(bus.listenerCount()).toBe(1);
    bus.publish(added);
    expect(seen).toEqual(['other']);
  });

  it('the function on() returns removes just that listener', () => {
    const bus = new EventBus(captureLog().logger);
    const owner = {};
    const seen: string[] = [];
    const stop = bus.on(owner, () => seen.push('first'));
    bus.on(owner, () => seen.push('second'));
    stop();
    stop();
    bus.publish(added);
    expect(seen).toEqual(['second']);
  });

  it('a throwing listener is logged and the others still run; publish does not throw', () => {
    const log = captureLog();
    const bus = new EventBus(log.logger);
    const seen: string[] = [];
    bus.on({}, () => seen.push('before'));
    bus.on({}, () => {
      throw new Error('boom');
    });
    bus.on({}, () => seen.push('after'));
    expect(() => bus.publish(added)).not.toThrow();
    expect(seen).toEqual(['before', 'after']);
    const line = log.lines().find((l) => l.msg === 'event listener failed');
    expect(line?.['event']).toBe('device_added');
  });

  it('a listener removed while an event is going round does not stop that event reaching the others', () => {
    const bus = new EventBus(captureLog().logger);
    const seen: string[] = [];
    const owner = {};
    bus.on(owner, () => {
      seen.push('first');
      bus.removeListeners(owner);
    });
    bus.on({}, () => seen.push('second'));
    bus.publish(added);
    bus.publish(added);
    expect(seen).toEqual(['first', 'second', 'second']);
  });

  it('tells watchers when listeners come and go, not per event', () => {
    const bus = new EventBus(captureLog().logger);
    const counts: number[] = [];
    const unwatch = bus.watchListeners(() => counts.push(bus.listenerCount('device_added')));
    const owner = {};
    bus.on(owner, () => undefined);
    bus.on({}, ['job_output'], () => undefined);
    bus.publish(added);
    bus.removeListeners(owner);
    bus.removeListeners(owner);
    unwatch();
    bus.on({}, () => undefined);
    expect(counts).toEqual([1, 1, 0]);
  });
});

describe('EventHub on the bus', () => {
  it('listens only while a stream is open and serialises each event once for all streams', () => {
    const bus = new EventBus(captureLog().logger);
    const hub = new EventHub({ bus, logger: captureLog().logger });
    const frames: string[][] = [[], []];
    const removeA = hub.add({ eventJson: (name, json) => frames[0]?.push(`${name} ${json}`) });
    const removeB = hub.add({ eventJson: (name, json) => frames[1]?.push(`${name} ${json}`) });
    expect(bus.listenerCount()).toBe(1);
    const original = JSON.stringify;
    let calls = 0;
    JSON.stringify = ((...args: Parameters<typeof JSON.stringify>) => {
      calls++;
      return original(...args);
    }) as typeof JSON.stringify;
    try {
      bus.publish(output);
    } finally {
      JSON.stringify = original;
    }
    expect(calls).toBe(1);
    expect(frames).toEqual([['job_output {"job_id":"j1","line":"Compiling"}'], ['job_output {"job_id":"j1","line":"Compiling"}']]);
    removeA();
    expect(bus.listenerCount()).toBe(1);
    removeB();
    expect(bus.listenerCount()).toBe(0);
  });
});

describe('ServerEvent', () => {
  it('knows every name it is made of, and only those', () => {
    expect(isServerEvent({ event: 'device_added', data: { device } })).toBe(true);
    expect(isServerEvent({ event: 'device_renamed', data: {} })).toBe(false);
    expect(new Set(SERVER_EVENT_NAMES).size).toBe(SERVER_EVENT_NAMES.length);
    const data: EventData<'jobs_cleared'> = { job_ids: ['a'] };
    expect(describeEvent({ event: 'jobs_cleared', data })).toBe('cleared 1');
  });
});
