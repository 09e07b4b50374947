/**
 * The demo fleet `npm start` serves on a fresh clone (no `./config`): a
 * realistic ESPHome config folder with compiled build folders, driven by the
 * project's fake `esphome` so every dashboard button works.
 *
 * Layout under the demo root (`options.root`, else `$DEVICE_BUILDER_DEMO_DIR`,
 * else `<tmp>/device-builder-ts-demo`):
 *
 * ```
 * <root>/.demo-version     marker: {"version", "complete"}; proves the folder is ours
 * <root>/README.txt
 * <root>/bin/esphome       fake esphome wrapper (installFakeEsphome)
 * <root>/config/           the ESPHome config folder the dashboard serves
 * ```
 *
 * Creation takes a few seconds (most devices are compiled with the fake's own
 * compile, in-process), so a complete demo of the current
 * {@link DEMO_VERSION} is reused as is. A folder holding our marker but
 * incomplete or of another version is wiped and rebuilt. A non-empty folder
 * without the marker is someone else's: we refuse rather than clobber it.
 * Nothing outside the root is ever written.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { writeBuildInfo, writeBuildTree } from '../fake-esphome/build-tree.js';
import { compileDevice, FakeEsphomeExit } from '../fake-esphome/esphome-cli.js';
import { installFakeEsphome } from '../fake-esphome/install.js';
import type { Logger } from '../util/log.js';
import { DEMO_DEVICES, DEMO_FLEET_DIR, renderDemoYaml, scaled } from './demo-devices.js';

export interface DemoFleet {
  /** The ESPHome config folder to serve. */
  configDir: string;
  /** The fake `esphome` to run jobs with (one absolute path). */
  esphomeCommand: string[];
}

export interface DemoFleetOptions {
  /** Demo root; default `$DEVICE_BUILDER_DEMO_DIR`, else `<tmp>/device-builder-ts-demo`. */
  root?: string;
  /** How many devices of the catalog to write (default: all 12). */
  devices?: number;
  /** Multiplies every fake build's file count and mean file size (default 1; tests use ~0.05). */
  scale?: number;
}

/** Bump whenever the demo's layout or content changes: older demos are rebuilt. */
export const DEMO_VERSION = 1;
export const DEMO_MARKER = '.demo-version';
const DEFAULT_DIR_NAME = 'device-builder-ts-demo';

/**
 * Variables that would redirect the fake's writes (builds, StorageJSON,
 * `clean-all`'s deletions) outside the demo folder; the wrapper unsets them.
 */
export const REDIRECTING_ENV = [
  'ESPHOME_IS_HA_ADDON',
  'DEVICE_BUILDER_ADDON_DATA_DIR',
  'ESPHOME_DATA_DIR',
  'ESPHOME_BUILD_PATH',
  'PLATFORMIO_CORE_DIR',
] as const;

/** The orphan: a build folder whose device was renamed (to garage-door) long ago. */
export const DEMO_ORPHAN = 'old-garage-door';
const ORPHAN_AGE_DAYS = 150;

const README = `This folder holds the DEMO fleet of device-builder-ts.

It was generated because the dashboard was started without an ESPHome config
folder. config/ holds realistic but fake device YAMLs, and bin/esphome is a
fake esphome CLI that "compiles" them into realistic build folders in a
second. No real device is involved.

Delete this folder at any time; it is recreated on the next start.
Serve your own fleet with: device-builder serve <your ESPHome config folder>
`;

/** Where the demo lives. Exported for tests. */
export function demoRoot(options: DemoFleetOptions = {}, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(options.root || env['DEVICE_BUILDER_DEMO_DIR'] || path.join(tmpdir(), DEFAULT_DIR_NAME));
}

/**
 * How to run the fake esphome from here: the compiled `.js` next to us when
 * running from `dist/`, else the `.ts` source through tsx's loader.
 */
