/// <reference lib="dom" />
/**
 * Browser-test harness: builds the page once per test file into a temp
 * folder (so parallel files and a developer's own web/dist never clash),
 * writes a config dir of ESPHome-looking devices, starts the REAL server
 * in-process on it (fake esphome first on PATH) and drives Debian's
 * Chromium through playwright-core.
 *
 * Build folders are made of sparse files: a device can "use" 212 MB of
 * apparent size (what the dashboard measures) without touching the disk.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { build } from 'vite';
import { OWN_STATE_FILE } from '../../src/metadata/device-metadata.js';
import { cleanupTempDirs } from '../helpers/fs-fixtures.js';
import { REPO_ROOT } from '../helpers/run-cli.js';
import { stopServers } from '../helpers/server-fixture.js';

export const CHROMIUM = '/usr/bin/chromium';
export const HAS_CHROMIUM = fs.existsSync(CHROMIUM);
export const WEB_DIR = path.join(REPO_ROOT, 'web');
export const SCREENSHOT_DIR = path.join(REPO_ROOT, 'test-results', 'screenshots');

if (!HAS_CHROMIUM) {
  console.warn(`[e2e] ${CHROMIUM} is missing: browser tests are skipped (apt-get install chromium to run them).`);
}

/** Builds the page with the project's Vite config into a fresh temp folder. */
export async function buildWeb(): Promise<string> {
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbts-web-'));
  await build({
    root: WEB_DIR,
    configFile: path.join(WEB_DIR, 'vite.config.ts'),
    logLevel: 'warn',
    build: { outDir, emptyOutDir: true, sourcemap: false },
  });
  return outDir;
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export interface PageOptions {
  width?: number;
  height?: number;
  colorScheme?: 'light' | 'dark';
  /** Runs before the page loads (e.g. to listen to its WebSocket frames). */
  beforeLoad?: (page: Page) => void;
}

/** A fresh browser context (own localStorage) and page; console errors are collected. */
export async function openPage(browser: Browser, url: string, options: PageOptions = {}): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext({
    viewport: { width: options.width ?? 1280, height: options.height ?? 800 },
    colorScheme: options.colorScheme ?? 'light',
    reducedMotion: 'reduce',
  });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  options.beforeLoad?.(page);
  await page.goto(url);
  return { context, page, errors };
}

export async function screenshot(page: Page, name: string, fullPage = false): Promise<string> {
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage });
  return file;
}

/** A screenshot of one element (a section, a dialog) rather than the viewport. */
export async function screenshotOf(locator: Locator, name: string): Promise<string> {
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await locator.screenshot({ path: file });
  return file;
}

/** The JSON frames the page sends on its WebSocket; attach with `beforeLoad`. */
export function recordSentFrames(page: Page): Record<string, unknown>[] {
  const frames: Record<string, unknown>[] = [];
  page.on('websocket', (socket) => {
    socket.on('framesent', (frame) => {
      if (typeof frame.payload !== 'string') return;
      try {
        frames.push(JSON.parse(frame.payload) as Record<string, unknown>);
      } catch {
        // Not JSON: not ours.
      }
    });
  });
  return frames;
}

/** A file of `bytes` apparent size that takes (almost) no disk. */
export function sparseFile(file: string, bytes: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const handle = fs.openSync(file, 'w');
  fs.ftruncateSync(handle, Math.max(0, Math.floor(bytes)));
  fs.closeSync(handle);
}

export interface DeviceSpec {
  name: string;
  friendly?: string;
  platform?: string;
  address?: string;
  /** Apparent size of the build folder; 0 or absent = never compiled. */
  bytes?: number;
  /** Extra YAML lines (e.g. `# fake-esphome: fail`). */
  extra?: string;
}

function write(file: string, content: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
}

/** Writes `<name>.yaml` and, when `bytes` > 0, StorageJSON and a (sparse) build folder. */
export function addDevice(configDir: string, spec: DeviceSpec): string {
  const platform = spec.platform ?? 'esp32';
  const configuration = `${spec.name}.yaml`;
  const lines = [
    'esphome:',
    `  name: ${spec.name}`,
    ...(spec.friendly ? [`  friendly_name: ${spec.friendly}`] : []),
    `${platform}:`,
    `  board: ${platform === 'esp8266' ? 'd1_mini' : platform === 'rp2040' ? 'rpipicow' : 'esp32dev'}`,
    'wifi:',
    '  ssid: !secret wifi_ssid',
    ...(spec.address ? [`  use_address: ${spec.address}`] : []),
    'api:',
    'ota:',
    '  platform: esphome',
    'logger:',
    ...(spec.extra ? [spec.extra] : []),
    '',
  ];
  write(path.join(configDir, configuration), lines.join('\n'));
  const bytes = spec.bytes ?? 0;
  if (bytes <= 0) return configuration;
  const buildDir = path.join(configDir, '.esphome', 'build', spec.name);
  write(
    path.join(configDir, '.esphome', 'storage', `${configuration}.json`),
    JSON.stringify({
      storage_version: 1,
      name: spec.name,
      friendly_name: spec.friendly ?? spec.name,
      esphome_version: '2026.10.2',
      address: spec.address ?? `${spec.name}.local`,
      core_platform: platform,
      esp_platform: platform.toUpperCase(),
      build_path: buildDir,
    }),
  );
  const info = '{"config_hash": 1, "build_time": 1714900000}';
  write(path.join(buildDir, 'build_info.json'), info);
  const blob = path.join(buildDir, '.pioenvs', spec.name, 'firmware.elf');
  fs.mkdirSync(path.dirname(blob), { recursive: true });
  const handle = fs.openSync(blob, 'w');
  fs.ftruncateSync(handle, Math.max(0, Math.floor(bytes) - info.length));
  fs.closeSync(handle);
  return configuration;
}

/** Reads the `_preferences` the server stored in its own per-instance file in the data dir. */
export function storedPreferences(configDir: string): Record<string, unknown> {
  try {
    const own = JSON.parse(fs.readFileSync(path.join(configDir, '.esphome', OWN_STATE_FILE), 'utf8')) as Record<string, unknown>;
    return (own['_preferences'] as Record<string, unknown>) ?? {};
  } catch {
    return {};
  }
}

/** Sizes shown in the Build Size column, top to bottom, as bytes (0 for "—"). */
export async function shownSizes(page: Page): Promise<number[]> {
  return page
    .locator('db-devices-table tbody tr.device td.build_size')
    .evaluateAll((cells) => cells.map((cell) => Number((cell as HTMLElement).dataset['bytes'] ?? '0')));
}

export async function sizeOf(page: Page, configuration: string): Promise<number> {
  const cell = page.locator(`db-devices-table tr.device[data-configuration="${configuration}"] td.build_size`);
  return Number((await cell.getAttribute('data-bytes')) ?? '0');
}

export const MB = 1024 * 1024;

/** What every browser suite's afterAll does: browser, servers, temp dirs, its own page build. */
export async function tearDownE2e(browser: Browser | undefined, webRoot: string | undefined): Promise<void> {
  await browser?.close();
  await stopServers();
  cleanupTempDirs();
  if (webRoot) fs.rmSync(webRoot, { recursive: true, force: true });
}
