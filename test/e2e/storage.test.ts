/// <reference lib="dom" />
/**
 * The disk beyond the devices' Build Size, in real Chromium against the
 * real server: unused build folders (an orphan made by hand, shown with its
 * size, deleted after a confirmation), the PlatformIO cache of a temp
 * PLATFORMIO_CORE_DIR with its parts, what "Reset build environment" frees,
 * the drawer's "Clean frees" / breakdown / "On disk", bulk compile through
 * `firmware/compile_bulk`, and the reset itself (confirm, follow its log,
 * `unsubscribe` when the log closes, everything drops, jobs cleared).
 * Screenshots of the new sections in light and dark, 375 px and desktop.
 *
 * The tests share one server and run in order; the reset comes last.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatBytes } from '../../src/shared/format.js';
import { makeTempDir } from '../helpers/fs-fixtures.js';
import { FAKE_ESPHOME_BIN, startServer, type RunningServer } from '../helpers/server-fixture.js';
import {
  addDevice,
  buildWeb,
  HAS_CHROMIUM,
  launchBrowser,
  MB,
  openPage,
  recordSentFrames,
  screenshot,
  screenshotOf,
  sparseFile,
  tearDownE2e,
} from './harness.js';

const GB = 1024 * MB;

const FLEET = [
  { name: 'kitchen', friendly: 'Kitchen Light', address: '192.168.1.42', bytes: 212.4 * MB },
  { name: 'living-room', friendly: 'Living Room Sensor', platform: 'esp8266', bytes: 148.7 * MB },
  { name: 'office', friendly: 'Office Climate' },
  { name: 'porch', friendly: 'Porch Light', platform: 'esp8266' },
];

const poll = { timeout: 15_000, interval: 100 };

function write(file: string, content: string): number {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
  return Buffer.byteLength(content);
}

/**
 * An unused build folder as a deleted device leaves it: real files, a
 * (sparse) firmware and build_info.json, but no YAML and no StorageJSON.
 * Returns its path and apparent size.
 */
function addOrphan(configDir: string, name: string, firmwareBytes: number): { dir: string; bytes: number } {
  const dir = path.join(configDir, '.esphome', 'build', name);
  let bytes = write(path.join(dir, 'build_info.json'), '{"config_hash": 7, "build_time": 1714900000}');
  bytes += write(path.join(dir, 'src', 'main.cpp'), '// generated\n'.repeat(150));
  bytes += write(path.join(dir, 'platformio.ini'), '[env:old]\nplatform = espressif32\n');
  sparseFile(path.join(dir, '.pioenvs', name, 'firmware.elf'), firmwareBytes);
  return { dir, bytes: bytes + Math.floor(firmwareBytes) };
}

/** A PlatformIO core folder with sparse files in its three parts; returns each part's size. */
function makePlatformio(dir: string): Record<'packages' | 'platforms' | '.cache', number> {
  const parts = {
    packages: [
      ['toolchain-xtensa-esp32/bin/xtensa-esp32-elf-gcc', 1.1 * GB],
      ['framework-arduinoespressif32/tools/sdk/lib.a', 412.3 * MB],
    ],
    platforms: [['espressif32/boards/esp32dev.json', 38.6 * MB]],
    '.cache': [['downloads/toolchain-xtensa-esp32.tar.gz', 286.2 * MB]],
  } as const;
  const sizes = { packages: 0, platforms: 0, '.cache': 0 };
  for (const [part, files] of Object.entries(parts) as [keyof typeof parts, readonly (readonly [string, number])[]][]) {
    for (const [file, bytes] of files) {
      sparseFile(path.join(dir, part, file), bytes);
      sizes[part] += Math.floor(bytes);
    }
  }
  return sizes;
}

async function waitForTable(page: Page): Promise<void> {
  await page.locator('db-devices-table tr.device').first().waitFor({ timeout: 10_000 });
}

const bytesOf = async (page: Page, selector: string): Promise<number> => Number((await page.locator(selector).first().getAttribute('data-bytes')) ?? 'NaN');

