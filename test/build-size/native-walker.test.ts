/**
 * The native walker against the JS walker, tree by tree: both must produce
 * the same tally (bytes, allocated bytes, files, folders, skips and their
 * reasons, hard links) for every kind of entry a build folder can hold, so
 * the addon can take over whole subtrees without changing a single figure.
 * Plus what only the addon has: its argument checks and its abort flag.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { nativeWalkTree, nativeWalkerStatus, resolveWalkerEngine, walkerChoiceFromEnv, WALKER_ENV } from '../../src/build-size/native-walker.js';
import { walkTreeJs } from '../../src/build-size/tree-walker.js';
import { WalkPool } from '../../src/build-size/walk-pool.js';
import type { TreeTally } from '../../src/build-size/walk-protocol.js';
import { cleanupTempDirs, makeTempDir, silentLogger, writeFile } from '../helpers/fs-fixtures.js';
import { NATIVE_WALKER_TESTED } from '../helpers/walkers.js';

const isRoot = process.getuid?.() === 0;
const servers: net.Server[] = [];

afterEach(() => {
  for (const server of servers.splice(0)) server.close();
  cleanupTempDirs();
});

function native(): NonNullable<ReturnType<typeof nativeWalkTree>> {
  const walk = nativeWalkTree();
  if (!walk) throw new Error(`native walker not built: ${JSON.stringify(nativeWalkerStatus())} (npm rebuild builds it)`);
  return walk;
}

/** A tally with its samples and folders in a stable order (the walkers visit folders in different orders). */
function normalized(tally: TreeTally): TreeTally {
  return { ...tally, skippedSamples: [...tally.skippedSamples].sort(), folders: [...tally.folders].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)) };
}

async function listen(socketPath: string): Promise<void> {
  const server = net.createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
}

