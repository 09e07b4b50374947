/**
 * Hostile metadata files (docs/RELIABILITY.md, "Attacks on the dashboard"):
 * something other than a small regular file where the shared sidecar, the
 * Python tool's per-instance store, our state file or the sessions file
 * should be. Reads must never block, never balloon, and never follow a
 * link; what is refused is never replaced or renamed; an oversized file is
 * set aside (never copied) before the first write over it. Real file
 * system throughout; every read and update runs under a deadline so a hang
 * fails the test instead of wedging it.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SessionStore } from '../../src/auth/session-store.js';
import { OrphanBuilds } from '../../src/orphans/orphan-builds.js';
import { DeviceMetadata } from '../../src/metadata/device-metadata.js';
import type { JsonObjectStore } from '../../src/sidecar/json-object-store.js';
import { METADATA_MAX_BYTES, readGuarded, readGuardedSync, STORAGE_JSON_MAX_BYTES } from '../../src/util/guarded-read.js';
import { readStorageJson, readStorageJsonSync, storageJsonPath } from '../../src/storage/storage-json.js';
import type { Device } from '../../src/shared/device.js';
import { cleanupTempDirs, makeTempDir, silentLogger } from '../helpers/fs-fixtures.js';
import { capturingLogger, isRoot, type LogLine } from '../helpers/hostile-fs.js';
import { REPO_ROOT, TSX_LOADER } from '../helpers/run-cli.js';
import { WsClient } from '../helpers/ws-client.js';

const GiB = 1024 * 1024 * 1024;
/** How much a read of a hostile file may grow the process, far below what reading it whole would. */
const RSS_BUDGET = 200 * 1024 * 1024;

const fifos: string[] = [];

afterEach(() => {
  // A reader blocked on one of our FIFOs (the bug under test) gets EOF and lets its thread go.
  for (const fifo of fifos.splice(0)) {
    try {
      fs.closeSync(fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK));
    } catch {
      // No reader (ENXIO) or gone: nothing blocked.
    }
  }
  vi.restoreAllMocks();
  cleanupTempDirs();
});

/** Resolves or rejects as `promise` does, or rejects after `ms` so a hang fails the test. */
async function within<T>(promise: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `run` while sampling the process's RSS; returns its result and the peak growth. */
async function peakRssGrowth<T>(run: () => Promise<T>): Promise<{ result: T; growth: number }> {
  const start = process.memoryUsage().rss;
  let peak = start;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 2);
  try {
    const result = await run();
    return { result, growth: Math.max(peak, process.memoryUsage().rss) - start };
  } finally {
    clearInterval(timer);
  }
}

function mkfifo(file: string): void {
  const run = spawnSync('mkfifo', [file], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`mkfifo failed: ${run.stderr}`);
  fifos.push(file);
}

/** What sits at `file`, to compare before and after: type, inode, link target. */
function identity(file: string): string {
  const stats = fs.lstatSync(file);
  const type = stats.isSymbolicLink()
    ? `link→${fs.readlinkSync(file)}`
    : stats.isFIFO()
      ? 'fifo'
      : stats.isDirectory()
        ? 'dir'
        : stats.isCharacterDevice()
          ? 'chr'
          : 'file';
  return `${type}:${stats.ino}`;
}

/** Every name in `dir` with its size on disk (blocks), apparent size and inode. */
function listing(dir: string): { name: string; disk: number; size: number; ino: number }[] {
  return fs.readdirSync(dir).map((name) => {
    const stats = fs.lstatSync(path.join(dir, name));
    return { name, disk: stats.blocks * 512, size: stats.size, ino: stats.ino };
  });
}

interface HostileCase {
  name: string;
  /** Puts the hostile thing at `file`; returns the words the refusal must use. */
  plant: (file: string) => string;
  skip?: boolean;
}

