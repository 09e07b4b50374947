/**
 * `<db-disk-map>`: the "Disk map" view. A treemap of everything under the
 * data dir we size (devices' build folders, unused build folders, the
 * PlatformIO cache parts), area ∝ bytes, two levels at a time; click (or
 * Enter/Space) zooms into a tile, breadcrumbs, Escape and Backspace zoom
 * out. Inside a device: its biggest folders from `devices/size_tree` (asked
 * for when the device is zoomed into, again when its size changed), or its
 * breakdown while no tree is stored; with what cleaning frees, the drawer's
 * Clean, and its details.
 *
 * What is drawn comes from `state/disk-map-model.ts` (hierarchy, layout,
 * merging of small tiles, arrow-key moves); this file is rendering and
 * interaction. Tiles are absolutely positioned buttons (percentages of the
 * map's box, so a resize scales them until the layout is recomputed for
 * the new width); a border inside each draws the gaps, so each button's box
 * is exactly its share of the area. One tile is in the tab order (roving
 * tabindex); arrows move between tiles by position, Home/End to the
 * largest/smallest. The tile under the pointer or focus is described in
 * the info line; each tile's aria-label has name, size and share.
 *
 * Escape zooms out and is consumed while zoomed in; at the top it is left
 * to the page (which closes the view).
 */
import { css, html, LitElement, nothing, type PropertyValues } from 'lit';
import type { Device } from '../../../src/shared/device.js';
import { formatBytes } from '../../../src/shared/format.js';
import type { SizeTreeNode } from '../../../src/shared/size-history.js';
import { messageOf, plural } from '../state/actions.js';
import type { AppContext } from '../state/context.js';
import {
  buildFleetMap,
  canZoom,
  deviceDetail,
  formatShare,
  GROUP_COLOURS,
  GROUP_LABELS,
  lastCompiled,
  layoutMap,
  mapHeight,
  neighbour,
  resolvePath,
  shareOf,
  type Direction,
  type MapGroup,
  type MapLayout,
  type MapNode,
  type Tile,
} from '../state/disk-map-model.js';
import { StoreController } from '../state/store.js';
import { isActiveJob, latestJobs } from '../state/table-model.js';
import { icon } from '../ui/icons.js';
import { baseStyles, chartStyles, panelStyles } from '../ui/styles.js';
import { formatTime } from './size-chart.js';

/** The width laid out before the element could measure itself (and in a DOM without layout). */
const FALLBACK_WIDTH = 960;

const ARROWS: Record<string, Direction> = { ArrowLeft: 'left', ArrowRight: 'right', ArrowUp: 'up', ArrowDown: 'down' };

interface TreeEntry {
  /** The device's Build Size when asked: a different size means the tree is stale. */
  bytes: number;
  tree: SizeTreeNode | null;
  error: string | null;
  loading: boolean;
}

export class DiskMapElement extends LitElement {
  static override properties = {
    ctx: { attribute: false },
    path: { state: true },
    width: { state: true },
    pointed: { state: true },
    activeId: { state: true },
    treesVersion: { state: true },
  };
  declare ctx: AppContext | undefined;
  /** Ids from the root to the node in view. */
  declare path: readonly string[];
  /** The map's laid-out width in CSS pixels (measured). */
  declare width: number;
  /** The tile under the pointer or focus (its node id), described in the info line. */
  declare pointed: string | null;
  /** The tile in the tab order. */
  declare activeId: string | null;
  declare treesVersion: number;

  private readonly storeController = new StoreController(this, () => this.ctx?.store);
  private readonly trees = new Map<string, TreeEntry>();
  private resizeObserver: ResizeObserver | null = null;
  /** Set by a zoom: which tile gets focus once the new level is drawn (null: the first). */
  private focusAfterRender: { ids: readonly string[] } | null = null;
  /**
   * The deepest path zoomed out of, while the view is still on it: zooming
   * out twice (device → Devices → Everything) puts focus back on the
   * device's tile, not on the first tile of its group.
   */
  private trail: readonly string[] = [];
  private memo: { key: string; root: MapNode; unmeasured: number } | null = null;

