/// <reference lib="dom" />
/**
 * The reclaim panel in real Chromium against the real server (issue 14):
 * opened from the header, a typed cap previewed live with the least
 * recently compiled device first (`build_info.json`'s `build_time`), a bad
 * value refused next to its field, Save persisted on the server (seen again
 * after a reload), Run now executing the previewed plan through the job
 * queue (the fake esphome's `clean`) and the run in the history; the
 * summary's disk card, and the free-space warning opening the preview.
 * Screenshots of the panel at 1440 px and 375 px.
 *
 * The tests share one server and run in order.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatBytes } from '../../src/shared/format.js';
import { makeTempDir } from '../helpers/fs-fixtures.js';
import { startServer, type RunningServer } from '../helpers/server-fixture.js';
import { addDevice, buildWeb, HAS_CHROMIUM, launchBrowser, MB, openPage, screenshot, tearDownE2e } from './harness.js';

const DAY = 86_400;
const NOW = Math.floor(Date.now() / 1000);

/** Compiled 5, 40 and 10 days ago: the cap cleans Living Room (oldest) first, then Porch. */
const FLEET = [
  { name: 'kitchen', friendly: 'Kitchen Light', bytes: 212.4 * MB, compiled: NOW - 5 * DAY },
  { name: 'living-room', friendly: 'Living Room Sensor', platform: 'esp8266', bytes: 148.7 * MB, compiled: NOW - 40 * DAY },
  { name: 'porch', friendly: 'Porch Light', bytes: 90 * MB, compiled: NOW - 10 * DAY },
  { name: 'office', friendly: 'Office Climate' },
];

const poll = { timeout: 15_000, interval: 100 };

/** Gives a device its own `build_time` (same length as the harness's, so the folder keeps its size). */
function setBuildTime(configDir: string, name: string, buildTime: number): void {
  fs.writeFileSync(path.join(configDir, '.esphome', 'build', name, 'build_info.json'), `{"config_hash": 1, "build_time": ${buildTime}}`);
}

const dialog = (page: Page) => page.locator('db-reclaim-dialog dialog');
const previewNames = (page: Page) => page.locator('db-reclaim-dialog [data-testid="reclaim-preview"] tbody tr .name').allInnerTexts();

async function openPanel(page: Page): Promise<void> {
  await page.locator('db-devices-table tr.device').first().waitFor({ timeout: 10_000 });
  await page.locator('[data-testid="open-reclaim"]').click();
  await dialog(page).waitFor({ state: 'visible' });
}

