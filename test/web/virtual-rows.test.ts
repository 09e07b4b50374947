// @vitest-environment happy-dom
/// <reference lib="dom" />
/**
 * The table's virtual scrolling controller on its own: which rows render
 * for a scroll position, what the spacers stand in for, and that a measured
 * row height (the phone layout) or a shorter list moves the window.
 * Layout is faked: happy-dom has none, so the tbody's top and a row's
 * height are given.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import { afterEach, describe, expect, it } from 'vitest';
import { ROW_HEIGHT } from '../../web/src/components/devices-table.styles.js';
import { VirtualRows } from '../../web/src/components/virtual-rows.js';

class FakeHost implements ReactiveControllerHost {
  controllers: ReactiveController[] = [];
  updates = 0;
  addController(c: ReactiveController): void {
    this.controllers.push(c);
  }
  removeController(): void {}
  requestUpdate(): void {
    this.updates++;
  }
  readonly updateComplete = Promise.resolve(true);
}

function rect(top: number, height: number): Element {
  return { getBoundingClientRect: () => ({ top, height }) } as unknown as Element;
}

const frame = () => new Promise<void>((resolve) => requestAnimationFrame(() => resolve()));

function setup(layout: { top: number; rowHeight: number }) {
  const host = new FakeHost();
  const rows = new VirtualRows(host, {
    threshold: 120,
    overscan: 12,
    estimate: ROW_HEIGHT,
    container: () => rect(layout.top, 0),
    sampleRow: () => rect(0, layout.rowHeight),
  });
  rows.hostConnected();
  return { host, rows };
}

let cleanup: (() => void) | null = null;
afterEach(() => {
  cleanup?.();
  cleanup = null;
});

describe('VirtualRows', () => {
  it('renders every row up to the threshold, without spacers', () => {
    const { rows } = setup({ top: 0, rowHeight: ROW_HEIGHT });
    cleanup = () => rows.hostDisconnected();
    expect(rows.window(120)).toEqual({ virtual: false, start: 0, end: 120, before: 0, after: 0 });
  });

  it('renders the rows near the viewport once scrolled, and the spacers add up to the rest', async () => {
    const layout = { top: 200, rowHeight: ROW_HEIGHT };
    const { host, rows } = setup(layout);
    cleanup = () => rows.hostDisconnected();
    // Before any layout is read: the first `threshold` rows.
    expect(rows.window(1000)).toMatchObject({ virtual: true, start: 0, end: 120, before: 0 });
    rows.hostUpdated();
    await frame();
    expect(host.updates).toBe(1);
    const top = rows.window(1000);
    const visible = Math.ceil((window.innerHeight - 200) / ROW_HEIGHT);
    expect(top).toEqual({ virtual: true, start: 0, end: visible + 12, before: 0, after: (1000 - visible - 12) * ROW_HEIGHT });

    // Scrolled so that row 500 is at the top of the viewport.
    layout.top = -500 * ROW_HEIGHT;
    window.dispatchEvent(new Event('scroll'));
    await frame();
    const middle = rows.window(1000);
    expect(middle.start).toBe(488);
    expect(middle.end).toBe(500 + Math.ceil(window.innerHeight / ROW_HEIGHT) + 12);
    expect(middle.before + (middle.end - middle.start) * ROW_HEIGHT + middle.after).toBe(1000 * ROW_HEIGHT);

    // A scroll that lands on the same window asks for no render.
    const updates = host.updates;
    window.dispatchEvent(new Event('scroll'));
    await frame();
    expect(host.updates).toBe(updates);
  });

  it('measures a rendered row: cards on phones are taller, so fewer rows fill the screen', async () => {
    const layout = { top: -500 * 78, rowHeight: 78 };
    const { rows } = setup(layout);
    cleanup = () => rows.hostDisconnected();
    rows.window(1000);
    rows.hostUpdated();
    await frame();
    const w = rows.window(1000);
    expect(w.start).toBe(488);
    expect(w.before).toBe(488 * 78);
    expect(w.after).toBe((1000 - w.end) * 78);
  });

  it('keeps a window inside a list that became shorter, and stops listening when disconnected', async () => {
    const layout = { top: -900 * ROW_HEIGHT, rowHeight: ROW_HEIGHT };
    const { host, rows } = setup(layout);
    rows.window(1000);
    rows.hostUpdated();
    await frame();
    expect(rows.window(1000).start).toBe(888);
    const shorter = rows.window(200);
    expect(shorter.start).toBeLessThan(200);
    expect(shorter.end).toBeLessThanOrEqual(200);
    expect(shorter.end).toBeGreaterThan(shorter.start);

    rows.hostDisconnected();
    const updates = host.updates;
    layout.top = 0;
    window.dispatchEvent(new Event('scroll'));
    await frame();
    expect(host.updates).toBe(updates);
  });
});