  constructor() {
    super();
    this.path = [];
    this.width = FALLBACK_WIDTH;
    this.pointed = null;
    this.activeId = null;
    this.treesVersion = 0;
  }

  static override styles = [
    baseStyles,
    panelStyles,
    chartStyles,
    css`
      :host {
        display: block;
        min-width: 0;
      }
      .panel-head h2 {
        outline: none;
      }
      .body {
        padding: 12px 16px 16px;
      }
      nav ol {
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        gap: 2px;
        margin: 0 0 10px;
        padding: 0;
        list-style: none;
        font-size: 13.5px;
      }
      nav li {
        display: flex;
        align-items: center;
        min-width: 0;
      }
      nav li + li::before {
        content: '›';
        padding: 0 4px;
        color: var(--text-3);
      }
      .crumb {
        max-width: 220px;
        padding: 3px 6px;
        border: none;
        border-radius: 6px;
        background: none;
        color: var(--accent);
        font: inherit;
        font-weight: 550;
        cursor: pointer;
        overflow: hidden;
        text-overflow: ellipsis;
        white-space: nowrap;
      }
      .crumb:hover {
        background: var(--surface-hover);
      }
      .crumb[aria-current] {
        color: var(--text);
        cursor: default;
      }
      .legend {
        display: flex;
        flex-wrap: wrap;
        gap: 4px 14px;
        margin: 0 0 10px;
        padding: 0;
        list-style: none;
        font-size: 13px;
      }
      .legend button {
        display: inline-flex;
        align-items: center;
        gap: 6px;
        padding: 2px 4px;
        border: none;
        border-radius: 6px;
        background: none;
        color: var(--text);
        font: inherit;
        cursor: pointer;
      }
      .legend button:hover {
        background: var(--surface-hover);
      }
      .legend .num {
        color: var(--text-2);
      }
      .info {
        min-height: 22px;
        margin: 0 0 8px;
        font-size: 13px;
        color: var(--text-2);
        overflow: hidden;
        text-overflow: ellipsis;
        white-space: nowrap;
      }
      .info strong {
        color: var(--text);
        font-weight: 650;
      }
      /*
       * No transitions on the map's boxes: the page's reduced-motion rule gives
       * every element a 0.01 ms transition-duration, and with the default
       * transition-property (all) each re-layout (a zoom, the folder tree
       * arriving, a new width) would become a transition; until it starts,
       * Chromium keeps the old geometry for a frame or more, so tiles would be
       * drawn, hit-tested and measured where the previous level had them.
       */
      .map,
      .tile,
      .region {
        transition: none;
      }
      .map {
        position: relative;
        width: 100%;
        border-radius: var(--radius-s);
        overflow: hidden;
        background: var(--surface-2);
        contain: layout paint;
      }
      .tile {
        position: absolute;
        display: flex;
        flex-direction: column;
        align-items: flex-start;
        justify-content: flex-start;
        gap: 1px;
        margin: 0;
        padding: 4px 6px;
        border: none;
        /* The gap between tiles, drawn inside: a border or padding would grow a sliver past its share. */
        box-shadow: inset 0 0 0 1px var(--surface);
        border-radius: 4px;
        background: color-mix(in srgb, var(--tile) 26%, var(--surface));
        color: var(--text);
        font: inherit;
        font-size: 12.5px;
        line-height: 1.25;
        text-align: left;
        overflow: hidden;
        cursor: default;
      }
      .tile.zoom {
        cursor: zoom-in;
      }
      .tile:hover,
      .tile.pointed {
        background: color-mix(in srgb, var(--tile) 42%, var(--surface));
      }
      .tile:focus-visible {
        z-index: 2;
        outline: 3px solid var(--accent);
        outline-offset: -3px;
      }
      .tile::before {
        content: '';
        position: absolute;
        inset: 0 0 auto;
        height: 3px;
        background: var(--tile);
      }
      .tile.depth-2::before {
        height: 2px;
        opacity: 0.7;
      }
      .tile.bare {
        padding: 0;
      }
      .tile.tagged {
        padding-top: 20px;
      }
      .tile .name {
        max-width: 100%;
        font-weight: 600;
        overflow: hidden;
        text-overflow: ellipsis;
        white-space: nowrap;
      }
      .tile .size {
        max-width: 100%;
        color: var(--text-2);
        font-variant-numeric: tabular-nums;
        white-space: nowrap;
        overflow: hidden;
        text-overflow: ellipsis;
      }
      .tile.smaller {
        background: repeating-linear-gradient(
          135deg,
          color-mix(in srgb, var(--tile) 18%, var(--surface)) 0 6px,
          color-mix(in srgb, var(--tile) 28%, var(--surface)) 6px 12px
        );
      }
      .region {
        position: absolute;
        pointer-events: none;
        border: 2px solid var(--surface);
        border-radius: 6px;
        z-index: 1;
      }
      .region .tag {
        position: absolute;
        top: 2px;
        left: 4px;
        max-width: calc(100% - 8px);
        padding: 0 5px;
        border-radius: 4px;
        background: color-mix(in srgb, var(--surface) 80%, transparent);
        color: var(--text);
        font-size: 11.5px;
        font-weight: 650;
        line-height: 16px;
        overflow: hidden;
        text-overflow: ellipsis;
        white-space: nowrap;
      }
      .c1 {
        --tile: var(--chart-1);
      }
      .c2 {
        --tile: var(--chart-2);
      }
      .c3 {
        --tile: var(--chart-3);
      }
      .c4 {
        --tile: var(--chart-4);
      }
      .c5 {
        --tile: var(--chart-5);
      }
      .device-panel {
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        gap: 8px 16px;
        margin: 0 0 10px;
        padding: 10px 12px;
        border: 1px solid var(--border);
        border-radius: var(--radius-s);
        background: var(--surface-2);
        font-size: 13px;
      }
      .device-panel .facts {
        display: flex;
        flex-wrap: wrap;
        gap: 2px 14px;
        flex: 1 1 220px;
        min-width: 0;
        color: var(--text-2);
      }
      .device-panel .facts strong {
        color: var(--text);
        font-weight: 650;
        font-variant-numeric: tabular-nums;
      }
      .device-panel .actions {
        display: flex;
        gap: 8px;
      }
      .note {
        margin: 10px 0 0;
        font-size: 13px;
        color: var(--text-2);
      }
      .smaller-list {
        margin: 10px 0 0;
        padding: 0;
        list-style: none;
        font-size: 13px;
        columns: 2 260px;
        column-gap: 24px;
      }
      .smaller-list li {
        display: flex;
        gap: 8px;
        justify-content: space-between;
        padding: 3px 0;
        break-inside: avoid;
        border-bottom: 1px solid var(--border);
      }
      .smaller-list .what {
        min-width: 0;
        overflow: hidden;
        text-overflow: ellipsis;
        white-space: nowrap;
      }
      .smaller-list button {
        padding: 0;
        border: none;
        background: none;
        color: var(--accent);
        font: inherit;
        cursor: pointer;
      }
      .empty {
        margin: 0;
        padding: 28px 8px;
        text-align: center;
        color: var(--text-2);
      }
      @media (max-width: 520px) {
        .body {
          padding: 10px 10px 14px;
        }
        .device-panel .actions {
          flex: 1 1 100%;
        }
        .device-panel .actions .btn {
          flex: 1;
        }
      }
    `,
  ];

