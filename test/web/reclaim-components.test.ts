// @vitest-environment happy-dom
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The reclaim panel and the summary's disk card, rendered against a real
 * store and client on the fake socket: the live preview (debounced, only
 * the newest answer shown), a refusal shown next to the field it names with
 * the previous plan kept, Save, Run now (confirmation, then `reclaim/run`
 * with the plan's id), a run's progress and the history; the disk card and
 * the free-space warning appearing and going away.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import '../../web/src/components/fleet-summary.js';
import '../../web/src/components/reclaim-dialog.js';
import { PREVIEW_DEBOUNCE_MS, type ReclaimDialogElement } from '../../web/src/components/reclaim-dialog.js';
import { formatBytes } from '../../src/shared/format.js';
import { DEFAULT_RECLAIM_POLICY, type ReclaimPlan, type ReclaimRun } from '../../src/shared/reclaim.js';
import { harness, mount, root, settle, textOf, type Harness } from './dom-harness.js';
import { device, flush, MB, RECLAIM_OFF, type FakeSocket } from './fixtures.js';

const GB = 1024 * MB;
const NOW = Math.floor(Date.now() / 1000);
const DAY = 86_400;
const DISK = { path: '/config/.esphome', free_bytes: 6 * GB, total_bytes: 32 * GB };

const fleet = () => [
  device('kitchen', { friendly_name: 'Kitchen Light', build_size_bytes: 212 * MB }),
  device('porch', { friendly_name: 'Porch Light', build_size_bytes: 150 * MB }),
];

function plan(id: string, steps: ReclaimPlan['steps'], overrides: Partial<ReclaimPlan> = {}): ReclaimPlan {
  const frees = steps.reduce((sum, s) => sum + s.bytes, 0);
  return {
    plan_id: id,
    computed_at: NOW,
    policy: { ...DEFAULT_RECLAIM_POLICY, max_total_bytes: 200 * MB },
    steps,
    frees_bytes: frees,
    disk: DISK,
    expected_free_bytes: DISK.free_bytes + frees,
    devices_total_bytes: 362 * MB,
    devices_total_after_bytes: 362 * MB - frees,
    skipped: [],
    ...overrides,
  };
}

const porchStep = {
  kind: 'device' as const,
  configuration: 'porch.yaml',
  build_path: '/config/.esphome/build/porch',
  bytes: 140 * MB,
  folder_bytes: 150 * MB,
  rule: 'cap' as const,
  last_compiled: NOW - 40 * DAY,
  signal: [1, 2] as [number, number],
};
const kitchenStep = {
  ...porchStep,
  configuration: 'kitchen.yaml',
  build_path: '/config/.esphome/build/kitchen',
  bytes: 200 * MB,
  last_compiled: NOW - 2 * DAY,
};

/** The open preview's request and answer: replies to the last `reclaim/preview` sent. */
function answerPreview(socket: FakeSocket, result: ReclaimPlan): Record<string, unknown> {
  const frame = socket.lastSent('reclaim/preview');
  socket.receive({ message_id: frame['message_id'], result });
  return frame;
}

function refusePreview(socket: FakeSocket, details: string): void {
  socket.receive({ message_id: socket.lastSent('reclaim/preview')['message_id'], error_code: 'invalid_args', details });
}

const sentCount = (socket: FakeSocket, command: string) => socket.sent.filter((f) => f['command'] === command).length;

async function openPanel(h: Harness): Promise<ReclaimDialogElement> {
  const el = await mount('db-reclaim-dialog', (e) => (e.ctx = h.ctx));
  const shown = el.show();
  await flush();
  h.socket.reply('reclaim/history', []);
  answerPreview(h.socket, plan('p0', []));
  await shown;
  await settle(el);
  return el;
}

function typeInto(el: ReclaimDialogElement, field: string, value: string): void {
  const input = root(el).querySelector<HTMLInputElement>(`input[name="${field}"]`);
  if (!input) throw new Error(`no input ${field}`);
  input.value = value;
  input.dispatchEvent(new Event('input'));
}

beforeEach(() => {
  document.body.replaceChildren();
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
});
afterEach(() => {
  document.body.replaceChildren();
  vi.useRealTimers();
});

describe('<db-reclaim-dialog>', () => {
  it('opens on the saved policy, previews it and lists the history', async () => {
    const h = harness(fleet(), { disk: DISK, reclaim: { ...RECLAIM_OFF, policy: { ...DEFAULT_RECLAIM_POLICY, older_than_seconds: 30 * DAY } } });
    const el = await mount('db-reclaim-dialog', (e) => (e.ctx = h.ctx));
    const shown = el.show();
    await flush();
    expect(root(el).querySelector('dialog')?.open).toBe(true);
    expect(root(el).querySelector<HTMLInputElement>('input[name="older_than"]')?.value).toBe('30d');
    expect(h.socket.lastSent('reclaim/preview')['args']).toEqual({
      policy: { enabled: false, max_total: null, older_than: 30 * DAY, unused_older_than: null, min_free: null, schedule_hours: null },
    });
    const done: ReclaimRun = {
      run_id: 'r1',
      trigger: 'schedule',
      started_at: NOW - 3600,
      finished_at: NOW - 3500,
      status: 'partial',
      reason: 'Age rule: 2 devices',
      steps: [porchStep, kitchenStep],
      results: [
        { build_path: porchStep.build_path, configuration: 'porch.yaml', ok: true, freed_bytes: 140 * MB },
        { build_path: kitchenStep.build_path, configuration: 'kitchen.yaml', ok: false, freed_bytes: 0, error: 'compiled since the preview' },
      ],
      freed_bytes: 140 * MB,
      skipped: [{ configuration: 'office.yaml', build_path: '/b/office', reason: 'a job is running' }],
    };
    h.socket.reply('reclaim/history', [done]);
    answerPreview(h.socket, plan('p1', [porchStep]));
    await shown;
    await settle(el);
    const run = root(el).querySelector('[data-testid="reclaim-history"] details.run');
    expect(textOf(run?.querySelector('summary'))).toContain('Schedule');
    expect(textOf(run?.querySelector('summary'))).toContain('Partly done');
    expect(textOf(run?.querySelector('summary'))).toContain(`freed ${formatBytes(140 * MB)}`);
    expect(textOf(run?.querySelector('summary'))).toContain('1 of 2 steps');
    expect(textOf(run?.querySelector('.results'))).toContain('Kitchen Light: compiled since the preview');
    expect(textOf(run?.querySelector('.results'))).toContain('office.yaml: a job is running');
  });

  it('previews the draft after a pause in typing, listing the steps in run order with the total and the disk after', async () => {
    const h = harness(fleet(), { disk: DISK });
    const el = await openPanel(h);
    const before = sentCount(h.socket, 'reclaim/preview');
    typeInto(el, 'max_total', '2');
    typeInto(el, 'max_total', '200MB');
    await settle(el);
    expect(sentCount(h.socket, 'reclaim/preview')).toBe(before); // still typing
    vi.advanceTimersByTime(PREVIEW_DEBOUNCE_MS);
    expect(sentCount(h.socket, 'reclaim/preview')).toBe(before + 1); // one request for the burst
    expect(h.socket.lastSent('reclaim/preview')['args']).toMatchObject({ policy: { max_total: '200MB' } });
    answerPreview(h.socket, plan('p2', [porchStep, kitchenStep]));
    await flush();
    await settle(el);
    const rows = [...root(el).querySelectorAll('[data-testid="reclaim-preview"] tbody tr')];
    expect(rows.map((r) => textOf(r.querySelector('.name')))).toEqual(['Porch Light', 'Kitchen Light']);
    expect(textOf(rows[0]?.querySelector('.rule'))).toBe('Over the cap');
    expect(textOf(rows[0])).toContain('40 days ago');
    expect(textOf(root(el).querySelector('[data-testid="preview-total"]'))).toBe(formatBytes(340 * MB));
    expect(textOf(root(el).querySelector('[data-testid="preview-free"]'))).toBe(`${formatBytes(6 * GB)} → ${formatBytes(6 * GB + 340 * MB)}`);
    expect(root(el).querySelector<HTMLButtonElement>('button.run')?.disabled).toBe(false);
  });

  it('shows a refusal next to the field it names and keeps the previous plan, not runnable', async () => {
    const h = harness(fleet(), { disk: DISK });
    const el = await openPanel(h);
    typeInto(el, 'max_total', '200MB');
    vi.advanceTimersByTime(PREVIEW_DEBOUNCE_MS);
    answerPreview(h.socket, plan('p2', [porchStep]));
    await flush();
    typeInto(el, 'max_total', '20 GBs');
    vi.advanceTimersByTime(PREVIEW_DEBOUNCE_MS);
    refusePreview(h.socket, 'max_total: "20 GBs" is not a size (use e.g. 20GB, 500 MB, 1.5GiB)');
    await flush();
    await settle(el);
    const input = root(el).querySelector<HTMLInputElement>('input[name="max_total"]');
    expect(input?.getAttribute('aria-invalid')).toBe('true');
    expect(textOf(root(el).querySelector('#f-max_total-error'))).toBe('"20 GBs" is not a size (use e.g. 20GB, 500 MB, 1.5GiB)');
    expect(input?.getAttribute('aria-describedby')).toContain('f-max_total-error');
    expect(textOf(root(el).querySelector('#f-older_than-error'))).toBe('');
    expect(root(el).querySelectorAll('[data-testid="reclaim-preview"] tbody tr')).toHaveLength(1);
    expect(textOf(root(el).querySelector('[data-testid="reclaim-preview"]'))).toContain('Showing the plan for the last valid values');
    expect(root(el).querySelector<HTMLButtonElement>('button.run')?.disabled).toBe(true);

    // A valid value clears the error and shows its plan.
    typeInto(el, 'max_total', '20GB');
    vi.advanceTimersByTime(PREVIEW_DEBOUNCE_MS);
    answerPreview(h.socket, plan('p3', []));
    await flush();
    await settle(el);
    expect(textOf(root(el).querySelector('#f-max_total-error'))).toBe('');
    expect(textOf(root(el).querySelector('[data-testid="preview-empty"]'))).toBe('Nothing to clean: every rule is met.');
    expect(root(el).querySelector<HTMLButtonElement>('button.run')?.disabled).toBe(true); // empty plan
  });

  it('drops an answer that is not the newest', async () => {
    const h = harness(fleet(), { disk: DISK });
    const el = await openPanel(h);
    typeInto(el, 'max_total', '100MB');
    vi.advanceTimersByTime(PREVIEW_DEBOUNCE_MS);
    const first = h.socket.lastSent('reclaim/preview');
    typeInto(el, 'max_total', '300MB');
    vi.advanceTimersByTime(PREVIEW_DEBOUNCE_MS);
    answerPreview(h.socket, plan('p-new', [kitchenStep]));
    h.socket.receive({ message_id: first['message_id'], result: plan('p-old', [porchStep, kitchenStep]) });
    await flush();
    await settle(el);
    expect([...root(el).querySelectorAll('tbody tr .name')].map((n) => textOf(n))).toEqual(['Kitchen Light']);
  });

  it('saves the form and reads it back as saved', async () => {
    const h = harness(fleet(), { disk: DISK });
    const el = await openPanel(h);
    const save = () => root(el).querySelector<HTMLButtonElement>('button.save');
    expect(save()?.disabled).toBe(true); // nothing changed
    root(el).querySelector<HTMLInputElement>('input[name="enabled"]')?.click();
    typeInto(el, 'older_than', '30d');
    typeInto(el, 'schedule_hours', '12');
    await settle(el);
    save()?.click();
    await flush();
    expect(h.socket.lastSent('reclaim/set_policy')['args']).toEqual({
      policy: { enabled: true, max_total: null, older_than: '30d', unused_older_than: null, min_free: null, schedule_hours: 12 },
    });
    const saved = {
      policy: { ...DEFAULT_RECLAIM_POLICY, enabled: true, older_than_seconds: 30 * DAY, schedule_hours: 12 },
      running: null,
      next_run_at: NOW + 12 * 3600,
    };
    h.socket.reply('reclaim/set_policy', saved);
    await flush();
    await settle(el);
    expect(h.ctx.store.reclaim).toEqual(saved);
    expect(h.ctx.toasts.list.map((t) => t.message)).toContain('Saved the reclaim policy');
    expect(textOf(root(el).querySelector('[data-testid="reclaim-saved"]'))).toBe('Saved');
    expect(save()?.disabled).toBe(true);
    typeInto(el, 'older_than', '31d');
    await settle(el);
    expect(textOf(root(el).querySelector('[data-testid="reclaim-saved"]'))).toBe('');
  });

  it('shows a refused save next to its field without a toast', async () => {
    const h = harness(fleet(), { disk: DISK });
    const el = await openPanel(h);
    typeInto(el, 'min_free', '150%');
    await settle(el);
    root(el).querySelector<HTMLButtonElement>('button.save')?.click();
    await flush();
    h.socket.receive({
      message_id: h.socket.lastSent('reclaim/set_policy')['message_id'],
      error_code: 'invalid_args',
      details: 'min_free: 150% is more than 100%',
    });
    await flush();
    await settle(el);
    expect(textOf(root(el).querySelector('#f-min_free-error'))).toBe('150% is more than 100%');
    expect(h.ctx.toasts.list).toHaveLength(0);
  });

  it('runs the previewed plan by its id after a confirmation listing the total, then shows the progress', async () => {
    const h = harness(fleet(), { disk: DISK });
    const el = await openPanel(h);
    typeInto(el, 'max_total', '200MB');
    vi.advanceTimersByTime(PREVIEW_DEBOUNCE_MS);
    answerPreview(h.socket, plan('p9', [porchStep, kitchenStep]));
    await flush();
    await settle(el);

    h.answer.value = false;
    root(el).querySelector<HTMLButtonElement>('button.run')?.click();
    await flush();
    expect(h.asked.at(-1)?.message).toContain(`Frees ${formatBytes(340 * MB)}`);
    expect(h.asked.at(-1)?.items).toEqual([`Porch Light: ${formatBytes(140 * MB)} (over the cap)`, `Kitchen Light: ${formatBytes(200 * MB)} (over the cap)`]);
    expect(sentCount(h.socket, 'reclaim/run')).toBe(0); // declined

    h.answer.value = true;
    root(el).querySelector<HTMLButtonElement>('button.run')?.click();
    await flush();
    expect(h.socket.lastSent('reclaim/run')['args']).toEqual({ plan_id: 'p9' });
    const started: ReclaimRun = {
      run_id: 'r9',
      trigger: 'manual',
      started_at: NOW,
      finished_at: null,
      status: 'running',
      reason: 'Run now',
      steps: [porchStep, kitchenStep],
      results: [],
      freed_bytes: 0,
      skipped: [],
    };
    h.socket.reply('reclaim/run', started);
    await flush();
    await settle(el);
    expect(textOf(root(el).querySelector('[data-testid="reclaim-progress"]'))).toBe('Running: step 1 of 2: Porch Light');
    expect(root(el).querySelector<HTMLButtonElement>('button.run')?.disabled).toBe(true);

    const first = { build_path: porchStep.build_path, configuration: 'porch.yaml', ok: true, freed_bytes: 140 * MB };
    h.ctx.store.applyEvent('reclaim_progress', { run_id: 'r9', index: 0, total: 2, result: first });
    await settle(el);
    expect(textOf(root(el).querySelector('[data-testid="reclaim-progress"]'))).toBe('Running: step 2 of 2: Kitchen Light');

    const historyBefore = sentCount(h.socket, 'reclaim/history');
    const second = { ...first, build_path: kitchenStep.build_path, configuration: 'kitchen.yaml', freed_bytes: 200 * MB };
    h.ctx.store.applyEvent('reclaim_finished', { ...started, finished_at: NOW + 5, status: 'completed', results: [first, second], freed_bytes: 340 * MB });
    await settle(el);
    expect(root(el).querySelector('[data-testid="reclaim-progress"]')).toBeNull();
    expect(sentCount(h.socket, 'reclaim/history')).toBe(historyBefore + 1); // refreshed on reclaim_finished
    expect(h.ctx.toasts.list.map((t) => t.message)).toContain(`Reclaim freed ${formatBytes(340 * MB)} (2 of 2 steps)`);
    expect(textOf(root(el).querySelector('details.run summary'))).toContain('Completed');
  });

  it('keeps "hours" numeric: a word is refused next to the field without asking the server', async () => {
    const h = harness(fleet(), { disk: DISK });
    const el = await openPanel(h);
    const before = sentCount(h.socket, 'reclaim/preview');
    typeInto(el, 'schedule_hours', 'daily');
    vi.advanceTimersByTime(PREVIEW_DEBOUNCE_MS);
    await settle(el);
    expect(sentCount(h.socket, 'reclaim/preview')).toBe(before);
    expect(textOf(root(el).querySelector('#f-schedule_hours-error'))).toBe('"daily" is not a number of hours (e.g. 24)');
  });
});

describe('<db-fleet-summary> disk card and warning', () => {
  it('shows free of total with a bar, live from disk_updated', async () => {
    const h = harness(fleet(), { disk: DISK });
    const el = await mount('db-fleet-summary', (e) => (e.ctx = h.ctx));
    const card = () => root(el).querySelector('[data-testid="summary-disk"]');
    expect(textOf(card()?.querySelector('.value'))).toBe(formatBytes(6 * GB));
    expect(textOf(card()?.querySelector('.sub'))).toBe(`of ${formatBytes(32 * GB)} · 81 % used`);
    expect(card()?.querySelector<HTMLElement>('.bar span')?.style.width).toBe('81%');
    h.ctx.store.applyEvent('disk_updated', { disk: null });
    await settle(el);
    expect(textOf(card()?.querySelector('.value'))).toBe('—');
  });

  it('warns below the policy threshold, below twice the largest build, and not otherwise; the button opens the preview', async () => {
    const h = harness(fleet(), { disk: DISK });
    const el = await mount('db-fleet-summary', (e) => (e.ctx = h.ctx));
    const warning = () => root(el).querySelector('[data-testid="disk-warning"]');
    expect(warning()).toBeNull();

    h.ctx.store.applyEvent('reclaim_policy_updated', { ...RECLAIM_OFF, policy: { ...DEFAULT_RECLAIM_POLICY, min_free: { bytes: 8e9 } } });
    await settle(el);
    expect(warning()?.getAttribute('role')).toBe('alert');
    expect(textOf(warning()?.querySelector('.text'))).toBe("Only 6.0 GB free on the data dir's disk — below your policy's 8 GB");

    h.ctx.store.applyEvent('reclaim_policy_updated', RECLAIM_OFF);
    h.ctx.store.applyEvent('disk_updated', { disk: { ...DISK, free_bytes: 300 * MB } });
    await settle(el);
    expect(textOf(warning()?.querySelector('.text'))).toBe(
      `Only 300.0 MB free on the data dir's disk — the next compile may not fit (largest build folder ${formatBytes(212 * MB)})`,
    );
    warning()?.querySelector('button')?.click();
    expect(h.opened).toEqual(['reclaim:preview']);

    h.ctx.store.applyEvent('disk_updated', { disk: DISK });
    await settle(el);
    expect(warning()).toBeNull();
  });
});