/** Whether this process can make device nodes (root with CAP_MKNOD). */
const canMknod = ((): boolean => {
  if (!isRoot) return false;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mknod-probe-'));
  try {
    return spawnSync('mknod', [path.join(dir, 'zero'), 'c', '1', '5']).status === 0;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
})();

const REFUSED: HostileCase[] = [
  {
    name: 'a FIFO',
    plant: (file) => {
      mkfifo(file);
      return `${file} is a FIFO`;
    },
  },
  {
    name: 'a symbolic link to /dev/zero',
    plant: (file) => {
      fs.symlinkSync('/dev/zero', file);
      return `${file} is a symbolic link (to /dev/zero)`;
    },
  },
  {
    name: 'a symbolic link to /dev/null',
    plant: (file) => {
      fs.symlinkSync('/dev/null', file);
      return `${file} is a symbolic link (to /dev/null)`;
    },
  },
  {
    name: 'a folder',
    plant: (file) => {
      fs.mkdirSync(file);
      fs.writeFileSync(path.join(file, 'inside'), 'x');
      return `${file} is a folder`;
    },
  },
  {
    name: 'a character device (/dev/zero made with mknod)',
    plant: (file) => {
      const run = spawnSync('mknod', [file, 'c', '1', '5'], { encoding: 'utf8' });
      if (run.status !== 0) throw new Error(`mknod failed: ${run.stderr}`);
      return `${file} is a character device`;
    },
    skip: !canMknod,
  },
];

/** A 0600 file of someone else's, holding JSON, and a link to it at `file`. */
function plantLinkToPrivateFile(file: string, content: string): string {
  const privateDir = makeTempDir('private-');
  const secret = path.join(privateDir, 'secret.json');
  fs.writeFileSync(secret, content, { mode: 0o600 });
  fs.symlinkSync(secret, file);
  return secret;
}

describe.each([
  ['the shared sidecar', (m: DeviceMetadata): JsonObjectStore => m.shared, 'sidecar'],
  ['the per-instance store', (m: DeviceMetadata): JsonObjectStore => m.instance, 'per-instance store'],
  ['our state file', (m: DeviceMetadata): JsonObjectStore => m.own, 'device-builder-ts state'],
])('%s', (_name, pick, label) => {
  function setup(): { store: JsonObjectStore; file: string; dir: string; capture: ReturnType<typeof capturingLogger> } {
    const configDir = makeTempDir('hostile-meta-');
    const dataDir = path.join(configDir, '.esphome');
    fs.mkdirSync(dataDir);
    const capture = capturingLogger();
    const store = pick(new DeviceMetadata(configDir, dataDir, { logger: capture.logger, lock: { waitMs: 2_000 } }));
    return { store, file: store.path, dir: path.dirname(store.path), capture };
  }

  const errorsFor = (lines: LogLine[], file: string): LogLine[] => lines.filter((line) => line.level === 50 && line['path'] === file);

  it.each(REFUSED.filter((c) => !c.skip).map((c) => [c.name, c] as const))(
    'refuses %s: reads are {} at once with one error logged, updates reject naming it, it is never replaced or renamed',
    async (_case, hostile) => {
      const { store, file, dir, capture } = setup();
      const words = hostile.plant(file);
      const before = identity(file);
      const names = fs.readdirSync(dir).sort();
      const { growth } = await peakRssGrowth(async () => {
        for (let i = 0; i < 3; i++) expect(await within(store.read(), `read ${i + 1}`)).toEqual({});
        await expect(within(store.updateDevice('kitchen.yaml', { comment: 'x' }), 'update')).rejects.toThrow(words);
        await expect(
          within(
            store.updateGlobal('_x', () => 1),
            'update',
          ),
        ).rejects.toThrow(words);
        expect(await within(store.read(), 'read after updates')).toEqual({});
      });
      const errors = errorsFor(capture.lines(), file);
      expect(errors).toHaveLength(1);
      expect(errors[0]?.msg).toContain(`${label} unreadable`);
      expect(errors[0]?.msg).toContain(words);
      expect(identity(file)).toBe(before);
      // Nothing new beside it: no .corrupt-*, no temp (the lock file of the attempt aside).
      expect(
        fs
          .readdirSync(dir)
          .filter((name) => !name.endsWith('.lock'))
          .sort(),
      ).toEqual(names);
      expect(growth).toBeLessThan(RSS_BUDGET);
    },
  );

  it('refuses a symbolic link to a 0600 file: its content is neither read nor copied anywhere', async () => {
    const { store, file, dir, capture } = setup();
    const content = '{"kitchen.yaml": {"comment": "secret"}, "torn": ';
    const secret = plantLinkToPrivateFile(file, content);
    expect(await within(store.read(), 'read')).toEqual({});
    await expect(within(store.updateDevice('kitchen.yaml', { comment: 'x' }), 'update')).rejects.toThrow(`${file} is a symbolic link (to ${secret})`);
    expect(fs.readlinkSync(file)).toBe(secret);
    expect(fs.readFileSync(secret, 'utf8')).toBe(content);
    expect((fs.statSync(secret).mode & 0o777).toString(8)).toBe('600');
    expect(fs.readdirSync(dir).filter((name) => name.includes('.corrupt-') || name.includes('.tmp-'))).toEqual([]);
    expect(errorsFor(capture.lines(), file)).toHaveLength(1);
  });

  it('a 1 GiB sparse file is never read: {} with a warning, then set aside by a link (no copy, no memory) before the first write', async () => {
    const { store, file, dir, capture } = setup();
    fs.writeFileSync(file, '', { mode: 0o640 });
    fs.truncateSync(file, GiB);
    const original = fs.statSync(file);
    const { growth } = await peakRssGrowth(async () => {
      expect(await within(store.read(), 'read')).toEqual({});
      await within(store.updateDevice('kitchen.yaml', { comment: 'x' }), 'update');
    });
    expect(growth).toBeLessThan(RSS_BUDGET);
    expect(capture.lines().some((line) => line.level === 40 && line['path'] === file && /larger than 67108864 bytes/.test(line.msg))).toBe(true);
    const entries = listing(dir);
    const aside = entries.filter((entry) => entry.name.startsWith(`${path.basename(file)}.corrupt-`));
    // The same file under a new name: same inode, same size, same mode; nothing was copied.
    expect(aside).toHaveLength(1);
    expect(aside[0]).toMatchObject({ ino: original.ino, size: GiB });
    expect(fs.statSync(path.join(dir, aside[0]?.name as string)).mode & 0o777).toBe(0o640);
    expect(entries.reduce((sum, entry) => sum + entry.disk, 0)).toBeLessThan(1024 * 1024);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({ 'kitchen.yaml': { comment: 'x' } });
    // The replacement keeps the original's mode too.
    expect(fs.statSync(file).mode & 0o777).toBe(0o640);
  });

  it('a file that grows past 64 MiB while it is read is cut off at the cap and counts as too large', async () => {
    const { store, file, dir, capture } = setup();
    // Valid JSON padded with spaces to just under the cap: only the growth makes it too large.
    const head = '{"kitchen.yaml": {"comment": "grown"}}';
    const padded = Buffer.alloc(METADATA_MAX_BYTES - 16, 0x20);
    padded.write(head);
    fs.writeFileSync(file, padded);
    let bytesRead = 0;
    let grown = false;
    const handle = await fs.promises.open(file, 'r');
    const proto = Object.getPrototypeOf(handle) as { read: (...args: unknown[]) => Promise<{ bytesRead: number }> };
    await handle.close();
    const realRead = proto.read;
    vi.spyOn(proto, 'read').mockImplementation(async function (this: unknown, ...args: unknown[]) {
      const result = await realRead.apply(this, args);
      bytesRead += result.bytesRead;
      if (!grown) {
        // Another writer appends a MiB between our fstat and the end of our read.
        grown = true;
        fs.appendFileSync(file, Buffer.alloc(1024 * 1024, 0x20));
      }
      return result;
    });
    expect(await within(store.read(), 'read')).toEqual({});
    vi.restoreAllMocks();
    expect(grown).toBe(true);
    expect(bytesRead).toBe(METADATA_MAX_BYTES + 1);
    expect(capture.lines().some((line) => line.level === 40 && line['path'] === file && /larger than/.test(line.msg))).toBe(true);
    const ino = fs.statSync(file).ino;
    await within(store.updateDevice('kitchen.yaml', { comment: 'x' }), 'update');
    const aside = listing(dir).filter((entry) => entry.name.includes('.corrupt-'));
    expect(aside.map((entry) => [entry.ino, entry.size])).toEqual([[ino, METADATA_MAX_BYTES - 16 + 1024 * 1024]]);
  });
});

describe('the sessions file', () => {
  function setup(): { store: SessionStore; file: string; dir: string; capture: ReturnType<typeof capturingLogger> } {
    const dir = makeTempDir('hostile-sessions-');
    const file = path.join(dir, '.device-builder-sessions.json');
    const capture = capturingLogger();
    return { store: new SessionStore(file, capture.logger, () => 1_000), file, dir, capture };
  }

  const oneSession = { version: 1, sessions: { ['a'.repeat(64)]: { created_at: 1, expires_at: 9_999, last_used_at: 1 } } };

  it.each(REFUSED.filter((c) => !c.skip).map((c) => [c.name, c] as const))(
    'refuses %s: no sessions at once, an error logged, saves (logins) reject naming it, it is never replaced',
    async (_case, hostile) => {
      const { store, file, dir, capture } = setup();
      const words = hostile.plant(file);
      const before = identity(file);
      const names = fs.readdirSync(dir).sort();
      const { growth } = await peakRssGrowth(async () => {
        expect((await within(store.sessions(), 'load')).size).toBe(0);
        await expect(within(store.save(), 'save')).rejects.toThrow(words);
      });
      const errors = capture.lines().filter((line) => line.level === 50 && line['path'] === file);
      expect(errors).toHaveLength(1);
      expect(errors[0]?.msg).toContain(words);
      expect(identity(file)).toBe(before);
      expect(fs.readdirSync(dir).sort()).toEqual(names);
      expect(growth).toBeLessThan(RSS_BUDGET);
    },
  );

  it('refuses a symbolic link to a 0600 file holding a session: it is not loaded', async () => {
    const { store, file } = setup();
    const secret = plantLinkToPrivateFile(file, JSON.stringify(oneSession));
    expect((await within(store.sessions(), 'load')).size).toBe(0);
    await expect(within(store.save(), 'save')).rejects.toThrow(`${file} is a symbolic link (to ${secret})`);
    expect(fs.readFileSync(secret, 'utf8')).toBe(JSON.stringify(oneSession));
  });

  it('a 1 GiB sparse file is not read; the next save replaces it (it holds only hashes), without a copy', async () => {
    const { store, file, dir, capture } = setup();
    fs.writeFileSync(file, '');
    fs.truncateSync(file, GiB);
    const { growth } = await peakRssGrowth(async () => {
      expect((await within(store.sessions(), 'load')).size).toBe(0);
      await within(store.save(), 'save');
    });
    expect(growth).toBeLessThan(RSS_BUDGET);
    expect(capture.lines().some((line) => line.level === 40 && /too large/.test(line.msg))).toBe(true);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({ version: 1, sessions: {} });
    expect(listing(dir).map((entry) => entry.name)).toEqual([path.basename(file)]);
  });

  it('a file that grows past 64 MiB while it is read is cut off at the cap', async () => {
    const { store, file } = setup();
    const padded = Buffer.alloc(METADATA_MAX_BYTES - 16, 0x20);
    padded.write(JSON.stringify(oneSession));
    fs.writeFileSync(file, padded);
    let grown = false;
    const handle = await fs.promises.open(file, 'r');
    const proto = Object.getPrototypeOf(handle) as { read: (...args: unknown[]) => Promise<{ bytesRead: number }> };
    await handle.close();
    const realRead = proto.read;
    vi.spyOn(proto, 'read').mockImplementation(async function (this: unknown, ...args: unknown[]) {
      const result = await realRead.apply(this, args);
      if (!grown) {
        grown = true;
        fs.appendFileSync(file, Buffer.alloc(1024 * 1024, 0x20));
      }
      return result;
    });
    expect((await within(store.sessions(), 'load')).size).toBe(0);
    expect(grown).toBe(true);
  });
});

describe('StorageJSON and the orphan scan read guarded', () => {
  const valid = JSON.stringify({ storage_version: 1, name: 'kitchen', build_path: '/b/kitchen' });

  function dataDirWith(plant: (file: string) => void): string {
    const dataDir = path.join(makeTempDir('hostile-storage-'), '.esphome');
    fs.mkdirSync(path.join(dataDir, 'storage'), { recursive: true });
    plant(storageJsonPath(dataDir, 'kitchen.yaml'));
    return dataDir;
  }

  it.each([
    ['a FIFO', (file: string) => mkfifo(file)],
    ['a symbolic link to /dev/zero', (file: string) => fs.symlinkSync('/dev/zero', file)],
    ['a folder', (file: string) => fs.mkdirSync(file)],
    [
      'a 1 GiB sparse file',
      (file: string) => {
        fs.writeFileSync(file, '');
        fs.truncateSync(file, GiB);
      },
    ],
    ['valid JSON past 1 MiB', (file: string) => fs.writeFileSync(file, `${valid}${' '.repeat(STORAGE_JSON_MAX_BYTES)}`)],
  ])('%s reads as no StorageJSON at once (async and sync), without growing the process', async (_name, plant) => {
    const dataDir = dataDirWith(plant);
    const { growth } = await peakRssGrowth(async () => {
      expect(await within(readStorageJson(dataDir, 'kitchen.yaml'), 'readStorageJson')).toBeNull();
    });
    expect(growth).toBeLessThan(RSS_BUDGET);
    // The sync read cannot be raced against a deadline: a FIFO would hang it, so a child runs it.
    const child = spawnSync(
      process.execPath,
      [
        '--import',
        TSX_LOADER,
        '-e',
        `import('${path.join(REPO_ROOT, 'src', 'storage', 'storage-json.ts')}').then((m) => console.log(JSON.stringify(m.readStorageJsonSync(process.argv[1], 'kitchen.yaml'))))`,
        dataDir,
      ],
      { encoding: 'utf8', timeout: 15_000, cwd: REPO_ROOT },
    );
    expect([child.status, child.signal, child.stdout.trim()]).toEqual([0, null, 'null']);
  });

  it('the orphan scan reads the storage folder the same way: a FIFO and a link to /dev/zero there neither hang nor grow it', async () => {
    const configDir = makeTempDir('hostile-orphans-');
    const dataDir = path.join(configDir, '.esphome');
    const storage = path.join(dataDir, 'storage');
    fs.mkdirSync(storage, { recursive: true });
    fs.mkdirSync(path.join(dataDir, 'build', 'kitchen'), { recursive: true });
    fs.mkdirSync(path.join(dataDir, 'build', 'old-garage'), { recursive: true });
    fs.writeFileSync(path.join(storage, 'kitchen.yaml.json'), JSON.stringify({ storage_version: 1, build_path: path.join(dataDir, 'build', 'kitchen') }));
    mkfifo(path.join(storage, 'fifo.yaml.json'));
    fs.symlinkSync('/dev/zero', path.join(storage, 'zero.yaml.json'));
    const orphans = new OrphanBuilds({
      configDir,
      dataDir,
      store: new DeviceMetadata(configDir, dataDir, { logger: silentLogger }),
      logger: silentLogger,
      env: {},
      activeConfigurations: () => ['kitchen.yaml', 'fifo.yaml', 'zero.yaml'],
    });
    const { result, growth } = await peakRssGrowth(() => within(orphans.rescan(), 'orphan scan'));
    expect(result).toEqual([path.join(dataDir, 'build', 'old-garage')]);
    expect(growth).toBeLessThan(RSS_BUDGET);
  });

  it('a symbolic link to a regular StorageJSON is followed (links in a data dir are legitimate)', async () => {
    const elsewhere = path.join(makeTempDir('real-storage-'), 'kitchen.json');
    fs.writeFileSync(elsewhere, valid);
    const dataDir = dataDirWith((file) => fs.symlinkSync(elsewhere, file));
    expect((await readStorageJson(dataDir, 'kitchen.yaml'))?.buildPath).toBe('/b/kitchen');
    expect(readStorageJsonSync(dataDir, 'kitchen.yaml')?.buildPath).toBe('/b/kitchen');
  });

  it('guarded reads refuse a link where links are not followed, and read a regular file whole', async () => {
    const dir = makeTempDir('guarded-');
    const real = path.join(dir, 'real.json');
    fs.writeFileSync(real, valid);
    fs.symlinkSync(real, path.join(dir, 'link.json'));
    for (const read of [readGuarded, async (...args: Parameters<typeof readGuardedSync>) => readGuardedSync(...args)]) {
      expect((await read(real, { maxBytes: 1024 }))?.bytes.toString()).toBe(valid);
      await expect(read(path.join(dir, 'link.json'), { maxBytes: 1024 })).rejects.toThrow(/is a symbolic link \(to .*real\.json\)/);
      expect((await read(path.join(dir, 'link.json'), { maxBytes: 1024, followLinks: true }))?.bytes.toString()).toBe(valid);
      expect(await read(path.join(dir, 'missing.json'), { maxBytes: 1024 })).toBeNull();
      await expect(read(real, { maxBytes: valid.length - 1 })).rejects.toThrow(/larger than/);
    }
  });
});

describe('serve on a config dir whose sidecar is hostile', () => {
  it.each([
    ['a FIFO', (file: string) => mkfifo(file), 'is a FIFO'],
    ['a symbolic link to /dev/zero', (file: string) => fs.symlinkSync('/dev/zero', file), 'is a symbolic link (to /dev/zero)'],
  ])(
    '%s: it listens, lists the devices, logs the error once, leaves the file alone, and SIGTERM exits 0',
    async (_name, plant, words) => {
      const dir = makeTempDir('hostile-serve-');
      fs.writeFileSync(path.join(dir, 'kitchen.yaml'), 'esphome:\n  name: kitchen\nesp32:\n  board: x\n');
      const sidecar = path.join(dir, '.device-builder.json');
      plant(sidecar);
      const before = identity(sidecar);
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        DEVICE_BUILDER_LOG_LEVEL: 'warn',
        PLATFORMIO_CORE_DIR: '/nonexistent/platformio',
        DEVICE_BUILDER_PASSWORD: '',
      };
      delete env['ESPHOME_DATA_DIR'];
      const child = spawn(process.execPath, ['--import', TSX_LOADER, path.join(REPO_ROOT, 'src', 'cli.ts'), 'serve', dir, '--port', '0'], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      try {
        const url = await new Promise<string>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`serve never listened; stderr: ${stderr.slice(0, 2000)}`)), 30_000);
          const check = (): void => {
            const match = /http:\/\/127\.0\.0\.1:\d+\//.exec(stdout);
            if (match) {
              clearTimeout(timer);
              resolve(match[0]);
            }
          };
          child.stdout.on('data', check);
          child.on('exit', () => reject(new Error(`serve exited before listening; stderr: ${stderr.slice(0, 2000)}`)));
        });
        const client = await WsClient.connect(`${url.replace('http', 'ws')}ws`);
        const devices = await client.call<Device[]>('devices/list');
        expect(devices.map((device) => device.configuration)).toEqual(['kitchen.yaml']);
        await client.call<Device[]>('devices/list');
        await client.close();
        // Peak memory of the whole server: reading /dev/zero would have taken gigabytes.
        const hwm = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        expect(Number(hwm?.[1]) * 1024).toBeLessThan(600 * 1024 * 1024);
        child.kill('SIGTERM');
        expect(await within(exited, 'exit after SIGTERM')).toBe(0);
      } finally {
        child.kill('SIGKILL');
      }
      const errors = stderr
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as LogLine)
        .filter((line) => line.level === 50 && line['path'] === sidecar);
      expect(errors).toHaveLength(1);
      expect(errors[0]?.msg).toContain(`${sidecar} ${words}`);
      expect(identity(sidecar)).toBe(before);
      expect(fs.readdirSync(dir).filter((name) => name.includes('.corrupt-') || name.includes('.tmp-'))).toEqual([]);
    },
    60_000,
  );
});
