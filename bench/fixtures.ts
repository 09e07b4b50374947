/**
 * Benchmark fixtures: ESPHome config folders on disk, generated once and
 * reused across runs.
 *
 * Each fixture is a config dir shaped like a real one: `<name>.yaml` device
 * files and a `secrets.yaml`, StorageJSON in `.esphome/storage/<yaml>.json`
 * whose `build_path` points at `.esphome/build/<name>`, and the build folder
 * itself (tree from {@link writeBuildTree}, `build_info.json` from
 * {@link writeBuildInfo}).
 *
 * A fixture is complete once its marker file (the generation parameters,
 * written last) is present and matches; otherwise the folder is removed and
 * generated again, so an interrupted generation is never reused.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { writeBuildInfo, writeBuildTree } from '../src/fake-esphome/build-tree.js';

/** Bump when the fixture layout changes so old fixtures are regenerated. */
const FIXTURE_VERSION = 1;
const MARKER_FILE = '.bench-fixture.json';
const ESPHOME_VERSION = '2025.10.3';

export interface FixtureParams {
  kind: 'fleet' | 'sweep';
  devices: number;
  filesPerDevice: number;
  meanFileBytes: number;
  seedBase: number;
}

export interface Fixture {
  configDir: string;
  /** Build folders, in device order. */
  buildDirs: string[];
  /** Files and bytes the generator wrote into the trees (`build_info.json` excluded). */
  treeFiles: number;
  treeBytes: number;
  /** Wall time of generation; null when an existing fixture was reused. */
  generatedMs: number | null;
}

interface Marker {
  version: number;
  params: FixtureParams;
  treeFiles: number;
  treeBytes: number;
  generatedAt: string;
}

interface Platform {
  key: string;
  board: string;
  espPlatform: string;
  framework: string;
  extra: string[];
}

const PLATFORMS: readonly Platform[] = [
  { key: 'esp32', board: 'esp32dev', espPlatform: 'ESP32', framework: 'esp-idf', extra: ['  framework:', '    type: esp-idf'] },
  { key: 'esp8266', board: 'nodemcuv2', espPlatform: 'ESP8266', framework: 'arduino', extra: [] },
  { key: 'bk72xx', board: 'generic-bk7231n-qfn32-tuya', espPlatform: 'BK72XX', framework: 'arduino', extra: [] },
  { key: 'rp2040', board: 'rpipicow', espPlatform: 'RP2040', framework: 'arduino', extra: [] },
];

const INTEGRATIONS = ['api', 'esphome', 'logger', 'ota', 'preferences', 'safe_mode', 'sensor', 'socket', 'uptime', 'wifi'];

export function deviceName(index: number, devices: number): string {
  return `device-${String(index + 1).padStart(Math.max(2, String(devices).length), '0')}`;
}

function platformOf(index: number): Platform {
  return PLATFORMS[index % PLATFORMS.length] as Platform;
}

function deviceYaml(name: string, platform: Platform): string {
  const friendly = name.replace(/^device-/, 'Device ');
  return [
    'substitutions:',
    `  name: ${name}`,
    `  friendly_name: ${friendly}`,
    '',
    'esphome:',
    '  name: ${name}',
    '  friendly_name: ${friendly_name}',
    '  area: Bench',
    '',
    `${platform.key}:`,
    `  board: ${platform.board}`,
    ...platform.extra,
    '',
    'logger:',
    '',
    'api:',
    '  encryption:',
    '    key: !secret api_key',
    '',
    'ota:',
    '  - platform: esphome',
    '    password: !secret ota_password',
    '',
    'wifi:',
    '  ssid: !secret wifi_ssid',
    '  password: !secret wifi_password',
    '',
    'sensor:',
    '  - platform: uptime',
    '    name: Uptime',
    '',
  ].join('\n');
}

function storageJson(name: string, platform: Platform, buildDir: string): string {
  const firmware = platform.key === 'bk72xx' ? 'firmware.uf2' : 'firmware.bin';
  return `${JSON.stringify(
    {
      storage_version: 1,
      name,
      friendly_name: name.replace(/^device-/, 'Device '),
      comment: null,
      esphome_version: ESPHOME_VERSION,
      src_version: 1,
      address: `${name}.local`,
      web_port: null,
      esp_platform: platform.espPlatform,
      build_path: buildDir,
      firmware_bin_path: path.join(buildDir, '.pioenvs', name, firmware),
      loaded_integrations: INTEGRATIONS,
      loaded_platforms: ['sensor/uptime'],
      no_mcu_firmware: false,
      framework: platform.framework,
      core_platform: platform.key,
    },
    null,
    2,
  )}\n`;
}

