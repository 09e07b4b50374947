/**
 * The disk map as data: what is on it (every device's build folder, the
 * unused build folders, the PlatformIO cache parts, and inside a device its
 * biggest folders), where each tile goes, and which tiles are too small to
 * draw. Pure functions over the shared wire types, tested in Node; the
 * `<db-disk-map>` element only renders what these return.
 *
 * Why a treemap, laid out by d3-hierarchy's squarified algorithm: the
 * question is "where did my disk go", which is a comparison of areas, and
 * squarified rectangles keep tiles close to square so areas are easy to
 * compare and labels fit (a sunburst's arcs are harder to read and to
 * label at 375 px). The layout has no padding: every tile's area is exactly
 * proportional to its bytes (the page draws the gaps inside each tile with
 * a border), so "area is bytes" holds to the pixel and can be tested.
 *
 * Two levels are drawn at a time below the node in view (the groups and
 * their items; a device's top folders and what is inside them). Items whose
 * tile would be smaller than `minArea` square pixels are merged into one
 * "N smaller items" node of their parent: a phone gets fewer, larger tiles,
 * and the merged items stay reachable (zoom into that tile, or the list
 * below the map). Zero-byte items are left out (they have no area) and
 * counted.
 */
import { hierarchy, treemap, treemapSquarify, type HierarchyRectangularNode } from 'd3-hierarchy';
import type { BuildSizeBreakdown, Device } from '../../../src/shared/device.js';
import type { FirmwareJobSummary } from '../../../src/shared/jobs.js';
import type { OrphanBuild, PlatformioSummary } from '../../../src/shared/protocol.js';
import type { SizeTreeNode } from '../../../src/shared/size-history.js';
import { PLATFORMIO_PARTS, splitPath } from './storage-model.js';
import { displayName } from './table-model.js';

/** The chart tokens (`--chart-1`…`--chart-5`, classes `.c1`…`.c5` in `chartStyles`). */
export type ChartColour = 'c1' | 'c2' | 'c3' | 'c4' | 'c5';

export type MapGroup = 'devices' | 'orphans' | 'platformio';

/**
 * The three groups' colours, shared with the summary cards: devices' build
 * folders are the main blue, the unused folders (freed by a reset) the
 * second blue, PlatformIO's cache amber, as in the size bars.
 */
export const GROUP_COLOURS: Readonly<Record<MapGroup, ChartColour>> = { devices: 'c1', orphans: 'c2', platformio: 'c3' };

export const GROUP_LABELS: Readonly<Record<MapGroup, string>> = {
  devices: 'Devices',
  orphans: 'Unused build folders',
  platformio: 'PlatformIO cache',
};

/** A build folder's top parts, coloured as the drawer's breakdown bar colours them. */
const PART_COLOURS: Readonly<Record<string, ChartColour>> = { '.pioenvs': 'c1', '.piolibdeps': 'c2', src: 'c4' };

export type MapNodeKind = 'root' | 'group' | 'device' | 'orphan' | 'platformio' | 'folder' | 'other' | 'smaller';

export interface MapNode {
  /** Unique in the whole map; a zoom path is a list of these. */
  id: string;
  name: string;
  /** Apparent bytes; for a node with children, their sum (what the layout uses). */
  bytes: number;
  kind: MapNodeKind;
  colour: ChartColour;
  /** Set on a device's node and every node inside it. */
  configuration?: string;
  /** Files under a folder, when the walk counted them. */
  files?: number;
  /** A path for the tooltip (an unused folder's, a PlatformIO part's). */
  path?: string;
  children: MapNode[];
}

export interface FleetMapInput {
  devices: Iterable<Device>;
  orphans: readonly OrphanBuild[];
  platformio: PlatformioSummary | null;
  /** Devices' folder trees loaded so far (`devices/size_tree`); null = asked, none stored yet. */
  trees?: ReadonlyMap<string, SizeTreeNode | null>;
}

export interface FleetMap {
  root: MapNode;
  /** Devices with no build folder (or not measured yet): not on the map. */
  unmeasured: number;
}

export const ROOT_ID = 'all';

