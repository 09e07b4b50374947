// @vitest-environment happy-dom
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The disk beyond the Build Size, rendered: "Unused build folders", the
 * PlatformIO cache with the reset, the drawer's "Clean frees" / breakdown /
 * "On disk", the summary's unused card, and the actions behind them
 * (compile_bulk, reset, delete_orphan) as frames on the fake socket.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import '../../web/src/components/device-drawer.js';
import { cleanLabel } from '../../web/src/components/device-drawer.js';
import '../../web/src/components/fleet-summary.js';
import '../../web/src/components/platformio-panel.js';
import '../../web/src/components/unused-builds.js';
import { ORPHANS_SHOWN } from '../../web/src/components/unused-builds.js';
import type { BuildSizeBreakdown } from '../../src/shared/device.js';
import { formatBytes } from '../../src/shared/format.js';
import type { OrphanBuild, PlatformioSummary } from '../../src/shared/protocol.js';
import { harness, mount, root, settle, textOf } from './dom-harness.js';
import { device, flush, job, MB } from './fixtures.js';

const BUILD = '/config/.esphome/build';
const orphan = (name: string, bytes: number, parent = BUILD): OrphanBuild => ({
  build_path: `${parent}/${name}`,
  build_size_bytes: bytes,
  build_disk_bytes: bytes,
});
const ORPHANS = [orphan('bathroom-fan', 96.2 * MB), orphan('old-thing', 48 * MB), orphan('garage-v1', 0)];

const PIO: PlatformioSummary = {
  path: '/root/.platformio',
  bytes: 1.5 * 1024 * MB + 38 * MB + 286 * MB,
  parts: { packages: 1.5 * 1024 * MB, platforms: 38 * MB, '.cache': 286 * MB },
  walking: null,
};

const BREAKDOWN: BuildSizeBreakdown = { pioenvs: 180 * MB, piolibdeps: 20 * MB, src: 12 * MB, other: 0.4 * MB, cleanable: 200.1 * MB };

const fleet = () => [
  device('kitchen', {
    friendly_name: 'Kitchen Light',
    build_size_bytes: 212.4 * MB,
    build_disk_bytes: 280 * MB,
    build_size_breakdown: BREAKDOWN,
  }),
  device('office', { friendly_name: 'Office', build_size_bytes: 30 * MB, build_disk_bytes: 31 * MB }),
  device('porch', { friendly_name: 'Porch' }),
];

beforeEach(() => document.body.replaceChildren());
afterEach(() => {
  document.body.replaceChildren();
  vi.useRealTimers();
});

