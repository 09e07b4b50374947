/**
 * What the page feels like, measured inside Chromium with the Performance
 * API: shared by `npm run bench:5k` (bench/fleet-5k.ts) and the 1,000-device
 * e2e test (test/e2e/large-fleet.test.ts). Both functions run in the page
 * (`page.addInitScript(pageProbe)`, `page.evaluate(scrollThrough)`), so
 * they use nothing from outside their own bodies.
 */

/** What {@link pageProbe} records, on `window.__pageProbe`. */
export interface PageProbe {
  firstRowDom: number | null;
  firstRowVisible: number | null;
  longTasks: { start: number; duration: number }[];
}

/** The console line the probe prints once the first row is visible. */
export const FIRST_ROW_MESSAGE = 'page-probe: first row visible';

/**
 * Runs in the page before its own scripts: long tasks from here on, the
 * first `tr.device` in any shadow root (a MutationObserver on each one Lit
 * attaches) and the first frame in which such a row is laid out in the
 * viewport. Times are `performance.now()`: milliseconds since navigation start.
 */
export function pageProbe(): void {
  const probe: PageProbe = { firstRowDom: null, firstRowVisible: null, longTasks: [] };
  (window as unknown as { __pageProbe: PageProbe }).__pageProbe = probe;
  try {
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) probe.longTasks.push({ start: entry.startTime, duration: entry.duration });
    }).observe({ type: 'longtask', buffered: true });
  } catch {
    // No Long Tasks API: the scroll reports none.
  }
  const roots: ShadowRoot[] = [];
  const observers: MutationObserver[] = [];
  const attach = Element.prototype.attachShadow;
  Element.prototype.attachShadow = function (this: Element, init: ShadowRootInit): ShadowRoot {
    const root = attach.call(this, init);
    roots.push(root);
    const observer = new MutationObserver(() => {
      if (probe.firstRowDom !== null || !root.querySelector('tr.device')) return;
      probe.firstRowDom = performance.now();
      for (const each of observers.splice(0)) each.disconnect();
    });
    observer.observe(root, { childList: true, subtree: true });
    observers.push(observer);
    return root;
  };
  const poll = (): void => {
    for (const root of roots) {
      const row = root.querySelector('tr.device');
      if (!row) continue;
      const box = row.getBoundingClientRect();
      if (box.height > 0 && box.top < window.innerHeight && box.bottom > 0) {
        probe.firstRowVisible = performance.now();
        // Heard by the caller without evaluating anything in the page while it loads.
        // (The text is FIRST_ROW_MESSAGE: this function runs in the page, where no import is in scope.)
        console.debug('page-probe: first row visible');
        return;
      }
    }
    requestAnimationFrame(poll);
  };
  requestAnimationFrame(poll);
}

/** Scrolls from the top to the bottom, one viewport per frame; long tasks in that span. */
export async function scrollThrough(): Promise<{
  scrollMs: number;
  frames: number;
  slowestFrameMs: number;
  rows: number;
  longTasks: { start: number; duration: number }[];
}> {
  const frame = (): Promise<number> => new Promise((resolve) => requestAnimationFrame(resolve));
  window.scrollTo(0, 0);
  await frame();
  await frame();
  const started = performance.now();
  let last = started;
  let frames = 0;
  let slowest = 0;
  for (;;) {
    const bottom = document.documentElement.scrollHeight - window.innerHeight;
    if (window.scrollY >= bottom - 1) break;
    window.scrollBy(0, window.innerHeight);
    await frame();
    const now = performance.now();
    slowest = Math.max(slowest, now - last);
    last = now;
    frames++;
  }
  await frame();
  const ended = performance.now();
  // Long task entries are delivered after the task: give them a moment.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const probe = (window as unknown as { __pageProbe: PageProbe }).__pageProbe;
  const table = document.querySelector('db-app')?.shadowRoot?.querySelector('db-devices-table')?.shadowRoot;
  return {
    scrollMs: ended - started,
    frames,
    slowestFrameMs: slowest,
    rows: table?.querySelectorAll('tr.device').length ?? 0,
    longTasks: probe.longTasks
      .filter((task) => task.start + task.duration > started && task.start < ended)
      .map((task) => ({ start: task.start - started, duration: task.duration })),
  };
}
