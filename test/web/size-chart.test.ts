// @vitest-environment happy-dom
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The size charts: the geometry of a history (points → path, reclaim
 * marks, one point, bad points), its sentence for screen readers, the
 * `<db-size-chart>` element (empty state, marks), the drawer's build-size
 * chart (`devices/size_history {configuration}`) and the summary's fleet
 * history (`devices/size_history {}`), answered on the fake socket.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import '../../web/src/components/device-drawer.js';
import '../../web/src/components/fleet-history.js';
import { CHART_BOX, chartGeometry, cleanPoints, describeHistory } from '../../web/src/components/size-chart.js';
import type { SizePoint } from '../../src/shared/size-history.js';
import { harness, mount, root, settle, textOf } from './dom-harness.js';
import { device, flush, MB } from './fixtures.js';

const DAY = 86_400;
const T0 = 1_760_000_000;
const HISTORY: SizePoint[] = [
  { time: T0, bytes: 100 * MB },
  { time: T0 + DAY, bytes: 200 * MB },
  { time: T0 + 2 * DAY, bytes: 50 * MB, reclaimed_bytes: 150 * MB },
  { time: T0 + 4 * DAY, bytes: 120 * MB },
];

beforeEach(() => document.body.replaceChildren());
afterEach(() => document.body.replaceChildren());

describe('chartGeometry', () => {
  it('puts time left to right and bytes bottom (0) to top (peak + 10 %)', () => {
    const { width, height, pad } = CHART_BOX;
    const g = chartGeometry(HISTORY);
    expect(g.maxBytes).toBeCloseTo(220 * MB, 0);
    expect(g.dots.map((d) => d.x)).toEqual([pad, pad + (width - 2 * pad) / 4, pad + (width - 2 * pad) / 2, width - pad]);
    const floor = height - pad;
    const innerH = height - 2 * pad;
    expect(g.dots[1]?.y).toBeCloseTo(floor - (200 / 220) * innerH, 1);
    expect(g.dots[2]?.y).toBeCloseTo(floor - (50 / 220) * innerH, 1);
    expect(g.line.startsWith(`M${pad},`)).toBe(true);
    expect(g.line.split(' L')).toHaveLength(4);
    expect(g.area.endsWith('Z')).toBe(true);
    expect(g.area).toContain(`L${width - pad},${floor} L${pad},${floor}`);
  });

  it('marks the points a reclaim run caused, with what it freed', () => {
    const g = chartGeometry(HISTORY);
    expect(g.reclaims).toHaveLength(1);
    expect(g.reclaims[0]?.point.reclaimed_bytes).toBe(150 * MB);
    expect(g.reclaims[0]?.x).toBe(g.dots[2]?.x);
  });

  it('draws one point as a flat line across, and nothing for no points', () => {
    const one = chartGeometry([{ time: T0, bytes: 10 * MB }]);
    expect(one.dots).toHaveLength(1);
    expect(one.dots[0]?.x).toBe(CHART_BOX.width / 2);
    const ys = [...one.line.matchAll(/,([\d.]+)/g)].map((m) => m[1]);
    expect(new Set(ys).size).toBe(1);
    expect(one.line.split(' L')).toHaveLength(2);
    expect(chartGeometry([])).toEqual({ line: '', area: '', dots: [], reclaims: [], maxBytes: 0 });
  });

  it('drops unusable points and sorts by time', () => {
    const points = cleanPoints([
      { time: T0 + 10, bytes: 2 },
      { time: Number.NaN, bytes: 1 },
      { time: T0, bytes: -1 },
      { time: T0, bytes: 1 },
    ]);
    expect(points).toEqual([
      { time: T0, bytes: 1 },
      { time: T0 + 10, bytes: 2 },
    ]);
    // All zeros: a line along the floor, not a division by zero.
    const flat = chartGeometry([
      { time: T0, bytes: 0 },
      { time: T0 + 1, bytes: 0 },
    ]);
    expect(flat.dots.every((d) => d.y === CHART_BOX.height - CHART_BOX.pad)).toBe(true);
  });

  it('says it in a sentence', () => {
    const text = describeHistory(HISTORY, 'Build size');
    expect(text).toMatch(/^Build size: 4 measurements from .+ to .+, 100\.0 MB then, 120\.0 MB now, peak 200\.0 MB\./);
    expect(text).toContain('Reclaiming freed 150.0 MB in 1 run.');
    expect(describeHistory([], 'Build size')).toBe('Build size: no history yet.');
  });
});