  override connectedCallback(): void {
    super.connectedCallback();
    this.addEventListener('keydown', this.onKeydown);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.removeEventListener('keydown', this.onKeydown);
    this.resizeObserver?.disconnect();
    this.resizeObserver = null;
  }

  override firstUpdated(): void {
    const box = this.renderRoot.querySelector<HTMLElement>('.body');
    if (!box) return;
    const measure = (): void => {
      const map = this.renderRoot.querySelector<HTMLElement>('.map') ?? box;
      const width = Math.floor(map.clientWidth);
      if (width > 0 && width !== this.width) this.width = width;
    };
    measure();
    if (typeof ResizeObserver === 'function') {
      this.resizeObserver = new ResizeObserver(measure);
      this.resizeObserver.observe(box);
    }
  }

  override updated(changed: PropertyValues<this>): void {
    if (changed.has('ctx')) this.storeController.attach();
    this.loadTreeInView();
    if (this.focusAfterRender) {
      const { ids } = this.focusAfterRender;
      this.focusAfterRender = null;
      const tiles = [...this.renderRoot.querySelectorAll<HTMLButtonElement>('.tile')];
      const byId = (id: string) => tiles.find((t) => t.dataset['id'] === id);
      const inRegion = (id: string) => tiles.find((t) => t.dataset['top'] === id);
      let target: HTMLButtonElement | undefined;
      for (const id of ids) target ??= byId(id);
      for (const id of ids) target ??= inRegion(id);
      target ??= tiles[0];
      target?.focus();
    }
  }

