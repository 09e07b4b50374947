// @vitest-environment happy-dom
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The components rendered in a DOM (happy-dom) against a real store fed
 * with events: what the table, the summary, the drawer and the toasts show.
 * The browser tests (test/e2e) cover the same against the real server.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import '../../web/src/components/device-drawer.js';
import '../../web/src/components/devices-table.js';
import { VIRTUALIZE_OVER } from '../../web/src/components/devices-table.js';
import '../../web/src/components/fleet-summary.js';
import '../../web/src/components/toast-stack.js';
import { PREF_COLUMNS, PREF_SORT } from '../../web/src/state/table-model.js';
import { Toasts } from '../../web/src/state/toasts.js';
import { harness, mount, root, settle } from './dom-harness.js';
import { device, job, MB } from './fixtures.js';

const fleet = () => [
  device('kitchen', { friendly_name: 'Kitchen Light', build_size_bytes: 212.4 * MB, address: '192.168.1.42' }),
  device('office', { friendly_name: 'Office', build_size_bytes: 0 }),
  device('garage', { friendly_name: 'Garage', build_size_bytes: 1.5 * 1024 * MB, target_platform: 'rp2040' }),
];

beforeEach(() => {
  document.body.replaceChildren();
});
afterEach(() => {
  document.body.replaceChildren();
});

