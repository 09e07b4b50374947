/**
 * The store reducing the reclaim events: the disk and the policy from
 * `initial_state`, `disk_updated`, `reclaim_policy_updated`, a run from
 * `reclaim_started` through `reclaim_progress` to `reclaim_finished` (the
 * run in progress cleared, the history updated, listeners told), and the
 * history read merged with what the events brought.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { ApiClient, memoryTokens } from '../../web/src/api/client.js';
import { Store } from '../../web/src/state/store.js';
import { DEFAULT_RECLAIM_POLICY, type ReclaimRun, type ReclaimState } from '../../src/shared/reclaim.js';
import { FakeSocket, RECLAIM_OFF } from './fixtures.js';

const GB = 1024 ** 3;
const DISK = { path: '/config/.esphome', free_bytes: 4 * GB, total_bytes: 32 * GB };

function run(id: string, overrides: Partial<ReclaimRun> = {}): ReclaimRun {
  return {
    run_id: id,
    trigger: 'manual',
    started_at: 1000,
    finished_at: null,
    status: 'running',
    reason: 'Run now',
    steps: [
      { kind: 'device', configuration: 'a.yaml', build_path: '/b/a', bytes: 10, folder_bytes: 12, rule: 'cap', last_compiled: 1, signal: [1, 1] },
      { kind: 'unused', build_path: '/b/old', bytes: 5, folder_bytes: 5, rule: 'unused', last_compiled: null, signal: [1, null] },
    ],
    results: [],
    freed_bytes: 0,
    skipped: [],
    ...overrides,
  };
}

function setup() {
  FakeSocket.reset();
  const client = new ApiClient({ url: 'ws://t/ws', socketFactory: (url) => new FakeSocket(url), tokens: memoryTokens() });
  const store = new Store(client, { schedule: (fn) => fn() });
  let notified = 0;
  store.subscribe(() => notified++);
  store.applyEvent('initial_state', { devices: [], firmware_jobs: [], orphans: [], platformio: null, disk: DISK, reclaim: RECLAIM_OFF });
  return { store, notified: () => notified };
}

beforeEach(() => FakeSocket.reset());

describe('Store: reclaim and disk', () => {
  it('takes the disk and the policy from initial_state, and a run in progress into the history', () => {
    const { store } = setup();
    expect(store.disk).toEqual(DISK);
    expect(store.reclaim).toEqual(RECLAIM_OFF);
    expect(store.reclaimRuns).toEqual([]);
    const running = run('r0');
    store.applyEvent('initial_state', { devices: [], firmware_jobs: [], orphans: [], platformio: null, disk: null, reclaim: { ...RECLAIM_OFF, running } });
    expect(store.disk).toBeNull();
    expect(store.reclaim?.running).toEqual(running);
    expect(store.reclaimRuns.map((r) => r.run_id)).toEqual(['r0']);
  });

  it('follows disk_updated and reclaim_policy_updated, bumping the revision and notifying', () => {
    const { store, notified } = setup();
    const before = { revision: store.reclaimRevision, notified: notified() };
    store.applyEvent('disk_updated', { disk: { ...DISK, free_bytes: GB } });
    expect(store.disk?.free_bytes).toBe(GB);
    const saved: ReclaimState = { policy: { ...DEFAULT_RECLAIM_POLICY, enabled: true, max_total_bytes: 20 * GB }, running: null, next_run_at: 5000 };
    store.applyEvent('reclaim_policy_updated', saved);
    expect(store.reclaim).toEqual(saved);
    expect(store.reclaimRevision).toBe(before.revision + 2);
    expect(notified()).toBe(before.notified + 2);
    store.applyEvent('disk_updated', { disk: null });
    expect(store.disk).toBeNull();
  });

  it('follows a run from started through progress to finished', () => {
    const { store } = setup();
    const finished: ReclaimRun[] = [];
    store.onReclaimFinished((r) => finished.push(r));
    store.applyEvent('reclaim_started', run('r1'));
    expect(store.reclaim?.running?.run_id).toBe('r1');

    const first = { build_path: '/b/a', configuration: 'a.yaml', ok: true, freed_bytes: 10, job_id: 'j1' };
    store.applyEvent('reclaim_progress', { run_id: 'r1', index: 0, total: 2, result: first });
    expect(store.reclaim?.running?.results).toEqual([first]);
    expect(store.reclaimRuns[0]?.results).toEqual([first]);

    // Progress of a run nobody knows changes nothing.
    const revision = store.reclaimRevision;
    store.applyEvent('reclaim_progress', { run_id: 'nope', index: 0, total: 1, result: first });
    expect(store.reclaimRevision).toBe(revision);

    const done = run('r1', {
      finished_at: 1010,
      status: 'partial',
      results: [first, { build_path: '/b/old', ok: false, freed_bytes: 0, error: 'refused' }],
      freed_bytes: 10,
    });
    store.applyEvent('reclaim_finished', done);
    expect(store.reclaim?.running).toBeNull();
    expect(store.reclaimRuns).toEqual([done]);
    expect(finished).toEqual([done]);
  });

  it('merges the history read with newer runs from events, newest first, keeping a run at its furthest state', () => {
    const { store } = setup();
    const live = run('r3', { started_at: 3000, finished_at: 3005, status: 'completed' });
    store.applyEvent('reclaim_finished', live);
    store.setReclaimRuns([run('r3', { started_at: 3000 }), run('r2', { started_at: 2000, finished_at: 2001, status: 'completed' })]);
    expect(store.reclaimRunsLoaded).toBe(true);
    expect(store.reclaimRuns.map((r) => [r.run_id, r.status])).toEqual([
      ['r3', 'completed'],
      ['r2', 'completed'],
    ]);
    store.applyEvent('reclaim_started', run('r4', { started_at: 4000 }));
    expect(store.reclaimRuns.map((r) => r.run_id)).toEqual(['r4', 'r3', 'r2']);
  });
});
