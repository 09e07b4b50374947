/**
 * The installed package's root folder, found by walking up to our
 * package.json. Works the same from `src/` under tsx and from `dist/src/`
 * after a build, wherever the package is installed.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

interface Manifest {
  name?: string;
  version?: string;
}

function findRoot(start: string): { root: string; manifest: Manifest } {
  let dir = start;
  for (;;) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file)) {
      try {
        const manifest = JSON.parse(readFileSync(file, 'utf8')) as Manifest;
        if (manifest.name === 'device-builder-ts') return { root: dir, manifest };
      } catch {
        // Not ours; keep climbing.
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) return { root: path.resolve(start, '..', '..'), manifest: {} };
    dir = parent;
  }
}

const found = findRoot(import.meta.dirname);

export const PACKAGE_ROOT = found.root;

/** Our version, from the one place it is written: package.json. */
export const PACKAGE_VERSION = found.manifest.version ?? '0.0.0';
