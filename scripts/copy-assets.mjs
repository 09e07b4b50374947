#!/usr/bin/env node
/**
 * Copies the files `tsc` does not emit into `dist/`, next to the modules
 * that read them: the demo fleet's YAMLs (`src/demo/fleet/` →
 * `dist/src/demo/fleet/`). Run by `npm run build` after `tsc`; the CLI runs
 * from `dist/`, and `dist` is what package.json "files" ships.
 */
import { cpSync, existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** [source, destination], relative to the package root. */
const ASSETS = [['src/demo/fleet', 'dist/src/demo/fleet']];

for (const [from, to] of ASSETS) {
  const source = path.join(root, from);
  const target = path.join(root, to);
  if (!existsSync(source)) throw new Error(`copy-assets: ${from} is missing`);
  // Replaced whole, so a file removed from the source does not linger in dist.
  rmSync(target, { recursive: true, force: true });
  cpSync(source, target, { recursive: true });
  console.log(`copy-assets: ${from} -> ${to}`);
}