  // ---- data ------------------------------------------------------------------

  private get fleet(): { root: MapNode; unmeasured: number } {
    const store = this.ctx?.store;
    if (!store) return { root: buildFleetMap({ devices: [], orphans: [], platformio: null }).root, unmeasured: 0 };
    const key = `${store.devicesRevision}:${store.storageRevision}:${this.treesVersion}`;
    if (this.memo?.key !== key) {
      const trees = new Map<string, SizeTreeNode | null>();
      for (const [configuration, entry] of this.trees) trees.set(configuration, entry.tree);
      const built = buildFleetMap({ devices: store.devices.values(), orphans: store.orphans, platformio: store.platformio, trees });
      this.memo = { key, ...built };
    }
    return this.memo;
  }

  private get chain(): MapNode[] {
    return resolvePath(this.fleet.root, this.path);
  }

  /** The device the view is in (zoomed into it or into one of its folders), if any. */
  private deviceInView(chain: MapNode[]): Device | null {
    const node = chain.find((n) => n.kind === 'device');
    return node?.configuration ? (this.ctx?.store.devices.get(node.configuration) ?? null) : null;
  }

  /** Asks for the device-in-view's tree when none was asked for its current size. */
  private loadTreeInView(): void {
    const device = this.deviceInView(this.chain);
    if (!device || !this.ctx) return;
    const entry = this.trees.get(device.configuration);
    if (entry && (entry.loading || entry.bytes === device.build_size_bytes)) return;
    void this.loadTree(device);
  }

  private async loadTree(device: Device): Promise<void> {
    const client = this.ctx?.client;
    if (!client) return;
    const configuration = device.configuration;
    const previous = this.trees.get(configuration);
    this.trees.set(configuration, { bytes: device.build_size_bytes, tree: previous?.tree ?? null, error: null, loading: true });
    this.treesVersion++;
    let entry: TreeEntry;
    try {
      const tree = await client.request('devices/size_tree', { configuration });
      entry = { bytes: device.build_size_bytes, tree, error: null, loading: false };
    } catch (err) {
      entry = { bytes: device.build_size_bytes, tree: previous?.tree ?? null, error: messageOf(err), loading: false };
    }
    this.trees.set(configuration, entry);
    this.treesVersion++;
  }

  // ---- zoom ------------------------------------------------------------------