describe.runIf(NATIVE_WALKER_TESTED)('native walker', () => {
  it('is built and chosen by default in this install', () => {
    expect(nativeWalkerStatus()).toMatchObject({ available: true });
    expect(resolveWalkerEngine('auto')).toBe('native');
  });

  it('matches the JS walker on a tree holding every kind of entry', async () => {
    const dir = makeTempDir('native-');
    writeFile(path.join(dir, '.pioenvs', 'kitchen', 'firmware.bin'), 123_457);
    writeFile(path.join(dir, '.piolibdeps', 'kitchen', 'Lib', 'src', 'x.cpp'), 4097);
    writeFile(path.join(dir, 'src', 'main.cpp'), 0);
    fs.mkdirSync(path.join(dir, 'empty', 'nested'), { recursive: true });
    // Sparse: a megabyte of apparent size, next to nothing allocated.
    fs.writeFileSync(path.join(dir, 'sparse.img'), '');
    fs.truncateSync(path.join(dir, 'sparse.img'), 1 << 20);
    // Hard links: one inode under three names in three folders.
    writeFile(path.join(dir, 'a', 'big'), 64 * 1024);
    fs.linkSync(path.join(dir, 'a', 'big'), path.join(dir, 'b-link'));
    fs.mkdirSync(path.join(dir, 'c'));
    fs.linkSync(path.join(dir, 'a', 'big'), path.join(dir, 'c', 'again'));
    // Links of every sort, never followed.
    fs.symlinkSync('/', path.join(dir, 'to-root'));
    fs.symlinkSync('..', path.join(dir, 'a', 'up'));
    fs.symlinkSync('/nonexistent/target', path.join(dir, 'dangling'));
    fs.symlinkSync('self', path.join(dir, 'self'));
    // Entries that are never opened.
    execFileSync('mkfifo', [path.join(dir, 'fifo')]);
    execFileSync('mkfifo', [path.join(dir, 'a', 'build_info.json')]);
    await listen(path.join(dir, 'c', 'sock'));
    if (isRoot) execFileSync('mknod', [path.join(dir, 'null'), 'c', '1', '3']);
    // Names: not UTF-8, a newline, a literal U+FFFD, 255 bytes.
    fs.writeFileSync(Buffer.concat([Buffer.from(`${dir}/bad-`), Buffer.from([0xff, 0xfe]), Buffer.from('.o')]), 'x'.repeat(11));
    const badDir = Buffer.concat([Buffer.from(`${dir}/dir-`), Buffer.from([0xc3, 0x28])]);
    fs.mkdirSync(badDir);
    fs.writeFileSync(Buffer.concat([badDir, Buffer.from('/inner')]), 'y'.repeat(13));
    writeFile(path.join(dir, 'line\nbreak'), 5);
    writeFile(path.join(dir, 'real-\uFFFD'), 6);
    writeFile(path.join(dir, 'n'.repeat(255)), 7);
    let deep = path.join(dir, 'deep');
    for (let level = 0; level < 60; level++) deep = path.join(deep, 'd');
    writeFile(path.join(deep, 'leaf'), 9);

    const fromNative = normalized(native()(dir));
    expect(fromNative).toEqual(normalized(walkTreeJs(dir)));
    // And the figures are the right ones, not just the same ones.
    expect(fromNative.files).toBe(1 + 1 + 1 + 1 + 3 + 4 + 1 + 1 + 1 + 1 + 1 + 1);
    expect(fromNative.skipped).toBe(3 + (isRoot ? 1 : 0));
    expect(Object.keys(fromNative.hardLinks)).toHaveLength(1);
    expect(fromNative.skippedSamples).toContain(`${path.join(dir, 'fifo')}: FIFO`);
    expect(fromNative.skippedSamples).toContain(`${path.join(dir, 'c', 'sock')}: socket`);
    // The size tree's folders too: the same folders, the same inclusive sums.
    const treeNative = normalized(native()(dir, undefined, 3));
    expect(treeNative).toEqual(normalized(walkTreeJs(dir, 3)));
    expect(fromNative.folders).toEqual([]);
    expect(treeNative.folders.find(([rel]) => rel === '')).toEqual(['', fromNative.bytes, fromNative.files]);
    expect(treeNative.folders.find(([rel]) => rel === '.piolibdeps/kitchen/Lib')).toEqual(['.piolibdeps/kitchen/Lib', 4097, 1]);
    // Deeper than 3 levels: folded into the third level.
    expect(treeNative.folders.some(([rel]) => rel.startsWith('deep/d/d/'))).toBe(false);
    expect(treeNative.folders.find(([rel]) => rel === 'deep/d/d')).toEqual(['deep/d/d', 9, 1]);
  });

  it('matches the JS walker on random trees', () => {
    type Node = { kind: 'file'; bytes: number } | { kind: 'dir'; children: Record<string, Node> } | { kind: 'link'; target: string } | { kind: 'hardlink' };
    const name = fc.stringMatching(/^[a-zA-Z0-9._ -]{1,12}$/).filter((n) => n !== '.' && n !== '..');
    const { tree } = fc.letrec<{ tree: Node; node: Node }>((tie) => ({
      tree: fc.record({ kind: fc.constant('dir' as const), children: fc.dictionary(name, tie('node'), { maxKeys: 6 }) }),
      node: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.record({ kind: fc.constant('file' as const), bytes: fc.integer({ min: 0, max: 70_000 }) }),
        fc.record({ kind: fc.constant('link' as const), target: fc.constantFrom('/', '..', '.', 'missing', '/etc/hostname') }),
        fc.record({ kind: fc.constant('hardlink' as const) }),
        tie('tree'),
      ),
    }));
    fc.assert(
      fc.property(tree, (spec) => {
        const dir = makeTempDir('native-prop-');
        const anchor = path.join(dir, 'anchor');
        writeFile(anchor, 5000);
        const build = (at: string, node: Node): void => {
          if (node.kind === 'file') writeFile(at, node.bytes);
          else if (node.kind === 'link') fs.symlinkSync(node.target, at);
          else if (node.kind === 'hardlink') fs.linkSync(anchor, at);
          else {
            fs.mkdirSync(at, { recursive: true });
            for (const [child, sub] of Object.entries(node.children)) build(path.join(at, child), sub);
          }
        };
        build(path.join(dir, 'tree'), spec);
        expect(normalized(native()(dir))).toEqual(normalized(walkTreeJs(dir)));
        for (const depth of [0, 1, 3]) expect(normalized(native()(dir, undefined, depth))).toEqual(normalized(walkTreeJs(dir, depth)));
        fs.rmSync(dir, { recursive: true, force: true });
      }),
      { numRuns: 60 },
    );
  });

  it('takes the path as a string or as raw bytes (a folder name that is not UTF-8)', () => {
    const dir = makeTempDir('native-');
    const badRoot = Buffer.concat([Buffer.from(`${dir}/root-`), Buffer.from([0xff])]);
    fs.mkdirSync(badRoot);
    fs.writeFileSync(Buffer.concat([badRoot, Buffer.from('/f')]), 'z'.repeat(21));
    expect(native()(badRoot)).toMatchObject({ bytes: 21, files: 1, dirs: 1, skipped: 0 });
    expect(native()(new Uint8Array(badRoot))).toMatchObject({ bytes: 21, files: 1 });
    expect(native()(dir)).toMatchObject({ bytes: 21, files: 1, dirs: 2 });
  });

  it('skips a root it cannot walk, with the reason: missing, a file, or a link (never followed)', () => {
    const dir = makeTempDir('native-');
    writeFile(path.join(dir, 'target', 'f'), 100);
    writeFile(path.join(dir, 'plain'), 3);
    fs.symlinkSync(path.join(dir, 'target'), path.join(dir, 'link'));
    const empty = { bytes: 0, files: 0, dirs: 0, skipped: 1 };
    expect(native()(path.join(dir, 'missing'))).toMatchObject({ ...empty, skippedSamples: [`${path.join(dir, 'missing')}: ENOENT`] });
    expect(native()(path.join(dir, 'plain'))).toMatchObject({ ...empty, skippedSamples: [`${path.join(dir, 'plain')}: ENOTDIR`] });
    // O_DIRECTORY | O_NOFOLLOW on a link: ENOTDIR on Linux, ELOOP elsewhere.
    const viaLink = native()(path.join(dir, 'link'));
    expect(viaLink).toMatchObject(empty);
    expect(viaLink.skippedSamples[0]).toMatch(new RegExp(`^${path.join(dir, 'link')}: (ENOTDIR|ELOOP)$`));
  });

  it('refuses a path it cannot take exactly: empty, with a NUL byte, or not a string or bytes', () => {
    const walk = native();
    expect(() => walk('')).toThrow(TypeError);
    expect(() => walk('/tmp\0/etc')).toThrow(/NUL/);
    expect(() => walk(Buffer.from('/tmp\0x'))).toThrow(/NUL/);
    expect(() => walk(42 as unknown as string)).toThrow(/string or a Uint8Array/);
    expect(() => walk(new Uint16Array(4) as unknown as Uint8Array)).toThrow(/Uint8Array/);
  });

  it('stops at the next folder once its abort flag is set', () => {
    const dir = makeTempDir('native-');
    for (let d = 0; d < 5; d++) writeFile(path.join(dir, `d${d}`, 'f'), 10);
    const abort = new Int32Array(new SharedArrayBuffer(4));
    expect(native()(dir, abort)).toMatchObject({ bytes: 50, dirs: 6 });
    Atomics.store(abort, 0, 1);
    expect(native()(dir, abort)).toMatchObject({ bytes: 0, files: 0, dirs: 0 });
  });
});

