/** A pino logger at debug level whose output tests can read back as records or messages. */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Logger } from '../../src/util/log.js';

export interface CapturedLog {
  logger: Logger;
  /** Every log line so far, parsed. */
  lines: () => Record<string, unknown>[];
  /** Just the `msg` of every line so far. */
  messages: () => string[];
}

export function captureLog(): CapturedLog {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  const lines = (): Record<string, unknown>[] =>
    chunks
      .join('')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return {
    logger: pino({ level: 'debug' }, stream) as Logger,
    lines,
    messages: () => lines().map((line) => String(line['msg'])),
  };
}
