import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  planReclaim,
  SKIP_BUSY,
  SKIP_NO_DISK,
  SKIP_NOT_MEASURED,
  SKIP_RECENT,
  SKIP_UNUSED_STALE,
  type PlanDevice,
  type PlanInputs,
  type PlanUnused,
} from '../../src/reclaim/plan.js';
import { DEFAULT_RECLAIM_POLICY, type DiskSpace, type ReclaimPolicy } from '../../src/shared/reclaim.js';

const NOW = 1_800_000_000;
const DAY = 86_400;
const MB = 1_000_000;

function device(configuration: string, fields: Partial<PlanDevice> = {}): PlanDevice {
  return {
    configuration,
    build_path: `/data/build/${configuration.replace(/\.yaml$/, '')}`,
    folder_bytes: 100 * MB,
    cleanable_bytes: 80 * MB,
    last_compiled: NOW - 10 * DAY,
    signal: [NOW - 10 * DAY, NOW - 10 * DAY],
    busy: false,
    ...fields,
  };
}

function unused(name: string, fields: Partial<PlanUnused> = {}): PlanUnused {
  return { build_path: `/data/build/${name}`, bytes: 50 * MB, last_used: NOW - 30 * DAY, signal: [NOW - 30 * DAY, NOW - 30 * DAY], ...fields };
}

function policy(fields: Partial<ReclaimPolicy>): ReclaimPolicy {
  return { ...DEFAULT_RECLAIM_POLICY, ...fields };
}

function inputs(fields: Partial<PlanInputs>): PlanInputs {
  return { devices: [], unused: [], disk: null, now: NOW, ...fields };
}

const disk = (free: number, total = 1000 * MB): DiskSpace => ({ path: '/data', free_bytes: free, total_bytes: total });
const names = (plan: ReturnType<typeof planReclaim>): string[] => plan.steps.map((step) => step.configuration ?? step.build_path);

