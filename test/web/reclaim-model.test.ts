/**
 * The reclaim panel's pure logic: the form as typed ⇄ the policy input
 * (blank = off, untouched fields sent as the saved numbers), which field a
 * refusal names, the plan's rows in run order, and the free-space
 * warning's words for both kinds and for none.
 */
import { describe, expect, it } from 'vitest';
import { formatBytes } from '../../src/shared/format.js';
import { DEFAULT_RECLAIM_POLICY, diskWarning, type ReclaimPlan, type ReclaimPolicy, type ReclaimRun, type ReclaimStep } from '../../src/shared/reclaim.js';
import {
  ageSpelling,
  fieldError,
  formDiffers,
  formFromPolicy,
  freeAfterText,
  inputFromForm,
  planRows,
  relativeTime,
  runProgress,
  sizeSpelling,
  stepsDoneText,
  usedPercent,
  warningText,
  type ReclaimForm,
} from '../../web/src/state/reclaim-model.js';

const MB = 1024 * 1024;
const GB = 1024 * MB;
const DAY = 86_400;
const NOW = 1_764_000_000;

const BLANK: ReclaimForm = { enabled: false, max_total: '', older_than: '', unused_older_than: '', min_free: '', schedule_hours: '' };

const SAVED: ReclaimPolicy = {
  enabled: true,
  max_total_bytes: 1.5 * GB,
  older_than_seconds: 30 * DAY,
  unused_older_than_seconds: 12 * 3600,
  min_free: { percent: 10 },
  schedule_hours: 24,
};

function step(overrides: Partial<ReclaimStep>): ReclaimStep {
  return {
    kind: 'device',
    configuration: 'kitchen.yaml',
    build_path: '/config/.esphome/build/kitchen',
    bytes: 200 * MB,
    folder_bytes: 212 * MB,
    rule: 'cap',
    last_compiled: NOW - 40 * DAY,
    signal: [1, 2],
    ...overrides,
  };
}

function plan(steps: ReclaimStep[], overrides: Partial<ReclaimPlan> = {}): ReclaimPlan {
  const frees = steps.reduce((sum, s) => sum + s.bytes, 0);
  return {
    plan_id: 'p1',
    computed_at: NOW,
    policy: SAVED,
    steps,
    frees_bytes: frees,
    disk: { path: '/config/.esphome', free_bytes: 2 * GB, total_bytes: 32 * GB },
    expected_free_bytes: 2 * GB + frees,
    devices_total_bytes: 3 * GB,
    devices_total_after_bytes: 3 * GB - frees,
    skipped: [],
    ...overrides,
  };
}