describe.skipIf(!HAS_CHROMIUM)('unused build folders, PlatformIO and reset in Chromium', () => {
  let webRoot: string;
  let configDir: string;
  let pioDir: string;
  let running: RunningServer;
  let browser: Browser;
  let orphans: Record<string, { dir: string; bytes: number }>;
  let pio: Record<'packages' | 'platforms' | '.cache', number>;

  beforeAll(async () => {
    webRoot = await buildWeb();
    configDir = makeTempDir('dbts-e2e-storage-');
    pioDir = makeTempDir('dbts-e2e-pio-');
    for (const device of FLEET) addDevice(configDir, device);
    orphans = {
      'old-thing': addOrphan(configDir, 'old-thing', 48 * MB),
      'bathroom-fan': addOrphan(configDir, 'bathroom-fan', 96.2 * MB),
      'garage-door-v1': addOrphan(configDir, 'garage-door-v1', 23.5 * MB),
    };
    pio = makePlatformio(pioDir);
    running = await startServer(configDir, {
      webRoot,
      // Our own PlatformIO folder; PATH still finds the fake esphome first.
      env: {
        ...process.env,
        PATH: `${FAKE_ESPHOME_BIN}${path.delimiter}${process.env['PATH'] ?? ''}`,
        FAKE_ESPHOME_FILES: '60',
        PLATFORMIO_CORE_DIR: pioDir,
      },
    });
    browser = await launchBrowser();
  }, 60_000);

  afterAll(() => tearDownE2e(browser, webRoot), 30_000);

  const devicesBytes = () => FLEET.reduce((sum, d) => sum + Math.floor(d.bytes ?? 0), 0);
  const orphanBytes = () => Object.values(orphans).reduce((sum, o) => sum + o.bytes, 0);

  it('lists the unused build folders with their sizes, the PlatformIO parts, and what a reset frees', async () => {
    const { context, page, errors } = await openPage(browser, running.url, { width: 1440, height: 900 });
    await waitForTable(page);
    const section = page.locator('[data-testid="unused-builds"]');
    const row = (name: string) => section.locator(`li[data-path="${orphans[name]?.dir}"]`);

    // Sized by the start-up sweep; largest first.
    await expect.poll(() => bytesOf(page, '[data-testid="unused-total"]'), poll).toBe(orphanBytes());
    await expect(row('old-thing').locator('.size').getAttribute('data-bytes')).resolves.toBe(String(orphans['old-thing']?.bytes));
    await expect(row('old-thing').innerText()).resolves.toContain(formatBytes(orphans['old-thing']?.bytes ?? 0));
    await expect(row('old-thing').locator('.what').getAttribute('title')).resolves.toBe(orphans['old-thing']?.dir);
    const order = await section.locator('li .name').allInnerTexts();
    expect(order).toEqual(['bathroom-fan', 'old-thing', 'garage-door-v1']);
    // They all sit in one folder: it is named once, under the heading (full path in the tooltip).
    const parent = section.locator('[data-testid="unused-parent"]');
    await expect(parent.innerText()).resolves.toMatch(/\.esphome\/build$/);
    await expect(parent.getAttribute('title')).resolves.toBe(path.join(configDir, '.esphome', 'build'));
    await expect(row('old-thing').locator('.where').count()).resolves.toBe(0);
    await expect(page.locator('[data-testid="summary-unused"] .value').innerText()).resolves.toBe(formatBytes(orphanBytes()));

    const platformio = page.locator('[data-testid="platformio"]');
    const pioTotal = pio.packages + pio.platforms + pio['.cache'];
    await expect.poll(() => bytesOf(page, '[data-testid="platformio-total"]'), poll).toBe(pioTotal);
    await expect(platformio.locator('[data-testid="platformio-path"]').getAttribute('title')).resolves.toBe(pioDir);
    for (const part of ['packages', 'platforms', '.cache'] as const) {
      const size = platformio.locator(`li[data-part="${part}"] .size`);
      await expect(size.getAttribute('data-bytes')).resolves.toBe(String(pio[part]));
      await expect(size.innerText()).resolves.toBe(formatBytes(pio[part]));
    }

    // clean-all frees every build folder (devices + unused) and PlatformIO's .cache, not its packages.
    const frees = devicesBytes() + orphanBytes() + pio['.cache'];
    await expect.poll(() => bytesOf(page, '[data-testid="reset-frees"]'), poll).toBe(frees);
    await expect(page.locator('[data-testid="reset-build-env"]').innerText()).resolves.toContain(`Frees ${formatBytes(frees)}`);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('looks right in light and dark, at 375 px, 1440 px and 1920 px', async () => {
    for (const scheme of ['light', 'dark'] as const) {
      for (const width of [1440, 1920]) {
        const { context, page } = await openPage(browser, running.url, { width, height: width === 1920 ? 1080 : 900, colorScheme: scheme });
        await waitForTable(page);
        await expect.poll(() => bytesOf(page, '[data-testid="platformio-total"]'), poll).toBeGreaterThan(0);
        await screenshot(page, `summary-${scheme}-${width}`);
        await page.locator('.storage').scrollIntoViewIfNeeded();
        await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
        await screenshot(page, `storage-${scheme}-${width}`);
        if (width === 1440) {
          // A walk of a big PlatformIO folder reports progress: shown as the server would send it.
          await page.evaluate(() => {
            const app = document.querySelector('db-app') as (HTMLElement & { ctx?: { store: { applyEvent(e: string, d: unknown): void } } }) | null;
            app?.ctx?.store.applyEvent('platformio_progress', { part: 'packages', files: 12873, bytes: 734003200 });
          });
          const walking = page.locator('[data-testid="platformio"] li[data-part="packages"] .desc');
          await expect.poll(() => walking.innerText(), poll).toBe('Measuring… 12,873 files so far');
          await screenshotOf(page.locator('[data-testid="platformio"]'), `platformio-walking-${scheme}-1440`);
        }
        await context.close();
      }
      const phone = await openPage(browser, running.url, { width: 375, height: 780, colorScheme: scheme });
      await waitForTable(phone.page);
      await expect.poll(() => bytesOf(phone.page, '[data-testid="platformio-total"]'), poll).toBeGreaterThan(0);
      const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow).toBeLessThanOrEqual(0);
      await screenshot(phone.page, `summary-${scheme}-375`);
      await screenshotOf(phone.page.locator('[data-testid="unused-builds"]'), `unused-builds-${scheme}-375`);
      await screenshotOf(phone.page.locator('[data-testid="platformio"]'), `platformio-${scheme}-375`);
      await phone.context.close();
    }
    // Six pages and ten screenshots: under CI load that took more than the default 20 s.
  }, 60_000);

  it('scrolls to the section from the summary card, and deletes a folder only after confirming', async () => {
    const { context, page, errors } = await openPage(browser, running.url, { width: 1440, height: 900 });
    await waitForTable(page);
    const section = page.locator('[data-testid="unused-builds"]');
    const oldThing = section.locator(`li[data-path="${orphans['old-thing']?.dir}"]`);
    await oldThing.waitFor();

    await page.locator('[data-testid="summary-unused"] button').click();
    await expect
      .poll(
        () =>
          section.evaluate((el) => {
            const box = el.getBoundingClientRect();
            return box.top >= 0 && box.top < window.innerHeight;
          }),
        poll,
      )
      .toBe(true);

    // Cancel keeps it.
    await page.getByRole('button', { name: 'Delete unused build folder old-thing' }).click();
    const confirm = page.getByRole('alertdialog');
    await confirm.waitFor();
    await expect(confirm.innerText()).resolves.toContain(orphans['old-thing']?.dir ?? '?');
    await expect(confirm.innerText()).resolves.toContain(`Frees ${formatBytes(orphans['old-thing']?.bytes ?? 0)}`);
    await screenshot(page, 'unused-delete-confirm-light');
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await expect.poll(() => confirm.isVisible(), poll).toBe(false);
    expect(fs.existsSync(orphans['old-thing']?.dir ?? '')).toBe(true);

    await page.getByRole('button', { name: 'Delete unused build folder old-thing' }).click();
    await confirm.getByRole('button', { name: 'Delete folder' }).click();
    await expect.poll(() => oldThing.count(), poll).toBe(0);
    expect(fs.existsSync(orphans['old-thing']?.dir ?? '')).toBe(false);
    delete orphans['old-thing'];
    await expect.poll(() => bytesOf(page, '[data-testid="unused-total"]'), poll).toBe(orphanBytes());
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'Deleted the unused build folder old-thing' }).count(), poll).toBe(1);
    // The reset figure follows.
    await expect.poll(() => bytesOf(page, '[data-testid="reset-frees"]'), poll).toBe(devicesBytes() + orphanBytes() + pio['.cache']);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('shows "Clean frees" next to the Build Size, a breakdown and the allocated size in the drawer', async () => {
    for (const [scheme, width] of [
      ['light', 1440],
      ['dark', 1440],
      ['light', 375],
      ['dark', 375],
    ] as const) {
      const { context, page } = await openPage(browser, running.url, { width, height: width === 375 ? 780 : 900, colorScheme: scheme });
      await waitForTable(page);
      await page.locator('tr.device[data-configuration="kitchen.yaml"]').click();
      const drawer = page.getByRole('dialog', { name: 'Kitchen Light' });
      await drawer.waitFor();
      const frees = drawer.locator('[data-testid="clean-frees"]');
      await frees.waitFor();
      // The harness's build folder: a sparse .pioenvs firmware (cleanable) plus build_info.json (kept).
      const cleanable = Number(await frees.getAttribute('data-bytes'));
      expect(cleanable).toBeGreaterThan(200 * MB);
      expect(cleanable).toBeLessThan(212.4 * MB);
      await expect(frees.innerText()).resolves.toBe(`Clean frees ${formatBytes(cleanable)}`);
      await expect(drawer.getByRole('button', { name: `Clean build files, frees ${formatBytes(cleanable)}` }).count()).resolves.toBe(1);
      const legend = await drawer.locator('[data-testid="build-breakdown"] .legend li').allInnerTexts();
      expect(legend.map((t) => t.split(/\s+/)[0])).toEqual(['.pioenvs', '.piolibdeps', 'src', 'other']);
      // Sparse files: on disk they take a few KB, which the drawer says.
      const onDisk = drawer.locator('[data-testid="on-disk"]');
      await expect(onDisk.innerText()).resolves.toMatch(/^On disk: \d+(\.\d)? KB/);
      await screenshot(page, `drawer-storage-${scheme}-${width}`);
      await context.close();
    }
  });

  it('queues a bulk compile with one firmware/compile_bulk request', async () => {
    let frames: Record<string, unknown>[] = [];
    const { context, page } = await openPage(browser, running.url, {
      width: 1440,
      height: 900,
      beforeLoad: (p) => (frames = recordSentFrames(p)),
    });
    await waitForTable(page);
    await page.getByRole('checkbox', { name: 'Select Office Climate' }).check();
    await page.getByRole('checkbox', { name: 'Select Porch Light' }).check();
    await page.getByRole('toolbar', { name: 'Actions for selected devices' }).getByRole('button', { name: 'Compile selected' }).click();
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'Queued compiles for 2 devices' }).count(), poll).toBe(1);
    const bulk = frames.filter((f) => f['command'] === 'firmware/compile_bulk');
    expect(bulk).toHaveLength(1);
    expect(bulk[0]?.['args']).toEqual({ configurations: ['office.yaml', 'porch.yaml'] });
    expect(frames.some((f) => f['command'] === 'firmware/compile')).toBe(false);
    // Both compiles finish and their folders count towards what a reset frees.
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'Compiled Porch Light' }).count(), { ...poll, timeout: 30_000 }).toBe(1);
    await context.close();
  }, 40_000);

  it('resets the build environment after confirming, follows its log, and everything drops', async () => {
    let frames: Record<string, unknown>[] = [];
    const { context, page, errors } = await openPage(browser, running.url, {
      width: 1440,
      height: 900,
      beforeLoad: (p) => (frames = recordSentFrames(p)),
    });
    await waitForTable(page);
    const block = page.locator('[data-testid="reset-build-env"]');
    await expect.poll(() => bytesOf(page, '[data-testid="reset-frees"]'), poll).toBeGreaterThan(devicesBytes());
    await block.getByRole('button', { name: 'Reset build environment' }).click();
    const confirm = page.getByRole('alertdialog');
    await confirm.waitFor();
    const text = await confirm.innerText();
    expect(text).toContain('esphome clean-all');
    expect(text).toContain('PlatformIO .cache');
    await screenshot(page, 'reset-confirm-light');
    await confirm.getByRole('button', { name: 'Reset build environment' }).click();

    const log = page.getByRole('dialog', { name: /Reset build environment · All devices/ });
    await log.waitFor();
    await expect.poll(() => page.locator('[data-testid="job-summary"]').innerText(), { ...poll, timeout: 30_000 }).toMatch(/^Completed/);
    await expect(page.locator('db-job-log .terminal').innerText()).resolves.toContain('Deleting PlatformIO cache');
    await screenshot(page, 'reset-log-light');
    await page.keyboard.press('Escape');
    await expect.poll(() => log.isVisible(), poll).toBe(false);

    // Closing the log ended the follow on the server.
    const follow = frames.find((f) => f['command'] === 'firmware/follow_job');
    expect(follow).toBeDefined();
    await expect
      .poll(() => frames.some((f) => f['command'] === 'unsubscribe' && (f['args'] as { message_id?: unknown })['message_id'] === follow?.['message_id']), poll)
      .toBe(true);

    // Every build folder and the .cache are gone; packages and platforms stay.
    await expect.poll(() => block.innerText(), { ...poll, timeout: 20_000 }).toContain('Nothing to free right now');
    await expect.poll(() => page.locator('[data-testid="unused-none"]').count(), poll).toBe(1);
    await expect.poll(() => bytesOf(page, '[data-testid="platformio-total"]'), poll).toBe(pio.packages + pio.platforms);
    await expect(page.locator('[data-testid="summary-unused"] .value').innerText()).resolves.toBe('None');
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'Reset the build environment' }).count(), poll).toBe(1);
    await page.locator('.storage').scrollIntoViewIfNeeded();
    await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
    await screenshot(page, 'storage-after-reset-light-1440');

    // Clearing finished jobs empties the list through the jobs_cleared event.
    await page.getByRole('button', { name: /^Jobs/ }).click();
    const jobs = page.getByRole('dialog', { name: 'Jobs' });
    await expect.poll(() => jobs.innerText(), poll).toContain('Reset build environment');
    await jobs.getByRole('button', { name: 'Clear finished' }).click();
    await expect.poll(() => jobs.getByText('No jobs yet').count(), poll).toBe(1);
    expect(frames.some((f) => f['command'] === 'firmware/get_jobs')).toBe(false);
    expect(errors).toEqual([]);
    await context.close();
  }, 60_000);
});
