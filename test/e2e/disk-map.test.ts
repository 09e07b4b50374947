/// <reference lib="dom" />
/**
 * The disk map in real Chromium against the real server serving the demo
 * fleet (scaled down, in a temp folder) and a PlatformIO folder of sparse
 * files: the header's "Disk map" opens the view at `#disk-map` (bookmarkable,
 * the browser's back returns), every compiled device, the unused folder and
 * the PlatformIO parts are on the map with tile areas proportional to
 * bytes within 1 % (bounding boxes measured in the page), zoom into a device
 * and out again with the mouse and with the keyboard, and screenshots at
 * 1440 px and 375 px (light and dark) into `test-results/screenshots/`.
 */
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_DEVICES } from '../../src/demo/demo-devices.js';
import { DEMO_ORPHAN, prepareDemoFleet } from '../../src/demo/demo-fleet.js';
import { makeTempDir, silentLogger } from '../helpers/fs-fixtures.js';
import { FAKE_ESPHOME_BIN, startServer, type RunningServer } from '../helpers/server-fixture.js';
import { buildWeb, HAS_CHROMIUM, launchBrowser, MB, openPage, recordSentFrames, screenshot, sparseFile, tearDownE2e } from './harness.js';

const poll = { timeout: 20_000, interval: 100 };
const COMPILED = DEMO_DEVICES.filter((d) => d.compile).length;
const PIO_PARTS = { packages: 9 * MB, platforms: 1.5 * MB, '.cache': 3 * MB };

interface TileBox {
  id: string;
  kind: string;
  bytes: number;
  width: number;
  height: number;
  area: number;
}

/**
 * Every tile of the map with its measured box, and the map's own box and
 * total, read in one evaluation so all of them come from the same layout.
 */
async function measureTiles(page: Page): Promise<{ tiles: TileBox[]; mapArea: number; total: number }> {
  return page.locator('db-disk-map [data-testid="disk-map"]').evaluate((element) => {
    const box = element.getBoundingClientRect();
    const tiles = [...element.querySelectorAll<HTMLElement>('.tile')].map((tile) => {
      const rect = tile.getBoundingClientRect();
      const data = tile.dataset;
      return {
        id: data['id'] ?? '',
        kind: data['kind'] ?? '',
        bytes: Number(data['bytes']),
        width: rect.width,
        height: rect.height,
        area: rect.width * rect.height,
      };
    });
    return { tiles, mapArea: box.width * box.height, total: Number(element.getAttribute('data-total')) };
  });
}

/** Chromium lays boxes out in 1/64 px: each side of a measured box may be off by that much. */
const LAYOUT_UNIT = 1 / 64;

/**
 * Each tile's area over its bytes, relative to the map's pixels per byte: 1
 * when exact, and within 1 % for every tile the browser can measure that
 * finely. The error of the measurement itself is a layout unit on each side,
 * a relative error of LAYOUT_UNIT · (1/width + 1/height): it depends on the
 * thinner side, not on the area (a 0.7 × 180 px sliver is 130 px² but its
 * width alone is off by up to 2 %). Tiles whose measurement error is at most
 * half the 1 % budget get the 1 %; the thinner slivers get 1 % plus their
 * measurement error, so they are still checked.
 */
function expectProportional({ tiles, mapArea, total }: { tiles: TileBox[]; mapArea: number; total: number }): void {
  expect(tiles.length).toBeGreaterThan(0);
  expect(total).toBeGreaterThan(0);
  expect(tiles.reduce((sum, t) => sum + t.bytes, 0) / total).toBeCloseTo(1, 6);
  const measurementError = (t: TileBox): number => (t.width > 0 && t.height > 0 ? LAYOUT_UNIT * (1 / t.width + 1 / t.height) : Infinity);
  const measurable = tiles.filter((t) => measurementError(t) <= 0.005);
  expect(measurable.length).toBeGreaterThan(tiles.length / 2);
  for (const tile of tiles) {
    const expected = (tile.bytes / total) * mapArea;
    const allowed = measurable.includes(tile) ? 0.01 * expected : 0.01 * expected + LAYOUT_UNIT * (tile.width + tile.height);
    const label = `${tile.id}: ${tile.width.toFixed(2)} × ${tile.height.toFixed(2)} px = ${tile.area.toFixed(1)} px² for ${tile.bytes} bytes, expected ${expected.toFixed(1)} px²`;
    expect(Math.abs(tile.area - expected), label).toBeLessThan(allowed);
  }
}