const positive = (bytes: number): number => (Number.isFinite(bytes) && bytes > 0 ? bytes : 0);

function parent(id: string, name: string, kind: MapNodeKind, colour: ChartColour, children: MapNode[], extra: Partial<MapNode> = {}): MapNode {
  return { id, name, kind, colour, children, bytes: children.reduce((sum, child) => sum + child.bytes, 0), ...extra };
}

const bySizeThenName = (a: MapNode, b: MapNode): number => b.bytes - a.bytes || a.name.localeCompare(b.name);

/**
 * A device's folders from its stored tree: each kept folder with its kept
 * sub-folders, and "other" for what the kept children of a folder do not
 * cover (the parent's bytes minus theirs). A folder with no kept children
 * is a leaf of its own bytes.
 */
export function treeChildren(tree: SizeTreeNode, configuration: string, idPrefix: string, colour: ChartColour | null): MapNode[] {
  const out: MapNode[] = [];
  let covered = 0;
  for (const child of tree.children) {
    const bytes = positive(child.bytes);
    if (bytes === 0) continue;
    covered += bytes;
    const id = `${idPrefix}/${child.name}`;
    const own: ChartColour = colour ?? PART_COLOURS[child.name] ?? 'c5';
    const inner = child.children.length > 0 ? treeChildren(child, configuration, id, own) : [];
    const node: MapNode =
      inner.length > 0
        ? parent(id, child.name, 'folder', own, inner, { configuration, files: child.files })
        : { id, name: child.name, bytes, kind: 'folder', colour: own, configuration, files: child.files, children: [] };
    out.push(node);
  }
  const other = positive(tree.bytes) - covered;
  if (out.length > 0 && other > 0) {
    out.push({ id: `${idPrefix}/:other`, name: 'other', bytes: other, kind: 'other', colour: colour ?? 'c5', configuration, children: [] });
  }
  return out.sort(bySizeThenName);
}

/** A device's four parts from its breakdown, when no tree is stored yet. */
export function breakdownChildren(breakdown: BuildSizeBreakdown, configuration: string, idPrefix: string): MapNode[] {
  const parts: [string, number, MapNodeKind][] = [
    ['.pioenvs', breakdown.pioenvs, 'folder'],
    ['.piolibdeps', breakdown.piolibdeps, 'folder'],
    ['src', breakdown.src, 'folder'],
    ['other', breakdown.other, 'other'],
  ];
  return parts
    .filter(([, bytes]) => positive(bytes) > 0)
    .map(([name, bytes, kind]) => ({
      id: kind === 'other' ? `${idPrefix}/:other` : `${idPrefix}/${name}`,
      name,
      bytes: positive(bytes),
      kind,
      colour: PART_COLOURS[name] ?? 'c5',
      configuration,
      children: [],
    }))
    .sort(bySizeThenName);
}

/** Where a device node's children come from. */
export type DeviceDetail = 'tree' | 'breakdown' | 'none';

export function deviceDetail(device: Device, trees?: ReadonlyMap<string, SizeTreeNode | null>): DeviceDetail {
  const tree = trees?.get(device.configuration);
  if (tree && tree.children.length > 0) return 'tree';
  return device.build_size_breakdown ? 'breakdown' : 'none';
}

/**
 * One device's node: its Build Size, split into its folders (from the
 * stored tree when loaded, else the breakdown). The children are scaled to
 * the Build Size when they do not add up to it exactly (a tree from a
 * slightly older walk), so the device's tile keeps the size the table shows.
 */
export function deviceNode(device: Device, trees?: ReadonlyMap<string, SizeTreeNode | null>): MapNode {
  const id = `device:${device.configuration}`;
  const bytes = positive(device.build_size_bytes);
  const detail = deviceDetail(device, trees);
  const tree = trees?.get(device.configuration);
  let children: MapNode[] = [];
  if (detail === 'tree' && tree) children = treeChildren(tree, device.configuration, id, null);
  else if (detail === 'breakdown' && device.build_size_breakdown) children = breakdownChildren(device.build_size_breakdown, device.configuration, id);
  const sum = children.reduce((total, child) => total + child.bytes, 0);
  if (sum > 0 && bytes > 0 && sum !== bytes) children = children.map((child) => scaleNode(child, bytes / sum));
  return {
    id,
    name: displayName(device),
    bytes: children.length > 0 ? children.reduce((total, child) => total + child.bytes, 0) : bytes,
    kind: 'device',
    colour: GROUP_COLOURS.devices,
    configuration: device.configuration,
    path: device.build_path ?? undefined,
    children,
  };
}

