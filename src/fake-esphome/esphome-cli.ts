/**
 * A stand-in for the `esphome` CLI, for tests, the demo and the benchmark.
 * `fake-esphome.ts` is the executable (it runs {@link runFakeEsphome} on
 * load); this module is importable, so the demo can also compile in-process
 * with {@link compileDevice} instead of paying a node start per device.
 *
 * It answers the exact command lines the dashboard runs
 * (`esphome [--dashboard] compile|upload|run|clean <yaml>`,
 * `clean-all <config>`, `version`) and leaves the same traces on disk as the
 * real tool, because those traces are what the build-size code reads:
 *
 * - a build folder at `<data>/<build_path>/<esphome.name>` with a realistic
 *   tree whose size follows the config (bigger YAML, bigger build);
 * - `build_info.json` written with ESPHome's write-if-changed, and sibling
 *   churn in the build folder, so both halves of the freshness pair move on
 *   a real rebuild and neither moves on a no-op recompile;
 * - StorageJSON with every key, written atomically.
 *
 * Its output mimics ESPHome's: ANSI colours, `\r`-separated progress, and
 * errors on stderr, so job-output splitting is exercised too.
 *
 * Knobs (env, or a `# fake-esphome: fail|hang` line in the YAML):
 * `FAKE_ESPHOME_FAIL=1`, `FAKE_ESPHOME_HANG=1`, `FAKE_ESPHOME_IGNORE_TERM=1`,
 * `FAKE_ESPHOME_DELAY_MS=<n>`, `FAKE_ESPHOME_FILES=<n>` (base file count),
 * `FAKE_ESPHOME_MEAN_BYTES=<n>` (mean file size). The two size knobs can
 * also be pinned per device with `# fake-esphome: files=<n>` and
 * `# fake-esphome: mean-bytes=<n>` lines, which win over the env: the demo
 * fleet uses them so a recompile from the dashboard rebuilds the same tree.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadDeviceYamlSync, type DeviceYaml } from '../config/device-yaml.js';
import { resolveDataDir } from '../storage/data-dir.js';
import { firmwareFileName, localTimeString, writeBuildInfo, writeBuildTree, type BuildTreeResult } from './build-tree.js';

export const FAKE_ESPHOME_VERSION = '2026.11.0';
const FRAMEWORK_VERSION = '3.1.0';
const DEFAULT_FILES = 120;
const FILES_PER_TOP_LEVEL_KEY = 4;

const GREEN = '\x1b[32m';
const CYAN = '\x1b[36m';
const YELLOW = '\x1b[33m';
const BOLD = '\x1b[1m';
const RESET = '\x1b[0m';

const USAGE = `usage: esphome [--dashboard] <command> [options]

commands:
  version
  compile <config.yaml>
  upload [--device PORT] <config.yaml>
  run [--no-logs] [--device PORT] <config.yaml>
  clean <config.yaml>
  clean-all <config dir>...
`;

/** Where one run reads its environment and writes its output. */
export interface FakeEsphomeIo {
  env: NodeJS.ProcessEnv;
  stdout(text: string): void;
  stderr(text: string): void;
}

/** The real process: what the executable uses. */
export function processIo(): FakeEsphomeIo {
  return {
    env: process.env,
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  };
}

/** Raised to end the run with a message and an exit code (what the CLI prints to stderr). */
export class FakeEsphomeExit extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'FakeEsphomeExit';
  }
}

/** FNV-1a, 32-bit: stands in for ESPHome's config hash (any change to the YAML changes it). */
function configHash(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193);
  return h >>> 0;
}

/** Top-level keys of the YAML, in file order, minus the ones that are not integrations. */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  for (const m of text.matchAll(/^([A-Za-z_][A-Za-z0-9_]*)\s*:/gm)) {
    const key = m[1] as string;
    if (key !== 'substitutions' && key !== 'packages' && !keys.includes(key)) keys.push(key);
  }
  return keys;
}

/** Everything one YAML-based command needs to know about its device. */
interface Target {
  yamlPath: string;
  yamlText: string;
  yamlBytes: Buffer;
  device: DeviceYaml & { name: string };
  platform: string;
  dataDir: string;
  buildDir: string;
  envDir: string;
}

/** A `# fake-esphome: <name>=<n>` line in the YAML, or null. */
function yamlIntKnob(target: Target, name: 'files' | 'mean-bytes'): number | null {
  const m = new RegExp(`^\\s*#\\s*fake-esphome:\\s*${name}\\s*=\\s*(\\d+)\\s*$`, 'm').exec(target.yamlText);
  return m ? Number.parseInt(m[1] as string, 10) : null;
}