describe('form ⇄ policy input', () => {
  it('sends a blank form as every rule off', () => {
    expect(inputFromForm(BLANK, null)).toEqual({
      input: { enabled: false, max_total: null, older_than: null, unused_older_than: null, min_free: null, schedule_hours: null },
    });
  });

  it('sends edited text as typed (trimmed) for the server to parse, and hours as a number', () => {
    const form = { ...BLANK, enabled: true, max_total: ' 20GB ', older_than: '30d', unused_older_than: '12h', min_free: '10%', schedule_hours: '6' };
    expect(inputFromForm(form, DEFAULT_RECLAIM_POLICY)).toEqual({
      input: { enabled: true, max_total: '20GB', older_than: '30d', unused_older_than: '12h', min_free: '10%', schedule_hours: 6 },
    });
  });

  it('shows a saved policy in the documented spellings and blanks the rules that are off', () => {
    expect(formFromPolicy(SAVED)).toEqual({
      enabled: true,
      max_total: '1.5 GiB',
      older_than: '30d',
      unused_older_than: '12h',
      min_free: '10%',
      schedule_hours: '24',
    });
    expect(formFromPolicy(DEFAULT_RECLAIM_POLICY)).toEqual(BLANK);
    expect(formFromPolicy({ ...DEFAULT_RECLAIM_POLICY, min_free: { bytes: 5e9 } }).min_free).toBe('5 GB');
  });

  it('sends untouched fields back as the saved numbers, so saving without edits cannot drift', () => {
    const form = formFromPolicy({ ...SAVED, max_total_bytes: 1_610_612_737 });
    expect(form.max_total).toBe('1610612737 B'); // no shorter exact spelling…
    const built = inputFromForm({ ...form, older_than: '7d' }, { ...SAVED, max_total_bytes: 1_610_612_737 });
    expect(built).toEqual({
      input: { enabled: true, max_total: 1_610_612_737, older_than: '7d', unused_older_than: 12 * 3600, min_free: '10%', schedule_hours: 24 },
    }); // …and sent as the number, not re-parsed
  });

  it('refuses hours that are not a number, naming the field, without a request', () => {
    expect(inputFromForm({ ...BLANK, schedule_hours: 'daily' }, null)).toEqual({
      error: { field: 'schedule_hours', message: '"daily" is not a number of hours (e.g. 24)' },
    });
    expect(inputFromForm({ ...BLANK, schedule_hours: '-2' }, null)).toHaveProperty('error.field', 'schedule_hours');
  });

  it('tells an edited form from the saved policy', () => {
    expect(formDiffers(formFromPolicy(SAVED), SAVED)).toBe(false);
    expect(formDiffers({ ...formFromPolicy(SAVED), older_than: '' }, SAVED)).toBe(true);
    expect(formDiffers({ ...formFromPolicy(SAVED), enabled: false }, SAVED)).toBe(true);
    expect(formDiffers(BLANK, null)).toBe(false);
  });

  it('spells sizes and ages as the server reads them back (GB = 1000³, GiB = 1024³)', () => {
    expect(sizeSpelling(20e9)).toBe('20 GB');
    expect(sizeSpelling(20 * GB)).toBe('20 GiB');
    expect(sizeSpelling(500e6)).toBe('500 MB');
    expect(sizeSpelling(1.25 * GB)).toBe('1.25 GiB');
    expect(sizeSpelling(999)).toBe('999 B');
    expect(ageSpelling(2 * DAY)).toBe('2d');
    expect(ageSpelling(36 * 3600)).toBe('36h');
    expect(ageSpelling(90 * 60)).toBe('90m');
    expect(ageSpelling(45)).toBe('45s');
  });
});

describe('fieldError', () => {
  it('reads the field an invalid_args message starts with', () => {
    expect(fieldError('max_total: "20 GBs" is not a size (use e.g. 20GB, 500 MB, 1.5GiB)')).toEqual({
      field: 'max_total',
      message: '"20 GBs" is not a size (use e.g. 20GB, 500 MB, 1.5GiB)',
    });
    expect(fieldError('policy.min_free: "110%" is more than 100%')).toEqual({ field: 'min_free', message: '"110%" is more than 100%' });
  });

  it('finds a field named later in the message, the longest name first', () => {
    expect(fieldError('bad value for unused_older_than ("soon")')).toEqual({ field: 'unused_older_than', message: 'bad value for unused_older_than ("soon")' });
    expect(fieldError('the plan expired')).toBeNull();
  });
});

describe('planRows', () => {
  it('lists the steps in run order with their kind, name, rule, last compile and bytes', () => {
    const p = plan([
      step({ configuration: 'porch.yaml', build_path: '/b/porch', rule: 'age', last_compiled: NOW - 90 * DAY, bytes: 50 * MB }),
      step({ configuration: 'kitchen.yaml', build_path: '/b/kitchen', rule: 'cap', last_compiled: NOW - 3 * DAY }),
      step({ kind: 'unused', configuration: undefined, build_path: '/b/old-thing', rule: 'unused', last_compiled: null, bytes: 48 * MB }),
    ]);
    const names: Record<string, string> = { 'porch.yaml': 'Porch Light', 'kitchen.yaml': 'Kitchen Light' };
    const rows = planRows(p, (c) => names[c] ?? c, NOW);
    expect(rows.map((r) => [r.order, r.kind, r.name, r.rule, r.lastCompiled, r.bytes])).toEqual([
      [1, 'Device', 'Porch Light', 'Not compiled lately', '3 months ago', 50 * MB],
      [2, 'Device', 'Kitchen Light', 'Over the cap', '3 days ago', 200 * MB],
      [3, 'Unused folder', 'old-thing', 'Unused folder', 'never', 48 * MB],
    ]);
    expect(freeAfterText(p)).toBe(`${formatBytes(2 * GB)} → ${formatBytes(2 * GB + 298 * MB)}`);
    expect(freeAfterText(plan([], { disk: null, expected_free_bytes: null }))).toBeNull();
  });

  it('says how long ago in words', () => {
    expect(relativeTime(NOW - 10, NOW)).toBe('just now');
    expect(relativeTime(NOW - 600, NOW)).toBe('10 min ago');
    expect(relativeTime(NOW - 5 * 3600, NOW)).toBe('5 h ago');
    expect(relativeTime(NOW - 12 * DAY, NOW)).toBe('12 days ago');
    expect(relativeTime(NOW - 800 * DAY, NOW)).toBe('2 years ago');
    expect(relativeTime(null, NOW)).toBe('never');
  });
});