describe('<db-unused-builds>', () => {
  it('lists the folders largest first with their sizes and the total, naming a shared parent once', async () => {
    const { ctx } = harness(fleet(), { orphans: ORPHANS });
    const el = await mount('db-unused-builds', (e) => (e.ctx = ctx));
    const rows = [...root(el).querySelectorAll('li')];
    expect(rows.map((r) => textOf(r.querySelector('.name')))).toEqual(['bathroom-fan', 'old-thing', 'garage-v1']);
    expect(rows.map((r) => textOf(r.querySelector('.size')))).toEqual(['96.2 MB', '48.0 MB', '—']);
    expect(rows[0]?.querySelector('.what')?.getAttribute('title')).toBe(`${BUILD}/bathroom-fan`);
    expect(root(el).querySelectorAll('.where')).toHaveLength(0);
    expect(textOf(root(el).querySelector('[data-testid="unused-parent"] .wide'))).toBe(BUILD);
    expect(root(el).querySelector('[data-testid="unused-parent"]')?.getAttribute('title')).toBe(BUILD);
    expect(textOf(root(el).querySelector('[data-testid="unused-total"]'))).toBe(formatBytes(144.2 * MB));
    expect(textOf(root(el).querySelector('.panel-figure'))).toContain('in 3 folders');
  });

  it('shows each parent (shortened, full in the tooltip) when the folders are in different places', async () => {
    const far = '/var/lib/homeassistant/addons/data/esphome/a-very-long/build';
    const { ctx } = harness([], { orphans: [orphan('a', 2 * MB), orphan('b', MB, far)] });
    const el = await mount('db-unused-builds', (e) => (e.ctx = ctx));
    expect(root(el).querySelector('[data-testid="unused-parent"]')).toBeNull();
    const where = [...root(el).querySelectorAll('.where')].map((w) => textOf(w));
    expect(where[0]).toBe(BUILD);
    expect(where[1]).toMatch(/^\/var\/…\/.*\/build$/);
    expect(where[1]?.length).toBeLessThanOrEqual(48);
    expect(root(el).querySelectorAll('.what')[1]?.getAttribute('title')).toBe(`${far}/b`);
  });

  it('says "None" calmly when there are none, and follows orphans_updated live', async () => {
    const { ctx } = harness(fleet());
    const el = await mount('db-unused-builds', (e) => (e.ctx = ctx));
    expect(textOf(root(el).querySelector('[data-testid="unused-none"]'))).toBe('None: every build folder belongs to a device.');
    expect(root(el).querySelector('[data-testid="unused-total"]')).toBeNull();
    ctx.store.applyEvent('orphans_updated', { orphans: [orphan('left-over', 5 * MB)] });
    await settle(el);
    expect(root(el).querySelector('[data-testid="unused-none"]')).toBeNull();
    expect(textOf(root(el).querySelector('li .name'))).toBe('left-over');
  });

  it(`shows ${ORPHANS_SHOWN} folders, then all of them on request`, async () => {
    const many = Array.from({ length: ORPHANS_SHOWN + 3 }, (_, i) => orphan(`old-${i}`, (20 - i) * MB));
    const { ctx } = harness([], { orphans: many });
    const el = await mount('db-unused-builds', (e) => (e.ctx = ctx));
    expect(root(el).querySelectorAll('li')).toHaveLength(ORPHANS_SHOWN);
    const more = root(el).querySelector('button.more') as HTMLButtonElement;
    expect(textOf(more)).toBe(`Show all ${many.length} folders`);
    more.click();
    await settle(el);
    expect(root(el).querySelectorAll('li')).toHaveLength(many.length);
    expect(more.getAttribute('aria-expanded')).toBe('true');
  });

  it('deletes a folder only after confirming, with the full path and what it frees in the question', async () => {
    const { ctx, socket, asked, answer } = harness(fleet(), { orphans: ORPHANS });
    const el = await mount('db-unused-builds', (e) => (e.ctx = ctx));
    const button = root(el).querySelectorAll('li button')[1] as HTMLButtonElement;
    expect(button.getAttribute('aria-label')).toBe('Delete unused build folder old-thing');

    answer.value = false;
    button.click();
    await flush();
    expect(asked[0]).toMatchObject({ title: 'Delete old-thing?', items: [`${BUILD}/old-thing`], confirmLabel: 'Delete folder', danger: true });
    expect(asked[0]?.message).toContain('Frees 48.0 MB');
    expect(socket.sent.some((f) => f['command'] === 'builds/delete_orphan')).toBe(false);

    answer.value = true;
    button.click();
    await flush();
    expect(socket.lastSent('builds/delete_orphan')['args']).toEqual({ build_path: `${BUILD}/old-thing` });
    socket.reply('builds/delete_orphan', { build_path: `${BUILD}/old-thing`, deleted: true });
    await flush();
    await settle(el);
    expect([...root(el).querySelectorAll('li .name')].map((n) => textOf(n))).toEqual(['bathroom-fan', 'garage-v1']);
    expect(ctx.toasts.list.at(-1)?.message).toBe('Deleted the unused build folder old-thing (48.0 MB freed)');
  });

  it('looks again on request and shows the list the server answers with once done', async () => {
    const { ctx, socket } = harness([], { orphans: [] });
    const el = await mount('db-unused-builds', (e) => (e.ctx = ctx));
    (root(el).querySelector('.panel-tools button') as HTMLButtonElement).click();
    await settle(el);
    expect((root(el).querySelector('.panel-tools button') as HTMLButtonElement).disabled).toBe(true);
    socket.reply('builds/rescan', [orphan('found', 3 * MB)]);
    await new Promise((resolve) => setTimeout(resolve, 0));
    await settle(el);
    expect(textOf(root(el).querySelector('li .name'))).toBe('found');
    expect((root(el).querySelector('.panel-tools button') as HTMLButtonElement).disabled).toBe(false);
  });
});

