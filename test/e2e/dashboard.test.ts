/// <reference lib="dom" />
/**
 * The dashboard in real headless Chromium against the real server (fake
 * esphome on PATH): the Build Size column and its persistence, sorting,
 * live size updates after compile / clean / bulk clean, archive and
 * restore, a failed job's toast, reconnecting after a restart, keyboard
 * use, and screenshots (light / dark, desktop / phone, drawer, log).
 *
 * The tests in this file share one server and run in order: each leaves
 * the fleet as the next one expects.
 */
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir } from '../helpers/fs-fixtures.js';
import { startServer, type RunningServer } from '../helpers/server-fixture.js';
import { addDevice, buildWeb, HAS_CHROMIUM, launchBrowser, MB, openPage, screenshot, shownSizes, sizeOf, storedPreferences, tearDownE2e } from './harness.js';

const FLEET = [
  { name: 'kitchen', friendly: 'Kitchen Light', address: '192.168.1.42', bytes: 212.4 * MB },
  { name: 'living-room', friendly: 'Living Room Sensor', platform: 'esp8266', address: '192.168.1.50', bytes: 148.7 * MB },
  { name: 'garage-door', friendly: 'Garage Door', platform: 'rp2040', bytes: 96.2 * MB },
  { name: 'bedroom-climate', friendly: 'Bedroom Climate', address: '192.168.1.61', bytes: 1.2 * 1024 * MB },
  { name: 'office', friendly: 'Office Climate' },
  { name: 'porch', friendly: 'Porch Light', platform: 'esp8266' },
  { name: 'broken', friendly: 'Broken Thing', extra: '# fake-esphome: fail' },
];

const poll = { timeout: 15_000, interval: 100 };

async function waitForTable(page: Page): Promise<void> {
  await page.locator('db-devices-table tr.device').first().waitFor({ timeout: 10_000 });
}

/** The deep focused element's description (through shadow roots). */
function focusedDescription(page: Page): Promise<string> {
  return page.evaluate(() => {
    let el: Element | null = document.activeElement;
    while (el?.shadowRoot?.activeElement) el = el.shadowRoot.activeElement;
    if (!el) return '';
    return `${el.tagName.toLowerCase()}${el.getAttribute('data-configuration') ? `[${el.getAttribute('data-configuration')}]` : ''}`;
  });
}

