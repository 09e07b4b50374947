/**
 * The disk map's model: the hierarchy from devices, unused folders and the
 * PlatformIO cache; a device's folders from its stored tree or its
 * breakdown; tile areas proportional to bytes; zero-byte items; small
 * tiles merged at phone widths; zoom paths; arrow-key moves; words.
 */
import { describe, expect, it } from 'vitest';
import type { BuildSizeBreakdown } from '../../src/shared/device.js';
import type { OrphanBuild, PlatformioSummary } from '../../src/shared/protocol.js';
import type { SizeTreeNode } from '../../src/shared/size-history.js';
import {
  buildFleetMap,
  canZoom,
  deviceNode,
  formatShare,
  lastCompiled,
  layoutMap,
  mapHeight,
  mergeSmall,
  neighbour,
  pathTo,
  resolvePath,
  ROOT_ID,
  type MapLayout,
  type MapNode,
} from '../../web/src/state/disk-map-model.js';
import { device, job, MB } from './fixtures.js';

const GB = 1024 * MB;
const BREAKDOWN: BuildSizeBreakdown = { pioenvs: 180 * MB, piolibdeps: 20 * MB, src: 12 * MB, other: 0.4 * MB, cleanable: 200.1 * MB };
const orphan = (name: string, bytes: number): OrphanBuild => ({
  build_path: `/config/.esphome/build/${name}`,
  build_size_bytes: bytes,
  build_disk_bytes: bytes,
});
const PIO: PlatformioSummary = {
  path: '/root/.platformio',
  bytes: 1.5 * GB + 38 * MB + 286 * MB,
  parts: { packages: 1.5 * GB, platforms: 38 * MB, '.cache': 286 * MB },
  walking: null,
};

const node = (name: string, bytes: number, children: SizeTreeNode[] = [], files = 10): SizeTreeNode => ({ name, bytes, files, children });

/** A device's stored tree: .pioenvs with its env, .piolibdeps with three libraries, src; 6 MB not covered. */
const KITCHEN_TREE = node('kitchen', 212 * MB, [
  node('.pioenvs', 150 * MB, [node('kitchen', 149 * MB)]),
  node('.piolibdeps', 40 * MB, [node('AsyncTCP', 20 * MB), node('ArduinoJson', 12 * MB), node('ESPAsyncWebServer', 7 * MB)]),
  node('src', 16 * MB),
]);

function fleetInput(extra: { trees?: Map<string, SizeTreeNode | null> } = {}) {
  return {
    devices: [
      device('kitchen', { friendly_name: 'Kitchen Light', build_size_bytes: 212 * MB, build_size_breakdown: BREAKDOWN }),
      device('office', { build_size_bytes: 30 * MB }),
      device('porch'),
      device('garage', { build_size_bytes: 95 * MB }),
    ],
    orphans: [orphan('bathroom-fan', 96 * MB), orphan('old-thing', 48 * MB), orphan('empty', 0)],
    platformio: PIO,
    ...extra,
  };
}

/** Every tile's area divided by its bytes, relative to the whole box's pixels per byte: 1 when exact. */
function areaRatios(layout: MapLayout, width: number, height: number): number[] {
  const perByte = (width * height) / layout.total;
  return layout.tiles.map((t) => ((t.x1 - t.x0) * (t.y1 - t.y0)) / (t.node.bytes * perByte));
}

