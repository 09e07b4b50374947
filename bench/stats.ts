/**
 * Small statistics and formatting helpers for the benchmark: medians over a
 * handful of runs, and fixed-width numbers for the results table.
 */

/** Timings of one measured thing, in milliseconds. */
export interface Sample {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

/** The median of a non-empty list (mean of the middle two for even lengths). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of an empty list');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function summarize(runs: readonly number[]): Sample {
  return {
    median: median(runs),
    min: Math.min(...runs),
    max: Math.max(...runs),
    runs: runs.map((ms) => round(ms, 2)),
  };
}

export function round(value: number, digits = 1): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** Runs `fn` and returns its result with the wall time it took. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await fn();
  return { ms: performance.now() - started, value };
}

/** `1234.5` → `"1,234.5"`; `null` → an em dash. */
export function fmtMs(ms: number | null, digits = 1): string {
  if (ms === null) return '—';
  return ms.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A ratio like `0.87×`; `null` → an em dash. */
export function fmtRatio(ratio: number | null): string {
  return ratio === null || !Number.isFinite(ratio) ? '—' : `${ratio.toFixed(2)}×`;
}

export function fmtInt(n: number): string {
  return n.toLocaleString('en-US');
}

/** Renders rows as a left/right aligned text table (first column left, the rest right). */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, column) => (column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0)))
      .join('  ')
      .trimEnd();
  const rule = widths.map((width) => '-'.repeat(width)).join('  ');
  return [line(header), rule, ...rows.map(line)].join('\n');
}