function scaleNode(node: MapNode, factor: number): MapNode {
  const children = node.children.map((child) => scaleNode(child, factor));
  return { ...node, children, bytes: children.length > 0 ? children.reduce((sum, c) => sum + c.bytes, 0) : node.bytes * factor };
}

/** Everything the map shows: the three groups (empty ones left out) with their items, largest first. */
export function buildFleetMap(input: FleetMapInput): FleetMap {
  let unmeasured = 0;
  const devices: MapNode[] = [];
  for (const device of input.devices) {
    if (positive(device.build_size_bytes) === 0) {
      unmeasured++;
      continue;
    }
    devices.push(deviceNode(device, input.trees));
  }
  const orphans: MapNode[] = input.orphans
    .filter((orphan) => positive(orphan.build_size_bytes) > 0)
    .map((orphan) => ({
      id: `orphan:${orphan.build_path}`,
      name: splitPath(orphan.build_path).name,
      bytes: positive(orphan.build_size_bytes),
      kind: 'orphan' as const,
      colour: GROUP_COLOURS.orphans,
      path: orphan.build_path,
      children: [],
    }));
  const pio = input.platformio;
  const platformio: MapNode[] = pio
    ? PLATFORMIO_PARTS.filter(({ part }) => positive(pio.parts[part] ?? 0) > 0).map(({ part, label }) => ({
        id: `platformio:${part}`,
        name: label,
        bytes: positive(pio.parts[part] ?? 0),
        kind: 'platformio' as const,
        colour: GROUP_COLOURS.platformio,
        path: `${pio.path}/${part}`,
        children: [],
      }))
    : [];
  const groups: [MapGroup, MapNode[]][] = [
    ['devices', devices],
    ['orphans', orphans],
    ['platformio', platformio],
  ];
  const children = groups
    .filter(([, items]) => items.length > 0)
    .map(([group, items]) => parent(`group:${group}`, GROUP_LABELS[group], 'group', GROUP_COLOURS[group], items.sort(bySizeThenName)));
  return { root: parent(ROOT_ID, 'Everything', 'root', 'c4', children), unmeasured };
}

// ---- zoom -------------------------------------------------------------------

/**
 * The chain of nodes a zoom path names, from the root: the path is cut at
 * the first id that no longer exists (a device deleted, a folder gone from
 * a fresher tree), so the view falls back to the nearest ancestor.
 */
export function resolvePath(root: MapNode, path: readonly string[]): MapNode[] {
  const chain = [root];
  let at = root;
  for (const id of path) {
    const next = at.children.find((child) => child.id === id) ?? findSmaller(at, id);
    if (!next) break;
    chain.push(next);
    at = next;
  }
  return chain;
}

/**
 * A merged "smaller items" node is not in the tree: its id names its parent
 * and the size threshold it was merged at, so it is rebuilt from the
 * parent's current children.
 */
function findSmaller(at: MapNode, id: string): MapNode | undefined {
  const prefix = `${at.id}/:smaller:`;
  if (!id.startsWith(prefix)) return undefined;
  const minBytes = Number(id.slice(prefix.length));
  if (!Number.isFinite(minBytes)) return undefined;
  return mergeSmall(at, minBytes).children.find((child) => child.kind === 'smaller');
}

/** The path (ids below the root) that leads to a node, or null when it is not in the tree. */
export function pathTo(root: MapNode, id: string): string[] | null {
  if (root.id === id) return [];
  for (const child of root.children) {
    const below = pathTo(child, id);
    if (below) return [child.id, ...below];
  }
  return null;
}

/** Whether clicking a tile zooms into it (it has something inside, or it is a device whose tree may load). */
export function canZoom(node: MapNode): boolean {
  return node.children.length > 0 || node.kind === 'device';
}

