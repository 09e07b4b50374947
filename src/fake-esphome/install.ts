/**
 * Puts the fake `esphome` on a PATH: demo mode installs a wrapper script
 * named `esphome` in a private bin folder and prepends that folder to PATH,
 * so the dashboard runs it exactly as it would run the real CLI.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Single-quotes a word for POSIX sh (an embedded `'` becomes `'\''`). */
function shQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * Writes an executable `esphome` sh wrapper into `binDir` that runs
 * `node <entry> "$@"`, and returns the wrapper's path. The node binary is the
 * one running now, so the wrapper works even when `node` is not on PATH.
 */
export function installFakeEsphome(binDir: string, entry: string): string {
  mkdirSync(binDir, { recursive: true });
  const path = join(binDir, 'esphome');
  const script = [
    '#!/bin/sh',
    '# Fake esphome CLI installed by device-builder (demo mode).',
    `exec ${shQuote(process.execPath)} ${shQuote(resolve(entry))} "$@"`,
    '',
  ].join('\n');
  writeFileSync(path, script, { mode: 0o755 });
  // writeFileSync's mode only applies on creation; an existing wrapper keeps its bits otherwise.
  chmodSync(path, 0o755);
  return path;
}
