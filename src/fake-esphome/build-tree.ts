/**
 * Generates realistic ESPHome/PlatformIO build folders for tests, the demo
 * and the benchmark, without ESPHome or a toolchain.
 *
 * What matters for a build-size tool is the *shape* of the tree, not the
 * bytes: a real build folder holds 1k-30k files spread over a few shallow
 * areas (`src/`, `.pioenvs/<name>/`) and one deep one (`.piolibdeps/`), with
 * at most a few dozen entries per folder. Walk cost scales with the number
 * of files and folders, so the generator hits an exact file count and keeps
 * folders small by splitting them into subfolders ({@link spread}).
 *
 * Everything is derived from a seed through a small PRNG, so the same
 * options always give the same tree and the same byte total. The benchmark
 * writes half a million files with this, so content comes from one shared
 * buffer (`writeFileSync(path, buf.subarray(0, n))`) and each folder is
 * created once.
 *
 * `build_info.json` is not part of the tree: the caller writes it with
 * {@link writeBuildInfo}, which reproduces ESPHome's write-if-changed so the
 * freshness signals (file mtime vs. folder mtime) behave as in the real tool.
 */
import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { basename, join, relative, sep } from 'node:path';
import { mulberry32 } from '../util/prng.js';

export interface BuildTreeOptions {
  /** `esphome.name`: names `.pioenvs/<name>` and `.piolibdeps/<name>`. */
  name: string;
  /** Exact number of regular files to write. */
  files: number;
  seed?: number;
  /** Platform key (`esp32`, `bk72xx`, ...); LibreTiny platforms get `firmware.uf2`. */
  platform?: string;
  /** Mean size of an ordinary file; firmware images are a few hundred times this. */
  meanFileBytes?: number;
}

export interface BuildTreeResult {
  files: number;
  bytes: number;
}

export interface BuildInfo {
  config_hash: number;
  build_time: number;
  esphome_version: string;
}

/** Platforms built with LibreTiny, whose flashable image is a UF2 file. */
const UF2_PLATFORMS = new Set(['bk72xx', 'rtl87xx', 'ln882x']);

const DEFAULT_MEAN_BYTES = 4096;

/** Keeps the exponential size distribution's tail (and the buffer) bounded. */
const MAX_SIZE_FACTOR = 8;

/** Share of the non-fixed files that goes to `src/` and `.pioenvs/`; the rest is `.piolibdeps/`. */
const SRC_SHARE = 0.15;
const OBJ_SHARE = 0.25;

/** The firmware image PlatformIO leaves in `.pioenvs/<name>/` for this platform. */
export function firmwareFileName(platform: string | null | undefined): string {
  return UF2_PLATFORMS.has((platform ?? '').toLowerCase()) ? 'firmware.uf2' : 'firmware.bin';
}

const COMPONENTS = [
  'api',
  'wifi',
  'logger',
  'ota',
  'sensor',
  'binary_sensor',
  'switch',
  'light',
  'output',
  'text_sensor',
  'web_server',
  'web_server_base',
  'mdns',
  'network',
  'socket',
  'json',
  'time',
  'sntp',
  'i2c',
  'spi',
  'uart',
  'esp32',
  'esp8266',
  'rp2040',
  'libretiny',
  'captive_portal',
  'md5',
  'sha256',
  'preferences',
  'safe_mode',
  'button',
  'number',
  'select',
  'climate',
  'cover',
  'fan',
  'lock',
  'valve',
  'event',
  'update',
  'dallas_temp',
  'one_wire',
  'dht',
  'bme280_base',
  'bme280_i2c',
  'sht4x',
  'ads1115',
  'adc',
  'pulse_counter',
  'gpio',
  'status_led',
  'restart',
  'factory_reset',
  'template',
  'copy',
  'homeassistant',
  'esp32_ble',
  'esp32_ble_tracker',
  'bluetooth_proxy',
  'ble_client',
  'display',
  'font',
  'image',
  'lvgl',
  'touchscreen',
  'st7789v',
  'ili9xxx',
  'ssd1306_base',
  'neopixelbus',
  'fastled_base',
  'esp32_rmt_led_strip',
  'light_partition',
  'monochromatic',
  'rgb',
  'rgbw',
  'cwww',
  'ledc',
  'pwm',
  'dac',
  'modbus',
  'modbus_controller',
  'mqtt',
  'http_request',
  'audio',
  'i2s_audio',
  'speaker',
  'microphone',
  'voice_assistant',
  'micro_wake_word',
  'media_player',
  'remote_base',
  'remote_receiver',
  'remote_transmitter',
  'deep_sleep',
  'interval',
  'script',
  'globals',
  'substitutions',
  'packages',
  'external_components',
  'debug',
];