// ---- layout -----------------------------------------------------------------

export interface Tile {
  node: MapNode;
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  /** 1: a child of the node in view; 2: a grandchild, drawn inside its parent's region. */
  depth: 1 | 2;
  /** The depth-1 node it belongs to (itself at depth 1). */
  top: MapNode;
  /** Of the node in view, 0..1. */
  share: number;
}

/** A depth-1 node whose children are drawn as tiles inside it. */
export interface Region {
  node: MapNode;
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  share: number;
}

export interface MapLayout {
  /** What is drawn, as buttons, biggest first. */
  tiles: Tile[];
  regions: Region[];
  /** Items merged into "smaller items" tiles, for the list below the map. */
  merged: MapNode[];
  /** The bytes in view (the node's, or its children's sum). */
  total: number;
}

export interface LayoutOptions {
  /** Smallest tile drawn, in square pixels; smaller items are merged. */
  minArea?: number;
  /** A depth-1 node shows its children inside only when its area is at least this many square pixels. */
  minRegionArea?: number;
}

/** About 44 × 30 px: room for a tap and a short label. */
export const MIN_TILE_AREA = 1_300;
export const MIN_REGION_AREA = 12_000;

function smallerNode(of: MapNode, items: MapNode[], minBytes: number): MapNode {
  return parent(`${of.id}/:smaller:${minBytes}`, `${items.length} smaller items`, 'smaller', items[0]?.colour ?? of.colour, items, {
    configuration: of.configuration,
  });
}

/**
 * A node's children with those below `minBytes` merged into one "smaller
 * items" node (only when at least two are small: one small item is drawn
 * as itself).
 */
export function mergeSmall(of: MapNode, minBytes: number): { children: MapNode[]; merged: MapNode[] } {
  // Whole bytes, so the threshold written into the merged node's id rebuilds the same set.
  minBytes = Math.round(minBytes);
  const big: MapNode[] = [];
  const small: MapNode[] = [];
  for (const child of of.children) {
    if (child.bytes <= 0) continue;
    (child.bytes < minBytes ? small : big).push(child);
  }
  if (small.length < 2) return { children: [...big, ...small], merged: [] };
  return { children: [...big, smallerNode(of, small, minBytes)], merged: small };
}

type Layoutable = MapNode & { layoutChildren?: Layoutable[] };

/**
 * Lays out the node in view over a `width` × `height` box: its children,
 * and inside each child big enough to hold them, the child's children.
 * Areas are exactly proportional to bytes (no padding, no rounding).
 */
export function layoutMap(view: MapNode, width: number, height: number, options: LayoutOptions = {}): MapLayout {
  const minArea = options.minArea ?? MIN_TILE_AREA;
  const minRegionArea = options.minRegionArea ?? MIN_REGION_AREA;
  const area = Math.max(0, width) * Math.max(0, height);
  const total = view.children.length > 0 ? view.children.reduce((sum, c) => sum + Math.max(0, c.bytes), 0) : Math.max(0, view.bytes);
  if (total <= 0 || area <= 0) return { tiles: [], regions: [], merged: [], total };
  const bytesPerPixel = total / area;
  const minBytes = minArea * bytesPerPixel;

  const merged: MapNode[] = [];
  let top: Layoutable[];
  if (view.children.length === 0) {
    top = [{ ...view }];
  } else {
    const level = mergeSmall(view, minBytes);
    merged.push(...level.merged);
    top = level.children.map((child) => {
      if (child.kind === 'smaller' || child.children.length === 0 || child.bytes < minRegionArea * bytesPerPixel) return { ...child };
      const inner = mergeSmall(child, minBytes);
      merged.push(...inner.merged);
      return { ...child, layoutChildren: inner.children.map((c) => ({ ...c })) };
    });
  }

  const rootDatum: Layoutable = { ...view, layoutChildren: top };
  const laid = treemap<Layoutable>().tile(treemapSquarify).size([width, height]).round(false)(
    hierarchy<Layoutable>(rootDatum, (d) => d.layoutChildren)
      .sum((d) => (d.layoutChildren && d.layoutChildren.length > 0 ? 0 : Math.max(0, d.bytes)))
      .sort((a, b) => (b.value ?? 0) - (a.value ?? 0)),
  );

  const tiles: Tile[] = [];
  const regions: Region[] = [];
  const strip = ({ layoutChildren: _, ...node }: Layoutable): MapNode => node;
  const share = (n: HierarchyRectangularNode<Layoutable>): number => (n.value ?? 0) / total;
  for (const first of laid.children ?? []) {
    const topNode = strip(first.data);
    if (first.children && first.children.length > 0) {
      regions.push({ node: topNode, x0: first.x0, y0: first.y0, x1: first.x1, y1: first.y1, share: share(first) });
      for (const second of first.children) {
        tiles.push({ node: strip(second.data), x0: second.x0, y0: second.y0, x1: second.x1, y1: second.y1, depth: 2, top: topNode, share: share(second) });
      }
    } else {
      tiles.push({ node: topNode, x0: first.x0, y0: first.y0, x1: first.x1, y1: first.y1, depth: 1, top: topNode, share: share(first) });
    }
  }
  return { tiles, regions, merged: merged.sort(bySizeThenName), total };
}

