// @vitest-environment happy-dom
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * `<db-disk-map>` rendered in happy-dom against a real store and client on
 * the fake socket: the tiles of the fleet (with aria-labels naming size and
 * share), the legend, zooming into a device (`devices/size_tree` asked,
 * the breakdown while it is missing, the tree once answered), breadcrumbs,
 * Escape / Backspace, arrow keys, the device's Clean and Details, and the
 * phone width's merged tiles.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import '../../web/src/components/disk-map-view.js';
import type { DiskMapElement } from '../../web/src/components/disk-map-view.js';
import type { BuildSizeBreakdown } from '../../src/shared/device.js';
import type { PlatformioSummary } from '../../src/shared/protocol.js';
import type { SizeTreeNode } from '../../src/shared/size-history.js';
import { harness, mount, root, settle, textOf } from './dom-harness.js';
import { device, flush, job, MB } from './fixtures.js';

const GB = 1024 * MB;
const BREAKDOWN: BuildSizeBreakdown = { pioenvs: 180 * MB, piolibdeps: 20 * MB, src: 12 * MB, other: 0.4 * MB, cleanable: 200.1 * MB };
const PIO: PlatformioSummary = {
  path: '/root/.platformio',
  bytes: 1.5 * GB + 38 * MB + 286 * MB,
  parts: { packages: 1.5 * GB, platforms: 38 * MB, '.cache': 286 * MB },
  walking: null,
};
const ORPHANS = [{ build_path: '/config/.esphome/build/bathroom-fan', build_size_bytes: 96 * MB, build_disk_bytes: 96 * MB }];
const tree = (name: string, bytes: number, children: SizeTreeNode[] = []): SizeTreeNode => ({ name, bytes, files: 3, children });
const KITCHEN_TREE = tree('kitchen', 212.4 * MB, [
  tree('.pioenvs', 180 * MB, [tree('kitchen', 180 * MB)]),
  tree('.piolibdeps', 20 * MB, [tree('AsyncTCP', 12 * MB), tree('ArduinoJson', 8 * MB)]),
  tree('src', 12 * MB),
]);

const fleet = () => [
  device('kitchen', { friendly_name: 'Kitchen Light', build_size_bytes: 212.4 * MB, build_size_breakdown: BREAKDOWN }),
  device('office', { friendly_name: 'Office', build_size_bytes: 30 * MB }),
  device('porch', { friendly_name: 'Porch' }),
];

beforeEach(() => document.body.replaceChildren());
afterEach(() => document.body.replaceChildren());

async function mountMap(width = 1200) {
  const h = harness(fleet(), { orphans: ORPHANS, platformio: PIO });
  const el = await mount('db-disk-map', (e) => {
    e.ctx = h.ctx;
    e.width = width;
  });
  // happy-dom has no layout: keep the width the test chose.
  el.width = width;
  await settle(el);
  return { ...h, el };
}

const tiles = (el: DiskMapElement) => [...root(el).querySelectorAll<HTMLButtonElement>('.tile')];
const tile = (el: DiskMapElement, id: string) => root(el).querySelector<HTMLButtonElement>(`.tile[data-id="${id}"]`);
const crumbs = (el: DiskMapElement) => [...root(el).querySelectorAll('[data-testid="breadcrumbs"] .crumb')].map((c) => textOf(c));
const key = (target: Element, k: string) => target.dispatchEvent(new KeyboardEvent('keydown', { key: k, bubbles: true, composed: true }));