const CORE_STEMS = [
  'application',
  'component',
  'controller',
  'helpers',
  'log',
  'preferences',
  'scheduler',
  'util',
  'hal',
  'gpio',
  'automation',
  'base_automation',
  'color',
  'entity_base',
  'optional',
  'ring_buffer',
  'string_ref',
  'time',
  'version',
  'macros',
  'defines',
  'datatypes',
  'finite_set_mask',
  'progmem',
  'component_iterator',
  'hash_base',
];

const SOURCE_STEMS = [
  'base',
  'impl',
  'client',
  'server',
  'driver',
  'helpers',
  'util',
  'config',
  'handler',
  'parser',
  'buffer',
  'stream',
  'frame',
  'message',
  'codec',
  'state',
  'timer',
  'queue',
  'registry',
  'callback',
  'filter',
  'sensor',
  'bus',
  'packet',
  'device',
  'session',
  'connection',
  'transport',
  'backend',
  'adapter',
];

const LIBRARIES = [
  'ArduinoJson',
  'AsyncTCP',
  'ESPAsyncWebServer',
  'FastLED',
  'NeoPixelBus',
  'ESPAsyncTCP',
  'AsyncMqttClient',
  'Improv',
  'NimBLE-Arduino',
  'lvgl',
  'esp-dsp',
  'esp-tflite-micro',
  'esp-audio-libs',
  'Wire',
  'SPI',
  'WiFi',
  'Update',
  'DNSServer',
  'ESPmDNS',
  'HTTPClient',
  'WebServer',
  'Preferences',
  'FS',
  'LittleFS',
  'OneWire',
  'DallasTemperature',
  'Adafruit_BusIO',
  'Adafruit_Sensor',
  'TFT_eSPI',
  'LovyanGFX',
  'U8g2',
  'IRremoteESP8266',
  'PubSubClient',
  'ModbusMaster',
  'SoftwareSerial',
  'micro-ecc',
  'libsodium',
  'mbedtls-extras',
  'noise-c',
  'protobuf-nano',
  'esp-zigbee-lib',
  'esp-nimble-cpp',
  'freertos-addons',
  'tinyusb',
  'esp_lcd_panel',
];

const SUBDIRS = [
  'detail',
  'internal',
  'utility',
  'core',
  'util',
  'impl',
  'platform',
  'port',
  'drivers',
  'include',
  'common',
  'extra',
  'hal',
  'proto',
  'codec',
  'misc',
  'algorithms',
  'containers',
  'memory',
  'io',
];

const LIB_ROOT_FILES = ['library.json', 'README.md', 'LICENSE'];

/**
 * Picks a name unique among a folder's `count` children: cycling a word list
 * is a bijection within each block of the list's length, and the block
 * number suffix separates the blocks.
 */
function pick(words: readonly string[], i: number, offset: number): string {
  const word = words[(i + offset) % words.length] as string;
  const block = Math.floor(i / words.length);
  return block === 0 ? word : `${word}${block + 1}`;
}

/** One folder and the file names to write in it. */
interface Folder {
  dir: string;
  names: string[];
}

/**
 * Lays `n` files out under `base` as a tree whose folders hold at most
 * `leaf / 2 + fanout` entries: small groups stay flat, big ones keep a few
 * files and split the rest over subfolders. Always places exactly `n` files.
 */
