/**
 * The bounded size tree (issue 15): the 1 % / 3 levels / 50 nodes rules,
 * ancestors always kept, sums consistent, the same tree however the pool
 * splits the walk and whichever walker sizes the pieces, and bounds that
 * hold on hostile trees (200k folders, deep nesting), on real folders.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { boundSizeTree, countNodes, FolderTotals, MAX_TRACKED_FOLDERS, TREE_MAX_NODES, type FolderTotal } from '../../src/build-size/size-tree.js';
import { walkTreeJs } from '../../src/build-size/tree-walker.js';
import { nativeWalkTree } from '../../src/build-size/native-walker.js';
import { WalkPool } from '../../src/build-size/walk-pool.js';
import type { SizeTreeNode } from '../../src/shared/size-history.js';
import { cleanupTempDirs, makeTempDir, silentLogger, writeFile } from '../helpers/fs-fixtures.js';
import { NATIVE_WALKER_TESTED, WALKER_SETUPS } from '../helpers/walkers.js';

afterEach(() => cleanupTempDirs());

/** Every node: its children sum to at most its bytes and files, and it sits at most 3 levels down. */
function expectConsistent(node: SizeTreeNode, depth = 0): void {
  expect(depth).toBeLessThanOrEqual(3);
  const childBytes = node.children.reduce((sum, child) => sum + child.bytes, 0);
  const childFiles = node.children.reduce((sum, child) => sum + child.files, 0);
  expect(childBytes).toBeLessThanOrEqual(node.bytes);
  expect(childFiles).toBeLessThanOrEqual(node.files);
  for (const child of node.children) expectConsistent(child, depth + 1);
}

function find(node: SizeTreeNode, relPath: string): SizeTreeNode | undefined {
  let at: SizeTreeNode | undefined = node;
  for (const name of relPath.split('/')) at = at?.children.find((child) => child.name === name);
  return at;
}

describe('boundSizeTree', () => {
  it('keeps folders of at least 1 % of the bytes, drops smaller and empty ones', () => {
    const tree = boundSizeTree('build', [
      ['', 10_000, 10],
      ['big', 9_800, 5],
      ['one-percent', 100, 1],
      ['just-under', 99, 1],
      ['empty', 0, 0],
    ]);
    expect(tree.children.map((child) => child.name)).toEqual(['big', 'one-percent']);
    expect(tree).toMatchObject({ name: 'build', bytes: 10_000, files: 10 });
  });

  it('keeps nothing more than 3 levels below the build folder', () => {
    const tree = boundSizeTree('build', [
      ['', 100, 1],
      ['a', 100, 1],
      ['a/b', 100, 1],
      ['a/b/c', 100, 1],
      ['a/b/c/d', 100, 1],
    ]);
    expect(find(tree, 'a/b/c')).toMatchObject({ bytes: 100, children: [] });
  });

  it('keeps at most 50 nodes, the biggest, and every kept node has its ancestors', () => {
    const folders: FolderTotal[] = [['', 1_000_000, 1000]];
    // 10 top folders, each with 5 children: 60 candidates, all above 1 %.
    for (let top = 0; top < 10; top++) {
      folders.push([`t${top}`, 95_000 + top * 10, 25]);
      for (let child = 0; child < 5; child++) folders.push([`t${top}/c${child}`, 15_000 + top * 10 + child, 5]);
    }
    const tree = boundSizeTree('build', folders);
    expect(countNodes(tree)).toBe(TREE_MAX_NODES);
    expectConsistent(tree);
    // The biggest 49 candidates: the 10 tops, then the children of the biggest ones (t9..t3 all five, t2 four).
    expect(tree.children.map((child) => child.name)).toEqual(['t9', 't8', 't7', 't6', 't5', 't4', 't3', 't2', 't1', 't0']);
    expect(tree.children[0]?.children.map((child) => child.name)).toEqual(['c4', 'c3', 'c2', 'c1', 'c0']);
    expect(tree.children[7]?.children.map((child) => child.name)).toEqual(['c4', 'c3', 'c2', 'c1']);
    expect(tree.children[8]?.children).toEqual([]);
  });

  it('never keeps a folder whose parent it could not keep', () => {
    // An equal-sized parent ranks first (shallower); a parent missing from the input drops its children.
    const tree = boundSizeTree('build', [
      ['', 100, 2],
      ['only/child', 100, 2],
      ['same', 50, 1],
      ['same/inner', 50, 1],
    ]);
    expect(tree.children.map((child) => child.name)).toEqual(['same']);
    expect(tree.children[0]?.children.map((child) => child.name)).toEqual(['inner']);
  });

  it('FolderTotals at its cap prunes final folders to the biggest, and never drops one that can still grow', () => {
    const open = new Set(['', 'open']);
    const totals = new FolderTotals((rel) => open.has(rel), 60);
    totals.add('', 0, 0);
    totals.add('open', 1, 1);
    for (let i = 0; i < 200; i++) totals.add(`f${i}`, i, 1);
    expect(totals.size).toBeLessThanOrEqual(60);
    const kept = new Map(totals.entries().map(([rel, bytes]) => [rel, bytes]));
    expect(kept.get('open')).toBe(1);
    // The 49 biggest final folders are always there: no pruning ever drops a folder the kept tree could hold.
    for (let i = 151; i < 200; i++) expect(kept.get(`f${i}`)).toBe(i);
  });

  it('FolderTotals stops tracking new folders when nothing at its cap is final', () => {
    const totals = new FolderTotals(() => true, 3);
    totals.add('', 1, 1);
    totals.add('a', 2, 1);
    totals.add('b', 3, 1);
    totals.add('c', 4, 1);
    totals.add('a', 5, 1);
    expect(totals.entries()).toEqual([
      ['', 1, 1],
      ['a', 7, 2],
      ['b', 3, 1],
    ]);
  });
});