describe('buildFleetMap', () => {
  it('groups devices, unused folders and PlatformIO parts, largest first, with zero-byte items left out and counted', () => {
    const { root, unmeasured } = buildFleetMap(fleetInput());
    expect(root.id).toBe(ROOT_ID);
    expect(root.children.map((g) => [g.id, g.name, g.colour])).toEqual([
      ['group:devices', 'Devices', 'c1'],
      ['group:orphans', 'Unused build folders', 'c2'],
      ['group:platformio', 'PlatformIO cache', 'c3'],
    ]);
    const [devices, orphans, pio] = root.children as [MapNode, MapNode, MapNode];
    expect(devices.children.map((d) => [d.name, d.bytes])).toEqual([
      ['Kitchen Light', expect.closeTo(212 * MB, 0)],
      ['Garage', 95 * MB],
      ['Office', 30 * MB],
    ]);
    expect(orphans.children.map((o) => [o.name, o.bytes, o.path])).toEqual([
      ['bathroom-fan', 96 * MB, '/config/.esphome/build/bathroom-fan'],
      ['old-thing', 48 * MB, '/config/.esphome/build/old-thing'],
    ]);
    expect(pio.children.map((p) => [p.name, p.bytes])).toEqual([
      ['packages', 1.5 * GB],
      ['.cache', 286 * MB],
      ['platforms', 38 * MB],
    ]);
    expect(unmeasured).toBe(1);
    expect(root.bytes).toBeCloseTo(212 * MB + 95 * MB + 30 * MB + 96 * MB + 48 * MB + PIO.bytes, 0);
  });

  it('leaves out groups with nothing in them (no PlatformIO summary yet, no unused folders)', () => {
    const { root } = buildFleetMap({ devices: [device('a', { build_size_bytes: MB })], orphans: [], platformio: null });
    expect(root.children.map((g) => g.id)).toEqual(['group:devices']);
    expect(buildFleetMap({ devices: [], orphans: [], platformio: null }).root.children).toEqual([]);
  });

  it('ignores negative and non-finite sizes instead of drawing them', () => {
    const { root } = buildFleetMap({
      devices: [device('a', { build_size_bytes: -5 }), device('b', { build_size_bytes: Number.NaN }), device('c', { build_size_bytes: MB })],
      orphans: [orphan('x', -1)],
      platformio: { ...PIO, parts: { packages: -1, platforms: Number.POSITIVE_INFINITY, '.cache': 2 * MB } },
    });
    // Groups keep their fixed order (the legend's); the layout sorts by size.
    expect(root.children.map((g) => [g.id, g.bytes])).toEqual([
      ['group:devices', MB],
      ['group:platformio', 2 * MB],
    ]);
  });
});

describe('a device on the map', () => {
  it('falls back to the breakdown (.pioenvs, .piolibdeps, src, other) when no tree is stored', () => {
    const kitchen = device('kitchen', { build_size_bytes: 212.4 * MB, build_size_breakdown: BREAKDOWN });
    const n = deviceNode(kitchen);
    expect(n.children.map((c) => [c.id, c.name, c.kind, c.colour])).toEqual([
      ['device:kitchen.yaml/.pioenvs', '.pioenvs', 'folder', 'c1'],
      ['device:kitchen.yaml/.piolibdeps', '.piolibdeps', 'folder', 'c2'],
      ['device:kitchen.yaml/src', 'src', 'folder', 'c4'],
      ['device:kitchen.yaml/:other', 'other', 'other', 'c5'],
    ]);
    expect(n.children.map((c) => c.bytes)).toEqual([180 * MB, 20 * MB, 12 * MB, 0.4 * MB]);
    expect(n.bytes).toBeCloseTo(212.4 * MB, 0);
  });

  it('uses the stored tree: kept folders, libraries inside .piolibdeps, and "other" for what the kept children do not cover', () => {
    const kitchen = device('kitchen', { build_size_bytes: 212 * MB, build_size_breakdown: BREAKDOWN });
    const n = deviceNode(kitchen, new Map([['kitchen.yaml', KITCHEN_TREE]]));
    expect(n.children.map((c) => [c.name, c.bytes / MB])).toEqual([
      ['.pioenvs', 150],
      ['.piolibdeps', 40],
      ['src', 16],
      ['other', 6],
    ]);
    const libs = n.children.find((c) => c.name === '.piolibdeps') as MapNode;
    expect(libs.children.map((c) => [c.name, c.bytes / MB, c.colour])).toEqual([
      ['AsyncTCP', 20, 'c2'],
      ['ArduinoJson', 12, 'c2'],
      ['ESPAsyncWebServer', 7, 'c2'],
      ['other', 1, 'c2'],
    ]);
    // 149 of .pioenvs's 150 MB are kept: 1 MB "other" inside it too.
    expect((n.children[0] as MapNode).children.map((c) => c.name)).toEqual(['kitchen', 'other']);
  });

  it('keeps the Build Size the table shows when the tree is from a slightly different walk', () => {
    const kitchen = device('kitchen', { build_size_bytes: 200 * MB });
    const n = deviceNode(kitchen, new Map([['kitchen.yaml', KITCHEN_TREE]]));
    expect(n.bytes).toBeCloseTo(200 * MB, 0);
    expect(n.children[0]?.bytes).toBeCloseTo((150 / 212) * 200 * MB, 0);
  });

  it('is a leaf, still zoomable, with neither tree nor breakdown; an empty stored tree falls back too', () => {
    const bare = device('bare', { build_size_bytes: 5 * MB });
    expect(deviceNode(bare).children).toEqual([]);
    expect(canZoom(deviceNode(bare))).toBe(true);
    expect(deviceNode(bare, new Map([['bare.yaml', node('bare', 5 * MB)]])).children).toEqual([]);
    expect(deviceNode(bare, new Map([['bare.yaml', null]])).children).toEqual([]);
  });
});