describe('planReclaim: each rule alone', () => {
  it('no rules, no steps', () => {
    const plan = planReclaim(DEFAULT_RECLAIM_POLICY, inputs({ devices: [device('a.yaml')], unused: [unused('x')], disk: disk(10 * MB) }), 'p1');
    expect(plan.steps).toEqual([]);
    expect(plan.frees_bytes).toBe(0);
    expect(plan.expected_free_bytes).toBe(10 * MB);
    expect(plan.devices_total_bytes).toBe(100 * MB);
    expect(plan.devices_total_after_bytes).toBe(100 * MB);
    expect(plan.plan_id).toBe('p1');
    expect(plan.computed_at).toBe(NOW);
  });

  it('unused: folders last used longer ago than the age, oldest first, unknown first; the whole folder is freed', () => {
    const plan = planReclaim(
      policy({ unused_older_than_seconds: 14 * DAY }),
      inputs({
        unused: [
          unused('recent', { last_used: NOW - 2 * DAY }),
          unused('old', { last_used: NOW - 20 * DAY, bytes: 10 * MB }),
          unused('older', { last_used: NOW - 40 * DAY, bytes: 20 * MB }),
          unused('unknown', { last_used: null, bytes: 5 * MB }),
        ],
        devices: [device('a.yaml', { last_compiled: NOW - 400 * DAY })],
      }),
      'p',
    );
    expect(names(plan)).toEqual(['/data/build/unknown', '/data/build/older', '/data/build/old']);
    expect(plan.steps.every((step) => step.kind === 'unused' && step.rule === 'unused' && step.bytes === step.folder_bytes)).toBe(true);
    expect(plan.frees_bytes).toBe(35 * MB);
    // Unused folders are not device folders: the cap's total is untouched.
    expect(plan.devices_total_after_bytes).toBe(plan.devices_total_bytes);
  });

  it('unused: a folder whose size no longer matches it, or was never measured, is skipped with the reason', () => {
    const plan = planReclaim(
      policy({ unused_older_than_seconds: DAY }),
      inputs({ unused: [unused('moved', { stale: true }), unused('new', { stale: true, signal: [null, null] })] }),
      'p',
    );
    expect(plan.steps).toEqual([]);
    expect(plan.skipped).toEqual([
      { build_path: '/data/build/moved', reason: SKIP_UNUSED_STALE },
      { build_path: '/data/build/new', reason: SKIP_NOT_MEASURED },
    ]);
  });

  it('age: devices compiled longer ago than the age, least recently compiled first, ties by name, unknown first', () => {
    const plan = planReclaim(
      policy({ older_than_seconds: 30 * DAY }),
      inputs({
        devices: [
          device('young.yaml', { last_compiled: NOW - 5 * DAY }),
          device('b.yaml', { last_compiled: NOW - 60 * DAY }),
          device('a.yaml', { last_compiled: NOW - 60 * DAY }),
          device('oldest.yaml', { last_compiled: NOW - 90 * DAY }),
          device('never.yaml', { last_compiled: null }),
          device('nofolder.yaml', { build_path: null, last_compiled: null }),
        ],
      }),
      'p',
    );
    expect(names(plan)).toEqual(['never.yaml', 'oldest.yaml', 'a.yaml', 'b.yaml']);
    expect(plan.steps.every((step) => step.rule === 'age' && step.kind === 'device' && step.bytes === 80 * MB && step.folder_bytes === 100 * MB)).toBe(true);
    expect(plan.frees_bytes).toBe(4 * 80 * MB);
    expect(plan.devices_total_bytes).toBe(5 * 100 * MB);
    expect(plan.devices_total_after_bytes).toBe(5 * 100 * MB - 4 * 80 * MB);
  });

  it('cap: least recently compiled first, and the cap reached exactly (not one step more)', () => {
    const devices = [
      device('d1.yaml', { last_compiled: NOW - 10 * DAY, folder_bytes: 100 * MB, cleanable_bytes: 60 * MB }),
      device('d2.yaml', { last_compiled: NOW - 20 * DAY, folder_bytes: 100 * MB, cleanable_bytes: 60 * MB }),
      device('d3.yaml', { last_compiled: NOW - 30 * DAY, folder_bytes: 100 * MB, cleanable_bytes: 60 * MB }),
      device('d4.yaml', { last_compiled: NOW - 40 * DAY, folder_bytes: 100 * MB, cleanable_bytes: 60 * MB }),
    ];
    // 400 MB total; a cap of 280 MB needs two cleans (400 → 340 → 280), and 280 ≤ 280 stops it.
    const plan = planReclaim(policy({ max_total_bytes: 280 * MB }), inputs({ devices }), 'p');
    expect(names(plan)).toEqual(['d4.yaml', 'd3.yaml']);
    expect(plan.steps.every((step) => step.rule === 'cap')).toBe(true);
    expect(plan.devices_total_after_bytes).toBe(280 * MB);
    // One byte less needs a third.
    expect(names(planReclaim(policy({ max_total_bytes: 280 * MB - 1 }), inputs({ devices }), 'p'))).toEqual(['d4.yaml', 'd3.yaml', 'd2.yaml']);
    // Already under it: nothing.
    expect(planReclaim(policy({ max_total_bytes: 400 * MB }), inputs({ devices }), 'p').steps).toEqual([]);
  });

  it('free space in bytes: cleans until free + frees reaches the threshold', () => {
    const devices = [
      device('a.yaml', { last_compiled: NOW - 3 * DAY }),
      device('b.yaml', { last_compiled: NOW - 2 * DAY }),
      device('c.yaml', { last_compiled: NOW - DAY }),
    ];
    const plan = planReclaim(policy({ min_free: { bytes: 200 * MB } }), inputs({ devices, disk: disk(50 * MB) }), 'p');
    // 50 → 130 → 210 ≥ 200.
    expect(names(plan)).toEqual(['a.yaml', 'b.yaml']);
    expect(plan.steps.every((step) => step.rule === 'free_space')).toBe(true);
    expect(plan.expected_free_bytes).toBe(210 * MB);
  });

  it('free space in percent of the file system', () => {
    const devices = [
      device('a.yaml', { last_compiled: NOW - 3 * DAY }),
      device('b.yaml', { last_compiled: NOW - 2 * DAY }),
      device('c.yaml', { last_compiled: NOW - DAY }),
    ];
    // 10% of 2000 MB = 200 MB; free 121 MB → one clean (80 MB) gives 201 MB.
    const plan = planReclaim(policy({ min_free: { percent: 10 } }), inputs({ devices, disk: disk(121 * MB, 2000 * MB) }), 'p');
    expect(names(plan)).toEqual(['a.yaml']);
    expect(plan.expected_free_bytes).toBe(201 * MB);
    // Enough free already: nothing.
    expect(planReclaim(policy({ min_free: { percent: 10 } }), inputs({ devices, disk: disk(200 * MB, 2000 * MB) }), 'p').steps).toEqual([]);
  });

  it('free space without a disk reading: the rule is skipped with a plan-level note', () => {
    const plan = planReclaim(policy({ min_free: { percent: 10 } }), inputs({ devices: [device('a.yaml')], disk: null }), 'p');
    expect(plan.steps).toEqual([]);
    expect(plan.skipped).toEqual([{ build_path: '', reason: SKIP_NO_DISK }]);
    expect(plan.expected_free_bytes).toBeNull();
  });
});

