/**
 * The one capturing logger for tests: a pino logger writing JSON lines into
 * memory, read back parsed (`lines`), as messages, or cleared between steps.
 * Debug level by default so a test can assert on any line the code logs.
 */
import { Writable } from 'node:stream';
import { pino, type Level } from 'pino';
import type { Logger } from '../../src/util/log.js';

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface CapturedLog {
  logger: Logger;
  /** Every log line so far, parsed. */
  lines: () => LogLine[];
  /** Just the `msg` of every line so far. */
  messages: () => string[];
  /** Forgets what was logged so far. */
  clear: () => void;
}

/** Parses pino's JSON lines, skipping anything that is not one (a stray newline, a partial write). */
export function parseLogLines(text: string): LogLine[] {
  return text
    .split('\n')
    .filter((line) => line.trim().startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

export function captureLog(level: Level = 'debug'): CapturedLog {
  let chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  const lines = (): LogLine[] => parseLogLines(chunks.join(''));
  return {
    logger: pino({ level }, stream) as Logger,
    lines,
    messages: () => lines().map((line) => line.msg),
    clear: () => {
      chunks = [];
    },
  };
}
