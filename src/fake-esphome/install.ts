/**
 * Puts the fake `esphome` on a PATH: demo mode installs a wrapper script
 * named `esphome` in a private bin folder and prepends that folder to PATH,
 * so the dashboard runs it exactly as it would run the real CLI.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export interface InstallFakeEsphomeOptions {
  /**
   * Node options placed before the entry, e.g. `['--import', <tsx loader>]`
   * so a `.ts` entry runs from source.
   */
  nodeArgs?: readonly string[];
  /**
   * Environment variables the wrapper unsets before starting node. The demo
   * drops `ESPHOME_DATA_DIR` & co. so a user's real setup can never redirect
   * the fake's writes (or its `clean-all`) outside the demo folder.
   */
  unsetEnv?: readonly string[];
}

/** Single-quotes a word for POSIX sh (an embedded `'` becomes `'\''`). */
function shQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * Writes an executable `esphome` sh wrapper into `binDir` that runs
 * `node [nodeArgs] <entry> "$@"`, and returns the wrapper's path. The node
 * binary is the one running now, so the wrapper works even when `node` is
 * not on PATH.
 */
export function installFakeEsphome(binDir: string, entry: string, options: InstallFakeEsphomeOptions = {}): string {
  const unset = options.unsetEnv ?? [];
  for (const name of unset) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`invalid environment variable name ${JSON.stringify(name)}`);
  }
  mkdirSync(binDir, { recursive: true });
  const path = join(binDir, 'esphome');
  const command = [process.execPath, ...(options.nodeArgs ?? []), resolve(entry)].map(shQuote).join(' ');
  const script = [
    '#!/bin/sh',
    '# Fake esphome CLI installed by device-builder (demo mode).',
    ...(unset.length > 0 ? [`unset ${unset.join(' ')}`] : []),
    `exec ${command} "$@"`,
    '',
  ].join('\n');
  writeFileSync(path, script, { mode: 0o755 });
  // writeFileSync's mode only applies on creation; an existing wrapper keeps its bits otherwise.
  chmodSync(path, 0o755);
  return path;
}