describe('walks record the tree', () => {
  let pools: { name: string; pool: WalkPool }[] = [];
  beforeAll(() => {
    pools = WALKER_SETUPS.map((setup) => ({ name: setup.name, pool: new WalkPool({ ...setup.options, logger: silentLogger }) }));
  });
  afterAll(async () => {
    for (const { pool } of pools) await pool.close();
  });

  /** A build folder shaped like ESPHome's, with sizes spread so the 1 % rule matters. */
  function buildFolder(): string {
    const dir = makeTempDir('tree-');
    for (let lib = 0; lib < 12; lib++) {
      for (let file = 0; file < 3; file++) writeFile(path.join(dir, '.piolibdeps', 'kitchen', `Lib${lib}`, 'src', `f${file}.cpp`), 1000 * (lib + 1) + file);
    }
    for (let obj = 0; obj < 30; obj++) writeFile(path.join(dir, '.pioenvs', 'kitchen', 'src', 'esphome', 'components', `c${obj % 7}`, `o${obj}.o`), 2000 + obj);
    writeFile(path.join(dir, '.pioenvs', 'kitchen', 'firmware.bin'), 400_000);
    writeFile(path.join(dir, 'src', 'main.cpp'), 3000);
    writeFile(path.join(dir, 'tiny', 'x'), 10);
    writeFile(path.join(dir, 'dependencies.lock'), 500);
    return dir;
  }

  it('gives the same tree however the walk is split and whichever walker sizes the pieces', async () => {
    const dir = buildFolder();
    const single = boundSizeTree(path.basename(dir), walkTreeJs(dir, 3).folders);
    expectConsistent(single);
    expect(single.bytes).toBe(walkTreeJs(dir).bytes);
    expect(find(single, '.pioenvs/kitchen/firmware.bin')).toBeUndefined();
    expect(find(single, '.pioenvs/kitchen')).toMatchObject({ bytes: 400_000 + 30 * 2000 + 435, files: 31 });
    expect(find(single, 'tiny')).toBeUndefined();
    for (const { name, pool } of pools) {
      const result = await pool.walk(dir);
      expect(result.tree, name).toEqual(single);
      expect(result.tree?.bytes).toBe(result.bytes);
    }
    // Split as finely as the pool goes (every folder expanded), and not at all.
    for (const piecesPerWorker of [0, 1, 1000]) {
      const pool = new WalkPool({ walker: 'js', piecesPerWorker, logger: silentLogger });
      try {
        expect((await pool.walk(dir)).tree).toEqual(single);
      } finally {
        await pool.close();
      }
    }
  });

  it('merges a folder too wide to hand back (walked in place by the expand step)', async () => {
    const dir = makeTempDir('tree-wide-');
    for (let i = 0; i < 1100; i++) writeFile(path.join(dir, 'wide', `d${i}`, 'f'), i === 1099 ? 500_000 : 10);
    writeFile(path.join(dir, 'wide', 'd1099', 'sub', 'g'), 100_000);
    const single = boundSizeTree(path.basename(dir), walkTreeJs(dir, 3).folders);
    expect(find(single, 'wide/d1099/sub')).toMatchObject({ bytes: 100_000 });
    for (const { name, pool } of pools) expect((await pool.walk(dir)).tree, name).toEqual(single);
    const pool = new WalkPool({ walker: 'js', piecesPerWorker: 1000, logger: silentLogger });
    try {
      expect((await pool.walk(dir)).tree).toEqual(single);
    } finally {
      await pool.close();
    }
  });

  it('records no tree when asked not to, and none for a missing folder', async () => {
    const dir = buildFolder();
    const { pool } = pools[0] as { pool: WalkPool };
    expect((await pool.walk(dir, { tree: false })).tree).toBeNull();
    expect((await pool.walk(path.join(dir, 'missing'))).tree).toBeNull();
  });

  it('counts a hard-linked file under each name, as the apparent size does', async () => {
    const dir = makeTempDir('tree-links-');
    writeFile(path.join(dir, 'a', 'big'), 50_000);
    fs.mkdirSync(path.join(dir, 'b'));
    fs.linkSync(path.join(dir, 'a', 'big'), path.join(dir, 'b', 'big'));
    for (const { name, pool } of pools) {
      const result = await pool.walk(dir);
      expect(result.tree?.bytes, name).toBe(100_000);
      expect(result.tree?.children.map((child) => [child.name, child.bytes])).toEqual([
        ['a', 50_000],
        ['b', 50_000],
      ]);
    }
  });

  it('stays bounded on 200,000 folders within 3 levels', { timeout: 600_000 }, async () => {
    // On tmpfs when there is one: 200,000 folders on this disk take minutes to create and remove.
    const dir = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'tree-hostile-'));
    onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
    for (let top = 0; top < 100; top++) {
      const topDir = path.join(dir, `t${top}`);
      fs.mkdirSync(topDir);
      for (let sub = 0; sub < 2000; sub++) fs.mkdirSync(path.join(topDir, `s${sub}`));
    }
    writeFile(path.join(dir, 't7', 's5', 'big'), 1_000_000);
    writeFile(path.join(dir, 't9', 'mid'), 20_000);
    // One walk of the whole tree tracks at most the cap, and its sums stay exact.
    const folders = walkTreeJs(dir, 3).folders;
    expect(folders.length).toBeLessThanOrEqual(MAX_TRACKED_FOLDERS);
    expect(folders.find(([rel]) => rel === '')).toEqual(['', 1_020_000, 2]);
    const native = nativeWalkTree();
    if (NATIVE_WALKER_TESTED && native) {
      const fromNative = native(dir, undefined, 3).folders;
      expect(fromNative.length).toBeLessThanOrEqual(MAX_TRACKED_FOLDERS);
      expect(fromNative.find(([rel]) => rel === '')).toEqual(['', 1_020_000, 2]);
    }
    for (const { name, pool } of pools) {
      const result = await pool.walk(dir);
      expect(result.dirs, name).toBe(1 + 100 + 200_000);
      const tree = result.tree as SizeTreeNode;
      expect(countNodes(tree)).toBeLessThanOrEqual(TREE_MAX_NODES);
      expectConsistent(tree);
      expect(tree.bytes).toBe(1_020_000);
      // The big ones are found however the pool split it: the tops are handed back as pieces.
      expect(tree.children.map((child) => [child.name, child.bytes])).toEqual([
        ['t7', 1_000_000],
        ['t9', 20_000],
      ]);
    }
  });

  it('stays within 3 levels on 300 levels of nesting', async () => {
    const dir = makeTempDir('tree-deep-');
    let deep = dir;
    for (let level = 0; level < 300; level++) deep = path.join(deep, 'd');
    writeFile(path.join(deep, 'leaf'), 4242);
    for (const { name, pool } of pools) {
      const tree = (await pool.walk(dir)).tree as SizeTreeNode;
      expectConsistent(tree);
      expect(find(tree, 'd/d/d'), name).toMatchObject({ bytes: 4242, files: 1, children: [] });
    }
  });
});