describe('<db-devices-table>', () => {
  it('renders a row per device with the friendly name over the device name, Build Size hidden', async () => {
    const { ctx } = harness(fleet());
    const table = await mount('db-devices-table', (el) => (el.ctx = ctx));
    const rows = root(table).querySelectorAll('tr.device');
    expect(rows).toHaveLength(3);
    expect([...rows].map((r) => r.getAttribute('data-configuration'))).toEqual(['garage.yaml', 'kitchen.yaml', 'office.yaml']);
    const kitchen = root(table).querySelector('tr[data-configuration="kitchen.yaml"]');
    expect(kitchen?.querySelector('.friendly')?.textContent?.trim()).toBe('Kitchen Light');
    expect(kitchen?.querySelector('.device-name')?.textContent).toBe('kitchen');
    expect(root(table).querySelector('th.build_size')).toBeNull();
    const headers = [...root(table).querySelectorAll('thead th')].map((th) => th.textContent?.trim());
    expect(headers).toEqual(['Select all', 'Status', 'Name', 'Config file', 'Platform', 'Address', 'Actions']);
  });

  it('shows Build Size right-aligned with sizes and an em dash when the preference says so', async () => {
    const { ctx } = harness(fleet());
    ctx.store.preferences = { [PREF_COLUMNS]: { build_size: true } };
    const table = await mount('db-devices-table', (el) => (el.ctx = ctx));
    const cell = (c: string) => root(table).querySelector(`tr[data-configuration="${c}"] td.build_size`);
    expect(cell('kitchen.yaml')?.textContent?.trim()).toBe('212.4 MB');
    expect(cell('garage.yaml')?.textContent?.trim()).toBe('1.5 GB');
    expect(cell('office.yaml')?.querySelector('[aria-hidden="true"]')?.textContent).toBe('—');
    expect(root(table).querySelector('th.build_size')?.classList.contains('num')).toBe(true);
  });

  it('saves the sort as a server preference when a header is clicked, and sorts sizes numerically', async () => {
    const { ctx, socket } = harness(fleet());
    ctx.store.preferences = { [PREF_COLUMNS]: { build_size: true } };
    const table = await mount('db-devices-table', (el) => (el.ctx = ctx));
    const header = root(table).querySelector('th.build_size');
    header?.querySelector('button')?.click();
    await settle(table);
    expect(socket.lastSent('preferences/set')['args']).toEqual({ key: PREF_SORT, value: { column: 'build_size', direction: 'descending' } });
    expect(header?.getAttribute('aria-sort')).toBe('descending');
    expect(root(table).querySelector('th.name')?.getAttribute('aria-sort')).toBe('none');
    const order = [...root(table).querySelectorAll('tr.device')].map((r) => r.getAttribute('data-configuration'));
    expect(order).toEqual(['garage.yaml', 'kitchen.yaml', 'office.yaml']);
  });

  it('saves the column choice from the picker', async () => {
    const { ctx, socket } = harness(fleet());
    const table = await mount('db-devices-table', (el) => (el.ctx = ctx));
    const picker = root(table).querySelector('db-column-picker') as HTMLElement;
    const boxes = [...root(picker).querySelectorAll('label')];
    expect(boxes.map((l) => l.textContent?.trim())).toEqual(['Status', 'Name', 'Config file', 'Platform', 'Address', 'Build Size']);
    const buildSize = boxes[5]?.querySelector('input') as HTMLInputElement;
    buildSize.checked = true;
    buildSize.dispatchEvent(new Event('change'));
    await settle(table);
    expect(socket.lastSent('preferences/set')['args']).toMatchObject({ key: PREF_COLUMNS, value: { build_size: true } });
    expect(root(table).querySelector('th.build_size')).not.toBeNull();
  });

  it('filters with the search box and says how many are shown', async () => {
    const { ctx } = harness(fleet());
    const table = await mount('db-devices-table', (el) => (el.ctx = ctx));
    const input = root(table).querySelector('input[type="search"]') as HTMLInputElement;
    input.value = 'rp2040';
    input.dispatchEvent(new Event('input'));
    await settle(table);
    expect(root(table).querySelectorAll('tr.device')).toHaveLength(1);
    expect(root(table).querySelector('.count')?.textContent).toContain('1 of 3 devices');
  });

  it('updates a row live from device_updated and drops removed devices', async () => {
    const { ctx } = harness(fleet());
    ctx.store.preferences = { [PREF_COLUMNS]: { build_size: true } };
    const table = await mount('db-devices-table', (el) => (el.ctx = ctx));
    ctx.store.applyEvent('device_updated', { device: device('office', { friendly_name: 'Office', build_size_bytes: 3 * MB }) });
    ctx.store.applyEvent('device_removed', { device: device('garage') });
    await settle(table);
    expect(root(table).querySelector('tr[data-configuration="office.yaml"] td.build_size')?.textContent?.trim()).toBe('3.0 MB');
    expect(root(table).querySelector('tr[data-configuration="garage.yaml"]')).toBeNull();
  });

  it('opens the drawer on click and Enter, and shows the bulk bar for a selection', async () => {
    const { ctx, opened } = harness(fleet());
    const table = await mount('db-devices-table', (el) => (el.ctx = ctx));
    const row = root(table).querySelector('tr[data-configuration="office.yaml"]') as HTMLElement;
    row.click();
    row.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }));
    expect(opened).toEqual(['device:office.yaml', 'device:office.yaml']);

    const box = row.querySelector('input[type="checkbox"]') as HTMLInputElement;
    expect(box.getAttribute('aria-label')).toBe('Select Office');
    box.checked = true;
    box.dispatchEvent(new Event('change'));
    await settle(table);
    const bar = root(table).querySelector('db-bulk-bar') as HTMLElement;
    await settle(bar);
    expect(root(bar).textContent).toContain('1 selected');
    const labels = [...root(bar).querySelectorAll('button')].map((b) => b.getAttribute('aria-label'));
    expect(labels).toEqual(['Clean selected', 'Compile selected', 'Archive selected', 'Delete selected', 'Clear selection']);
  });

  it('phones: the line under the name leads with the size and follows the shown columns', async () => {
    const { ctx } = harness(fleet());
    ctx.store.preferences = { [PREF_COLUMNS]: { build_size: true, configuration: false } };
    const table = await mount('db-devices-table', (el) => (el.ctx = ctx));
    const meta = (c: string) => [...(root(table).querySelector(`tr[data-configuration="${c}"] td.mobile-meta`)?.children ?? [])].map((e) => e.textContent);
    expect(meta('kitchen.yaml')).toEqual(['212.4 MB', '·', 'ESP32', '·', '192.168.1.42']);
    // Nothing to show is left out, separators included.
    expect(meta('office.yaml')).toEqual(['ESP32', '·', 'office.local']);
    const cells = [...root(table).querySelectorAll('tr[data-configuration="kitchen.yaml"] td')].map((td) => td.className.trim());
    expect(cells).toEqual(['select', 'status', 'name', 'platform', 'address', 'build_size', 'mobile-meta', 'actions']);
    const sortBy = [...root(table).querySelectorAll('select[aria-label="Sort by"] option')].map((o) => o.textContent);
    expect(sortBy).toEqual(['Status', 'Name', 'Config file', 'Platform', 'Address', 'Build Size']);
  });

  it('renders only a window of rows for a large fleet', async () => {
    const many = Array.from({ length: 1000 }, (_, i) => device(`device-${String(i).padStart(4, '0')}`, { build_size_bytes: i * MB }));
    const { ctx } = harness(many);
    const table = await mount('db-devices-table', (el) => (el.ctx = ctx));
    const rendered = root(table).querySelectorAll('tr.device').length;
    expect(rendered).toBeGreaterThan(0);
    expect(rendered).toBeLessThanOrEqual(VIRTUALIZE_OVER + 1);
    expect(root(table).querySelector('table')?.getAttribute('aria-rowcount')).toBe('1001');
    expect(root(table).querySelectorAll('tr.spacer').length).toBeGreaterThan(0);
  });

  it('shows the job status of a device', async () => {
    const { ctx } = harness(fleet());
    const table = await mount('db-devices-table', (el) => (el.ctx = ctx));
    ctx.store.applyEvent('job_started', job('office.yaml', { job_id: 'j1', status: 'running' }));
    await settle(table);
    const status = root(table).querySelector('tr[data-configuration="office.yaml"] td.status button');
    expect(status?.getAttribute('aria-label')).toContain('Compile running');
  });
});