export function fakeEsphomeEntry(moduleUrl: string = import.meta.url): { entry: string; nodeArgs: string[] } {
  const here = path.dirname(fileURLToPath(moduleUrl));
  if (moduleUrl.endsWith('.js')) {
    return { entry: path.join(here, '..', 'fake-esphome', 'fake-esphome.js'), nodeArgs: [] };
  }
  const tsxDir = path.dirname(createRequire(moduleUrl).resolve('tsx/package.json'));
  const loader = pathToFileURL(path.join(tsxDir, 'dist', 'loader.mjs')).href;
  return { entry: path.join(here, '..', 'fake-esphome', 'fake-esphome.ts'), nodeArgs: ['--import', loader] };
}

type RootState = 'empty' | 'complete' | 'ours';

interface Marker {
  version: number;
  complete: boolean;
}

function readMarker(root: string): Marker | null {
  try {
    const data = JSON.parse(readFileSync(path.join(root, DEMO_MARKER), 'utf8')) as Partial<Marker>;
    return { version: Number(data.version), complete: data.complete === true };
  } catch {
    return null;
  }
}

function writeMarker(root: string, complete: boolean): void {
  const marker = { generator: 'device-builder-ts', version: DEMO_VERSION, complete, updated: new Date().toISOString() };
  writeFileSync(path.join(root, DEMO_MARKER), `${JSON.stringify(marker, null, 2)}\n`);
}

/** Classifies the root, or throws when it is not ours to write. */
function inspectRoot(root: string): RootState {
  if (path.parse(root).root === root) throw new Error(`refusing to use the filesystem root ${root} as the demo folder`);
  if (!existsSync(root)) return 'empty';
  if (!statSync(root).isDirectory()) throw new Error(`demo folder ${root} exists and is not a directory`);
  const entries = readdirSync(root);
  if (entries.includes(DEMO_MARKER)) {
    const marker = readMarker(root);
    const configDir = path.join(root, 'config');
    const complete = marker?.complete === true && marker.version === DEMO_VERSION;
    return complete && existsSync(configDir) && statSync(configDir).isDirectory() ? 'complete' : 'ours';
  }
  if (entries.length === 0) return 'empty';
  throw new Error(
    `refusing to create the demo fleet in ${root}: the folder is not empty and was not made by device-builder-ts ` +
      `(no ${DEMO_MARKER}). Remove it, or set DEVICE_BUILDER_DEMO_DIR to another folder.`,
  );
}

interface TreeSize {
  files: number;
  bytes: number;
}

function megabytes(bytes: number): number {
  return Math.round((bytes / 1048576) * 10) / 10;
}

/** A build folder left behind by a device renamed long ago: no YAML, no StorageJSON. */
function writeOrphan(configDir: string, scale: number): TreeSize {
  const dir = path.join(configDir, '.esphome', 'build', DEMO_ORPHAN);
  const tree = writeBuildTree(dir, {
    name: DEMO_ORPHAN,
    files: scaled(350, scale, 5),
    seed: 0x0a9ed,
    platform: 'esp32',
    meanFileBytes: scaled(10_240, scale, 64),
  });
  const buildTime = Math.floor(Date.now() / 1000) - ORPHAN_AGE_DAYS * 86_400;
  writeBuildInfo(dir, { config_hash: 0x5eed0a9e, build_time: buildTime, esphome_version: '2025.6.3' });
  const when = new Date(buildTime * 1000);
  utimesSync(path.join(dir, 'build_info.json'), when, when);
  utimesSync(dir, when, when);
  return tree;
}

/**
 * Copies the fleet's files that are not devices (`secrets.yaml`, the
 * packages under `common/`) into the config folder as they are; device
 * YAMLs are written by {@link renderDemoYaml}, with their size knobs.
 */