function spread(
  out: Folder[],
  base: string,
  n: number,
  leaf: number,
  fanout: number,
  childName: (i: number, depth: number) => string,
  fileName: (j: number, dir: string) => string,
  bareTop = false,
  depth = 0,
): void {
  if (n <= 0) return;
  // `bareTop`: folders like src/esphome/components hold only subfolders.
  const own = n <= leaf ? n : bareTop && depth === 0 ? 0 : Math.floor(leaf / 2);
  if (own > 0) {
    const names: string[] = [];
    for (let j = 0; j < own; j++) names.push(fileName(j, base));
    out.push({ dir: base, names });
  }
  const rest = n - own;
  if (rest === 0) return;
  const kids = Math.min(fanout, Math.ceil(rest / leaf));
  for (let i = 0; i < kids; i++) {
    const share = Math.floor(rest / kids) + (i < rest % kids ? 1 : 0);
    spread(out, join(base, childName(i, depth)), share, leaf, fanout, childName, fileName, false, depth + 1);
  }
}

/** Small seeded string hash, so per-folder name offsets differ between folders. */
function textHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function platformioIni(name: string, platform: string): string {
  const pio: Record<string, [string, string, string]> = {
    esp32: ['platformio/espressif32', 'esp32dev', 'espidf'],
    esp8266: ['platformio/espressif8266', 'nodemcuv2', 'arduino'],
    rp2040: ['https://github.com/maxgerhardt/platform-raspberrypi.git', 'rpipicow', 'arduino'],
    bk72xx: ['libretiny', 'generic-bk7231n-qfn32-tuya', 'arduino'],
    rtl87xx: ['libretiny', 'generic-rtl8710bn-2mb-788k', 'arduino'],
    ln882x: ['libretiny', 'generic-ln882hki', 'arduino'],
  };
  const [plat, board, framework] = pio[platform] ?? (pio['esp32'] as [string, string, string]);
  return [
    '; Auto generated code by esphome',
    '',
    '[common]',
    'lib_deps =',
    'build_flags =',
    'upload_flags =',
    '',
    '; ========== AUTO GENERATED CODE BEGIN ===========',
    `[env:${name}]`,
    `board = ${board}`,
    `framework = ${framework}`,
    `platform = ${plat}`,
    'build_flags =',
    '    -DUSE_ESPHOME',
    `lib_ldf_mode = off`,
    '; =========== AUTO GENERATED CODE END ============',
    '',
  ].join('\n');
}

const README = [
  'THIS DIRECTORY IS AUTO-GENERATED, DO NOT MODIFY',
  '',
  'ESPHome automatically populates the build directory, and any',
  'changes to this directory will be removed the next time esphome is',
  'run.',
  '',
  "For modifying esphome's core files, please use a development esphome install,",
  'the custom_components folder or the external_components feature.',
  '',
].join('\n');

function dependenciesLock(libs: readonly string[], seed: number): string {
  const rng = mulberry32(seed ^ 0x5bd1e995);
  const lines = ['dependencies:'];
  for (const lib of libs) {
    const version = `${1 + Math.floor(rng() * 7)}.${Math.floor(rng() * 20)}.${Math.floor(rng() * 10)}`;
    lines.push(`  ${lib}:`, '    source:', '      type: service', `    version: ${version}`);
  }
  lines.push(`manifest_hash: ${(seed >>> 0).toString(16).padStart(8, '0')}`, 'target: esp32', 'version: 2.0.0', '');
  return lines.join('\n');
}

/** The shared content buffer: text-like bytes, grown on demand, never refilled per file. */
let sharedBuffer: Buffer = Buffer.alloc(0);

function contentBuffer(size: number): Buffer {
  if (sharedBuffer.length < size) {
    sharedBuffer = Buffer.alloc(size, '/* generated by fake-esphome: not a real object file */\n');
  }
  return sharedBuffer;
}

/**
 * Writes a build tree of exactly `opts.files` regular files into `buildDir`
 * and returns the file count and total bytes. Existing files with the same
 * names are overwritten; anything else already there is left alone (the
 * caller removes stale areas first when it wants a fresh tree).
 */
