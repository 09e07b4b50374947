/**
 * A small, safe renderer for ESPHome's coloured job output.
 *
 * ESPHome and PlatformIO colour their logs with ANSI SGR sequences
 * (`ESC[32m` ... `ESC[0m`). We parse those into segments of plain text plus
 * a style, and build DOM nodes with `textContent` and CSS classes / style
 * properties only: output is untrusted text and is never parsed as HTML.
 * Every other escape sequence (cursor moves, erase-line, OSC titles) and C0
 * control character is dropped.
 *
 * The parser is stateful across lines, as a terminal is: a colour set on one
 * line lasts until a reset.
 *
 * What counts as an escape is defined once, in src/shared/ansi.ts, which the
 * server uses too; `stripAnsi` is re-exported from there.
 */
import { ANSI_CONTROL, ansiEscapePattern } from '../../../src/shared/ansi.js';

export { stripAnsi } from '../../../src/shared/ansi.js';

export type AnsiColor = { kind: 'palette'; index: number } | { kind: 'rgb'; r: number; g: number; b: number };

export interface AnsiStyle {
  fg: AnsiColor | null;
  bg: AnsiColor | null;
  bold: boolean;
  dim: boolean;
  italic: boolean;
  underline: boolean;
  inverse: boolean;
}

export interface AnsiSegment {
  text: string;
  style: AnsiStyle;
}

export const PLAIN: Readonly<AnsiStyle> = Object.freeze({
  fg: null,
  bg: null,
  bold: false,
  dim: false,
  italic: false,
  underline: false,
  inverse: false,
});

function clampByte(value: number | undefined): number {
  return Math.min(255, Math.max(0, Math.floor(value ?? 0)));
}

/** Reads an extended colour (`38;5;n` or `38;2;r;g;b`) starting after the 38/48; returns it and the codes consumed. */
function extendedColor(codes: number[], at: number): [AnsiColor | null, number] {
  const mode = codes[at];
  if (mode === 5) return [{ kind: 'palette', index: clampByte(codes[at + 1]) }, 2];
  if (mode === 2) return [{ kind: 'rgb', r: clampByte(codes[at + 1]), g: clampByte(codes[at + 2]), b: clampByte(codes[at + 3]) }, 4];
  return [null, 0];
}

/** Applies one SGR parameter list to a style, returning the new style. */
export function applySgr(style: AnsiStyle, params: string): AnsiStyle {
  const codes = params === '' ? [0] : params.split(/[;:]/).map((p) => (p === '' ? 0 : Number.parseInt(p, 10)));
  let next: AnsiStyle = { ...style };
  for (let i = 0; i < codes.length; i++) {
    const code = codes[i] ?? 0;
    if (code === 0) next = { ...PLAIN };
    else if (code === 1) next.bold = true;
    else if (code === 2) next.dim = true;
    else if (code === 3) next.italic = true;
    else if (code === 4) next.underline = true;
    else if (code === 7) next.inverse = true;
    else if (code === 22) next = { ...next, bold: false, dim: false };
    else if (code === 23) next.italic = false;
    else if (code === 24) next.underline = false;
    else if (code === 27) next.inverse = false;
    else if (code >= 30 && code <= 37) next.fg = { kind: 'palette', index: code - 30 };
    else if (code >= 90 && code <= 97) next.fg = { kind: 'palette', index: code - 90 + 8 };
    else if (code === 39) next.fg = null;
    else if (code >= 40 && code <= 47) next.bg = { kind: 'palette', index: code - 40 };
    else if (code >= 100 && code <= 107) next.bg = { kind: 'palette', index: code - 100 + 8 };
    else if (code === 49) next.bg = null;
    else if (code === 38 || code === 48) {
      const [color, used] = extendedColor(codes, i + 1);
      if (color) {
        if (code === 38) next.fg = color;
        else next.bg = color;
      }
      i += used;
    }
    // Anything else (blink, fonts, ...) is ignored.
  }
  return next;
}

export class AnsiParser {
  private style: AnsiStyle = { ...PLAIN };
  /** Own matcher: `exec` walks it through `lastIndex`. */
  private readonly escape = ansiEscapePattern();

