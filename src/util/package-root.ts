/**
 * The installed package's root folder, found by walking up to our
 * package.json. Works the same from `src/` under tsx and from `dist/src/`
 * after a build, wherever the package is installed.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

function findRoot(start: string): string {
  let dir = start;
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'device-builder-ts') return dir;
      } catch {
        // Not ours; keep climbing.
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) return path.resolve(start, '..', '..');
    dir = parent;
  }
}

export const PACKAGE_ROOT = findRoot(import.meta.dirname);