  /** Moves focus to the view's heading (for the page, when it opens the view). */
  reveal(): void {
    this.renderRoot.querySelector<HTMLElement>('h2')?.focus({ preventScroll: true });
  }

  /** Shows everything again. */
  reset(): void {
    this.path = [];
    this.pointed = null;
  }

  /** Zooms into one device (from elsewhere on the page). */
  zoomToDevice(configuration: string): void {
    this.path = ['group:devices', `device:${configuration}`];
    this.focusAfterRender = { ids: [] };
  }

  /**
   * A click on a tile zooms into it; on a tile that holds nothing more,
   * drawn inside a region (a folder of a device, a library), into that
   * region.
   */
  private zoomInto(tile: Tile): void {
    const base = this.chain.slice(1).map((n) => n.id);
    if (canZoom(tile.node)) this.path = tile.depth === 2 ? [...base, tile.top.id, tile.node.id] : [...base, tile.node.id];
    else if (tile.depth === 2) this.path = [...base, tile.top.id];
    else return;
    this.pointed = null;
    this.activeId = null;
    this.focusAfterRender = { ids: [] };
  }

  private zoomIntoGroup(group: MapNode): void {
    this.path = [group.id];
    this.pointed = null;
    this.activeId = null;
    this.focusAfterRender = { ids: [] };
  }

  private zoomTo(depth: number): void {
    const chain = this.chain;
    if (depth >= chain.length - 1) return;
    const current = chain.slice(1).map((n) => n.id);
    const trail = this.trail.length > current.length && current.every((id, i) => this.trail[i] === id) ? this.trail : current;
    this.trail = trail;
    this.path = current.slice(0, depth);
    this.pointed = null;
    this.activeId = null;
    // Back on a level above, focus lands on the tile zoomed out of (or the first tile of its region).
    this.focusAfterRender = { ids: trail.slice(depth) };
  }

  /** One level up; false when already at the top. */
  zoomOut(): boolean {
    const depth = this.chain.length - 1;
    if (depth === 0) return false;
    this.zoomTo(depth - 1);
    return true;
  }