describe('planReclaim: what is never picked', () => {
  it('busy, compiled in the last hour and not measured are skipped with reasons; nothing cleanable is simply not picked; the next in line is taken', () => {
    const devices = [
      device('busy.yaml', { last_compiled: NOW - 50 * DAY, busy: true }),
      device('unmeasured.yaml', { last_compiled: NOW - 49 * DAY, cleanable_bytes: null }),
      device('empty.yaml', { last_compiled: NOW - 48 * DAY, cleanable_bytes: 0 }),
      device('ok.yaml', { last_compiled: NOW - 47 * DAY }),
      device('fresh.yaml', { last_compiled: NOW - 1800 }),
      device('later.yaml', { last_compiled: NOW - 2 * DAY }),
    ];
    // 600 MB total, cap 500 MB: ok (600 → 520) is not enough, later (→ 440) is; fresh is never reached.
    const plan = planReclaim(policy({ max_total_bytes: 500 * MB }), inputs({ devices }), 'p');
    expect(names(plan)).toEqual(['ok.yaml', 'later.yaml']);
    expect(plan.skipped).toEqual([
      { configuration: 'busy.yaml', build_path: '/data/build/busy', reason: SKIP_BUSY },
      { configuration: 'unmeasured.yaml', build_path: '/data/build/unmeasured', reason: SKIP_NOT_MEASURED },
    ]);
  });

  it('a recently compiled device the cap reaches is skipped with the reason', () => {
    const devices = [device('fresh.yaml', { last_compiled: NOW - 1800 }), device('old.yaml', { last_compiled: NOW - 3 * DAY })];
    const plan = planReclaim(policy({ max_total_bytes: 10 * MB }), inputs({ devices }), 'p');
    expect(names(plan)).toEqual(['old.yaml']);
    expect(plan.skipped).toEqual([{ configuration: 'fresh.yaml', build_path: '/data/build/fresh', reason: SKIP_RECENT }]);
  });

  it('a device no rule reaches is not listed as skipped', () => {
    const plan = planReclaim(
      policy({ older_than_seconds: 30 * DAY }),
      inputs({ devices: [device('busy.yaml', { busy: true, last_compiled: NOW - DAY })] }),
      'p',
    );
    expect(plan.skipped).toEqual([]);
  });
});

describe('planReclaim: rules combined', () => {
  it('runs unused, then age, then cap, then free space; each device once; totals add up', () => {
    const devices = [
      device('ancient.yaml', { last_compiled: NOW - 100 * DAY }),
      device('old.yaml', { last_compiled: NOW - 40 * DAY }),
      device('mid.yaml', { last_compiled: NOW - 20 * DAY }),
      device('new.yaml', { last_compiled: NOW - 10 * DAY }),
      device('newest.yaml', { last_compiled: NOW - 5 * DAY }),
    ];
    const plan = planReclaim(
      policy({ unused_older_than_seconds: 7 * DAY, older_than_seconds: 30 * DAY, max_total_bytes: 300 * MB, min_free: { bytes: 330 * MB } }),
      inputs({ devices, unused: [unused('gone', { bytes: 70 * MB })], disk: disk(20 * MB) }),
      'p',
    );
    expect(plan.steps.map((step) => [step.configuration ?? step.build_path, step.rule])).toEqual([
      ['/data/build/gone', 'unused'],
      ['ancient.yaml', 'age'],
      ['old.yaml', 'age'],
      // 500 − 160 = 340 > 300: one more for the cap → 260.
      ['mid.yaml', 'cap'],
      // free: 20 + 70 + 3×80 = 330 ≥ 330: the free-space rule needs nothing more.
    ]);
    expect(plan.frees_bytes).toBe(70 * MB + 3 * 80 * MB);
    expect(plan.expected_free_bytes).toBe(20 * MB + plan.frees_bytes);
    expect(plan.devices_total_after_bytes).toBe(500 * MB - 3 * 80 * MB);
    const more = planReclaim(
      { ...plan.policy, min_free: { bytes: 331 * MB } },
      inputs({ devices, unused: [unused('gone', { bytes: 70 * MB })], disk: disk(20 * MB) }),
      'p',
    );
    expect(more.steps.at(-1)).toMatchObject({ configuration: 'new.yaml', rule: 'free_space' });
  });

  it('each step carries its pair and folder size from the input', () => {
    const plan = planReclaim(policy({ older_than_seconds: DAY }), inputs({ devices: [device('a.yaml', { signal: [111, null], folder_bytes: 123 })] }), 'p');
    expect(plan.steps[0]).toMatchObject({ signal: [111, null], folder_bytes: 123, last_compiled: NOW - 10 * DAY, build_path: '/data/build/a' });
  });
});

