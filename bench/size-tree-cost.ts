/**
 * What the disk map's data costs (issue 15), on the bench fleet
 * (20 × 25,000 files):
 *
 * - file size: each device's file in `<data>/.device-builder-ts-sizes/`
 *   with its real tree from the walk and a full 100-point history (the
 *   worst case: 100 measurements, every one a new size), goal < 5 KB;
 * - heap: what holding the trees costs the server, measured on 5,000 copies
 *   of the fleet's trees (after a forced GC, so the delta is not noise) and
 *   given per device;
 * - walk time with and without recording the tree, interleaved (on, off,
 *   off, on, ...) so drift in the machine's load falls on both alike.
 *
 * `BENCH_ONLY=tree npm run bench` runs this part alone.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { countNodes } from '../src/build-size/size-tree.js';
import type { WalkPool } from '../src/build-size/walk-pool.js';
import { SIZE_HISTORY_LIMIT, type SizeTreeNode } from '../src/shared/size-history.js';
import { deviceFileName, FLEET_FILE, SizeHistoryStore } from '../src/size-history/size-history-store.js';
import { createLogger } from '../src/util/log.js';
import { fmtInt, fmtMs, fmtRatio, median, renderTable, summarize, timed, type Sample } from './stats.js';

/** Devices whose trees the heap figure holds (the fleet's trees, copied). */
const HEAP_DEVICES = 5000;
export const TARGET_FILE_BYTES = 5 * 1024;

export interface SizeTreeCost {
  devices: number;
  nodes: { min: number; median: number; max: number };
  /** A device's file with its tree and a full history. */
  fileBytes: { min: number; median: number; max: number };
  /** The same file with the tree alone (one point). */
  treeOnlyFileBytes: { median: number };
  fleetFileBytes: number;
  heap: { devices: number; deltaBytes: number; perDeviceBytes: number };
  walk: { withTree: Sample; withoutTree: Sample; overhead: number };
}

function gcFunction(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

function spread(values: number[]): { min: number; median: number; max: number } {
  return { min: Math.min(...values), median: median(values), max: Math.max(...values) };
}

async function fleetWalk(pool: WalkPool, dirs: readonly string[], tree: boolean): Promise<(SizeTreeNode | null)[]> {
  const trees: (SizeTreeNode | null)[] = [];
  for (const dir of dirs) trees.push((await pool.walk(dir, { tree })).tree ?? null);
  return trees;
}

/** Writes every device's file through the store: its tree and SIZE_HISTORY_LIMIT points; returns the file sizes. */
async function fileSizes(trees: readonly SizeTreeNode[], points: number): Promise<{ device: number[]; fleet: number }> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'bench-sizes-'));
  try {
    const clock = { now: 1_790_000_000 };
    const store = new SizeHistoryStore(dataDir, { logger: createLogger('silent'), now: () => clock.now });
    for (let point = 0; point < points; point++) {
      // An hour apart, each a new size: every point is kept (the worst case for the file).
      clock.now += 3600;
      trees.forEach((tree, index) => store.recordDevice(`device-${index}.yaml`, tree.bytes + point * 4096 + 1, tree));
      store.recordFleetTotal(1_000_000_000_000 + point);
      await store.flush();
    }
    const dir = store.dir;
    const device = trees.map((_, index) => statSync(path.join(dir, deviceFileName(`device-${index}.yaml`))).size);
    if (readdirSync(dir).length !== trees.length + 1) throw new Error('unexpected files in the size history folder');
    return { device, fleet: statSync(path.join(dir, FLEET_FILE)).size };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function heapCost(trees: readonly SizeTreeNode[]): { devices: number; deltaBytes: number; perDeviceBytes: number } {
  const gc = gcFunction();
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const held: SizeTreeNode[] = [];
  for (let i = 0; i < HEAP_DEVICES; i++) held.push(structuredClone(trees[i % trees.length] as SizeTreeNode));
  gc();
  gc();
  const deltaBytes = process.memoryUsage().heapUsed - before;
  if (held.length !== HEAP_DEVICES) throw new Error('unreachable');
  return { devices: HEAP_DEVICES, deltaBytes, perDeviceBytes: deltaBytes / HEAP_DEVICES };
}

export async function measureSizeTreeCost(pool: WalkPool, dirs: readonly string[], runs: number, say: (line?: string) => void): Promise<SizeTreeCost> {
  // Warm-up (page cache), which also gives the trees.
  const trees = (await fleetWalk(pool, dirs, true)).filter((tree): tree is SizeTreeNode => tree !== null);
  if (trees.length !== dirs.length) throw new Error(`expected a tree per device, got ${trees.length} of ${dirs.length}`);
  await fleetWalk(pool, dirs, false);
  const withTree: number[] = [];
  const withoutTree: number[] = [];
  for (let run = 0; run < runs; run++) {
    // Alternating which goes first, so neither always runs on the warmer cache or the quieter second.
    const order = run % 2 === 0 ? [true, false] : [false, true];
    for (const tree of order) (tree ? withTree : withoutTree).push((await timed(() => fleetWalk(pool, dirs, tree))).ms);
  }
  const full = await fileSizes(trees, SIZE_HISTORY_LIMIT);
  const treeOnly = await fileSizes(trees, 1);
  const cost: SizeTreeCost = {
    devices: dirs.length,
    nodes: spread(trees.map(countNodes)),
    fileBytes: spread(full.device),
    treeOnlyFileBytes: { median: median(treeOnly.device) },
    fleetFileBytes: full.fleet,
    heap: heapCost(trees),
    walk: { withTree: summarize(withTree), withoutTree: summarize(withoutTree), overhead: median(withTree) / median(withoutTree) },
  };
  say(
    renderTable(
      ['size tree + history (issue 15)', 'figure'],
      [
        ['tree nodes a device (min / median / max)', `${cost.nodes.min} / ${cost.nodes.median} / ${cost.nodes.max}`],
        [
          `device file, tree + ${SIZE_HISTORY_LIMIT} points (min / median / max)`,
          `${fmtInt(cost.fileBytes.min)} / ${fmtInt(cost.fileBytes.median)} / ${fmtInt(cost.fileBytes.max)} B`,
        ],
        ['device file, tree + 1 point (median)', `${fmtInt(cost.treeOnlyFileBytes.median)} B`],
        [`fleet.json, ${SIZE_HISTORY_LIMIT} points`, `${fmtInt(cost.fleetFileBytes)} B`],
        [`heap holding ${fmtInt(cost.heap.devices)} trees`, `${fmtInt(cost.heap.deltaBytes)} B (${fmtInt(Math.round(cost.heap.perDeviceBytes))} B a device)`],
        [`fleet walk with the tree (median of ${runs})`, `${fmtMs(cost.walk.withTree.median)} ms`],
        [`fleet walk without it (median of ${runs})`, `${fmtMs(cost.walk.withoutTree.median)} ms`],
        ['with / without', fmtRatio(cost.walk.overhead)],
      ],
    ),
  );
  return cost;
}