  private readonly onKeydown = (event: KeyboardEvent): void => {
    const target = event.composedPath()[0];
    if (target instanceof HTMLElement && (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA')) return;
    if (event.key === 'Escape' || event.key === 'Backspace') {
      if (this.zoomOut()) {
        event.preventDefault();
        event.stopPropagation();
      }
    }
  };

  private onMapKeydown(event: KeyboardEvent, layout: MapLayout): void {
    const current = event.target instanceof HTMLElement ? event.target.closest<HTMLElement>('.tile') : null;
    const from = layout.tiles.find((t) => t.node.id === current?.dataset['id']);
    if (!from) return;
    let to: Tile | null = null;
    const direction = ARROWS[event.key];
    if (direction) to = neighbour(layout.tiles, from, direction);
    else if (event.key === 'Home') to = layout.tiles[0] ?? null;
    else if (event.key === 'End') to = layout.tiles[layout.tiles.length - 1] ?? null;
    else return;
    event.preventDefault();
    if (!to) return;
    this.activeId = to.node.id;
    this.renderRoot.querySelector<HTMLElement>(`.tile[data-id="${CSS.escape(to.node.id)}"]`)?.focus();
  }

  private onPoint(event: Event): void {
    const tile = event.target instanceof HTMLElement ? event.target.closest<HTMLElement>('.tile') : null;
    const id = tile?.dataset['id'] ?? null;
    if (id !== this.pointed) this.pointed = id;
    if (event.type === 'focusin' && id) this.activeId = id;
  }

  private async clean(device: Device): Promise<void> {
    await this.ctx?.actions.startJob('clean', device.configuration);
  }

  // ---- rendering -------------------------------------------------------------

  private describe(node: MapNode, share: number, view: MapNode, top: MapNode | null): string {
    const where = top && top.id !== node.id && top.kind !== 'group' ? ` in ${top.name}` : '';
    return `${node.name}${where}, ${formatBytes(node.bytes)}, ${formatShare(share)} of ${shareOf(view)}`;
  }

  private renderCrumbs(chain: MapNode[]) {
    return html`<nav aria-label="Zoom level">
      <ol data-testid="breadcrumbs">
        ${chain.map((node, depth) => {
          const last = depth === chain.length - 1;
          return html`<li>
            <button
              class="crumb"
              aria-current=${last ? 'location' : nothing}
              title=${last ? node.name : `Zoom out to ${node.name}`}
              @click=${() => this.zoomTo(depth)}
            >
              ${node.name}
            </button>
          </li>`;
        })}
      </ol>
    </nav>`;
  }

  private renderLegend(root: MapNode) {
    return html`<ul class="legend" data-testid="map-legend">
      ${root.children.map((group) => {
        const name = group.id.slice('group:'.length) as MapGroup;
        return html`<li data-group=${name} data-count=${group.children.length} data-bytes=${group.bytes}>
          <button title="Zoom into ${group.name}" @click=${() => this.zoomIntoGroup(group)}>
            <span class="swatch ${GROUP_COLOURS[name]}"></span>${GROUP_LABELS[name]}
            <span class="num" data-bytes=${group.bytes}>${formatBytes(group.bytes)}</span>
          </button>
        </li>`;
      })}
    </ul>`;
  }

  private renderDevice(device: Device, root: MapNode) {
    const store = this.ctx?.store;
    const job = store ? latestJobs(store.jobs.values()).get(device.configuration) : undefined;
    const active = isActiveJob(job);
    const compiled = store ? lastCompiled(store.jobs.values(), device.configuration, device.last_compiled) : device.last_compiled;
    const cleanable = device.build_size_breakdown?.cleanable ?? null;
    const share = root.bytes > 0 ? device.build_size_bytes / root.bytes : 0;
    return html`<div class="device-panel" data-testid="map-device" data-configuration=${device.configuration}>
      <div class="facts">
        <span><strong data-bytes=${device.build_size_bytes}>${formatBytes(device.build_size_bytes)}</strong> · ${formatShare(share)} of everything</span>
        <span data-testid="map-last-compile">Last compile: ${compiled !== null ? html`<strong>${formatTime(compiled)}</strong>` : 'not known'}</span>
        <span data-testid="map-clean-frees"
          >${
            cleanable === null
              ? 'What cleaning frees: not measured yet'
              : cleanable > 0
                ? html`Clean frees <strong data-bytes=${cleanable}>${formatBytes(cleanable)}</strong>`
                : 'Nothing to clean'
          }</span
        >
      </div>
      <div class="actions">
        <button
          class="btn"
          data-testid="map-clean"
          ?disabled=${active || device.build_size_bytes <= 0}
          title=${active ? 'Unavailable while a job runs for this device' : cleanable ? `Delete the build files (frees ${formatBytes(cleanable)})` : 'Delete the build files'}
          @click=${() => void this.clean(device)}
        >
          ${icon('broom')} Clean
        </button>
        <button class="btn" data-testid="map-open-device" @click=${() => this.ctx?.ui.openDevice(device.configuration)}>${icon('info')} Details</button>
      </div>
    </div>`;
  }

  private renderInfo(layout: MapLayout, view: MapNode) {
    const tile = layout.tiles.find((t) => t.node.id === this.pointed);
    if (!tile) {
      return html`<p class="info" aria-hidden="true" data-testid="map-info">
        <strong>${view.name}</strong> · ${formatBytes(layout.total)} · point at or focus a tile for details
      </p>`;
    }
    const node = tile.node;
    const store = this.ctx?.store;
    let extra = '';
    if (node.kind === 'device' && node.configuration && store) {
      const device = store.devices.get(node.configuration);
      const compiled = lastCompiled(store.jobs.values(), node.configuration, device?.last_compiled ?? null);
      extra = ` · last compile ${compiled !== null ? formatTime(compiled) : 'not known'}`;
      if (device?.build_size_breakdown) extra += ` · clean frees ${formatBytes(device.build_size_breakdown.cleanable)}`;
    } else if (node.kind === 'smaller') {
      extra = ' · zoom in to see them';
    } else if (node.files !== undefined) {
      extra = ` · ${plural(node.files, 'file')}`;
    }
    return html`<p class="info" aria-hidden="true" data-testid="map-info" title=${node.path ?? node.name}>
      <strong>${node.name}</strong> · ${formatBytes(node.bytes)} · ${formatShare(tile.share)} of ${shareOf(view)}${extra}
    </p>`;
  }

  private renderTile(tile: Tile, layout: MapLayout, view: MapNode, width: number, height: number, tabbable: string | undefined, regions: MapLayout['regions']) {
    const node = tile.node;
    const w = tile.x1 - tile.x0;
    const h = tile.y1 - tile.y0;
    const pct = (v: number, of: number) => `${((v / of) * 100).toFixed(4)}%`;
    const style = `left:${pct(tile.x0, width)};top:${pct(tile.y0, height)};width:${pct(w, width)};height:${pct(h, height)}`;
    const tagged = tile.depth === 2 && regions.some((r) => r.node.id === tile.top.id && r.x0 === tile.x0 && r.y0 === tile.y0) && h >= 40;
    const zoom = canZoom(node) || tile.depth === 2;
    const label = this.describe(node, tile.share, view, tile.depth === 2 ? tile.top : null);
    const classes = [
      'tile',
      node.colour,
      `depth-${tile.depth}`,
      node.kind,
      zoom ? 'zoom' : '',
      tagged ? 'tagged' : '',
      w < 36 || (tagged ? h - 16 : h) < 18 ? 'bare' : '',
      this.pointed === node.id ? 'pointed' : '',
    ]
      .filter(Boolean)
      .join(' ');
    const room = tagged ? h - 16 : h;
    return html`<button
      class=${classes}
      style=${style}
      data-id=${node.id}
      data-kind=${node.kind}
      data-top=${tile.top.id}
      data-bytes=${node.bytes}
      data-configuration=${node.kind === 'device' ? (node.configuration ?? nothing) : nothing}
      tabindex=${node.id === tabbable ? '0' : '-1'}
      aria-label=${canZoom(node) ? `${label}. Zoom in` : zoom ? `${label}. Zoom into ${tile.top.name}` : label}
      @click=${() => this.zoomInto(tile)}
    >
      ${w >= 36 && room >= 18 ? html`<span class="name" aria-hidden="true">${node.name}</span>` : nothing}
      ${w >= 52 && room >= 34 ? html`<span class="size" aria-hidden="true">${formatBytes(node.bytes)} · ${formatShare(tile.share)}</span>` : nothing}
    </button>`;
  }

  private renderMap(layout: MapLayout, view: MapNode, width: number, height: number) {
    if (layout.tiles.length === 0) {
      return html`<p class="empty" data-testid="map-empty">Nothing measured yet: build folders appear here once they have been sized.</p>`;
    }
    const tabbable = layout.tiles.some((t) => t.node.id === this.activeId) ? (this.activeId ?? undefined) : layout.tiles[0]?.node.id;
    const pct = (v: number, of: number) => `${((v / of) * 100).toFixed(4)}%`;
    return html`<div
      class="map"
      role="group"
      aria-label=${`Disk map of ${view.name}: ${formatBytes(layout.total)}. Arrow keys move between tiles, Enter zooms in, Escape zooms out.`}
      data-testid="disk-map"
      data-total=${layout.total}
      style="height: ${height}px"
      @keydown=${(e: KeyboardEvent) => this.onMapKeydown(e, layout)}
      @mouseover=${this.onPoint}
      @focusin=${this.onPoint}
      @mouseleave=${() => (this.pointed = null)}
    >
      ${layout.tiles.map((tile) => this.renderTile(tile, layout, view, width, height, tabbable, layout.regions))}
      ${layout.regions.map(
        (r) =>
          html`<div
            class="region"
            aria-hidden="true"
            data-id=${r.node.id}
            style="left:${pct(r.x0, width)};top:${pct(r.y0, height)};width:${pct(r.x1 - r.x0, width)};height:${pct(r.y1 - r.y0, height)}"
          >
            ${r.y1 - r.y0 >= 40 && r.x1 - r.x0 >= 60 ? html`<span class="tag">${r.node.name}</span>` : nothing}
          </div>`,
      )}
    </div>`;
  }

  private renderMerged(layout: MapLayout) {
    if (layout.merged.length === 0) return nothing;
    return html`<p class="note">Too small to draw here (also in the striped tiles):</p>
      <ul class="smaller-list" data-testid="map-smaller">
        ${layout.merged.map(
          (node) => html`<li data-id=${node.id} data-kind=${node.kind} data-bytes=${node.bytes}>
            <span class="what">
              ${
                node.kind === 'device' && node.configuration
                  ? html`<button @click=${() => this.zoomToDevice(node.configuration ?? '')}>${node.name}</button>`
                  : node.name
              }
            </span>
            <span class="num" data-bytes=${node.bytes}>${formatBytes(node.bytes)}</span>
          </li>`,
        )}
      </ul>`;
  }

  private renderSource(device: Device) {
    const entry = this.trees.get(device.configuration);
    const detail = deviceDetail(device, new Map(entry ? [[device.configuration, entry.tree]] : []));
    let text: string;
    if (entry?.loading && detail !== 'tree') text = 'Loading the folder tree…';
    else if (detail === 'tree') text = 'Folders of at least 1 % of the device, from its last measurement.';
    else if (detail === 'breakdown')
      text = entry?.error
        ? `Top folders only (the folder tree could not be read: ${entry.error}).`
        : 'Top folders only: the folder tree is stored from the next measurement on.';
    else text = 'Not broken down yet: the next measurement will tell.';
    return html`<p class="note" data-testid="map-source" data-source=${detail}>${text}</p>`;
  }

  override render() {
    const { root, unmeasured } = this.fleet;
    const chain = this.chain;
    const view = chain[chain.length - 1] ?? root;
    const width = Math.max(1, this.width);
    const height = mapHeight(width);
    const layout = layoutMap(view, width, height);
    const device = this.deviceInView(chain);
    return html`<section class="panel" aria-labelledby="disk-map-title" data-testid="disk-map-view">
      <div class="panel-head">
        <span class="panel-badge">${icon('folder')}</span>
        <div class="panel-title">
          <h2 id="disk-map-title" tabindex="-1">Disk map</h2>
          <p>Everything we size in the data folder; area is bytes. Click a tile to zoom in.</p>
        </div>
        <div class="panel-figure">
          <div class="value" data-testid="map-total" data-bytes=${root.bytes}>${formatBytes(root.bytes)}</div>
          <div class="caption">${unmeasured > 0 ? `${plural(unmeasured, 'device')} not on the map` : 'in all'}</div>
        </div>
      </div>
      <div class="body">
        ${this.renderCrumbs(chain)} ${view.kind === 'root' ? this.renderLegend(root) : nothing} ${device ? this.renderDevice(device, root) : nothing}
        ${this.renderInfo(layout, view)} ${this.renderMap(layout, view, width, height)} ${device ? this.renderSource(device) : nothing}
        ${this.renderMerged(layout)}
      </div>
    </section>`;
  }
}

customElements.define('db-disk-map', DiskMapElement);
declare global {
  interface HTMLElementTagNameMap {
    'db-disk-map': DiskMapElement;
  }
}