describe.skipIf(!HAS_CHROMIUM)('the reclaim panel in Chromium', () => {
  let webRoot: string;
  let configDir: string;
  let running: RunningServer;
  let browser: Browser;

  beforeAll(async () => {
    webRoot = await buildWeb();
    configDir = makeTempDir('dbts-e2e-reclaim-');
    for (const device of FLEET) {
      addDevice(configDir, device);
      if (device.compiled) setBuildTime(configDir, device.name, device.compiled);
    }
    running = await startServer(configDir, { webRoot });
    browser = await launchBrowser();
  }, 60_000);

  afterAll(() => tearDownE2e(browser, webRoot), 30_000);

  it('shows the disk card, previews a typed cap live (least recently compiled first), refuses a bad value next to its field, and saves', async () => {
    const { context, page, errors } = await openPage(browser, running.url, { width: 1440, height: 900 });
    await openPanel(page);

    // The data dir's disk in the summary, from initial_state.
    const disk = page.locator('[data-testid="summary-disk"] .value');
    expect(Number(await disk.getAttribute('data-bytes'))).toBeGreaterThan(0);
    await expect(page.locator('[data-testid="summary-disk"] .sub').innerText()).resolves.toMatch(/^of \d/);

    // Every rule off: nothing to clean.
    await expect.poll(() => page.locator('db-reclaim-dialog [data-testid="preview-empty"]').innerText(), poll).toContain('Every rule is off');

    // 451 MiB of build folders under a 300 MB cap: Living Room (40 days) goes first, then Porch (10 days).
    await page.locator('db-reclaim-dialog input[name="max_total"]').fill('300MB');
    await expect.poll(() => previewNames(page), poll).toEqual(['Living Room Sensor', 'Porch Light']);
    const rows = page.locator('db-reclaim-dialog tbody tr');
    await expect(rows.first().locator('.rule').innerText()).resolves.toBe('Over the cap');
    await expect(rows.first().innerText()).resolves.toContain('40 days ago');
    const total = Number(await page.locator('db-reclaim-dialog [data-testid="preview-total"]').getAttribute('data-bytes'));
    expect(total).toBeGreaterThan(200 * MB);
    await expect(page.locator('db-reclaim-dialog [data-testid="preview-total"]').innerText()).resolves.toBe(formatBytes(total));
    await expect(page.locator('db-reclaim-dialog [data-testid="preview-free"]').innerText()).resolves.toContain('→');
    await screenshot(page, 'reclaim-panel-light-1440');

    // A bad value: the server's message next to the field, the previous plan kept.
    await page.locator('db-reclaim-dialog input[name="max_total"]').fill('20 GBs');
    const error = page.locator('db-reclaim-dialog #f-max_total-error');
    await expect.poll(() => error.innerText(), poll).toContain('is not a size');
    await expect(page.locator('db-reclaim-dialog input[name="max_total"]').getAttribute('aria-invalid')).resolves.toBe('true');
    expect(await previewNames(page)).toEqual(['Living Room Sensor', 'Porch Light']);
    await expect(page.locator('db-reclaim-dialog button.run').isDisabled()).resolves.toBe(true);
    await screenshot(page, 'reclaim-panel-field-error-1440');

    // Back to a good value, then Save: the server keeps it (seen again after a reload).
    await page.locator('db-reclaim-dialog input[name="max_total"]').fill('300MB');
    await expect.poll(() => error.innerText(), poll).toBe('');
    await page.locator('db-reclaim-dialog button.save').click();
    await expect.poll(() => page.locator('db-reclaim-dialog [data-testid="reclaim-saved"]').innerText(), poll).toContain('Saved');
    await page.keyboard.press('Escape');
    await dialog(page).waitFor({ state: 'hidden' });
    await page.reload();
    await openPanel(page);
    await expect.poll(() => page.locator('db-reclaim-dialog input[name="max_total"]').inputValue(), poll).toBe('300 MB');
    await expect.poll(() => previewNames(page), poll).toEqual(['Living Room Sensor', 'Porch Light']);
    expect(errors).toEqual([]);
    await context.close();
  }, 40_000);

  it('runs the previewed plan after a confirmation and shows the run in the history', async () => {
    const { context, page, errors } = await openPage(browser, running.url, { width: 1440, height: 900 });
    await openPanel(page);
    await expect.poll(() => previewNames(page), poll).toEqual(['Living Room Sensor', 'Porch Light']);
    await page.locator('db-reclaim-dialog button.run').click();
    const confirm = page.locator('db-confirm-dialog dialog');
    await confirm.waitFor({ state: 'visible' });
    await expect(confirm.innerText()).resolves.toContain('Living Room Sensor');
    await confirm.locator('button.confirm').click();

    const run = page.locator('db-reclaim-dialog [data-testid="reclaim-history"] details.run').first();
    await expect.poll(() => run.locator('summary').innerText(), { timeout: 30_000, interval: 200 }).toContain('Completed');
    await expect(run.locator('summary').innerText()).resolves.toContain('2 of 2 steps');
    await expect(run.locator('summary').innerText()).resolves.toContain('Run now');
    expect(Number(await run.locator('summary strong').getAttribute('data-bytes'))).toBeGreaterThan(200 * MB);
    await run.locator('summary').click();
    await expect(run.locator('.results').innerText()).resolves.toMatch(/✓ Living Room Sensor: freed .*\n.*✓ Porch Light: freed/);
    // The cap is met now: the fresh preview has nothing left to clean.
    await expect.poll(() => page.locator('db-reclaim-dialog [data-testid="preview-empty"]').innerText(), poll).toContain('Nothing to clean');
    expect(errors).toEqual([]);
    await context.close();
  }, 40_000);

  it('warns in the summary when free space is below the policy, opens the preview from there, and fits 375 px', async () => {
    const { context, page, errors } = await openPage(browser, running.url, { width: 375, height: 780 });
    await openPanel(page);
    await page.locator('db-reclaim-dialog input[name="max_total"]').fill('');
    await page.locator('db-reclaim-dialog input[name="min_free"]').fill('99%');
    await expect.poll(() => previewNames(page), poll).toContain('Kitchen Light');
    await screenshot(page, 'reclaim-panel-light-375');
    await page.locator('db-reclaim-dialog button.save').click();
    await expect.poll(() => page.locator('db-reclaim-dialog [data-testid="reclaim-saved"]').innerText(), poll).toContain('Saved');
    await page.keyboard.press('Escape');
    await dialog(page).waitFor({ state: 'hidden' });

    const warning = page.locator('[data-testid="disk-warning"]');
    await expect.poll(() => warning.innerText(), poll).toContain("below your policy's 99%");
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await screenshot(page, 'reclaim-warning-light-375');
    await warning.locator('button').click();
    await dialog(page).waitFor({ state: 'visible' });
    await expect.poll(() => previewNames(page), poll).toContain('Kitchen Light');
    // Opened at the preview: its heading has the focus and is in view.
    await expect
      .poll(() => page.evaluate(() => document.querySelector('db-app')?.shadowRoot?.querySelector('db-reclaim-dialog')?.shadowRoot?.activeElement?.id), poll)
      .toBe('preview-title');
    await screenshot(page, 'reclaim-preview-light-375');
    expect(errors).toEqual([]);
    await context.close();

    const dark = await openPage(browser, running.url, { width: 375, height: 780, colorScheme: 'dark' });
    await dark.page.locator('[data-testid="disk-warning"]').waitFor({ timeout: 10_000 });
    await screenshot(dark.page, 'reclaim-warning-dark-375');
    await openPanel(dark.page);
    await expect.poll(() => previewNames(dark.page), poll).toContain('Kitchen Light');
    await screenshot(dark.page, 'reclaim-panel-dark-375');
    await dark.context.close();
  }, 40_000);
});
