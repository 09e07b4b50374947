/// <reference lib="dom" />
/**
 * 1,000 devices in Chromium: the table renders a window of rows, sorts by
 * size in well under a second, and scrolling reaches the last device.
 *
 * Also measured with the Performance API and logged, never asserted (speed
 * depends on the machine): the time from navigation start to the first
 * `tr.device` in the DOM and laid out in the viewport, and the long tasks
 * during a scroll from top to bottom, one viewport per animation frame
 * (`npm run bench:5k` does the same with 5,000 devices).
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIRST_ROW_MESSAGE, pageProbe, scrollThrough, type PageProbe } from '../../bench/page-probe.js';
import { makeTempDir } from '../helpers/fs-fixtures.js';
import { startServer, type RunningServer } from '../helpers/server-fixture.js';
import { addDevice, buildWeb, HAS_CHROMIUM, launchBrowser, MB, openPage, screenshot, storedPreferences, tearDownE2e } from './harness.js';

const COUNT = 1000;

describe.skipIf(!HAS_CHROMIUM)('a 1,000-device fleet in Chromium', () => {
  let webRoot: string;
  let browser: Browser;
  let running: RunningServer;
  let configDir: string;

  beforeAll(async () => {
    webRoot = await buildWeb();
    configDir = makeTempDir('dbts-e2e-large-');
    for (let i = 0; i < COUNT; i++) {
      const id = String(i).padStart(4, '0');
      // Sizes spread over 0 .. ~1 GB, deterministic; every tenth device never compiled.
      const bytes = i % 10 === 0 ? 0 : ((i * 7919) % 1000) * MB + i;
      addDevice(configDir, { name: `node-${id}`, friendly: `Node ${id}`, address: `10.0.${Math.floor(i / 250)}.${i % 250}`, bytes });
    }
    // The server's own rescan period: the fixture's 300 ms would rescan 1,000 YAMLs back to back under CI load.
    running = await startServer(configDir, { webRoot, rescanIntervalMs: 5000 });
    browser = await launchBrowser();
  }, 120_000);

  afterAll(() => tearDownE2e(browser, webRoot), 30_000);

  it('renders a window of rows, sorts by size fast, and scrolls to the end', async () => {
    const { context, page, errors } = await openPage(browser, 'about:blank', { width: 1440, height: 900 });
    await page.addInitScript(pageProbe);
    // Nothing asked of the page (Playwright's page-side helpers cost it time) until its first row showed.
    const shown = page.waitForEvent('console', { predicate: (message) => message.text() === FIRST_ROW_MESSAGE, timeout: 20_000 });
    await page.goto(running.url);
    await shown;
    const firstRows = await page.evaluate(() => (window as unknown as { __pageProbe: PageProbe }).__pageProbe);
    await page.getByText(`${COUNT} devices`, { exact: true }).waitFor({ timeout: 20_000 });
    // Show the column and wait for the start-up sweep to have measured the folders.
    await page.getByRole('button', { name: 'Columns' }).click();
    await page.getByRole('checkbox', { name: 'Build Size' }).check();
    await page.keyboard.press('Escape');
    await expect.poll(() => storedPreferences(configDir)['devices_table.columns'], { timeout: 10_000 }).toBeTruthy();
    await expect.poll(() => page.locator('[data-testid="summary-compiled"] .value').innerText(), { timeout: 60_000, interval: 250 }).toMatch(/^900\b/);

    const rendered = await page.locator('tr.device').count();
    expect(rendered).toBeLessThan(150);

    const elapsed = await page.evaluate(async () => {
      const table = document.querySelector('db-app')?.shadowRoot?.querySelector('db-devices-table');
      const shadow = table?.shadowRoot;
      const button = shadow?.querySelector<HTMLButtonElement>('th.build_size button');
      if (!shadow || !button) throw new Error('no Build Size header');
      const started = performance.now();
      button.click();
      // Until the first row is the largest device (sorted) and painted.
      await new Promise<void>((resolve) => {
        const check = () => {
          const header = shadow.querySelector('th.build_size');
          if (header?.getAttribute('aria-sort') === 'descending') requestAnimationFrame(() => resolve());
          else requestAnimationFrame(check);
        };
        check();
      });
      return performance.now() - started;
    });
    expect(elapsed).toBeLessThan(1000);
    const firstSizes = await page
      .locator('tr.device td.build_size')
      .evaluateAll((cells) => cells.slice(0, 5).map((c) => Number((c as HTMLElement).dataset['bytes'])));
    expect(firstSizes).toEqual([...firstSizes].sort((a, b) => b - a));
    expect(firstSizes[0]).toBeGreaterThan(990 * MB);
    await screenshot(page, 'large-fleet-sorted-1440');

    // Top to bottom, one viewport per frame; the long tasks that overlap it.
    const scroll = await page.evaluate(scrollThrough);
    const longest = Math.max(0, ...scroll.longTasks.map((task) => task.duration));
    console.info(
      `[large-fleet] ${COUNT} devices: first tr.device in the DOM ${firstRows.firstRowDom?.toFixed(0)} ms, visible ${firstRows.firstRowVisible?.toFixed(0)} ms ` +
        `after navigation start; scroll top to bottom (${scroll.frames} frames, ${scroll.scrollMs.toFixed(0)} ms): longest task ${longest.toFixed(0)} ms, ` +
        `${scroll.longTasks.length} long tasks > 50 ms`,
    );
    await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
    await expect.poll(() => page.locator('tr.device td.build_size.none').count(), { timeout: 5000 }).toBeGreaterThan(0);
    expect(await page.locator('tr.device').count()).toBeLessThan(150);
    expect(errors).toEqual([]);
    await context.close();
  }, 120_000);
});