function copySupportFiles(configDir: string): void {
  const devices = new Set(DEMO_DEVICES.map((d) => d.file));
  for (const entry of readdirSync(DEMO_FLEET_DIR, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const relative = path.relative(DEMO_FLEET_DIR, path.join(entry.parentPath, entry.name));
    if (devices.has(relative)) continue;
    mkdirSync(path.join(configDir, path.dirname(relative)), { recursive: true });
    copyFileSync(path.join(DEMO_FLEET_DIR, relative), path.join(configDir, relative));
  }
}

/**
 * Returns the demo fleet, creating it on first use (a few seconds) and
 * reusing it afterwards. Throws if the root is a non-empty folder that is
 * not a demo, or if creating the demo fails.
 */
export async function prepareDemoFleet(logger: Logger, options: DemoFleetOptions = {}): Promise<DemoFleet> {
  const root = demoRoot(options);
  const configDir = path.join(root, 'config');
  const binDir = path.join(root, 'bin');
  const state = inspectRoot(root);

  // Always (re)written: it embeds this node binary and entry, which change
  // between a tsx run and a dist run, or after a node upgrade.
  const { entry, nodeArgs } = fakeEsphomeEntry();
  if (!existsSync(entry)) throw new Error(`fake esphome entry ${entry} is missing (run npm run build?)`);
  const install = (): string => installFakeEsphome(binDir, entry, { nodeArgs, unsetEnv: REDIRECTING_ENV });

  if (state === 'complete') {
    const wrapper = install();
    logger.info({ root }, 'reusing the demo fleet');
    return { configDir, esphomeCommand: [wrapper] };
  }

  if (!existsSync(DEMO_FLEET_DIR)) throw new Error(`demo fleet files ${DEMO_FLEET_DIR} are missing (run npm run build?)`);
  const started = performance.now();
  const scale = options.scale ?? 1;
  if (!(scale > 0)) throw new Error(`demo scale must be positive, got ${scale}`);
  const count = Math.max(1, Math.min(DEMO_DEVICES.length, Math.floor(options.devices ?? DEMO_DEVICES.length)));
  const devices = DEMO_DEVICES.slice(0, count);
  const toCompile = devices.filter((d) => d.compile);
  logger.info(
    { root, devices: devices.length, compiling: toCompile.length },
    state === 'ours' ? 'rebuilding the outdated demo fleet (takes a few seconds)' : 'creating the demo fleet (takes a few seconds)',
  );

  // Our marker goes first (as incomplete) so a crash mid-way leaves a folder
  // we recognise and rebuild, never one we would refuse as foreign.
  mkdirSync(root, { recursive: true });
  writeMarker(root, false);
  for (const name of readdirSync(root)) {
    if (name !== DEMO_MARKER) rmSync(path.join(root, name), { recursive: true, force: true });
  }
  writeFileSync(path.join(root, 'README.txt'), README);
  const wrapper = install();

  copySupportFiles(configDir);
  for (const device of devices) writeFileSync(path.join(configDir, device.file), renderDemoYaml(device, scale));

  // In-process, with an empty env: the same code the wrapper runs, without a
  // node start per device, and nothing can redirect its writes out of root.
  let done = 0;
  let bytes = 0;
  for (const device of toCompile) {
    let outcome;
    try {
      outcome = await compileDevice(path.join(configDir, device.file));
    } catch (err) {
      const why = err instanceof FakeEsphomeExit ? err.message : String(err);
      throw new Error(`demo compile of ${device.file} failed: ${why}`, { cause: err });
    }
    const tree = outcome.tree ?? { files: 0, bytes: 0 };
    bytes += tree.bytes;
    done++;
    logger.info({ device: device.name, files: tree.files, mb: megabytes(tree.bytes), progress: `${done}/${toCompile.length}` }, 'demo: compiled');
  }
  bytes += writeOrphan(configDir, scale).bytes;

  writeMarker(root, true);
  logger.info(
    { root, configDir, devices: devices.length, compiled: done, mb: megabytes(bytes), ms: Math.round(performance.now() - started) },
    'demo fleet ready',
  );
  return { configDir, esphomeCommand: [wrapper] };
}
