// @vitest-environment happy-dom
/// <reference lib="dom" />
import { describe, expect, it } from 'vitest';
import { AnsiParser, applySgr, paletteCss, PLAIN, renderAnsiLine, segmentPresentation, stripAnsi } from '../../web/src/ui/ansi.js';

const parse = (line: string) => new AnsiParser().parse(line);

describe('ANSI SGR parsing', () => {
  it('splits a coloured line into styled segments', () => {
    const segments = parse('\x1b[32mINFO ok\x1b[0m tail');
    expect(segments.map((s) => s.text)).toEqual(['INFO ok', ' tail']);
    expect(segments[0]?.style.fg).toEqual({ kind: 'palette', index: 2 });
    expect(segments[1]?.style).toEqual(PLAIN);
  });

  it('handles bold, bright colours, backgrounds, 256 colours and true colour', () => {
    let style = applySgr(PLAIN, '1;93;44');
    expect(style).toMatchObject({ bold: true, fg: { kind: 'palette', index: 11 }, bg: { kind: 'palette', index: 4 } });
    style = applySgr(style, '38;5;208');
    expect(style.fg).toEqual({ kind: 'palette', index: 208 });
    style = applySgr(style, '48;2;1;2;3');
    expect(style.bg).toEqual({ kind: 'rgb', r: 1, g: 2, b: 3 });
    style = applySgr(style, '22;39;49');
    expect(style).toEqual(PLAIN);
    expect(applySgr(style, '')).toEqual(PLAIN);
  });

  it('keeps a colour across lines until it is reset, like a terminal', () => {
    const parser = new AnsiParser();
    parser.parse('\x1b[31mred starts');
    expect(parser.parse('still red')[0]?.style.fg).toEqual({ kind: 'palette', index: 1 });
    expect(parser.parse('\x1b[mplain')[0]?.style.fg).toBeNull();
  });

  it('drops other escape sequences and control characters', () => {
    expect(stripAnsi('\x1b[2K\x1b[1Gprogress\x07 \x1b]0;title\x07done\x1b[?25l')).toBe('progress done');
    expect(stripAnsi('tab\tkept\x00\x08')).toBe('tab\tkept');
    expect(stripAnsi('lone \x1b escape')).toBe('lone  escape');
  });

  it('maps themable colours to classes and the rest to CSS colours', () => {
    expect(segmentPresentation(applySgr(PLAIN, '1;31'))).toEqual({ classes: ['ansi-fg-1', 'ansi-bold'], color: null, background: null });
    expect(segmentPresentation(applySgr(PLAIN, '38;5;196')).color).toBe('rgb(255, 0, 0)');
    expect(paletteCss(232)).toBe('rgb(8, 8, 8)');
    expect(segmentPresentation(applySgr(PLAIN, '38;2;10;20;30')).color).toBe('rgb(10, 20, 30)');
  });
});

describe('rendering', () => {
  it('builds spans with textContent: markup in the output stays text', () => {
    const evil = '\x1b[31m<img src=x onerror="alert(1)">\x1b[0m<script>alert(2)</script>';
    const line = renderAnsiLine(document, parse(evil));
    expect(line.querySelector('img')).toBeNull();
    expect(line.querySelector('script')).toBeNull();
    expect(line.textContent).toBe('<img src=x onerror="alert(1)"><script>alert(2)</script>');
    const span = line.querySelector('span');
    expect(span?.className).toBe('ansi-fg-1');
    expect(span?.textContent).toBe('<img src=x onerror="alert(1)">');
  });

  it('keeps empty lines one line tall', () => {
    expect(renderAnsiLine(document, parse('')).textContent).toBe('\u200b');
  });

  it('sets 256-colour styles as properties', () => {
    const line = renderAnsiLine(document, parse('\x1b[38;5;46mgreen'));
    expect((line.firstChild as HTMLElement).style.color).toMatch(/0, 255, 0|#00ff00/i);
  });
});