export function writeBuildTree(buildDir: string, opts: BuildTreeOptions): BuildTreeResult {
  const total = Math.max(0, Math.floor(opts.files));
  const seed = (opts.seed ?? 1) >>> 0;
  const platform = (opts.platform ?? 'esp32').toLowerCase();
  const mean = Math.max(1, Math.floor(opts.meanFileBytes ?? DEFAULT_MEAN_BYTES));
  const name = opts.name;
  const rng = mulberry32(seed);

  const envDir = join('.pioenvs', name);
  const libDepsDir = join('.piolibdeps', name);

  const nLibs = Math.max(1, Math.min(LIBRARIES.length, Math.ceil((total * 0.6) / 200)));
  const libNames = LIBRARIES.slice(0, nLibs);

  // Fixed files first, in priority order, so tiny counts still look like a build.
  const firmwareBytes = mean * (200 + Math.floor(rng() * 100));
  const fixed: Array<{ path: string; text?: string; size?: number }> = [
    { path: 'README.txt', text: README },
    { path: 'platformio.ini', text: platformioIni(name, platform) },
    { path: join('src', 'main.cpp'), size: mean * 2 },
    { path: join(envDir, 'firmware.elf'), size: firmwareBytes * 3 },
    { path: join(envDir, firmwareFileName(platform)), size: firmwareBytes },
    { path: 'dependencies.lock', text: dependenciesLock(libNames, seed) },
  ].slice(0, total);

  const rest = total - fixed.length;
  const srcN = Math.round(rest * SRC_SHARE);
  const objN = Math.round(rest * OBJ_SHARE);
  const libN = rest - srcN - objN;

  const folders: Folder[] = [];

  // src/: esphome core, then components split into subfolders when big.
  const headerPair = (stems: readonly string[], offset: number) => (j: number) => `${pick(stems, j >> 1, offset)}${j & 1 ? '.h' : '.cpp'}`;
  const coreN = Math.min(srcN, 40);
  spread(folders, join('src', 'esphome', 'core'), coreN, 40, 1, () => 'unused', headerPair(CORE_STEMS, 0));
  spread(
    folders,
    join('src', 'esphome', 'components'),
    srcN - coreN,
    12,
    80,
    (i, depth) => (depth === 0 ? pick(COMPONENTS, i, 0) : pick(SUBDIRS, i, depth * 3)),
    (j, dir) => {
      // A component's own name leads, as in ESPHome (api/api.cpp); keep stems unique.
      const own = basename(dir);
      return headerPair([own, ...SOURCE_STEMS.filter((s) => s !== own)], 0)(j);
    },
    true,
  );
  const srcFolders = folders;

  // .piolibdeps/<name>/<Lib>/: a few root files, then a deep src/ tree.
  const libFolders: Folder[] = [];
  const libExts = ['.cpp', '.h', '.c', '.hpp'];
  for (let l = 0; l < nLibs; l++) {
    const share = Math.floor(libN / nLibs) + (l < libN % nLibs ? 1 : 0);
    const libDir = join(libDepsDir, libNames[l] as string);
    const rootN = Math.min(share, LIB_ROOT_FILES.length);
    if (rootN > 0) libFolders.push({ dir: libDir, names: LIB_ROOT_FILES.slice(0, rootN) });
    const off = textHash(libDir);
    spread(
      libFolders,
      join(libDir, 'src'),
      share - rootN,
      14,
      10,
      (i, depth) => pick(SUBDIRS, i, (off + depth * 7) % SUBDIRS.length),
      (j) => `${pick(SOURCE_STEMS, j >> 2, off % SOURCE_STEMS.length)}${libExts[j & 3]}`,
    );
  }

  // .pioenvs/<name>/: objects mirroring compiled sources (src first, then libraries).
  const objFolders: Folder[] = [];
  let objLeft = objN;
  const mirror = (list: Folder[], map: (dir: string) => string) => {
    for (const folder of list) {
      if (objLeft === 0) return;
      const names = folder.names.filter((n) => n.endsWith('.cpp') || n.endsWith('.c')).slice(0, objLeft);
      if (names.length === 0) continue;
      objFolders.push({ dir: map(folder.dir), names: names.map((n) => `${n}.o`) });
      objLeft -= names.length;
    }
  };
  mirror(srcFolders, (dir) => join(envDir, dir));
  const libIndex = new Map(libNames.map((lib, i) => [lib, i]));
  mirror(libFolders, (dir) => {
    // .piolibdeps/<name>/<Lib>/src/x -> .pioenvs/<name>/lib<hex>/<Lib>/x
    const parts = relative(libDepsDir, dir).split(sep);
    const lib = parts[0] as string;
    const tag = (0x100 + (((libIndex.get(lib) ?? 0) * 37) % 0xf00)).toString(16);
    return join(envDir, `lib${tag}`, lib, ...parts.slice(2));
  });
  // Too few sources to mirror (tiny trees): the framework's own objects make up the rest.
  spread(
    objFolders,
    join(envDir, 'FrameworkArduino'),
    objLeft,
    14,
    20,
    (i, depth) => pick(SUBDIRS, i, depth),
    (j) => `${pick(SOURCE_STEMS, j >> 1, 3)}${j & 1 ? '.c.o' : '.cpp.o'}`,
  );

  const maxSize = Math.max(mean * MAX_SIZE_FACTOR, firmwareBytes * 3, mean * 2);
  const buf = contentBuffer(maxSize);
  const made = new Set<string>();
  const ensureDir = (dir: string) => {
    if (made.has(dir)) return;
    mkdirSync(dir, { recursive: true });
    made.add(dir);
  };

  let files = 0;
  let bytes = 0;
  ensureDir(buildDir);
  for (const f of fixed) {
    const abs = join(buildDir, f.path);
    ensureDir(join(abs, '..'));
    if (f.text !== undefined) {
      writeFileSync(abs, f.text);
      bytes += Buffer.byteLength(f.text);
    } else {
      const size = f.size ?? 0;
      writeFileSync(abs, buf.subarray(0, size));
      bytes += size;
    }
    files++;
  }
  for (const list of [srcFolders, libFolders, objFolders]) {
    for (const folder of list) {
      const dir = join(buildDir, folder.dir);
      ensureDir(dir);
      for (const fileName of folder.names) {
        // Exponential sizes: many small files, a few big ones, mean ~`mean`.
        const size = Math.min(maxSize, Math.floor(-Math.log(1 - rng()) * mean));
        writeFileSync(join(dir, fileName), buf.subarray(0, size));
        bytes += size;
        files++;
      }
    }
  }
  return { files, bytes };
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** `YYYY-MM-DD HH:MM:SS +hhmm` in local time, like Python's `strftime("%Y-%m-%d %H:%M:%S %z")`. */
export function localTimeString(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const abs = Math.abs(offset);
  return (
    `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())} ` +
    `${sign}${pad2(Math.floor(abs / 60))}${pad2(abs % 60)}`
  );
}

/** The exact bytes ESPHome would write to `build_info.json` for these values. */
export function buildInfoText(info: BuildInfo): string {
  return JSON.stringify(
    {
      config_hash: info.config_hash,
      build_time: info.build_time,
      build_time_str: localTimeString(info.build_time),
      esphome_version: info.esphome_version,
    },
    null,
    2,
  );
}

/**
 * ESPHome's write-if-changed for `build_info.json`: identical bytes leave the
 * file untouched (returns false); different bytes are written *in place*
 * (truncate + write on the existing inode), so the file's mtime moves but the
 * build folder's does not. That asymmetry is what the size cache's freshness
 * pair relies on. A missing file is created. Returns true when it wrote.
 */
export function writeBuildInfo(buildDir: string, info: BuildInfo): boolean {
  const path = join(buildDir, 'build_info.json');
  const data = Buffer.from(buildInfoText(info));
  let existing: Buffer | null = null;
  try {
    existing = readFileSync(path);
  } catch {
    existing = null;
  }
  if (existing !== null && existing.equals(data)) return false;
  if (existing === null) {
    mkdirSync(buildDir, { recursive: true });
    writeFileSync(path, data);
    return true;
  }
  const fd = openSync(path, 'r+');
  try {
    ftruncateSync(fd, 0);
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off, off);
  } finally {
    closeSync(fd);
  }
  return true;
}