describe('<db-fleet-summary>', () => {
  it('shows the total, compiled count and the largest device, live', async () => {
    const { ctx } = harness(fleet());
    const summary = await mount('db-fleet-summary', (el) => (el.ctx = ctx));
    const text = () => root(summary).textContent?.replace(/\s+/g, ' ') ?? '';
    expect(text()).toContain('1.7 GB');
    expect(text()).toContain('2 / 3 devices');
    expect(text()).toContain('Garage');
    ctx.store.applyEvent('device_updated', { device: device('office', { friendly_name: 'Office', build_size_bytes: 3 * 1024 * MB }) });
    await settle(summary);
    expect(text()).toContain('3 / 3 devices');
    expect(root(summary).querySelector('[data-testid="summary-largest"]')?.textContent).toContain('Office');
  });
});

describe('<db-device-drawer>', () => {
  it('hides the Build Size row at 0 and shows it with a broom otherwise', async () => {
    const { ctx } = harness(fleet());
    const drawer = await mount('db-device-drawer', (el) => (el.ctx = ctx));
    await drawer.show('office.yaml');
    expect(root(drawer).querySelector('[data-testid="build-size-row"]')).toBeNull();
    await drawer.show('kitchen.yaml');
    await settle(drawer);
    const row = root(drawer).querySelector('[data-testid="build-size-row"]');
    expect(row?.textContent).toContain('212.4 MB');
    const broom = row?.querySelector('button') as HTMLButtonElement;
    expect(broom.getAttribute('aria-label')).toBe('Clean build files');
    expect(broom.disabled).toBe(false);
    expect(root(drawer).querySelector('h2')?.textContent).toBe('Kitchen Light');
  });

  it('disables the broom and destructive actions with an explanation while a job runs', async () => {
    const { ctx } = harness(fleet());
    const drawer = await mount('db-device-drawer', (el) => (el.ctx = ctx));
    ctx.store.applyEvent('job_started', job('kitchen.yaml', { job_id: 'j2', status: 'running' }));
    await drawer.show('kitchen.yaml');
    await settle(drawer);
    const broom = root(drawer).querySelector('[data-testid="build-size-row"] button') as HTMLButtonElement;
    expect(broom.disabled).toBe(true);
    expect(broom.getAttribute('aria-describedby')).toBe('clean-hint');
    expect(root(drawer).querySelector('#clean-hint')?.textContent).toContain('compile job');
    const buttons = [...root(drawer).querySelectorAll('.dialog-foot button')] as HTMLButtonElement[];
    const state = Object.fromEntries(buttons.map((b) => [b.textContent?.trim(), b.disabled]));
    expect(state).toEqual({ Compile: false, Install: false, Clean: true, Archive: true, Delete: true });
  });
});

describe('<db-toast-stack>', () => {
  it('renders successes as status and failures as alerts, with details', async () => {
    const toasts = new Toasts();
    const stack = await mount('db-toast-stack', (el) => (el.toasts = toasts));
    toasts.show({ kind: 'success', message: 'Compiled Kitchen' });
    toasts.show({ kind: 'error', message: 'Compile of Office failed: esphome CLI not found', details: ['✗ Office: boom'] });
    await settle(stack);
    expect(root(stack).querySelector('[role="status"]')?.textContent).toContain('Compiled Kitchen');
    const alert = root(stack).querySelector('[role="alert"]');
    expect(alert?.textContent).toContain('esphome CLI not found');
    expect(alert?.textContent).toContain('✗ Office: boom');
  });
});