describe('choosing the walker', () => {
  it('reads DEVICE_BUILDER_WALKER: auto by default, native or js, and refuses anything else', () => {
    expect(walkerChoiceFromEnv({})).toBe('auto');
    expect(walkerChoiceFromEnv({ [WALKER_ENV]: '' })).toBe('auto');
    expect(walkerChoiceFromEnv({ [WALKER_ENV]: ' JS ' })).toBe('js');
    expect(walkerChoiceFromEnv({ [WALKER_ENV]: 'native' })).toBe('native');
    expect(() => walkerChoiceFromEnv({ [WALKER_ENV]: 'fast' })).toThrow(/DEVICE_BUILDER_WALKER must be auto, native or js \(got "fast"\)/);
  });

  it('a pool told to use the JS walker uses it, and a bad setting fails at construction', async () => {
    const pool = new WalkPool({ walker: 'js', logger: silentLogger });
    expect(pool.engine).toBe('js');
    const dir = makeTempDir('native-');
    writeFile(path.join(dir, 'x', 'y'), 12);
    expect((await pool.walk(dir)).bytes).toBe(12);
    await pool.close();
    expect(() => new WalkPool({ walker: 'turbo' as 'js', logger: silentLogger })).toThrow(/walker must be auto, native or js/);
    const saved = process.env[WALKER_ENV];
    process.env[WALKER_ENV] = 'turbo';
    try {
      expect(() => new WalkPool({ logger: silentLogger })).toThrow(/DEVICE_BUILDER_WALKER/);
    } finally {
      if (saved === undefined) delete process.env[WALKER_ENV];
      else process.env[WALKER_ENV] = saved;
    }
  });
});