describe('<db-platformio-panel>', () => {
  it('shows the path, the total and the three parts', async () => {
    const { ctx } = harness(fleet(), { orphans: ORPHANS, platformio: PIO });
    const el = await mount('db-platformio-panel', (e) => (e.ctx = ctx));
    expect(root(el).querySelector('[data-testid="platformio-path"]')?.getAttribute('title')).toBe('/root/.platformio');
    expect(textOf(root(el).querySelector('[data-testid="platformio-total"]'))).toBe(formatBytes(PIO.bytes));
    const parts = [...root(el).querySelectorAll('.parts li')].map((li) => [li.getAttribute('data-part'), textOf(li.querySelector('.size'))]);
    expect(parts).toEqual([
      ['packages', '1.5 GB'],
      ['platforms', '38.0 MB'],
      ['.cache', '286.0 MB'],
    ]);
    expect(root(el).querySelectorAll('.stack-bar span')).toHaveLength(3);
  });

  it('shows progress on the part being walked, then the new sizes', async () => {
    const { ctx } = harness([], { platformio: PIO });
    const el = await mount('db-platformio-panel', (e) => (e.ctx = ctx));
    ctx.store.applyEvent('platformio_progress', { part: 'packages', files: 12873, bytes: 700 * MB });
    await settle(el);
    const row = root(el).querySelector('li[data-part="packages"]');
    expect(textOf(row?.querySelector('.desc'))).toBe('Measuring… 12,873 files so far');
    expect(row?.querySelector('.desc')?.getAttribute('role')).toBe('status');
    expect(textOf(row?.querySelector('.size'))).toBe('700.0 MB');
    const refresh = root(el).querySelector('.panel-tools button') as HTMLButtonElement;
    expect(refresh.disabled).toBe(true);
    expect(refresh.getAttribute('aria-label')).toBe('Measuring the PlatformIO folder');

    ctx.store.applyEvent('platformio_updated', { ...PIO, bytes: PIO.bytes + MB, parts: { ...PIO.parts, packages: PIO.parts.packages + MB } });
    await settle(el);
    expect(textOf(root(el).querySelector('li[data-part="packages"] .desc'))).toBe('Toolchains and frameworks');
    expect(refresh.disabled).toBe(false);
  });

  it('asks for a forced re-measure and shows the summary the server answers with once done', async () => {
    const { ctx, socket } = harness([], { platformio: { ...PIO, parts: { ...PIO.parts, '.cache': 0 }, bytes: PIO.bytes - PIO.parts['.cache'] } });
    const el = await mount('db-platformio-panel', (e) => (e.ctx = ctx));
    (root(el).querySelector('.panel-tools button') as HTMLButtonElement).click();
    await settle(el);
    expect(socket.sent.find((frame) => frame.command === 'platformio/refresh')?.args).toEqual({ force: true });
    socket.reply('platformio/refresh', PIO);
    await new Promise((resolve) => setTimeout(resolve, 0));
    await settle(el);
    expect(textOf(root(el).querySelector('li[data-part=".cache"] .size'))).toBe('286.0 MB');
  });

  it("says what a reset frees: devices' builds + unused folders + .cache", async () => {
    const { ctx } = harness(fleet(), { orphans: ORPHANS, platformio: PIO });
    const el = await mount('db-platformio-panel', (e) => (e.ctx = ctx));
    const expected = 212.4 * MB + 30 * MB + 144.2 * MB + 286 * MB;
    const frees = root(el).querySelector('[data-testid="reset-frees"]');
    expect(Number(frees?.getAttribute('data-bytes'))).toBe(expected);
    expect(textOf(frees)).toBe(formatBytes(expected));
    expect(textOf(root(el).querySelector('.split'))).toBe('242.4 MB device builds · 144.2 MB unused · 286.0 MB .cache');
    // Live: an unused folder gone means less to free.
    ctx.store.applyEvent('orphans_updated', { orphans: [] });
    await settle(el);
    expect(Number(root(el).querySelector('[data-testid="reset-frees"]')?.getAttribute('data-bytes'))).toBeCloseTo(expected - 144.2 * MB, 0);
  });

  it('says when there is nothing to free', async () => {
    const { ctx } = harness([device('porch')], { platformio: { ...PIO, parts: { ...PIO.parts, '.cache': 0 } } });
    const el = await mount('db-platformio-panel', (e) => (e.ctx = ctx));
    expect(root(el).querySelector('[data-testid="reset-frees"]')).toBeNull();
    expect(textOf(root(el).querySelector('.frees'))).toBe('Nothing to free right now');
  });

  it('resets after a clearly destructive confirmation, follows the job, and offers its log while it runs', async () => {
    const { ctx, socket, asked, answer, opened } = harness(fleet(), { orphans: ORPHANS, platformio: PIO });
    const el = await mount('db-platformio-panel', (e) => (e.ctx = ctx));
    const button = () => root(el).querySelector('[data-testid="reset-build-env"] button') as HTMLButtonElement;
    expect(textOf(button())).toBe('Reset build environment');
    expect(button().classList.contains('danger')).toBe(true);

    answer.value = false;
    button().click();
    await flush();
    expect(asked[0]).toMatchObject({ title: 'Reset the build environment?', confirmLabel: 'Reset build environment', danger: true });
    expect(asked[0]?.message).toContain('esphome clean-all');
    expect(asked[0]?.items).toEqual(['Build folders of 2 devices: 242.4 MB', '3 unused build folders: 144.2 MB', 'PlatformIO .cache: 286.0 MB']);
    expect(socket.sent.some((f) => f['command'] === 'firmware/reset_build_env')).toBe(false);

    answer.value = true;
    button().click();
    await flush();
    const reset = job('config', { job_id: 'r1', job_type: 'reset_build_env', status: 'queued' });
    socket.reply('firmware/reset_build_env', reset);
    await flush();
    expect(opened).toEqual(['log:r1']);
    ctx.store.applyEvent('job_queued', reset);
    await settle(el);
    expect(textOf(button())).toBe('Reset queued · Show log');
    button().click();
    expect(opened).toEqual(['log:r1', 'log:r1']);
    ctx.store.applyEvent('job_started', { ...reset, status: 'running' });
    await settle(el);
    expect(textOf(button())).toBe('Resetting… · Show log');
    ctx.store.applyEvent('job_completed', { ...reset, status: 'completed' });
    await settle(el);
    expect(textOf(button())).toBe('Reset build environment');
    expect(ctx.toasts.list.at(-1)?.message).toBe('Reset the build environment');
  });
});