describe('layoutMap', () => {
  it('makes every tile proportional to its bytes within 1 % (here: to rounding error), at 1440 and 375 px', () => {
    const { root } = buildFleetMap(fleetInput());
    for (const width of [1400, 343]) {
      const height = mapHeight(width);
      const layout = layoutMap(root, width, height);
      expect(layout.tiles.length).toBeGreaterThan(3);
      for (const ratio of areaRatios(layout, width, height)) expect(ratio).toBeCloseTo(1, 6);
      // The tiles cover the box exactly once.
      const covered = layout.tiles.reduce((sum, t) => sum + (t.x1 - t.x0) * (t.y1 - t.y0), 0);
      expect(covered).toBeCloseTo(width * height, 3);
      for (const t of layout.tiles) {
        expect(t.x0).toBeGreaterThanOrEqual(-1e-9);
        expect(t.y0).toBeGreaterThanOrEqual(-1e-9);
        expect(t.x1).toBeLessThanOrEqual(width + 1e-9);
        expect(t.y1).toBeLessThanOrEqual(height + 1e-9);
      }
    }
  });

  it('draws two levels: the groups as regions with their items as tiles, shares of the node in view', () => {
    const { root } = buildFleetMap(fleetInput());
    const layout = layoutMap(root, 1400, 620);
    expect(layout.regions.map((r) => r.node.id)).toEqual(['group:platformio', 'group:devices', 'group:orphans']);
    const kitchen = layout.tiles.find((t) => t.node.id === 'device:kitchen.yaml');
    expect(kitchen?.depth).toBe(2);
    expect(kitchen?.top.id).toBe('group:devices');
    expect(kitchen?.share).toBeCloseTo(212 / (root.bytes / MB), 6);
    expect(layout.tiles.reduce((sum, t) => sum + t.share, 0)).toBeCloseTo(1, 9);
    // Biggest first, so keyboard order follows size within each region.
    const pio = layout.tiles.filter((t) => t.top.id === 'group:platformio').map((t) => t.node.name);
    expect(pio).toEqual(['packages', '.cache', 'platforms']);
  });

  it('merges tiles that would be too small at 375 px into one "N smaller items" tile, and lists them', () => {
    const many = Array.from({ length: 40 }, (_, i) => device(`d${i}`, { build_size_bytes: (i < 4 ? 400 : 2) * MB }));
    const input = { devices: many, orphans: [], platformio: null };
    const { root } = buildFleetMap(input);
    const phone = layoutMap(root, 343, mapHeight(343));
    const smaller = phone.tiles.filter((t) => t.node.kind === 'smaller');
    expect(smaller).toHaveLength(1);
    expect(smaller[0]?.node.name).toBe('36 smaller items');
    expect(smaller[0]?.node.bytes).toBe(36 * 2 * MB);
    expect(phone.merged).toHaveLength(36);
    for (const ratio of areaRatios(phone, 343, mapHeight(343))) expect(ratio).toBeCloseTo(1, 6);
    // Every drawn tile but the merged one is at least the minimum size.
    for (const t of phone.tiles.filter((t) => t.node.kind !== 'smaller')) expect((t.x1 - t.x0) * (t.y1 - t.y0)).toBeGreaterThanOrEqual(1_300);
    // On a wide screen the same devices all get their own tile.
    const wide = layoutMap(root, 1400, mapHeight(1400), { minArea: 400 });
    expect(wide.tiles.filter((t) => t.node.kind === 'smaller')).toHaveLength(0);
    expect(wide.tiles).toHaveLength(40);
  });

  it('keeps a single small item as itself rather than a "1 smaller items" tile', () => {
    const parent: MapNode = {
      id: 'p',
      name: 'p',
      bytes: 101,
      kind: 'group',
      colour: 'c1',
      children: [
        { id: 'a', name: 'a', bytes: 100, kind: 'orphan', colour: 'c1', children: [] },
        { id: 'b', name: 'b', bytes: 1, kind: 'orphan', colour: 'c1', children: [] },
      ],
    };
    expect(mergeSmall(parent, 10).children.map((c) => c.id)).toEqual(['a', 'b']);
  });

  it('draws nothing for zero bytes or a zero-size box, and a leaf in view as one tile', () => {
    expect(layoutMap(buildFleetMap({ devices: [device('a')], orphans: [], platformio: null }).root, 800, 400).tiles).toEqual([]);
    const { root } = buildFleetMap(fleetInput());
    expect(layoutMap(root, 0, 400).tiles).toEqual([]);
    const bare = deviceNode(device('bare', { build_size_bytes: 5 * MB }));
    const layout = layoutMap(bare, 300, 200);
    expect(layout.tiles.map((t) => [t.node.id, t.x1 - t.x0, t.y1 - t.y0, t.share])).toEqual([['device:bare.yaml', 300, 200, 1]]);
  });

  it("inside a device: its folders, with .piolibdeps's libraries drawn inside it", () => {
    const trees = new Map([['kitchen.yaml', KITCHEN_TREE]]);
    const { root } = buildFleetMap(fleetInput({ trees }));
    const chain = resolvePath(root, ['group:devices', 'device:kitchen.yaml']);
    const view = chain[chain.length - 1] as MapNode;
    expect(view.name).toBe('Kitchen Light');
    const layout = layoutMap(view, 1400, 620);
    expect(layout.regions.map((r) => r.node.name)).toEqual(['.pioenvs', '.piolibdeps']);
    const libs = layout.tiles.filter((t) => t.top.name === '.piolibdeps').map((t) => t.node.name);
    expect(libs).toEqual(['AsyncTCP', 'ArduinoJson', 'ESPAsyncWebServer', 'other']);
    for (const ratio of areaRatios(layout, 1400, 620)) expect(ratio).toBeCloseTo(1, 6);
  });
});