function readMarker(configDir: string): Marker | null {
  try {
    return JSON.parse(readFileSync(path.join(configDir, MARKER_FILE), 'utf8')) as Marker;
  } catch {
    return null;
  }
}

function sameParams(a: FixtureParams, b: FixtureParams): boolean {
  return (
    a.kind === b.kind && a.devices === b.devices && a.filesPerDevice === b.filesPerDevice && a.meanFileBytes === b.meanFileBytes && a.seedBase === b.seedBase
  );
}

function buildDirsOf(configDir: string, params: FixtureParams): string[] {
  return Array.from({ length: params.devices }, (_, index) => path.join(configDir, '.esphome', 'build', deviceName(index, params.devices)));
}

/**
 * Returns the fixture at `configDir` for `params`, generating it first
 * unless a complete one with the same parameters is already there.
 * `progress` receives one line per generated device (or a summary).
 */
export function ensureFixture(configDir: string, params: FixtureParams, progress: (line: string) => void): Fixture {
  const buildDirs = buildDirsOf(configDir, params);
  const marker = readMarker(configDir);
  if (
    marker &&
    marker.version === FIXTURE_VERSION &&
    sameParams(marker.params, params) &&
    buildDirs.every((dir) => existsSync(path.join(dir, 'build_info.json')))
  ) {
    return { configDir, buildDirs, treeFiles: marker.treeFiles, treeBytes: marker.treeBytes, generatedMs: null };
  }

  const started = performance.now();
  rmSync(configDir, { recursive: true, force: true });
  const storageDir = path.join(configDir, '.esphome', 'storage');
  mkdirSync(storageDir, { recursive: true });
  writeFileSync(
    path.join(configDir, 'secrets.yaml'),
    'wifi_ssid: bench\nwifi_password: bench-password\napi_key: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nota_password: bench\n',
  );

  let treeFiles = 0;
  let treeBytes = 0;
  const buildTime = Math.floor(Date.now() / 1000);
  // Progress every device for the big fleet, every 10% for the many-tiny sweep.
  const every = params.devices <= 50 ? 1 : Math.ceil(params.devices / 10);
  for (let index = 0; index < params.devices; index++) {
    const name = deviceName(index, params.devices);
    const configuration = `${name}.yaml`;
    const platform = platformOf(index);
    const buildDir = buildDirs[index] as string;
    const deviceStarted = performance.now();
    const tree = writeBuildTree(buildDir, {
      name,
      files: params.filesPerDevice,
      seed: params.seedBase + index,
      platform: platform.key,
      meanFileBytes: params.meanFileBytes,
    });
    writeBuildInfo(buildDir, {
      config_hash: (params.seedBase * 7919 + index * 104729) >>> 0,
      build_time: buildTime,
      esphome_version: ESPHOME_VERSION,
    });
    writeFileSync(path.join(storageDir, `${configuration}.json`), storageJson(name, platform, buildDir));
    writeFileSync(path.join(configDir, configuration), deviceYaml(name, platform));
    treeFiles += tree.files;
    treeBytes += tree.bytes;
    if ((index + 1) % every === 0 || index + 1 === params.devices) {
      const seconds = ((performance.now() - deviceStarted) / 1000).toFixed(1);
      progress(
        every === 1
          ? `  ${name}: ${tree.files.toLocaleString('en-US')} files, ${(tree.bytes / 1e6).toFixed(1)} MB in ${seconds} s`
          : `  ${index + 1}/${params.devices} devices`,
      );
    }
  }

  const written: Marker = {
    version: FIXTURE_VERSION,
    params,
    treeFiles,
    treeBytes,
    generatedAt: new Date().toISOString(),
  };
  writeFileSync(path.join(configDir, MARKER_FILE), `${JSON.stringify(written, null, 2)}\n`);
  return { configDir, buildDirs, treeFiles, treeBytes, generatedMs: performance.now() - started };
}