describe('<db-device-drawer> storage details', () => {
  it('shows "Clean frees X" next to the Build Size and on the broom, with a breakdown', async () => {
    const { ctx } = harness(fleet());
    const drawer = await mount('db-device-drawer', (e) => (e.ctx = ctx));
    await drawer.show('kitchen.yaml');
    await settle(drawer);
    const row = root(drawer).querySelector('[data-testid="build-size-row"]');
    expect(textOf(row?.querySelector('[data-testid="clean-frees"]'))).toBe('Clean frees 200.1 MB');
    const broom = row?.querySelector('button') as HTMLButtonElement;
    expect(broom.getAttribute('aria-label')).toBe('Clean build files, frees 200.1 MB');
    expect(broom.getAttribute('title')).toBe('Clean build files, frees 200.1 MB');
    const legend = [...root(drawer).querySelectorAll('[data-testid="build-breakdown"] .legend li')].map((li) => textOf(li));
    expect(legend).toEqual(['.pioenvs 180.0 MB', '.piolibdeps 20.0 MB', 'src 12.0 MB', 'other 409.6 KB']);
    expect(root(drawer).querySelectorAll('[data-testid="build-breakdown"] .stack-bar span')).toHaveLength(4);
    // 280 MB allocated for 212.4 MB apparent: worth saying.
    expect(textOf(root(drawer).querySelector('[data-testid="on-disk"]'))).toBe('On disk: 280.0 MB · what du reports');
    const clean = [...root(drawer).querySelectorAll('.dialog-foot button')].find((b) => textOf(b) === 'Clean');
    expect(clean?.getAttribute('title')).toBe('Delete the build files (frees 200.1 MB)');
  });

  it('leaves out what is unknown or unremarkable, and says when there is nothing to clean', async () => {
    const { ctx } = harness(fleet());
    const drawer = await mount('db-device-drawer', (e) => (e.ctx = ctx));
    await drawer.show('office.yaml');
    await settle(drawer);
    // No breakdown measured, 31 vs 30 MB on disk: neither line.
    expect(root(drawer).querySelector('[data-testid="clean-frees"]')).toBeNull();
    expect(root(drawer).querySelector('[data-testid="build-breakdown"]')).toBeNull();
    expect(root(drawer).querySelector('[data-testid="build-size-row"] button')?.getAttribute('aria-label')).toBe('Clean build files');

    ctx.store.applyEvent('device_updated', {
      device: device('office', {
        friendly_name: 'Office',
        build_size_bytes: 12 * MB,
        build_disk_bytes: 12 * MB,
        build_size_breakdown: { pioenvs: 0, piolibdeps: 0, src: 11 * MB, other: MB, cleanable: 0 },
      }),
    });
    await settle(drawer);
    expect(textOf(root(drawer).querySelector('[data-testid="clean-frees"]'))).toBe('Nothing to clean');
    expect(root(drawer).querySelector('[data-testid="on-disk"]')).toBeNull();
    expect(root(drawer).querySelectorAll('[data-testid="build-breakdown"] .stack-bar span')).toHaveLength(2);
    expect(cleanLabel(null)).toBe('Clean build files');
  });
});