describe('zoom paths', () => {
  it('resolves a path to the chain of nodes, cut where a node no longer exists', () => {
    const { root } = buildFleetMap(fleetInput());
    expect(resolvePath(root, []).map((n) => n.name)).toEqual(['Everything']);
    expect(resolvePath(root, ['group:devices', 'device:kitchen.yaml', 'device:kitchen.yaml/.pioenvs']).map((n) => n.name)).toEqual([
      'Everything',
      'Devices',
      'Kitchen Light',
      '.pioenvs',
    ]);
    // The device was deleted: back to its group.
    expect(resolvePath(root, ['group:devices', 'device:gone.yaml', 'device:gone.yaml/src']).map((n) => n.name)).toEqual(['Everything', 'Devices']);
    expect(pathTo(root, 'device:kitchen.yaml')).toEqual(['group:devices', 'device:kitchen.yaml']);
    expect(pathTo(root, 'nope')).toBeNull();
  });

  it('finds a merged "smaller items" node again from its id, with the same items', () => {
    const many = Array.from({ length: 30 }, (_, i) => device(`d${i}`, { build_size_bytes: (i < 3 ? 500 : 1) * MB }));
    const { root } = buildFleetMap({ devices: many, orphans: [], platformio: null });
    const layout = layoutMap(root, 343, mapHeight(343));
    const merged = layout.tiles.find((t) => t.node.kind === 'smaller');
    expect(merged).toBeDefined();
    const chain = resolvePath(root, [merged!.top.id, merged!.node.id]);
    const found = chain[chain.length - 1] as MapNode;
    expect(found.kind).toBe('smaller');
    expect(found.children.map((c) => c.id).sort()).toEqual(merged!.node.children.map((c) => c.id).sort());
    // Zoomed in, the merged devices get tiles of their own.
    const inside = layoutMap(found, 343, mapHeight(343));
    expect(inside.tiles.length).toBe(27);
  });
});

