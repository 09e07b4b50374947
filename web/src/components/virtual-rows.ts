/**
 * Virtual scrolling for a table whose rows all have one height, as a Lit
 * `ReactiveController`: past a threshold only the rows near the viewport
 * are rendered, and two spacer rows (`<tr class="spacer">`, aria-hidden)
 * stand in for the rest, so 1,000 devices sort and scroll like 50.
 *
 * Why a controller and not `@lit-labs/virtualizer`: the virtualizer lays out
 * its children itself (absolutely positioned inside its own scroller or host
 * element), which a `<tbody>` of `<tr>`s cannot be without losing what the
 * table gives today: columns that size to their content across rows, the
 * sticky `<thead>`, `aria-rowcount` / `aria-rowindex` for screen readers,
 * arrow keys from row to row, and the phone layout that turns rows into
 * cards by CSS alone. Rows of one fixed height make the arithmetic exact, so
 * the whole mechanism is this file (no dependency, nothing added to the
 * bundle).
 *
 * The page scrolls (not an inner box), so the window's scroll and resize
 * drive the range, read once per animation frame. The row height starts at
 * the estimate the host gives (the CSS constant) and is measured from a
 * rendered row after each update, which covers the phone layout and zoom.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';

export interface VirtualRowsOptions {
  /** At most this many rows render in full; more are virtualised. */
  threshold: number;
  /** Rows rendered beyond each edge of the viewport. */
  overscan: number;
  /** Row height before one is measured (CSS px). */
  estimate: number;
  /**
   * Rows rendered before the viewport is read (default: `threshold`). The
   * table passes what one screen holds plus the overscan: the first render
   * of a big fleet then builds a screenful of rows, not `threshold` of them.
   */
  initial?: number;
  /** The element the rows are in (the `<tbody>`); its top is where row 0 starts. */
  container(): Element | null;
  /** A rendered row to measure. */
  sampleRow(): Element | null;
}

/** The rows to render for a list of `total`, and the height the spacers stand in for. */
export interface RowWindow {
  virtual: boolean;
  start: number;
  end: number;
  /** Height of the spacer before row `start` (0: none). */
  before: number;
  /** Height of the spacer after row `end - 1` (0: none). */
  after: number;
}

export class VirtualRows implements ReactiveController {
  private readonly host: ReactiveControllerHost;
  private readonly options: VirtualRowsOptions;
  private range: { start: number; end: number };
  private total = 0;
  private measuredTotal = -1;
  private rowHeight: number;
  private framePending = false;

  constructor(host: ReactiveControllerHost, options: VirtualRowsOptions) {
    this.host = host;
    this.options = options;
    this.rowHeight = options.estimate;
    this.range = { start: 0, end: Math.max(1, Math.min(options.threshold, options.initial ?? options.threshold)) };
    host.addController(this);
  }

  /** Called while rendering: the slice of `total` rows to put in the DOM. */
  window(total: number): RowWindow {
    this.total = total;
    if (total <= this.options.threshold) return { virtual: false, start: 0, end: total, before: 0, after: 0 };
    const start = Math.min(this.range.start, Math.max(0, total - 1));
    const end = Math.min(total, Math.max(this.range.end, start + 1));
    return { virtual: true, start, end, before: start * this.rowHeight, after: (total - end) * this.rowHeight };
  }

  hostConnected(): void {
    window.addEventListener('scroll', this.onViewport, { passive: true });
    window.addEventListener('resize', this.onViewport, { passive: true });
  }

  hostDisconnected(): void {
    window.removeEventListener('scroll', this.onViewport);
    window.removeEventListener('resize', this.onViewport);
  }

  /** Measures a rendered row; a new height (another layout) or a new row count moves the window. */
  hostUpdated(): void {
    const row = this.options.sampleRow();
    const height = row ? row.getBoundingClientRect().height : 0;
    const resized = height > 0 && Math.abs(height - this.rowHeight) > 0.5;
    if (resized) this.rowHeight = height;
    if (resized || this.total !== this.measuredTotal) {
      this.measuredTotal = this.total;
      this.onViewport();
    }
  }

  private readonly onViewport = (): void => {
    if (this.framePending) return;
    this.framePending = true;
    requestAnimationFrame(() => {
      this.framePending = false;
      this.updateRange();
    });
  };

  private updateRange(): void {
    const total = this.total;
    if (total <= this.options.threshold) return;
    const body = this.options.container();
    if (!body) return;
    const top = body.getBoundingClientRect().top;
    const viewport = window.innerHeight || 800;
    const h = this.rowHeight;
    const { overscan } = this.options;
    const start = Math.max(0, Math.min(total - 1, Math.floor(-top / h) - overscan));
    const end = Math.min(total, Math.max(start + 1, Math.ceil((viewport - top) / h) + overscan));
    if (start !== this.range.start || end !== this.range.end) {
      this.range = { start, end };
      this.host.requestUpdate();
    }
  }
}
