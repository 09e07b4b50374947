import { beforeEach, describe, expect, it } from 'vitest';
import { ApiClient, memoryTokens } from '../../web/src/api/client.js';
import { Store } from '../../web/src/state/store.js';
import type { PlatformioSummary } from '../../src/shared/protocol.js';
import { device, FakeSocket, flush, job } from './fixtures.js';

const pio = (cache: number): PlatformioSummary => ({
  path: '/root/.platformio',
  bytes: 1000 + cache,
  parts: { packages: 1000, platforms: 0, '.cache': cache },
  walking: null,
});

function setup() {
  const client = new ApiClient({ url: 'ws://t/ws', socketFactory: (url) => new FakeSocket(url), tokens: memoryTokens() });
  const store = new Store(client, { schedule: (fn) => fn() });
  let notified = 0;
  store.subscribe(() => notified++);
  return { client, store, notified: () => notified };
}

beforeEach(() => FakeSocket.reset());

describe('Store', () => {
  it('subscribes on connect and applies initial_state, then live device events', async () => {
    const { client, store } = setup();
    client.start();
    FakeSocket.last.open();
    const socket = FakeSocket.last;
    const sub = socket.lastSent('subscribe_events');
    socket.reply('preferences/get', { 'devices_table.columns': { build_size: true } });
    socket.receive({ message_id: sub['message_id'], event: 'initial_state', data: { devices: [device('a'), device('b')], firmware_jobs: [] } });
    socket.receive({ message_id: sub['message_id'], result: null });
    await flush();
    expect(store.loaded).toBe(true);
    expect([...store.devices.keys()]).toEqual(['a.yaml', 'b.yaml']);
    expect(store.preferences).toEqual({ 'devices_table.columns': { build_size: true } });

    socket.receive({ message_id: sub['message_id'], event: 'device_added', data: { device: device('c') } });
    socket.receive({ message_id: sub['message_id'], event: 'device_updated', data: { device: device('a', { build_size_bytes: 42 }) } });
    socket.receive({ message_id: sub['message_id'], event: 'device_removed', data: { device: device('b') } });
    expect([...store.devices.keys()].sort()).toEqual(['a.yaml', 'c.yaml']);
    expect(store.devices.get('a.yaml')?.build_size_bytes).toBe(42);
  });

  it('subscribes chunked and assembles a big fleet from initial_state and devices_chunk events', async () => {
    const { client, store } = setup();
    client.start();
    FakeSocket.last.open();
    const socket = FakeSocket.last;
    const sub = socket.lastSent('subscribe_events');
    expect(sub['args']).toEqual({ chunked: true });
    const id = sub['message_id'];
    socket.receive({ message_id: id, event: 'initial_state', data: { devices: [device('a')], firmware_jobs: [], devices_total: 3, more: true } });
    expect(store.loaded).toBe(true);
    expect(store.devicesPending).toEqual({ received: 1, total: 3 });
    socket.receive({ message_id: id, result: null });
    socket.receive({ message_id: id, event: 'devices_chunk', data: { devices: [device('b')], more: true } });
    expect(store.devicesPending).toEqual({ received: 2, total: 3 });
    const revision = store.devicesRevision;
    socket.receive({ message_id: id, event: 'devices_chunk', data: { devices: [device('c')], more: false } });
    expect(store.devicesPending).toBeNull();
    expect(store.devicesRevision).toBe(revision + 1);
    expect([...store.devices.keys()]).toEqual(['a.yaml', 'b.yaml', 'c.yaml']);
    // Live events follow the last chunk.
    socket.receive({ message_id: id, event: 'device_removed', data: { device: device('b') } });
    expect([...store.devices.keys()]).toEqual(['a.yaml', 'c.yaml']);
    // A whole initial_state (the unchunked form): nothing pending.
    store.applyEvent('initial_state', { devices: [device('z')], firmware_jobs: [] });
    expect(store.devicesPending).toBeNull();
    expect([...store.devices.keys()]).toEqual(['z.yaml']);
  });

  it('replaces everything with the new initial_state after a reconnect', async () => {
    const { client, store } = setup();
    client.start();
    FakeSocket.last.open();
    store.applyEvent('initial_state', { devices: [device('a'), device('gone')], firmware_jobs: [] });
    FakeSocket.last.close();
    client.retryNow();
    FakeSocket.last.open();
    const socket = FakeSocket.last;
    socket.receive({
      message_id: socket.lastSent('subscribe_events')['message_id'],
      event: 'initial_state',
      data: { devices: [device('a')], firmware_jobs: [] },
    });
    await flush();
    expect([...store.devices.keys()]).toEqual(['a.yaml']);
  });

  it('tracks jobs and reports each finish once', () => {
    const { store } = setup();
    const finished: string[] = [];
    store.onJobFinished((j) => finished.push(`${j.job_id}:${j.status}`));
    const running = job('a.yaml', { job_id: 'j1', status: 'running' });
    store.applyEvent('job_started', running);
    store.applyEvent('job_completed', { ...running, status: 'completed' });
    store.applyEvent('job_completed', { ...running, status: 'completed' });
    store.applyEvent('job_output', { job_id: 'j1', line: 'x' });
    expect(store.jobs.get('j1')?.status).toBe('completed');
    expect(finished).toEqual(['j1:completed']);
  });

  it('sets a preference optimistically and restores it when the server refuses', async () => {
    const { client, store } = setup();
    client.start();
    FakeSocket.last.open();
    const socket = FakeSocket.last;
    store.preferences = { sort: 'old' };
    const saving = store.setPreference('sort', 'new');
    expect(store.preferences['sort']).toBe('new');
    socket.receive({ message_id: socket.lastSent('preferences/set')['message_id'], error_code: 'invalid_args', details: 'no' });
    await expect(saving).rejects.toThrow('no');
    expect(store.preferences['sort']).toBe('old');
  });

  it('keeps the unused build folders and the PlatformIO summary, live', () => {
    const { store } = setup();
    const orphan = { build_path: '/c/.esphome/build/old', build_size_bytes: 42, build_disk_bytes: 48 };
    store.applyEvent('initial_state', { devices: [], firmware_jobs: [], orphans: [orphan], platformio: pio(5) });
    expect(store.orphans).toEqual([orphan]);
    expect(store.platformio?.parts['.cache']).toBe(5);
    const revision = store.storageRevision;

    store.applyEvent('orphans_updated', { orphans: [] });
    expect(store.orphans).toEqual([]);
    store.applyEvent('platformio_progress', { part: 'packages', files: 120, bytes: 4096 });
    expect(store.platformio?.walking).toEqual({ part: 'packages', files: 120, bytes: 4096 });
    expect(store.platformio?.parts['.cache']).toBe(5);
    store.applyEvent('platformio_updated', pio(0));
    expect(store.platformio).toEqual(pio(0));
    expect(store.storageRevision).toBe(revision + 3);

    // An older server's initial_state without them: empty, not broken.
    store.applyEvent('initial_state', { devices: [], firmware_jobs: [] });
    expect(store.orphans).toEqual([]);
    expect(store.platformio).toBeNull();
    store.applyEvent('platformio_progress', { part: 'packages', files: 1, bytes: 1 });
    expect(store.platformio).toBeNull();
  });

  it('drops the jobs jobs_cleared names', () => {
    const { store, notified } = setup();
    store.applyEvent('job_completed', job('a.yaml', { job_id: 'done', status: 'completed' }));
    store.applyEvent('job_started', job('b.yaml', { job_id: 'live', status: 'running' }));
    const before = notified();
    store.applyEvent('jobs_cleared', { job_ids: ['done', 'unknown'] });
    expect([...store.jobs.keys()]).toEqual(['live']);
    expect(notified()).toBe(before + 1);
    store.applyEvent('jobs_cleared', { job_ids: ['unknown'] });
    expect(notified()).toBe(before + 1);
  });

  it('coalesces notifications through its scheduler', () => {
    const client = new ApiClient({ url: 'ws://t/ws', socketFactory: (url) => new FakeSocket(url), tokens: memoryTokens() });
    const queued: (() => void)[] = [];
    const store = new Store(client, { schedule: (fn) => queued.push(fn) });
    let notified = 0;
    store.subscribe(() => notified++);
    for (let i = 0; i < 50; i++) store.applyEvent('device_added', { device: device(`d${i}`) });
    expect(queued).toHaveLength(1);
    queued[0]?.();
    expect(notified).toBe(1);
  });
});