/** The map's height for a width: a landscape box on wide screens, taller on phones. */
export function mapHeight(width: number): number {
  if (width < 600) return Math.round(Math.min(560, Math.max(360, width * 1.3)));
  return Math.round(Math.min(620, Math.max(380, width * 0.5)));
}

// ---- keyboard ---------------------------------------------------------------

export type Direction = 'left' | 'right' | 'up' | 'down';

/**
 * The tile an arrow key moves to: the nearest tile whose centre lies in
 * that direction (distance along the direction counts, sideways distance
 * counts double), or null at the edge.
 */
export function neighbour<T extends { x0: number; y0: number; x1: number; y1: number }>(tiles: readonly T[], from: T, direction: Direction): T | null {
  const cx = (from.x0 + from.x1) / 2;
  const cy = (from.y0 + from.y1) / 2;
  let best: T | null = null;
  let bestScore = Infinity;
  for (const tile of tiles) {
    if (tile === from) continue;
    const dx = (tile.x0 + tile.x1) / 2 - cx;
    const dy = (tile.y0 + tile.y1) / 2 - cy;
    const along = direction === 'left' ? -dx : direction === 'right' ? dx : direction === 'up' ? -dy : dy;
    const across = direction === 'left' || direction === 'right' ? Math.abs(dy) : Math.abs(dx);
    if (along <= 0.5) continue;
    const score = along + across * 2;
    if (score < bestScore) {
      bestScore = score;
      best = tile;
    }
  }
  return best;
}

// ---- a device's facts -------------------------------------------------------

/**
 * When a device was last compiled, as far as the page knows (unix seconds):
 * the later of the device's `last_compiled` (its build_info.json as last
 * measured, so compiles made with the CLI or the Python tool count) and the
 * latest compile or install job that completed here; null when neither.
 */
export function lastCompiled(jobs: Iterable<FirmwareJobSummary>, configuration: string, measured: number | null = null): number | null {
  // `measured`: the device's `last_compiled` (its build_info.json as last walked), which also sees compiles made elsewhere.
  let latest: number | null = measured;
  for (const job of jobs) {
    if (job.configuration !== configuration || job.status !== 'completed') continue;
    if (job.job_type !== 'compile' && job.job_type !== 'install') continue;
    const at = job.completed_at;
    if (at !== null && Number.isFinite(at) && (latest === null || at > latest)) latest = at;
  }
  return latest;
}

// ---- words ------------------------------------------------------------------

/** "23.1 %", "4 %", "<0.1 %". */
export function formatShare(share: number): string {
  const percent = share * 100;
  if (!(percent > 0)) return '0 %';
  if (percent < 0.1) return '<0.1 %';
  if (percent < 10) return `${percent.toFixed(1)} %`;
  return `${Math.round(percent)} %`;
}

/** What a zoomed-in view's shares are "of": everything, or the node's name. */
export function shareOf(view: MapNode): string {
  return view.kind === 'root' ? 'everything' : view.name;
}