describe('<db-fleet-summary> unused card', () => {
  it('shows what the unused folders would give back and links to their section', async () => {
    const { ctx, opened } = harness(fleet(), { orphans: ORPHANS });
    const summary = await mount('db-fleet-summary', (e) => (e.ctx = ctx));
    const card = root(summary).querySelector('[data-testid="summary-unused"]');
    expect(textOf(card?.querySelector('.value'))).toBe('144.2 MB');
    expect(textOf(card?.querySelector('.sub'))).toBe('reclaimable · 3 folders');
    (card?.querySelector('button') as HTMLButtonElement).click();
    expect(opened).toEqual(['unused']);

    ctx.store.applyEvent('orphans_updated', { orphans: [] });
    await settle(summary);
    expect(textOf(card?.querySelector('.value'))).toBe('None');
    expect(card?.querySelector('button')).toBeNull();
  });
});

describe('Actions', () => {
  it('queues a bulk compile with one firmware/compile_bulk request and reports each device', async () => {
    const { ctx, socket } = harness(fleet());
    const done = ctx.actions.bulk('compile', ['kitchen.yaml', 'office.yaml']);
    await flush();
    expect(socket.sent.filter((f) => String(f['command']).startsWith('firmware/compile'))).toHaveLength(1);
    expect(socket.lastSent('firmware/compile_bulk')['args']).toEqual({ configurations: ['kitchen.yaml', 'office.yaml'] });
    socket.reply('firmware/compile_bulk', [
      { configuration: 'kitchen.yaml', success: true, job_id: 'j1' },
      { configuration: 'office.yaml', success: false, error: 'no device office.yaml' },
    ]);
    await expect(done).resolves.toHaveLength(2);
    const toast = ctx.toasts.list.at(-1);
    expect(toast?.message).toBe('Queued compiles for 1 of 2 devices; 1 failed');
    expect(toast?.details).toEqual(['✓ Kitchen Light', '✗ Office: no device office.yaml']);
  });

  it('clears finished jobs with one request and lets jobs_cleared update the list', async () => {
    const { ctx, socket } = harness(fleet());
    ctx.store.applyEvent('job_completed', job('kitchen.yaml', { job_id: 'old', status: 'completed' }));
    const clearing = ctx.actions.clearFinishedJobs();
    await flush();
    socket.receive({ message_id: socket.lastSent('subscribe_events')['message_id'], event: 'jobs_cleared', data: { job_ids: ['old'] } });
    socket.reply('firmware/clear', { removed: 1 });
    await clearing;
    expect(ctx.store.jobs.size).toBe(0);
    expect(socket.sent.some((f) => f['command'] === 'firmware/get_jobs')).toBe(false);
  });

  it('names the fleet-wide reset "All devices" and says so when it fails', async () => {
    const { ctx, socket } = harness(fleet());
    expect(ctx.actions.subjectOf({ job_type: 'reset_build_env', configuration: 'config' })).toBe('All devices');
    expect(ctx.actions.subjectOf({ job_type: 'compile', configuration: 'kitchen.yaml' })).toBe('Kitchen Light');
    const started = ctx.actions.resetBuildEnv();
    await flush();
    const reset = job('config', { job_id: 'r2', job_type: 'reset_build_env', status: 'running' });
    socket.reply('firmware/reset_build_env', reset);
    await started;
    ctx.store.applyEvent('job_failed', { ...reset, status: 'failed', error: 'esphome CLI not found' });
    expect(ctx.toasts.list.at(-1)?.message).toBe('The reset of the build environment failed: esphome CLI not found');
  });
});