function espPlatform(target: Target): string {
  if (target.platform === 'esp32') {
    // Only the esp32 block carries a variant; the board alone is not trusted.
    const variant = /^\s+variant:\s*["']?([A-Za-z0-9]+)/m.exec(target.yamlText)?.[1];
    if (variant) return variant.toUpperCase();
  }
  return target.platform.toUpperCase();
}

function framework(target: Target): string {
  if (target.platform !== 'esp32') return 'arduino';
  return /^\s+type:\s*["']?arduino\b/m.test(target.yamlText) ? 'arduino' : 'esp-idf';
}

function firmwarePath(target: Target): string {
  return join(target.envDir, firmwareFileName(target.platform));
}

/** StorageJSON as ESPHome writes it: every key, atomically (temp file + rename). */
function writeStorageJson(target: Target): string {
  const storageDir = join(target.dataDir, 'storage');
  mkdirSync(storageDir, { recursive: true });
  const path = join(storageDir, `${basename(target.yamlPath)}.json`);
  const d = target.device;
  const storage = {
    storage_version: 1,
    name: d.name,
    friendly_name: d.friendlyName,
    comment: d.comment,
    esphome_version: FAKE_ESPHOME_VERSION,
    src_version: 1,
    address: d.useAddress ?? `${d.name}.local`,
    web_port: null,
    esp_platform: espPlatform(target),
    build_path: target.buildDir,
    firmware_bin_path: firmwarePath(target),
    loaded_integrations: topLevelKeys(target.yamlText).sort(),
    loaded_platforms: [],
    no_mdns: false,
    framework: framework(target),
    core_platform: target.platform,
    toolchain: null,
    area: d.area,
    framework_version: FRAMEWORK_VERSION,
  };
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(storage, null, 2)}\n`);
  renameSync(tmp, path);
  return path;
}

/** The `config_hash` and `build_time` of an existing build, or nulls. */
function readBuildInfo(buildDir: string): { hash: number | null; time: number | null } {
  try {
    const info = JSON.parse(readFileSync(join(buildDir, 'build_info.json'), 'utf8')) as Record<string, unknown>;
    const num = (v: unknown) => (typeof v === 'number' ? v : null);
    return { hash: num(info['config_hash']), time: num(info['build_time']) };
  } catch {
    return { hash: null, time: null };
  }
}

/** Splits `[--device P | --device=P] [--no-logs] <yaml>`; anything else is a usage error. */
function parseArgs(args: string[], allowNoLogs: boolean): { yaml: string; device: string | null } {
  let device: string | null = null;
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--device') {
      const value = args[++i];
      if (value === undefined) throw new FakeEsphomeExit(2, `${USAGE}\nerror: --device needs a value`);
      device = value;
    } else if (arg.startsWith('--device=')) {
      device = arg.slice('--device='.length);
    } else if (arg === '--no-logs' && allowNoLogs) {
      // We never stream logs anyway.
    } else if (arg.startsWith('-')) {
      throw new FakeEsphomeExit(2, `${USAGE}\nerror: unrecognized argument ${arg}`);
    } else {
      positional.push(arg);
    }
  }
  if (positional.length !== 1) throw new FakeEsphomeExit(2, `${USAGE}\nerror: expected exactly one configuration file`);
  return { yaml: positional[0] as string, device };
}

/** What a compile did. */
export interface CompileOutcome {
  buildDir: string;
  storagePath: string;
  /** The tree written, or null for a no-op recompile (the build was up to date). */
  tree: BuildTreeResult | null;
}

/** One invocation's commands, bound to its env and output. */
class FakeEsphome {
  constructor(private readonly io: FakeEsphomeIo) {}

  private out(text: string): void {
    this.io.stdout(text);
  }

  private line(text: string): void {
    this.out(`${text}\n`);
  }

  private envFlag(name: string): boolean {
    const value = this.io.env[name];
    return value !== undefined && value !== '' && value !== '0';
  }

  private envInt(name: string, fallback: number): number {
    const value = Number.parseInt(this.io.env[name] ?? '', 10);
    return Number.isFinite(value) && value >= 0 ? value : fallback;
  }

  private dataDirFor(configDir: string): string {
    return resolveDataDir(configDir, this.io.env);
  }

  loadTarget(yamlArg: string): Target {
    const yamlPath = resolve(yamlArg);
    let yamlBytes: Buffer;
    try {
      if (!statSync(yamlPath).isFile()) throw new Error('not a file');
      yamlBytes = readFileSync(yamlPath);
    } catch {
      throw new FakeEsphomeExit(2, `ERROR Error reading file ${yamlPath}: No such file or directory`);
    }
    const yamlText = yamlBytes.toString('utf8');
    // Packages, includes and substitutions resolve as ESPHome resolves them,
    // so StorageJSON and the build folder carry the name ESPHome would give.
    const parsed = loadDeviceYamlSync(yamlPath);
    if (parsed === null) throw new FakeEsphomeExit(2, `ERROR Error reading file ${yamlPath}: No such file or directory`);
    if (parsed.error !== null) throw new FakeEsphomeExit(2, `ERROR Error while reading config: ${parsed.error}`);
    const name = parsed.device.name;
    if (!name) throw new FakeEsphomeExit(2, `ERROR Failed config\n\nesphome: [source ${yamlPath}]\n  'name' is a required option.`);
    const dataDir = this.dataDirFor(dirname(yamlPath));
    const buildBase = parsed.device.buildPathOption ?? this.io.env['ESPHOME_BUILD_PATH'] ?? 'build';
    // Relative bases hang off the data dir; an absolute one replaces it (/build -> /build/<name>).
    const buildDir = join(resolve(dataDir, buildBase), name);
    return {
      yamlPath,
      yamlText,
      yamlBytes,
      device: { ...parsed.device, name },
      // Lenient on purpose: a config without a platform block still "builds" as an ESP32.
      platform: parsed.device.platform ?? 'esp32',
      dataDir,
      buildDir,
      envDir: join(buildDir, '.pioenvs', name),
    };
  }

  private knob(target: Target | null, name: 'fail' | 'hang'): boolean {
    if (this.envFlag(name === 'fail' ? 'FAKE_ESPHOME_FAIL' : 'FAKE_ESPHOME_HANG')) return true;
    return target !== null && new RegExp(`^\\s*#\\s*fake-esphome:\\s*${name}\\s*$`, 'm').test(target.yamlText);
  }

  /** Honours the hang / delay / fail knobs; resolves only if the command should go on. */
  private async applyKnobs(target: Target | null, what: string): Promise<void> {
    if (this.envFlag('FAKE_ESPHOME_IGNORE_TERM')) {
      // Lets tests check that a cancel escalates to SIGKILL.
      process.on('SIGTERM', () => this.line('WARNING Received SIGTERM, ignoring it (fake-esphome)'));
    }
    if (this.knob(target, 'hang')) {
      this.line(`INFO ${what}: waiting (fake-esphome hang knob)...`);
      // Never resolves: only a signal ends this process.
      await new Promise<never>(() => setInterval(() => undefined, 1 << 30));
    }
    const delay = this.envInt('FAKE_ESPHOME_DELAY_MS', 0);
    if (delay > 0) await sleep(delay);
    if (this.knob(target, 'fail')) {
      this.line(`${YELLOW}WARNING fake-esphome failure knob is set${RESET}`);
      throw new FakeEsphomeExit(1, 'ERROR Error while compiling');
    }
  }

  private header(target: Target): void {
    this.line(`INFO ESPHome ${FAKE_ESPHOME_VERSION}`);
    this.line(`INFO Reading configuration ${target.yamlPath}...`);
  }

  async compile(target: Target): Promise<CompileOutcome> {
    this.header(target);
    await this.applyKnobs(target, 'Compiling');
    const hash = configHash(target.yamlBytes);
    const { buildDir } = target;
    const previous = readBuildInfo(buildDir);
    const sameConfig = previous.hash === hash;
    const upToDate = sameConfig && existsSync(firmwarePath(target));

    this.line(`${GREEN}INFO Generating C++ source...${RESET}`);
    if (upToDate) {
      // A no-op recompile: ESPHome rewrites nothing and PlatformIO finds nothing to do.
      this.line(`INFO Build Info: config_hash=0x${hash.toString(16).padStart(8, '0')} (unchanged)`);
      this.line('INFO Compiling app...');
      this.line(`${CYAN}Processing ${target.device.name} (platform: ${target.platform})${RESET}`);
      this.line('No changes; firmware is up to date');
      this.line(`${GREEN}========================= [SUCCESS] Took 0.31 seconds =========================${RESET}`);
      this.line('INFO Successfully compiled program.');
      const storagePath = writeStorageJson(target);
      return { buildDir, storagePath, tree: null };
    }

    const now = Math.floor(Date.now() / 1000);
    // Same config but its objects were cleaned: rebuild the tree, keep build_info (and its time).
    const buildTime = sameConfig ? (previous.time ?? now) : now;
    this.line(`INFO Build Info: config_hash=0x${hash.toString(16).padStart(8, '0')} build_time_str=${localTimeString(buildTime)}`);
    this.line('INFO Compiling app...');
    this.line(`${CYAN}Processing ${target.device.name} (platform: ${target.platform}; framework: ${framework(target)})${RESET}`);
    this.line('--------------------------------------------------------------------------------');

    // Stale areas go first so the new size reflects only the new config.
    for (const area of ['.pioenvs', '.piolibdeps', 'src']) rmSync(join(buildDir, area), { recursive: true, force: true });
    const baseFiles = yamlIntKnob(target, 'files') ?? this.envInt('FAKE_ESPHOME_FILES', DEFAULT_FILES);
    const files = baseFiles + FILES_PER_TOP_LEVEL_KEY * topLevelKeys(target.yamlText).length;
    const meanFileBytes = (yamlIntKnob(target, 'mean-bytes') ?? this.envInt('FAKE_ESPHOME_MEAN_BYTES', 0)) || undefined;
    const tree = writeBuildTree(buildDir, {
      name: target.device.name,
      files,
      seed: hash,
      platform: target.platform,
      ...(meanFileBytes ? { meanFileBytes } : {}),
    });

    // PlatformIO's intermediate files: the folder's mtime moves, build_info.json's does not.
    const churn = join(buildDir, `.sconsign-${process.pid}.tmp`);
    writeFileSync(churn, 'scons signature cache\n');
    unlinkSync(churn);

    writeBuildInfo(buildDir, { config_hash: hash, build_time: buildTime, esphome_version: FAKE_ESPHOME_VERSION });

    const name = target.device.name;
    const objects = ['src/main.cpp.o', 'src/esphome/core/application.cpp.o', 'src/esphome/core/component.cpp.o', 'src/esphome/components/api/api.cpp.o'];
    for (const obj of objects) this.line(`Compiling .pioenvs/${name}/${obj}`);
    this.line(`${YELLOW}Archiving .pioenvs/${name}/libesphome.a${RESET}`);
    this.out('Linking... 10%\rLinking... 50%\rLinking... 100%\n');
    this.line(`RAM:   [=         ]  11.2% (used 36712 bytes from 327680 bytes)`);
    this.line(`Flash: [====      ]  44.6% (used 818045 bytes from 1835008 bytes)`);
    this.line(`Building .pioenvs/${name}/${firmwareFileName(target.platform)}`);
    this.line(`INFO Build tree: ${tree.files} files, ${tree.bytes} bytes`);
    this.line(`${GREEN}========================= [SUCCESS] Took 1.42 seconds =========================${RESET}`);
    const storagePath = writeStorageJson(target);
    this.line('INFO Successfully compiled program.');
    return { buildDir, storagePath, tree };
  }

  private async upload(target: Target, device: string | null): Promise<void> {
    const firmware = [firmwarePath(target), join(target.envDir, 'firmware.factory.bin')].find((p) => existsSync(p));
    if (firmware === undefined) throw new FakeEsphomeExit(1, 'ERROR Firmware not found, please compile first');
    await this.applyKnobs(target, 'Uploading');
    const port = device ?? 'OTA';
    const address = target.device.useAddress ?? `${target.device.name}.local`;
    if (port.startsWith('/dev/') || port.startsWith('COM')) {
      this.line(`INFO Uploading ${firmware} via serial port ${port}`);
    } else {
      this.line(`INFO Connecting to ${port === 'OTA' ? address : port} port 3232...`);
      this.line(`INFO Connected to ${port === 'OTA' ? address : port}`);
    }
    this.line(`INFO Uploading ${firmware} (${statSync(firmware).size} bytes)`);
    this.out('Uploading: [=       ] 12%\rUploading: [====    ] 50%\rUploading: [======  ] 75%\rUploading: [========] 100% Done...\n');
    this.line(`${GREEN}INFO Upload took 1.21 seconds, waiting for result...${RESET}`);
    this.line('INFO OTA successful');
    this.line('INFO Successfully uploaded program.');
  }

  private async clean(target: Target): Promise<void> {
    this.line(`INFO Reading configuration ${target.yamlPath}...`);
    await this.applyKnobs(target, 'Cleaning');
    if (!existsSync(target.buildDir)) {
      this.line('INFO Done!');
      return;
    }
    for (const entry of ['.pioenvs', '.piolibdeps', 'dependencies.lock']) {
      const path = join(target.buildDir, entry);
      if (!existsSync(path)) continue;
      this.line(`INFO Deleting ${path}`);
      rmSync(path, { recursive: true, force: true });
    }
    this.line('INFO Done!');
  }

  private async cleanAll(configDirs: string[]): Promise<void> {
    const dirs = configDirs.map((d) => resolve(d));
    for (const dir of dirs) {
      if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new FakeEsphomeExit(2, `ERROR ${dir} is not a directory`);
    }
    await this.applyKnobs(null, 'Cleaning');
    for (const dir of dirs) {
      const dataDir = this.dataDirFor(dir);
      this.line(`INFO Cleaning ${dataDir}`);
      if (!existsSync(dataDir)) continue;
      for (const entry of readdirSync(dataDir, { withFileTypes: true })) {
        const path = join(dataDir, entry.name);
        // Storage (the device registry) and top-level JSON survive; everything else is build output.
        if (entry.isDirectory() ? entry.name === 'storage' : entry.name.endsWith('.json')) continue;
        this.line(`INFO Deleting ${path}`);
        rmSync(path, { recursive: true, force: true });
      }
    }
    const pioCore = this.io.env['PLATFORMIO_CORE_DIR'];
    if (pioCore) {
      const cache = join(resolve(pioCore), '.cache');
      if (existsSync(cache)) {
        this.line(`INFO Deleting PlatformIO cache ${cache}`);
        rmSync(cache, { recursive: true, force: true });
      }
    }
    this.line(`${BOLD}INFO Done!${RESET}`);
  }

  /** Runs one command line (without `node` and the script) and returns the exit code. */
  async main(argv: readonly string[]): Promise<number> {
    const args = [...argv];
    // Global flags ESPHome accepts before the subcommand; none changes what we do.
    while (args[0] === '--dashboard' || args[0] === '-q' || args[0] === '--quiet' || args[0] === '-v' || args[0] === '--verbose') {
      args.shift();
    }
    const command = args.shift();
    try {
      switch (command) {
        case 'version':
          if (args.length > 0) throw new FakeEsphomeExit(2, USAGE);
          this.line(`Version: ${FAKE_ESPHOME_VERSION}`);
          return 0;
        case 'compile': {
          const { yaml, device } = parseArgs(args, false);
          if (device !== null) throw new FakeEsphomeExit(2, `${USAGE}\nerror: compile takes no --device`);
          await this.compile(this.loadTarget(yaml));
          return 0;
        }
        case 'upload': {
          const { yaml, device } = parseArgs(args, false);
          const target = this.loadTarget(yaml);
          this.header(target);
          await this.upload(target, device);
          return 0;
        }
        case 'run': {
          const { yaml, device } = parseArgs(args, true);
          const target = this.loadTarget(yaml);
          await this.compile(target);
          await this.upload(target, device);
          return 0;
        }
        case 'clean': {
          const { yaml, device } = parseArgs(args, false);
          if (device !== null) throw new FakeEsphomeExit(2, `${USAGE}\nerror: clean takes no --device`);
          await this.clean(this.loadTarget(yaml));
          return 0;
        }
        case 'clean-all':
          if (args.length === 0 || args.some((a) => a.startsWith('-'))) {
            throw new FakeEsphomeExit(2, `${USAGE}\nerror: clean-all needs config directories`);
          }
          await this.cleanAll(args);
          return 0;
        default:
          throw new FakeEsphomeExit(2, command === undefined ? USAGE : `${USAGE}\nerror: unknown command ${command}`);
      }
    } catch (err) {
      if (err instanceof FakeEsphomeExit) {
        this.io.stderr(`${err.message}\n`);
        return err.code;
      }
      this.io.stderr(`ERROR ${(err as Error).stack ?? String(err)}\n`);
      return 1;
    }
  }
}

/** Runs one `esphome` command line (without `node` and the script); returns the exit code. */
export function runFakeEsphome(argv: readonly string[], io: FakeEsphomeIo = processIo()): Promise<number> {
  return new FakeEsphome(io).main(argv);
}

/**
 * `esphome compile <yamlPath>` in-process, with the CLI's exact effects on
 * disk. Output goes to `output` (dropped by default); the env defaults to an
 * empty one, so no knob or data-dir redirection applies unless passed.
 * Throws {@link FakeEsphomeExit} where the CLI would exit non-zero.
 */
export async function compileDevice(yamlPath: string, options: { env?: NodeJS.ProcessEnv; output?: (text: string) => void } = {}): Promise<CompileOutcome> {
  const output = options.output ?? (() => undefined);
  const run = new FakeEsphome({ env: options.env ?? {}, stdout: output, stderr: output });
  return run.compile(run.loadTarget(yamlPath));
}