  /** Splits one line into styled segments; empty segments are dropped. */
  parse(line: string): AnsiSegment[] {
    const segments: AnsiSegment[] = [];
    const push = (raw: string) => {
      const text = raw.replace(ANSI_CONTROL, '');
      if (!text) return;
      const last = segments[segments.length - 1];
      if (last && sameStyle(last.style, this.style)) last.text += text;
      else segments.push({ text, style: this.style });
    };
    let index = 0;
    const escape = this.escape;
    escape.lastIndex = 0;
    for (let match = escape.exec(line); match !== null; match = escape.exec(line)) {
      push(line.slice(index, match.index));
      index = match.index + match[0].length;
      if (match[2] === 'm') this.style = applySgr(this.style, match[1] ?? '');
      if (match[0].length === 0) escape.lastIndex++;
    }
    push(line.slice(index));
    return segments;
  }

  reset(): void {
    this.style = { ...PLAIN };
  }
}

function sameColor(a: AnsiColor | null, b: AnsiColor | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.kind === 'palette' && b.kind === 'palette') return a.index === b.index;
  if (a.kind === 'rgb' && b.kind === 'rgb') return a.r === b.r && a.g === b.g && a.b === b.b;
  return false;
}

function sameStyle(a: AnsiStyle, b: AnsiStyle): boolean {
  return (
    sameColor(a.fg, b.fg) &&
    sameColor(a.bg, b.bg) &&
    a.bold === b.bold &&
    a.dim === b.dim &&
    a.italic === b.italic &&
    a.underline === b.underline &&
    a.inverse === b.inverse
  );
}

const CUBE = [0, 95, 135, 175, 215, 255];

/** The xterm 256-colour palette above the 16 themable colours, as CSS. */
export function paletteCss(index: number): string | null {
  if (index < 16) return null; // themed through classes
  if (index < 232) {
    const n = index - 16;
    return `rgb(${CUBE[Math.floor(n / 36)]}, ${CUBE[Math.floor(n / 6) % 6]}, ${CUBE[n % 6]})`;
  }
  const grey = 8 + (index - 232) * 10;
  return `rgb(${grey}, ${grey}, ${grey})`;
}

/** CSS classes and inline colours for one segment. Themable colours (0-15) are classes. */
export function segmentPresentation(style: AnsiStyle): { classes: string[]; color: string | null; background: string | null } {
  const classes: string[] = [];
  let fg = style.fg;
  let bg = style.bg;
  if (style.inverse) {
    [fg, bg] = [bg ?? { kind: 'palette', index: 0 }, fg ?? { kind: 'palette', index: 7 }];
  }
  let color: string | null = null;
  let background: string | null = null;
  if (fg?.kind === 'palette') {
    if (fg.index < 16) classes.push(`ansi-fg-${fg.index}`);
    else color = paletteCss(fg.index);
  } else if (fg?.kind === 'rgb') color = `rgb(${fg.r}, ${fg.g}, ${fg.b})`;
  if (bg?.kind === 'palette') {
    if (bg.index < 16) classes.push(`ansi-bg-${bg.index}`);
    else background = paletteCss(bg.index);
  } else if (bg?.kind === 'rgb') background = `rgb(${bg.r}, ${bg.g}, ${bg.b})`;
  if (style.bold) classes.push('ansi-bold');
  if (style.dim) classes.push('ansi-dim');
  if (style.italic) classes.push('ansi-italic');
  if (style.underline) classes.push('ansi-underline');
  return { classes, color, background };
}

/**
 * One output line as a DOM element: a `div.line` holding a text node or a
 * `span` per styled segment. Text is only ever assigned through
 * `textContent`; colours through `style` properties built from numbers.
 */
export function renderAnsiLine(doc: Document, segments: readonly AnsiSegment[]): HTMLElement {
  const row = doc.createElement('div');
  row.className = 'line';
  for (const segment of segments) {
    const { classes, color, background } = segmentPresentation(segment.style);
    if (classes.length === 0 && color === null && background === null) {
      row.append(doc.createTextNode(segment.text));
      continue;
    }
    const span = doc.createElement('span');
    if (classes.length) span.className = classes.join(' ');
    if (color) span.style.color = color;
    if (background) span.style.backgroundColor = background;
    span.textContent = segment.text;
    row.append(span);
  }
  // Keep blank lines one line tall.
  if (row.childNodes.length === 0) row.append(doc.createTextNode('\u200b'));
  return row;
}