describe('<db-disk-map>', () => {
  it('draws every device, unused folder and PlatformIO part as a tile, with name, size and share in its label', async () => {
    const { el } = await mountMap();
    const ids = tiles(el).map((t) => t.dataset['id']);
    expect(ids.sort()).toEqual(
      [
        'device:kitchen.yaml',
        'device:office.yaml',
        'orphan:/config/.esphome/build/bathroom-fan',
        'platformio:packages',
        'platformio:platforms',
        'platformio:.cache',
      ].sort(),
    );
    const kitchen = tile(el, 'device:kitchen.yaml');
    expect(kitchen?.getAttribute('aria-label')).toBe('Kitchen Light, 212.4 MB, 9.7 % of everything. Zoom in');
    expect(kitchen?.dataset['bytes']).toBe(String(212.4 * MB));
    expect(tile(el, 'platformio:packages')?.getAttribute('aria-label')).toMatch(/^packages, 1\.5 GB, 7\d % of everything\. Zoom into PlatformIO cache$/);
    expect(tile(el, 'device:kitchen.yaml')?.classList.contains('c1')).toBe(true);
    expect(tile(el, 'orphan:/config/.esphome/build/bathroom-fan')?.classList.contains('c2')).toBe(true);
    expect(tile(el, 'platformio:.cache')?.classList.contains('c3')).toBe(true);
    expect(textOf(root(el).querySelector('[data-testid="map-legend"]'))).toMatch(/Devices 242\.4 MB Unused build folders 96\.0 MB PlatformIO cache 1\.8 GB/);
    expect(textOf(root(el).querySelector('.panel-figure .caption'))).toBe('1 device not on the map');
    // One tile in the tab order.
    expect(tiles(el).filter((t) => t.tabIndex === 0)).toHaveLength(1);
    expect(crumbs(el)).toEqual(['Everything']);
  });

  it('zooms into a device on click: asks for its tree, shows the breakdown meanwhile, then the tree', async () => {
    const { el, socket, ctx, opened } = await mountMap();
    tile(el, 'device:kitchen.yaml')?.click();
    await settle(el);
    expect(crumbs(el)).toEqual(['Everything', 'Devices', 'Kitchen Light']);
    expect(socket.lastSent('devices/size_tree')['args']).toEqual({ configuration: 'kitchen.yaml' });
    expect(tiles(el).map((t) => t.dataset['id'])).toEqual([
      'device:kitchen.yaml/.pioenvs',
      'device:kitchen.yaml/.piolibdeps',
      'device:kitchen.yaml/src',
      'device:kitchen.yaml/:other',
    ]);
    expect(tile(el, 'device:kitchen.yaml/.pioenvs')?.getAttribute('aria-label')).toBe('.pioenvs, 180.0 MB, 85 % of Kitchen Light');
    expect(root(el).querySelector('[data-testid="map-source"]')?.getAttribute('data-source')).toBe('breakdown');
    const panel = root(el).querySelector('[data-testid="map-device"]');
    expect(textOf(panel?.querySelector('[data-testid="map-clean-frees"]'))).toBe('Clean frees 200.1 MB');
    expect(textOf(panel?.querySelector('[data-testid="map-last-compile"]'))).toBe('Last compile: not known');

    socket.reply('devices/size_tree', KITCHEN_TREE);
    await flush();
    await settle(el);
    expect(root(el).querySelector('[data-testid="map-source"]')?.getAttribute('data-source')).toBe('tree');
    const ids = tiles(el).map((t) => t.dataset['id']);
    expect(ids).toContain('device:kitchen.yaml/.piolibdeps/AsyncTCP');
    expect(ids).toContain('device:kitchen.yaml/.piolibdeps/ArduinoJson');
    expect(tile(el, 'device:kitchen.yaml/.piolibdeps/AsyncTCP')?.getAttribute('aria-label')).toMatch(
      /^AsyncTCP in \.piolibdeps, 12\.0 MB, 5\.6 % of Kitchen Light\. Zoom into \.piolibdeps$/,
    );
    expect([...root(el).querySelectorAll('.region')].map((r) => r.getAttribute('data-id'))).toContain('device:kitchen.yaml/.piolibdeps');

    // The drawer's Clean, and the details.
    (panel?.querySelector('[data-testid="map-clean"]') as HTMLButtonElement).click();
    await flush();
    expect(socket.lastSent('firmware/clean')['args']).toEqual({ configuration: 'kitchen.yaml' });
    (root(el).querySelector('[data-testid="map-open-device"]') as HTMLButtonElement).click();
    expect(opened).toContain('device:kitchen.yaml');

    // While a job runs for the device, Clean waits.
    ctx.store.applyEvent('job_started', job('kitchen.yaml', { status: 'running' }));
    await settle(el);
    expect((root(el).querySelector('[data-testid="map-clean"]') as HTMLButtonElement).disabled).toBe(true);
    // The same size again: no second request for the tree.
    expect(socket.sent.filter((f) => f['command'] === 'devices/size_tree')).toHaveLength(1);
  });

  it('shows the last compile time when a compile completed', async () => {
    const { el, ctx } = await mountMap();
    ctx.store.applyEvent('job_completed', job('kitchen.yaml', { status: 'completed', completed_at: 1_760_000_000 }));
    el.zoomToDevice('kitchen.yaml');
    await settle(el);
    expect(textOf(root(el).querySelector('[data-testid="map-last-compile"]'))).toMatch(/^Last compile: Oct \d+, \d\d:\d\d$/);
  });

  it('zooms out with the breadcrumbs, Escape and Backspace; Escape at the top is left to the page', async () => {
    const { el } = await mountMap();
    tile(el, 'device:kitchen.yaml')?.click();
    await settle(el);
    tile(el, 'device:kitchen.yaml/.pioenvs')?.click();
    await settle(el);
    // A leaf folder from the breakdown does not zoom.
    expect(crumbs(el)).toEqual(['Everything', 'Devices', 'Kitchen Light']);

    (root(el).querySelectorAll<HTMLButtonElement>('[data-testid="breadcrumbs"] .crumb')[1] as HTMLButtonElement).click();
    await settle(el);
    expect(crumbs(el)).toEqual(['Everything', 'Devices']);
    // In the Devices view a device is a region of its folders: a click on one zooms into the device.
    expect(tile(el, 'device:kitchen.yaml')).toBeNull();
    tile(el, 'device:kitchen.yaml/.pioenvs')?.click();
    await settle(el);
    expect(crumbs(el)).toEqual(['Everything', 'Devices', 'Kitchen Light']);

    const escape = new KeyboardEvent('keydown', { key: 'Escape', bubbles: true, composed: true, cancelable: true });
    (tiles(el)[0] as HTMLElement).dispatchEvent(escape);
    await settle(el);
    expect(escape.defaultPrevented).toBe(true);
    expect(crumbs(el)).toEqual(['Everything', 'Devices']);
    // Focus goes back to where the view was left: the device's region's first tile.
    expect(el.shadowRoot?.activeElement?.getAttribute('data-top')).toBe('device:kitchen.yaml');
    key(tiles(el)[0] as HTMLElement, 'Backspace');
    await settle(el);
    expect(crumbs(el)).toEqual(['Everything']);
    // Two levels out, focus is on the device's own tile again.
    expect(el.shadowRoot?.activeElement?.getAttribute('data-id')).toBe('device:kitchen.yaml');

    const atTop = new KeyboardEvent('keydown', { key: 'Escape', bubbles: true, composed: true, cancelable: true });
    let reachedPage = false;
    document.body.addEventListener('keydown', () => (reachedPage = true), { once: true });
    (tiles(el)[0] as HTMLElement).dispatchEvent(atTop);
    expect(atTop.defaultPrevented).toBe(false);
    expect(reachedPage).toBe(true);
  });

  it('moves focus between tiles with the arrow keys, Home and End (one tile in the tab order)', async () => {
    const { el } = await mountMap();
    const first = tiles(el).find((t) => t.tabIndex === 0) as HTMLButtonElement;
    first.focus();
    key(first, 'End');
    await settle(el);
    const last = el.shadowRoot?.activeElement as HTMLElement;
    expect(last).not.toBe(first);
    expect(last.tabIndex).toBe(0);
    expect(first.tabIndex).toBe(-1);
    const moves = ['ArrowLeft', 'ArrowRight', 'ArrowUp', 'ArrowDown'];
    const reached = new Set<string>();
    for (const k of moves) {
      key(el.shadowRoot?.activeElement as HTMLElement, k);
      await settle(el);
      reached.add(String((el.shadowRoot?.activeElement as HTMLElement).dataset['id']));
    }
    expect(reached.size).toBeGreaterThan(1);
    // Hover / focus describes the tile in the info line.
    (tile(el, 'device:office.yaml') as HTMLButtonElement).focus();
    await settle(el);
    expect(textOf(root(el).querySelector('[data-testid="map-info"]'))).toMatch(/^Office · 30\.0 MB · 1\.\d % of everything · last compile not known$/);
  });

  it('at phone width merges the small tiles into one and lists them below', async () => {
    const h = harness(
      Array.from({ length: 30 }, (_, i) => device(`d${i}`, { build_size_bytes: (i < 3 ? 500 : 1) * MB })),
      { orphans: [] },
    );
    const el = await mount('db-disk-map', (e) => {
      e.ctx = h.ctx;
      e.width = 343;
    });
    el.width = 343;
    await settle(el);
    const smaller = tiles(el).filter((t) => t.dataset['kind'] === 'smaller');
    expect(smaller).toHaveLength(1);
    expect(smaller[0]?.getAttribute('aria-label')).toMatch(/^27 smaller items, 27\.0 MB, 1\.\d % of everything\. Zoom in$/);
    expect(root(el).querySelectorAll('[data-testid="map-smaller"] li')).toHaveLength(27);
    smaller[0]?.click();
    await settle(el);
    expect(crumbs(el)).toEqual(['Everything', 'Devices', '27 smaller items']);
    expect(tiles(el)).toHaveLength(27);
  });

  it('says when nothing is measured yet', async () => {
    const h = harness([device('porch')]);
    const el = await mount('db-disk-map', (e) => (e.ctx = h.ctx));
    expect(textOf(root(el).querySelector('[data-testid="map-empty"]'))).toContain('Nothing measured yet');
  });
});
