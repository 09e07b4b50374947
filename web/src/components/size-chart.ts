/**
 * `<db-size-chart>`: a small line chart of a size history (`SizePoint[]`,
 * oldest first), for the drawer (one device's build size) and the summary
 * (the fleet total). Points where a reclaim run freed space
 * (`reclaimed_bytes`) are marked, with what they freed in their tooltip.
 *
 * Hand-drawn SVG rather than a charting library: one path and a few
 * circles cost less than any library's import, and the geometry is a pure
 * function ({@link chartGeometry}) tested without a browser. The y axis
 * starts at 0 (bytes on disk: a line near the top means "full"), the x
 * axis is time (points taken at uneven intervals stay where they were
 * taken). The chart is one `role="img"` with a sentence for screen
 * readers: first and last point, the peak, and what reclaiming freed.
 */
import { css, html, LitElement, nothing, svg } from 'lit';
import { formatBytes } from '../../../src/shared/format.js';
import type { SizePoint } from '../../../src/shared/size-history.js';
import { baseStyles } from '../ui/styles.js';

export interface ChartMark {
  x: number;
  y: number;
  point: SizePoint;
}

export interface ChartGeometry {
  /** The line's `d`, empty when there are no points. */
  line: string;
  /** The area under the line, closed along the x axis. */
  area: string;
  /** Every point's position, in order. */
  dots: ChartMark[];
  /** The points a reclaim run caused (`reclaimed_bytes` > 0). */
  reclaims: ChartMark[];
  /** The y axis's top value (the peak, rounded up a little). */
  maxBytes: number;
}

export interface ChartBox {
  width: number;
  height: number;
  /** Inner margin so dots at the edges are not clipped. */
  pad: number;
}

export const CHART_BOX: ChartBox = { width: 320, height: 88, pad: 5 };

const round = (value: number): number => Math.round(value * 100) / 100;

/** Usable points: finite, non-negative, sorted by time (the server sends them oldest first; a bad one is dropped, not drawn). */
export function cleanPoints(points: readonly SizePoint[]): SizePoint[] {
  return points
    .filter((p) => Number.isFinite(p.time) && Number.isFinite(p.bytes) && p.bytes >= 0)
    .slice()
    .sort((a, b) => a.time - b.time);
}

/**
 * Where each point goes in a `box`: time left to right (a single point, or
 * points all at one time, in the middle), bytes bottom (0) to top (the
 * peak plus 10 %).
 */
export function chartGeometry(input: readonly SizePoint[], box: ChartBox = CHART_BOX): ChartGeometry {
  const points = cleanPoints(input);
  if (points.length === 0) return { line: '', area: '', dots: [], reclaims: [], maxBytes: 0 };
  const first = points[0] as SizePoint;
  const last = points[points.length - 1] as SizePoint;
  const peak = Math.max(...points.map((p) => p.bytes));
  const maxBytes = peak > 0 ? peak * 1.1 : 1;
  const span = last.time - first.time;
  const innerW = box.width - box.pad * 2;
  const innerH = box.height - box.pad * 2;
  const x = (time: number): number => round(span > 0 ? box.pad + ((time - first.time) / span) * innerW : box.width / 2);
  const y = (bytes: number): number => round(box.pad + innerH - (bytes / maxBytes) * innerH);
  const dots = points.map((point) => ({ x: x(point.time), y: y(point.bytes), point }));
  // One point: a flat line across, so it reads as "this size, so far".
  const drawn =
    dots.length === 1
      ? [
          { ...dots[0]!, x: box.pad },
          { ...dots[0]!, x: box.width - box.pad },
        ]
      : dots;
  const line = drawn.map((d, i) => `${i === 0 ? 'M' : 'L'}${d.x},${d.y}`).join(' ');
  const floor = round(box.pad + innerH);
  const area = `${line} L${drawn[drawn.length - 1]!.x},${floor} L${drawn[0]!.x},${floor} Z`;
  const reclaims = dots.filter((d) => (d.point.reclaimed_bytes ?? 0) > 0);
  return { line, area, dots, reclaims, maxBytes };
}