describe('<db-size-chart>', () => {
  it('shows "no history yet" for an empty history', async () => {
    const el = await mount('db-size-chart', (e) => (e.points = []));
    expect(textOf(root(el).querySelector('[data-testid="chart-empty"]'))).toContain('No history yet');
    expect(root(el).querySelector('svg')).toBeNull();
  });

  it('draws the line, a mark per reclaim with its tooltip, and an accessible name', async () => {
    const el = await mount('db-size-chart', (e) => {
      e.points = HISTORY;
      e.label = 'Fleet total';
    });
    const svgEl = root(el).querySelector('svg[data-testid="size-chart"]');
    expect(svgEl?.getAttribute('role')).toBe('img');
    expect(svgEl?.getAttribute('aria-label')).toMatch(/^Fleet total: 4 measurements/);
    expect(root(el).querySelector('path.line')?.getAttribute('d')).toBe(chartGeometry(HISTORY).line);
    const marks = [...root(el).querySelectorAll('circle.reclaim')];
    expect(marks).toHaveLength(1);
    expect(marks[0]?.getAttribute('data-reclaimed')).toBe(String(150 * MB));
    expect(textOf(marks[0]?.querySelector('title'))).toContain('Reclaim freed 150.0 MB');
    expect(textOf(root(el).querySelector('.key'))).toContain('freed by reclaiming');
  });
});

describe("the drawer's build size over time", () => {
  it("asks for the device's history when opened and draws it; empty says so", async () => {
    const { ctx, socket } = harness([device('kitchen', { build_size_bytes: 212 * MB })]);
    const el = await mount('db-device-drawer', (e) => (e.ctx = ctx));
    await el.show('kitchen.yaml');
    await settle(el);
    expect(socket.lastSent('devices/size_history')['args']).toEqual({ configuration: 'kitchen.yaml' });
    expect(textOf(root(el).querySelector('[data-testid="size-history"]'))).toContain('Loading');
    socket.reply('devices/size_history', HISTORY);
    await flush();
    await settle(el);
    const chart = root(el).querySelector('[data-testid="size-history"] db-size-chart');
    expect(chart).not.toBeNull();
    await settle(chart as Element);
    expect(
      root(chart as Element)
        .querySelector('svg')
        ?.getAttribute('aria-label'),
    ).toMatch(/^Build size of Kitchen: 4 measurements/);

    // A new size while open: asked again.
    const before = socket.sent.filter((f) => f['command'] === 'devices/size_history').length;
    ctx.store.applyEvent('device_updated', { device: device('kitchen', { build_size_bytes: 10 * MB }) });
    await settle(el);
    expect(socket.sent.filter((f) => f['command'] === 'devices/size_history').length).toBe(before + 1);
    socket.reply('devices/size_history', []);
    await flush();
    await settle(el);
    const empty = root(el).querySelector('[data-testid="size-history"] db-size-chart') as Element;
    await settle(empty);
    expect(textOf(root(empty).querySelector('[data-testid="chart-empty"]'))).toContain('No history yet');
  });

  it('says the history is unavailable when the server refuses', async () => {
    const { ctx, socket } = harness([device('kitchen', { build_size_bytes: 212 * MB })]);
    const el = await mount('db-device-drawer', (e) => (e.ctx = ctx));
    await el.show('kitchen.yaml');
    socket.receive({ message_id: socket.lastSent('devices/size_history')['message_id'], error_code: 'not_found', details: 'no such device' });
    await flush();
    await settle(el);
    expect(textOf(root(el).querySelector('[data-testid="size-history"]'))).toContain('History unavailable: no such device');
  });
});

describe('<db-fleet-history>', () => {
  it('asks for the fleet total with {} and marks what reclaiming freed', async () => {
    const { ctx, socket } = harness([device('kitchen', { build_size_bytes: 212 * MB })]);
    const el = await mount('db-fleet-history', (e) => (e.ctx = ctx));
    expect(socket.lastSent('devices/size_history')['args']).toEqual({});
    socket.reply('devices/size_history', HISTORY);
    await flush();
    await settle(el);
    expect(root(el).querySelector('[data-testid="fleet-freed"]')?.getAttribute('data-bytes')).toBe(String(150 * MB));
    const chart = root(el).querySelector('db-size-chart') as Element;
    await settle(chart);
    expect(root(chart).querySelectorAll('circle.reclaim')).toHaveLength(1);
    expect(root(chart).querySelector('svg')?.getAttribute('aria-label')).toMatch(/^Fleet total on disk/);
  });
});
