/**
 * Turns one child stream's byte chunks into lines the way a terminal user
 * would read them:
 *
 * - `\n`, `\r\n` and a lone `\r` each end a line, so every `\r` progress
 *   update ("Linking... 10%\rLinking... 50%") becomes its own line; a `\r\n`
 *   split across two chunks still ends just one line.
 * - An empty segment ended by `\r` (a cursor reset at the start of a line)
 *   is dropped; empty lines ended by `\n` are kept, they are the tool's own.
 * - UTF-8 sequences split across chunks are decoded whole (StringDecoder).
 * - ANSI escapes pass through untouched.
 * - `end()` flushes a trailing line that had no terminator.
 *
 * Use one splitter per stream so stdout and stderr never splice mid-line.
 */
import { StringDecoder } from 'node:string_decoder';

const LF = 0x0a;
const CR = 0x0d;

export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';
  /** The last character seen was a `\r`, so a `\n` right after it ends nothing. */
  private afterCR = false;

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: Buffer | string): void {
    this.feed(typeof chunk === 'string' ? chunk : this.decoder.write(chunk));
  }

  /** Flushes the decoder and any unterminated last line. */
  end(): void {
    this.feed(this.decoder.end());
    if (this.partial !== '') {
      const line = this.partial;
      this.partial = '';
      this.onLine(line);
    }
    this.afterCR = false;
  }

  private feed(text: string): void {
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === LF) {
        if (this.afterCR && i === start) {
          // The `\n` of a `\r\n`: the `\r` already ended the line.
          this.afterCR = false;
          start = i + 1;
          continue;
        }
        this.emit(text.slice(start, i), false);
        start = i + 1;
        this.afterCR = false;
      } else if (c === CR) {
        this.emit(text.slice(start, i), true);
        start = i + 1;
        this.afterCR = true;
      } else if (this.afterCR) {
        this.afterCR = false;
      }
    }
    if (start < text.length) this.partial += text.slice(start);
  }

  private emit(tail: string, byCR: boolean): void {
    const line = this.partial + tail;
    this.partial = '';
    if (line === '' && byCR) return;
    this.onLine(line);
  }
}