describe('arrow keys', () => {
  const grid = [
    { id: 'a', x0: 0, y0: 0, x1: 10, y1: 10 },
    { id: 'b', x0: 10, y0: 0, x1: 20, y1: 10 },
    { id: 'c', x0: 0, y0: 10, x1: 10, y1: 20 },
    { id: 'd', x0: 10, y0: 10, x1: 20, y1: 20 },
  ];
  const [a, b, c, d] = grid as [(typeof grid)[0], (typeof grid)[0], (typeof grid)[0], (typeof grid)[0]];
  it('moves to the nearest tile in the direction, and nowhere at the edge', () => {
    expect(neighbour(grid, a, 'right')).toBe(b);
    expect(neighbour(grid, a, 'down')).toBe(c);
    expect(neighbour(grid, d, 'left')).toBe(c);
    expect(neighbour(grid, d, 'up')).toBe(b);
    expect(neighbour(grid, a, 'left')).toBeNull();
    expect(neighbour(grid, a, 'up')).toBeNull();
  });
});

describe('words and facts', () => {
  it('formats shares', () => {
    expect(formatShare(0)).toBe('0 %');
    expect(formatShare(0.0004)).toBe('<0.1 %');
    expect(formatShare(0.0234)).toBe('2.3 %');
    expect(formatShare(0.456)).toBe('46 %');
    expect(formatShare(1)).toBe('100 %');
  });

  it('finds the last completed compile or install of a device, or null', () => {
    const jobs = [
      job('kitchen.yaml', { job_type: 'compile', status: 'completed', completed_at: 1000 }),
      job('kitchen.yaml', { job_type: 'install', status: 'completed', completed_at: 3000 }),
      job('kitchen.yaml', { job_type: 'compile', status: 'failed', completed_at: 5000 }),
      job('kitchen.yaml', { job_type: 'clean', status: 'completed', completed_at: 6000 }),
      job('office.yaml', { job_type: 'compile', status: 'completed', completed_at: 9000 }),
    ];
    expect(lastCompiled(jobs, 'kitchen.yaml')).toBe(3000);
    expect(lastCompiled(jobs, 'porch.yaml')).toBeNull();
    // The device's measured build_info.json time counts too (a compile made with the CLI), whichever is later.
    expect(lastCompiled(jobs, 'porch.yaml', 2500)).toBe(2500);
    expect(lastCompiled(jobs, 'kitchen.yaml', 2500)).toBe(3000);
    expect(lastCompiled(jobs, 'kitchen.yaml', 4000)).toBe(4000);
  });

  it('sizes the map for the width: landscape on wide screens, taller on phones', () => {
    expect(mapHeight(1400)).toBe(620);
    expect(mapHeight(343)).toBeGreaterThan(343);
    expect(mapHeight(343)).toBeLessThanOrEqual(560);
  });
});