const dateTime = new Intl.DateTimeFormat('en', { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
const dateOnly = new Intl.DateTimeFormat('en', { month: 'short', day: 'numeric' });

/** "Mar 4, 14:05" for a unix-seconds time. */
export function formatTime(seconds: number): string {
  return dateTime.format(new Date(seconds * 1000));
}

/** The sentence a screen reader gets for the whole chart. */
export function describeHistory(input: readonly SizePoint[], subject: string): string {
  const points = cleanPoints(input);
  if (points.length === 0) return `${subject}: no history yet.`;
  const first = points[0] as SizePoint;
  const last = points[points.length - 1] as SizePoint;
  const peak = points.reduce((best, p) => (p.bytes > best.bytes ? p : best), first);
  const parts = [
    points.length === 1
      ? `${subject}: one measurement, ${formatBytes(last.bytes)} on ${formatTime(last.time)}.`
      : `${subject}: ${points.length} measurements from ${formatTime(first.time)} to ${formatTime(last.time)}, ${formatBytes(first.bytes)} then, ${formatBytes(last.bytes)} now, peak ${formatBytes(peak.bytes)}.`,
  ];
  const reclaims = points.filter((p) => (p.reclaimed_bytes ?? 0) > 0);
  if (reclaims.length > 0) {
    const freed = reclaims.reduce((sum, p) => sum + (p.reclaimed_bytes ?? 0), 0);
    parts.push(`Reclaiming freed ${formatBytes(freed)} in ${reclaims.length} run${reclaims.length === 1 ? '' : 's'}.`);
  }
  return parts.join(' ');
}

export class SizeChartElement extends LitElement {
  static override properties = {
    points: { attribute: false },
    label: { type: String },
  };
  /** Oldest first, as `devices/size_history` answers. */
  declare points: readonly SizePoint[];
  /** What the chart shows, for its accessible name ("Build size of Kitchen"). */
  declare label: string;

  constructor() {
    super();
    this.points = [];
    this.label = 'Size over time';
  }

  static override styles = [
    baseStyles,
    css`
      :host {
        display: block;
        min-width: 0;
      }
      svg {
        display: block;
        width: 100%;
        height: auto;
        overflow: visible;
      }
      .area {
        fill: color-mix(in srgb, var(--chart-1) 14%, transparent);
      }
      .line {
        fill: none;
        stroke: var(--chart-1);
        stroke-width: 2;
        stroke-linejoin: round;
        stroke-linecap: round;
        vector-effect: non-scaling-stroke;
      }
      .baseline {
        stroke: var(--border);
        stroke-width: 1;
        vector-effect: non-scaling-stroke;
      }
      .dot {
        fill: var(--chart-1);
      }
      .reclaim {
        fill: var(--surface);
        stroke: var(--success);
        stroke-width: 2.5;
        vector-effect: non-scaling-stroke;
      }
      .axis {
        display: flex;
        justify-content: space-between;
        gap: 8px;
        margin-top: 2px;
        font-size: 11.5px;
        color: var(--text-2);
        font-variant-numeric: tabular-nums;
      }
      .top {
        font-size: 11.5px;
        color: var(--text-2);
        font-variant-numeric: tabular-nums;
      }
      .empty {
        margin: 0;
        padding: 10px 0;
        font-size: 13px;
        color: var(--text-2);
      }
      .key {
        display: flex;
        align-items: center;
        gap: 6px;
        margin-top: 4px;
        font-size: 12px;
        color: var(--text-2);
      }
      .key svg {
        width: 10px;
        height: 10px;
      }
    `,
  ];

  override render() {
    const points = cleanPoints(this.points);
    if (points.length === 0) return html`<p class="empty" data-testid="chart-empty">No history yet: sizes are recorded from the next measurement on.</p>`;
    const box = CHART_BOX;
    const geometry = chartGeometry(points, box);
    const first = points[0] as SizePoint;
    const last = points[points.length - 1] as SizePoint;
    const sameDay = last.time - first.time < 86_400;
    const fmt = (t: number) => (sameDay ? formatTime(t) : dateOnly.format(new Date(t * 1000)));
    // Dots only while they stay apart; a long history is a line.
    const showDots = points.length <= 24;
    return html`
      <div class="top" aria-hidden="true">${formatBytes(Math.max(...points.map((p) => p.bytes)))} peak</div>
      <svg viewBox="0 0 ${box.width} ${box.height}" role="img" aria-label=${describeHistory(points, this.label)} data-testid="size-chart">
        <line class="baseline" x1="0" x2=${box.width} y1=${box.height - box.pad} y2=${box.height - box.pad}></line>
        <path class="area" d=${geometry.area}></path>
        <path class="line" d=${geometry.line}></path>
        ${
          showDots
            ? geometry.dots.map(
                (d) => svg`<circle class="dot" cx=${d.x} cy=${d.y} r="2.2"><title>${formatBytes(d.point.bytes)} · ${formatTime(d.point.time)}</title></circle>`,
              )
            : nothing
        }
        ${geometry.reclaims.map(
          (d) =>
            svg`<circle class="reclaim" data-reclaimed=${d.point.reclaimed_bytes ?? 0} cx=${d.x} cy=${d.y} r="4"><title>Reclaim freed ${formatBytes(d.point.reclaimed_bytes ?? 0)} · ${formatTime(d.point.time)}</title></circle>`,
        )}
      </svg>
      <div class="axis" aria-hidden="true">
        <span>${fmt(first.time)}</span>
        <span>${points.length === 1 ? '' : fmt(last.time)}</span>
      </div>
      ${
        geometry.reclaims.length > 0
          ? html`<div class="key" aria-hidden="true">
            <svg viewBox="0 0 10 10"><circle cx="5" cy="5" r="3.5" fill="none" stroke="var(--success)" stroke-width="2"></circle></svg>
            freed by reclaiming
          </div>`
          : nothing
      }
    `;
  }
}

customElements.define('db-size-chart', SizeChartElement);
declare global {
  interface HTMLElementTagNameMap {
    'db-size-chart': SizeChartElement;
  }
}