describe('warningText', () => {
  const disk = { path: '/data', free_bytes: 1.2 * GB, total_bytes: 32 * GB };

  it('words the policy threshold warning, naming the threshold as it was set', () => {
    const policy = { ...DEFAULT_RECLAIM_POLICY, min_free: { bytes: 5e9 } };
    const warning = diskWarning(disk, policy, 0);
    expect(warningText(warning, policy.min_free)).toBe("Only 1.2 GB free on the data dir's disk — below your policy's 5 GB");
    expect(warningText(warning)).toBe(`Only 1.2 GB free on the data dir's disk — below your policy's ${formatBytes(5e9)}`);
    const share = { percent: 10 };
    expect(warningText(diskWarning(disk, { ...DEFAULT_RECLAIM_POLICY, min_free: share }, 0), share)).toBe(
      "Only 1.2 GB free on the data dir's disk — below your policy's 10% (3.2 GB)",
    );
  });

  it('words the next-compile warning with the largest build folder', () => {
    const warning = diskWarning(disk, DEFAULT_RECLAIM_POLICY, 1.4 * GB);
    expect(warningText(warning)).toBe("Only 1.2 GB free on the data dir's disk — the next compile may not fit (largest build folder 1.4 GB)");
  });

  it('says nothing when there is room', () => {
    expect(warningText(diskWarning({ ...disk, free_bytes: 20 * GB }, { ...DEFAULT_RECLAIM_POLICY, min_free: { percent: 10 } }, 1.4 * GB))).toBeNull();
    expect(warningText(null)).toBeNull();
  });

  it('measures the share of the disk in use for the bar', () => {
    expect(usedPercent({ path: '/d', free_bytes: 8 * GB, total_bytes: 32 * GB })).toBe(75);
    expect(usedPercent({ path: '/d', free_bytes: 0, total_bytes: 0 })).toBe(0);
  });
});

describe('runs', () => {
  const run = (results: ReclaimRun['results']): ReclaimRun => ({
    run_id: 'r1',
    trigger: 'manual',
    started_at: NOW,
    finished_at: null,
    status: 'running',
    reason: 'Run now',
    steps: [step({ configuration: 'a.yaml', build_path: '/b/a' }), step({ configuration: 'b.yaml', build_path: '/b/b' })],
    results,
    freed_bytes: 0,
    skipped: [],
  });

  it('says which step runs now and on what', () => {
    expect(runProgress(run([]), (c) => c.toUpperCase())).toEqual({ current: 1, total: 2, subject: 'A.YAML' });
    expect(runProgress(run([{ build_path: '/b/a', ok: true, freed_bytes: 1 }]), (c) => c)).toEqual({ current: 2, total: 2, subject: 'b.yaml' });
  });

  it('counts the steps done', () => {
    expect(
      stepsDoneText(
        run([
          { build_path: '/b/a', ok: true, freed_bytes: 1 },
          { build_path: '/b/b', ok: false, freed_bytes: 0, error: 'x' },
        ]),
      ),
    ).toBe('1 of 2 steps');
  });
});
