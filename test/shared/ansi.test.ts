/**
 * The one ANSI stripper (src/shared/ansi.ts), on the server side: the page
 * re-exports it (test/web/ansi.test.ts), the job runner reads ERROR lines
 * through it.
 */
/// <reference lib="dom" />
import { describe, expect, it } from 'vitest';
import { stripAnsi } from '../../src/shared/ansi.js';
import { AnsiParser, stripAnsi as pageStripAnsi } from '../../web/src/ui/ansi.js';

describe('stripAnsi (shared)', () => {
  it('removes OSC hyperlinks and titles, BEL- or ST-terminated', () => {
    expect(stripAnsi('\x1b]8;;https://esphome.io\x07text\x1b]8;;\x07')).toBe('text');
    expect(stripAnsi('\x1b]0;title\x1b\\ERROR boom')).toBe('ERROR boom');
    expect(stripAnsi('\x1b]8;id=1;https://x\x1b\\link\x1b]8;;\x1b\\ after')).toBe('link after');
  });

  it('removes CSI (colours, cursor, private modes), two-byte escapes and C0 controls', () => {
    expect(stripAnsi('\x1b[1;31mERROR\x1b[0m x')).toBe('ERROR x');
    expect(stripAnsi('\x1b[2K\x1b[1Gprogress\x1b[?25l')).toBe('progress');
    expect(stripAnsi('\x1b[38:2:1:2:3mrgb\x1b[m')).toBe('rgb');
    expect(stripAnsi('a\x1bMb\x1b\\c')).toBe('abc');
    expect(stripAnsi('tab\tkept\x00\x08\x7f')).toBe('tab\tkept');
    expect(stripAnsi('plain')).toBe('plain');
  });

  it('is the function the page uses, and agrees with its parser', () => {
    expect(pageStripAnsi).toBe(stripAnsi);
    for (const line of ['\x1b]8;;u\x07t\x1b]8;;\x07', '\x1b[32mINFO\x1b[0m ok\x07', 'lone \x1b escape', '\x1b]0;unterminated']) {
      const viaParser = new AnsiParser()
        .parse(line)
        .map((s) => s.text)
        .join('');
      expect(stripAnsi(line)).toBe(viaParser);
    }
  });
});