describe('planReclaim: property', () => {
  const deviceArb = fc.record({
    folder: fc.integer({ min: 0, max: 1000 }),
    cleanable: fc.option(fc.integer({ min: 0, max: 1000 }), { nil: null }),
    age: fc.option(fc.integer({ min: 0, max: 100 * DAY }), { nil: null }),
    busy: fc.boolean(),
  });
  it('frees_bytes is the sum of the steps, and the cap and free-space rules never take a step they did not need', () => {
    fc.assert(
      fc.property(
        fc.array(deviceArb, { maxLength: 25 }),
        fc.array(fc.record({ bytes: fc.integer({ min: 0, max: 1000 }), age: fc.option(fc.integer({ min: 0, max: 100 * DAY }), { nil: null }) }), {
          maxLength: 5,
        }),
        fc.option(fc.integer({ min: 0, max: 20_000 }), { nil: null }),
        fc.option(fc.integer({ min: 0, max: 20_000 }), { nil: null }),
        fc.option(fc.integer({ min: DAY, max: 60 * DAY }), { nil: null }),
        fc.integer({ min: 0, max: 20_000 }),
        (rawDevices, rawUnused, cap, minFree, olderThan, free) => {
          const devices = rawDevices.map((raw, index) =>
            device(`d${index}.yaml`, {
              folder_bytes: raw.folder + (raw.cleanable ?? 0),
              cleanable_bytes: raw.cleanable,
              last_compiled: raw.age === null ? null : NOW - raw.age,
              busy: raw.busy,
            }),
          );
          const folders = rawUnused.map((raw, index) => unused(`u${index}`, { bytes: raw.bytes, last_used: raw.age === null ? null : NOW - raw.age }));
          const p = policy({
            max_total_bytes: cap,
            min_free: minFree === null ? null : { bytes: minFree },
            older_than_seconds: olderThan,
            unused_older_than_seconds: 7 * DAY,
          });
          const plan = planReclaim(p, inputs({ devices, unused: folders, disk: disk(free, 100_000) }), 'p');
          expect(plan.frees_bytes).toBe(plan.steps.reduce((sum, step) => sum + step.bytes, 0));
          expect(new Set(plan.steps.map((step) => step.build_path)).size).toBe(plan.steps.length);
          expect(plan.steps.every((step) => step.bytes > 0 || step.kind === 'unused')).toBe(true);
          // Rules in order.
          const order = ['unused', 'age', 'cap', 'free_space'];
          const ranks = plan.steps.map((step) => order.indexOf(step.rule));
          expect([...ranks].sort((a, b) => a - b)).toEqual(ranks);
          // The last cap step was needed: before it the total was still above the cap.
          const capSteps = plan.steps.filter((step) => step.rule === 'cap');
          if (cap !== null && capSteps.length > 0) {
            const cleanedBeforeLast =
              plan.steps.filter((step) => step.kind === 'device').reduce((sum, step) => sum + step.bytes, 0) - (capSteps.at(-1)?.bytes ?? 0);
            const freeSteps = plan.steps.filter((step) => step.rule === 'free_space').reduce((sum, step) => sum + step.bytes, 0);
            expect(plan.devices_total_bytes - (cleanedBeforeLast - freeSteps)).toBeGreaterThan(cap);
          }
          // The last free-space step was needed too.
          const freeSteps = plan.steps.filter((step) => step.rule === 'free_space');
          if (minFree !== null && freeSteps.length > 0) {
            expect(free + plan.frees_bytes - (freeSteps.at(-1)?.bytes ?? 0)).toBeLessThan(minFree);
          }
          // Never a busy, recent or unmeasured device.
          for (const step of plan.steps.filter((entry) => entry.kind === 'device')) {
            const source = devices.find((entry) => entry.configuration === step.configuration);
            expect(source?.busy).toBe(false);
            expect(source?.cleanable_bytes).not.toBeNull();
            expect(source?.last_compiled === null || NOW - (source?.last_compiled ?? 0) >= 3600).toBe(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