describe.skipIf(!HAS_CHROMIUM)('dashboard in Chromium', () => {
  let webRoot: string;
  let configDir: string;
  let running: RunningServer;
  let browser: Browser;

  beforeAll(async () => {
    webRoot = await buildWeb();
    configDir = makeTempDir('dbts-e2e-');
    for (const device of FLEET) addDevice(configDir, device);
    running = await startServer(configDir, { webRoot });
    browser = await launchBrowser();
  }, 60_000);

  afterAll(() => tearDownE2e(browser, webRoot), 30_000);

  it('hides Build Size by default, shows it from the Columns picker, and keeps it after a reload', async () => {
    const { context, page, errors } = await openPage(browser, running.url, { width: 1440, height: 900 });
    await waitForTable(page);
    // The sweep at start-up measures the build folders.
    await expect.poll(() => page.getByText('1.2 GB').count(), poll).toBeGreaterThan(0);
    await expect(page.locator('db-devices-table th.build_size').count()).resolves.toBe(0);
    await screenshot(page, 'table-default-light-1440');

    await page.getByRole('button', { name: 'Columns' }).click();
    const box = page.getByRole('checkbox', { name: 'Build Size' });
    await expect(box.isChecked()).resolves.toBe(false);
    await box.check();
    await page.keyboard.press('Escape');
    await expect.poll(() => page.locator('db-devices-table th.build_size').count(), poll).toBe(1);
    const kitchen = page.locator('tr.device[data-configuration="kitchen.yaml"] td.build_size');
    await expect(kitchen.textContent()).resolves.toContain('212.4 MB');
    const office = page.locator('tr.device[data-configuration="office.yaml"] td.build_size');
    await expect(office.locator('[aria-hidden="true"]').innerText()).resolves.toBe('—');
    await expect(office.getAttribute('data-bytes')).resolves.toBe('0');
    const align = await kitchen.evaluate((cell) => getComputedStyle(cell).textAlign);
    expect(align).toBe('right');
    await expect.poll(() => (storedPreferences(configDir)['devices_table.columns'] as Record<string, boolean> | undefined)?.['build_size'], poll).toBe(true);

    await page.reload();
    await waitForTable(page);
    await expect.poll(() => page.locator('db-devices-table th.build_size').count(), poll).toBe(1);

    // Another browser (fresh storage) gets the same columns: they live on the server.
    const other = await openPage(browser, running.url);
    await waitForTable(other.page);
    await expect.poll(() => other.page.locator('db-devices-table th.build_size').count(), poll).toBe(1);
    await other.context.close();
    expect(errors).toEqual([]);
    await context.close();
  });

  it('sorts by Build Size numerically, both ways, and keeps the sort', async () => {
    const { context, page } = await openPage(browser, running.url, { width: 1440, height: 900 });
    await waitForTable(page);
    const header = page.locator('db-devices-table th.build_size');
    await expect(header.getAttribute('aria-sort')).resolves.toBe('none');
    await page.getByRole('button', { name: 'Build Size' }).click();
    await expect.poll(() => header.getAttribute('aria-sort'), poll).toBe('descending');
    const desc = await shownSizes(page);
    expect(desc).toEqual([...desc].sort((a, b) => b - a));
    // 1.2 GB sorts above 212.4 MB (numeric, not text).
    expect(desc[0]).toBeGreaterThan(1024 * MB);

    await page.getByRole('button', { name: 'Build Size' }).click();
    await expect.poll(() => header.getAttribute('aria-sort'), poll).toBe('ascending');
    const asc = await shownSizes(page);
    expect(asc).toEqual([...asc].sort((a, b) => a - b));
    await expect(page.locator('db-devices-table th.name').getAttribute('aria-sort')).resolves.toBe('none');

    await page.reload();
    await waitForTable(page);
    await expect.poll(() => page.locator('db-devices-table th.build_size').getAttribute('aria-sort'), poll).toBe('ascending');
    // Back to largest first for the screenshots.
    await page.getByRole('button', { name: 'Build Size' }).click();
    await expect.poll(() => header.getAttribute('aria-sort'), poll).toBe('descending');
    await screenshot(page, 'table-sorted-by-size-light-1440');
    await context.close();
  });

  it('names the config folder and the ESPHome data dir it reads', async () => {
    const { context, page } = await openPage(browser, running.url);
    await waitForTable(page);
    const folders = page.getByTestId('folders');
    await expect.poll(() => folders.textContent(), poll).toContain(configDir);
    expect(await folders.textContent()).toContain(path.join(configDir, '.esphome'));
    await context.close();
  });

  it('filters with the search box', async () => {
    const { context, page } = await openPage(browser, running.url);
    await waitForTable(page);
    const search = page.getByRole('searchbox', { name: 'Search devices' });
    await search.fill('esp8266');
    await expect.poll(() => page.locator('tr.device').count(), poll).toBe(2);
    await search.fill('192.168.1.42');
    await expect.poll(() => page.locator('tr.device').count(), poll).toBe(1);
    await search.fill('garage-door.yaml');
    await expect.poll(() => page.locator('tr.device').getAttribute('data-configuration'), poll).toBe('garage-door.yaml');
    await search.fill('nothing-like-this');
    await expect.poll(() => page.getByText('No devices match').count(), poll).toBe(1);
    await context.close();
  });

  it('compiles a device from its row, follows the log, and shows the new size without a reload', async () => {
    const { context, page, errors } = await openPage(browser, running.url, { width: 1440, height: 900 });
    await waitForTable(page);
    expect(await sizeOf(page, 'office.yaml')).toBe(0);
    const summaryBefore = await page.locator('[data-testid="summary-compiled"] .value').innerText();
    await page.getByRole('button', { name: 'Compile Office Climate' }).click();
    const log = page.getByRole('dialog', { name: /Compile · Office Climate/ });
    await log.waitFor();
    await expect.poll(() => page.locator('[data-testid="job-summary"]').innerText(), poll).toMatch(/^Completed/);
    // Coloured lines are spans with classes, never raw escape codes.
    await expect.poll(() => page.locator('db-job-log .terminal .ansi-fg-2').count(), poll).toBeGreaterThan(0);
    const text = await page.locator('db-job-log .terminal').innerText();
    expect(text).toContain('Successfully compiled program');
    expect(text).not.toContain('\x1b');
    await screenshot(page, 'job-log-light');
    await page.keyboard.press('Escape');
    await expect.poll(() => log.isVisible(), poll).toBe(false);

    await expect.poll(() => sizeOf(page, 'office.yaml'), poll).toBeGreaterThan(0);
    await expect.poll(() => page.locator('[data-testid="summary-compiled"] .value').innerText(), poll).not.toBe(summaryBefore);
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'Compiled Office Climate' }).count(), poll).toBe(1);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('cleans from the drawer (keyboard) and the size drops; Esc closes and focus returns to the row', async () => {
    const { context, page } = await openPage(browser, running.url, { width: 1440, height: 900 });
    await waitForTable(page);
    const row = page.locator('tr.device[data-configuration="office.yaml"]');
    await row.focus();
    await page.keyboard.press('Enter');
    const drawer = page.getByRole('dialog', { name: 'Office Climate' });
    await drawer.waitFor();
    const size = drawer.locator('[data-testid="build-size-row"] .size-value');
    const before = Number(await size.getAttribute('data-bytes'));
    expect(before).toBeGreaterThan(0);
    await screenshot(page, 'drawer-light');

    await drawer.getByRole('button', { name: 'Clean build files' }).click();
    const log = page.getByRole('dialog', { name: /Clean · Office Climate/ });
    await log.waitFor();
    await expect.poll(() => page.locator('[data-testid="job-summary"]').innerText(), poll).toMatch(/^Completed/);
    await page.keyboard.press('Escape');
    await expect.poll(() => log.isVisible(), poll).toBe(false);
    // Still in the drawer, which updated live.
    await expect.poll(async () => Number((await size.getAttribute('data-bytes')) ?? 0), poll).toBeLessThan(before);
    await page.keyboard.press('Escape');
    await expect.poll(() => drawer.isVisible(), poll).toBe(false);
    await expect.poll(() => focusedDescription(page), poll).toBe('tr[office.yaml]');
    await context.close();
  });

  it('disables the broom with an explanation while a job runs for the device', async () => {
    const { context, page } = await openPage(browser, running.url, { width: 1440, height: 900 });
    await waitForTable(page);
    // A compile of a device whose build is present (kitchen, sparse) takes a moment: open the drawer first.
    await page.locator('tr.device[data-configuration="kitchen.yaml"]').click();
    const drawer = page.getByRole('dialog', { name: 'Kitchen Light' });
    await drawer.waitFor();
    await drawer.getByRole('button', { name: 'Compile' }).click();
    const log = page.getByRole('dialog', { name: /Compile · Kitchen Light/ });
    await log.waitFor();
    await page.keyboard.press('Escape');
    // Either still running (broom disabled + hint) or already done (broom enabled): both states are right;
    // the running one must carry the explanation.
    const broom = drawer.getByRole('button', { name: 'Clean build files' });
    const state = await broom.evaluate((b) => ({ disabled: (b as HTMLButtonElement).disabled, hint: b.getAttribute('aria-describedby') }));
    if (state.disabled) expect(state.hint).toBe('clean-hint');
    await expect.poll(() => broom.isEnabled(), poll).toBe(true);
    await page.keyboard.press('Escape');
    await context.close();
  });

  it('bulk-cleans two selected devices and reports each one', async () => {
    const { context, page } = await openPage(browser, running.url, { width: 1440, height: 900 });
    await waitForTable(page);
    const living = await sizeOf(page, 'living-room.yaml');
    const garage = await sizeOf(page, 'garage-door.yaml');
    expect(living).toBeGreaterThan(100 * MB);
    expect(garage).toBeGreaterThan(90 * MB);
    await page.getByRole('checkbox', { name: 'Select Living Room Sensor' }).check();
    await page.getByRole('checkbox', { name: 'Select Garage Door' }).check();
    const bar = page.getByRole('toolbar', { name: 'Actions for selected devices' });
    await expect.poll(() => bar.innerText(), poll).toContain('2 selected');
    await screenshot(page, 'bulk-selection-light');
    await bar.getByRole('button', { name: 'Clean selected' }).click();
    const confirm = page.getByRole('alertdialog');
    await confirm.waitFor();
    await expect(confirm.innerText()).resolves.toContain('Frees up to');
    await confirm.getByRole('button', { name: 'Clean', exact: true }).click();
    const toast = page.getByRole('status').filter({ hasText: 'Started cleaning 2 devices' });
    await expect.poll(() => toast.count(), poll).toBe(1);
    await expect(toast.innerText()).resolves.toContain('Living Room Sensor');
    await expect.poll(() => sizeOf(page, 'living-room.yaml'), poll).toBeLessThan(1024);
    await expect.poll(() => sizeOf(page, 'garage-door.yaml'), poll).toBeLessThan(1024);
    await context.close();
  });

  it('archives a device and restores it from the Archived dialog', async () => {
    const { context, page } = await openPage(browser, running.url, { width: 1440, height: 900 });
    await waitForTable(page);
    await page.locator('tr.device[data-configuration="porch.yaml"]').click();
    const drawer = page.getByRole('dialog', { name: 'Porch Light' });
    await drawer.getByRole('button', { name: 'Archive' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Archive' }).click();
    await expect.poll(() => page.locator('tr.device[data-configuration="porch.yaml"]').count(), poll).toBe(0);
    await expect.poll(() => drawer.isVisible(), poll).toBe(false);

    await page.getByRole('button', { name: 'Archived devices' }).click();
    const dialog = page.getByRole('dialog', { name: 'Archived devices' });
    await dialog.getByText('Porch Light').waitFor();
    await screenshot(page, 'archived-dialog-light');
    await dialog.getByRole('button', { name: 'Restore Porch Light' }).click();
    await expect.poll(() => dialog.getByText('No archived devices.').count(), poll).toBe(1);
    await page.keyboard.press('Escape');
    await expect.poll(() => page.locator('tr.device[data-configuration="porch.yaml"]').count(), poll).toBe(1);
    await context.close();
  });

  it("shows a failed job's reason in a toast and in the jobs dialog", async () => {
    const { context, page } = await openPage(browser, running.url, { width: 1440, height: 900 });
    await waitForTable(page);
    await page.getByRole('button', { name: 'Compile Broken Thing' }).click();
    await page.getByRole('dialog', { name: /Compile · Broken Thing/ }).waitFor();
    await expect.poll(() => page.locator('[data-testid="job-summary"]').innerText(), poll).toMatch(/^Failed/);
    await page.keyboard.press('Escape');
    const toast = page.getByRole('alert').filter({ hasText: 'Compile of Broken Thing failed' });
    await expect.poll(() => toast.count(), poll).toBe(1);
    await expect(toast.innerText()).resolves.toMatch(/ERROR Error while compiling/);
    await screenshot(page, 'failed-toast-light');

    await page.getByRole('button', { name: /^Jobs/ }).click();
    const jobs = page.getByRole('dialog', { name: 'Jobs' });
    await jobs.waitFor();
    await expect(jobs.innerText()).resolves.toContain('Broken Thing');
    await screenshot(page, 'jobs-dialog-light');
    await page.keyboard.press('Escape');
    await context.close();
  });

  it('looks right in dark mode, at 1920 px and at 375 px', async () => {
    const dark = await openPage(browser, running.url, { width: 1920, height: 1080, colorScheme: 'dark' });
    await waitForTable(dark.page);
    await expect(dark.page.evaluate(() => document.documentElement.dataset['theme'])).resolves.toBe('dark');
    await screenshot(dark.page, 'table-dark-1920');
    await dark.page.locator('tr.device[data-configuration="kitchen.yaml"]').click();
    await dark.page.getByRole('dialog', { name: 'Kitchen Light' }).waitFor();
    await screenshot(dark.page, 'drawer-dark-1920');
    await dark.context.close();

    for (const scheme of ['light', 'dark'] as const) {
      const phone = await openPage(browser, running.url, { width: 375, height: 780, colorScheme: scheme });
      await waitForTable(phone.page);
      const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow).toBeLessThanOrEqual(0);
      await screenshot(phone.page, `table-${scheme}-375`);
      await phone.page.locator('tr.device[data-configuration="kitchen.yaml"]').click();
      await phone.page.getByRole('dialog', { name: 'Kitchen Light' }).waitFor();
      await screenshot(phone.page, `drawer-${scheme}-375`);
      await phone.context.close();
    }

    // The theme button overrides the system.
    const { context, page } = await openPage(browser, running.url, { colorScheme: 'light' });
    await waitForTable(page);
    await page.getByRole('button', { name: /^Theme/ }).click(); // system -> light
    await page.getByRole('button', { name: /^Theme/ }).click(); // light -> dark
    await expect(page.evaluate(() => document.documentElement.dataset['theme'])).resolves.toBe('dark');
    await page.reload();
    await expect(page.evaluate(() => document.documentElement.dataset['theme'])).resolves.toBe('dark');
    await context.close();
  });

  it('says it is offline while the server is down and comes back by itself', async () => {
    const { context, page } = await openPage(browser, running.url);
    await waitForTable(page);
    const port = new URL(running.url).port;
    await running.close();
    const banner = page.locator('[data-testid="offline-banner"]');
    await banner.waitFor({ timeout: 10_000 });
    await screenshot(page, 'offline-light');
    running = await startServer(configDir, { webRoot, port: Number(port) });
    await expect.poll(() => banner.count(), { timeout: 20_000, interval: 200 }).toBe(0);
    await expect.poll(() => page.locator('tr.device').count(), poll).toBe(FLEET.length);
    await context.close();
  }, 40_000);
});