/** How many items a group of the map holds, and its bytes (from the legend, shown at the top level). */
async function legend(page: Page, group: string): Promise<{ count: number; bytes: number }> {
  const entry = page.locator(`db-disk-map [data-testid="map-legend"] li[data-group="${group}"]`);
  if ((await entry.count()) === 0) return { count: 0, bytes: 0 };
  return { count: Number(await entry.getAttribute('data-count')), bytes: Number(await entry.getAttribute('data-bytes')) };
}

/** Devices on the map: their own tiles, plus those merged into a "smaller items" tile (listed below the map). */
async function devicesShown(page: Page): Promise<number> {
  const own = await page.locator('db-disk-map .tile[data-kind="device"]').count();
  const merged = await page.locator('db-disk-map [data-testid="map-smaller"] li[data-kind="device"]').count();
  return own + merged;
}

const crumbs = (page: Page) => page.locator('db-disk-map [data-testid="breadcrumbs"] .crumb').allInnerTexts();

/** The largest device's tile (the one a user would click first). */
async function largestDevice(page: Page): Promise<{ id: string; configuration: string }> {
  const all = await page
    .locator('db-disk-map .tile[data-kind="device"]')
    .evaluateAll((elements) => elements.map((e) => ({ id: (e as HTMLElement).dataset['id'] ?? '', bytes: Number((e as HTMLElement).dataset['bytes']) })));
  const top = all.sort((a, b) => b.bytes - a.bytes)[0];
  if (!top) throw new Error('no device tile');
  return { id: top.id, configuration: top.id.slice('device:'.length) };
}

async function waitForMap(page: Page): Promise<void> {
  await page.locator('db-disk-map [data-testid="disk-map"]').waitFor({ timeout: 15_000 });
  // Sized by the start-up sweep: every compiled device, the unused folder and the PlatformIO parts.
  await expect.poll(async () => (await legend(page, 'devices')).count, poll).toBe(COMPILED);
  await expect.poll(async () => (await legend(page, 'orphans')).count, poll).toBe(1);
  await expect.poll(async () => (await legend(page, 'platformio')).bytes, poll).toBe(PIO_PARTS.packages + PIO_PARTS.platforms + PIO_PARTS['.cache']);
}