describe.skipIf(!HAS_CHROMIUM)('sign-in in Chromium', () => {
  let webRoot: string;
  let browser: Browser;
  let running: RunningServer;

  beforeAll(async () => {
    webRoot = await buildWeb();
    const configDir = makeTempDir('dbts-e2e-auth-');
    addDevice(configDir, { name: 'kitchen', friendly: 'Kitchen Light', bytes: 10 * MB });
    running = await startServer(configDir, { webRoot, password: 'correct horse' });
    browser = await launchBrowser();
  }, 60_000);

  afterAll(() => tearDownE2e(browser, webRoot), 30_000);

  it('asks for the password, stays signed in across a reload, and signs out', async () => {
    const { context, page, errors } = await openPage(browser, running.url);
    const password = page.getByLabel('Password');
    await password.waitFor();
    await screenshot(page, 'login-light');
    await password.fill('wrong');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').innerText(), poll).toContain('Wrong password');
    await password.fill('correct horse');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await waitForTable(page);
    await expect(page.evaluate(() => localStorage.getItem('device-builder.token'))).resolves.toBeTruthy();

    await page.reload();
    await waitForTable(page);
    await expect(page.getByLabel('Password').count()).resolves.toBe(0);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Password').waitFor();
    await expect(page.evaluate(() => localStorage.getItem('device-builder.token'))).resolves.toBeNull();
    // The console may log the refused login frame; nothing else.
    expect(errors.filter((e) => !/not_authenticated|Wrong password/.test(e))).toEqual([]);
    await context.close();
  });
});