describe.skipIf(!HAS_CHROMIUM)('the disk map in Chromium', () => {
  let webRoot: string;
  let running: RunningServer;
  let browser: Browser;

  beforeAll(async () => {
    webRoot = await buildWeb();
    const fleet = await prepareDemoFleet(silentLogger, { root: path.join(makeTempDir('dbts-e2e-map-'), 'demo'), scale: 0.2 });
    const pioDir = makeTempDir('dbts-e2e-map-pio-');
    for (const [part, bytes] of Object.entries(PIO_PARTS)) sparseFile(path.join(pioDir, part, 'blob.bin'), bytes);
    running = await startServer(fleet.configDir, {
      webRoot,
      demo: true,
      esphomeCommand: fleet.esphomeCommand,
      env: { ...process.env, PATH: `${FAKE_ESPHOME_BIN}${path.delimiter}${process.env['PATH'] ?? ''}`, PLATFORMIO_CORE_DIR: pioDir },
    });
    browser = await launchBrowser();
  }, 50_000);

  afterAll(() => tearDownE2e(browser, webRoot), 30_000);

  it('opens from the header at #disk-map, draws the demo fleet in proportion, zooms with the mouse, and back returns', async () => {
    let sent: Record<string, unknown>[] = [];
    const { context, page, errors } = await openPage(browser, running.url, {
      width: 1440,
      height: 1000,
      beforeLoad: (p) => void (sent = recordSentFrames(p)),
    });
    try {
      await page.locator('db-devices-table tr.device').first().waitFor({ timeout: 10_000 });
      await page.getByRole('button', { name: 'Disk map', exact: true }).click();
      await expect.poll(() => new URL(page.url()).hash).toBe('#disk-map');
      await waitForMap(page);
      expect(await crumbs(page)).toEqual(['Everything']);
      // At 1440 px every item is on the map, as a tile of its own or listed under a "smaller items" tile.
      expect(await devicesShown(page)).toBe(COMPILED);
      expect(await page.locator(`db-disk-map [data-kind="orphan"][data-id$="/${DEMO_ORPHAN}"]`).count()).toBe(1);
      expect(await page.locator('db-disk-map .tile[data-kind="platformio"]').count()).toBe(3);
      expectProportional(await measureTiles(page));
      await screenshot(page, 'disk-map-1440');

      // Zoom into the largest device with the mouse: its folders, in proportion too.
      const device = await largestDevice(page);
      await page.locator(`db-disk-map .tile[data-id="${device.id}"]`).click();
      await expect.poll(() => crumbs(page), poll).toHaveLength(3);
      expect((await crumbs(page)).slice(0, 2)).toEqual(['Everything', 'Devices']);
      await expect.poll(() => sent.some((f) => f['command'] === 'devices/size_tree'), poll).toBe(true);
      expect(sent.find((f) => f['command'] === 'devices/size_tree')?.['args']).toEqual({ configuration: device.configuration });
      // The server stores each device's folder tree from the start-up sweep: wait for it to replace the breakdown.
      const source = page.locator('db-disk-map [data-testid="map-source"]');
      await expect.poll(() => source.getAttribute('data-source'), poll).toBe('tree');
      const inside = await measureTiles(page);
      expect(inside.tiles.every((t) => t.id.startsWith(`${device.id}/`))).toBe(true);
      expect(inside.tiles.some((t) => t.id.startsWith(`${device.id}/.pioenvs`))).toBe(true);
      expectProportional(inside);
      await expect(page.locator('db-disk-map [data-testid="map-clean-frees"]').innerText()).resolves.toMatch(/^(Clean frees [\d.]+ [KMG]?B|Nothing to clean)$/);
      await expect(page.locator('db-disk-map [data-testid="map-clean"]').isEnabled()).resolves.toBe(true);
      // Hover describes a tile: name, size, share.
      await page.mouse.move(0, 0);
      await page.locator('db-disk-map .tile').last().hover();
      await expect(page.locator('db-disk-map [data-testid="map-info"]').innerText()).resolves.toMatch(/ · [\d.]+ [KMG]?B · [\d.<]+ % of /);
      await screenshot(page, 'disk-map-1440-device');

      // Zoom out with the breadcrumbs.
      await page.locator('db-disk-map [data-testid="breadcrumbs"] .crumb', { hasText: 'Everything' }).click();
      await expect.poll(() => crumbs(page), poll).toEqual(['Everything']);
      // Clicked again (its tree is loaded now), the device's tiles are in proportion at once: no transition keeps
      // the previous level's boxes for a few frames (the page's reduced-motion rule gives every element a tiny one).
      await page.locator(`db-disk-map .tile[data-id="${device.id}"]`).click();
      const atOnce = await measureTiles(page);
      expect(atOnce.tiles.every((t) => t.id.startsWith(`${device.id}/`))).toBe(true);
      expectProportional(atOnce);

      // The browser's back button returns to the table.
      await page.goBack();
      await expect.poll(() => page.locator('db-disk-map [data-testid="disk-map"]').isVisible()).toBe(false);
      await expect(page.locator('db-devices-table').isVisible()).resolves.toBe(true);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);

  it('zooms in and out with the keyboard: Tab to a tile, arrows, Enter, Space, Escape, Backspace', async () => {
    // Opened from the dashboard (not from a bookmark), so leaving the view has a page to return to.
    const { context, page, errors } = await openPage(browser, running.url, { width: 1440, height: 1000 });
    try {
      await page.locator('db-devices-table tr.device').first().waitFor({ timeout: 10_000 });
      await page.getByRole('button', { name: 'Disk map', exact: true }).click();
      await waitForMap(page);
      // The map holds one tab stop: Tab until a tile has focus.
      const focusedTile = () =>
        page.evaluate(() => {
          let active: Element | null = document.activeElement;
          while (active?.shadowRoot?.activeElement) active = active.shadowRoot.activeElement;
          return active instanceof HTMLElement && active.classList.contains('tile') ? (active.dataset['id'] ?? null) : null;
        });
      for (let i = 0; i < 60 && (await focusedTile()) === null; i++) await page.keyboard.press('Tab');
      const first = await focusedTile();
      expect(first).not.toBeNull();

      // Arrows move between tiles (End: the smallest, Home: back to the largest).
      const seen = new Set<string>([first as string]);
      for (const key of ['ArrowRight', 'ArrowDown', 'ArrowLeft', 'ArrowUp', 'End']) {
        await page.keyboard.press(key);
        seen.add((await focusedTile()) ?? '');
      }
      expect(seen.size).toBeGreaterThan(1);
      await page.keyboard.press('Home');
      expect(await focusedTile()).toBe(first);
      // Home is the largest tile of the largest group: here the largest device (the demo's devices outweigh the rest).
      expect(first).toBe((await largestDevice(page)).id);
      const device = (await focusedTile()) as string;
      expect(device).toMatch(/^device:/);

      await page.keyboard.press('Enter');
      await expect.poll(() => crumbs(page), poll).toHaveLength(3);
      // Focus moved into the device's folders.
      await expect.poll(focusedTile, poll).toMatch(new RegExp(`^${device.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/`));
      await page.keyboard.press('Escape');
      await expect.poll(() => crumbs(page), poll).toEqual(['Everything', 'Devices']);
      await page.keyboard.press('Backspace');
      await expect.poll(() => crumbs(page), poll).toEqual(['Everything']);
      await expect.poll(focusedTile, poll).not.toBeNull();

      // Space zooms too (focus is back on the device's tile); Escape at the top leaves the view.
      await expect.poll(focusedTile, poll).toBe(device);
      await page.keyboard.press(' ');
      await expect.poll(() => crumbs(page), poll).toHaveLength(3);
      await page.keyboard.press('Escape');
      await page.keyboard.press('Escape');
      await expect.poll(() => crumbs(page), poll).toEqual(['Everything']);
      await page.keyboard.press('Escape');
      await expect.poll(() => page.locator('db-disk-map [data-testid="disk-map"]').isVisible(), poll).toBe(false);
      await expect(page.locator('db-devices-table').isVisible()).resolves.toBe(true);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);

  it('fits 375 px in light and dark: proportional tiles, small ones merged, no sideways scroll', async () => {
    for (const colorScheme of ['light', 'dark'] as const) {
      const { context, page, errors } = await openPage(browser, `${running.url}#disk-map`, { width: 375, height: 812, colorScheme });
      try {
        await waitForMap(page);
        const measured = await measureTiles(page);
        expectProportional(measured);
        // Every drawn tile but a merged one is big enough to tap.
        for (const tile of measured.tiles.filter((t) => t.kind !== 'smaller')) expect(tile.area).toBeGreaterThanOrEqual(1_250);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        expect(overflow).toBeLessThanOrEqual(0);
        await screenshot(page, `disk-map-375-${colorScheme}`, true);

        // A tap zooms into the largest device.
        const device = await largestDevice(page);
        await page.locator(`db-disk-map .tile[data-id="${device.id}"]`).click();
        await expect.poll(() => crumbs(page), poll).toHaveLength(3);
        await expect.poll(() => page.locator('db-disk-map [data-testid="map-source"]').getAttribute('data-source'), poll).toBe('tree');
        expectProportional(await measureTiles(page));
        await screenshot(page, `disk-map-375-${colorScheme}-device`, true);
        expect(errors).toEqual([]);
      } finally {
        await context.close();
      }
    }
  }, 60_000);
});
