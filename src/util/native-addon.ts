/**
 * Loads our optional native addon (`build/Release/walk_native.node`, built
 * by `npm install` from `native/`), once per thread, for both of its users:
 * the build-size walker (`walkTree`) and the sidecar lock (`flock`).
 *
 * One loader so both agree on where the addon is (beside our package.json,
 * never searched for above it) and on why it is missing: an install without
 * a C compiler has no addon, and each user falls back on its own (the JS
 * walker, the flock helper process).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { PACKAGE_ROOT } from './package-root.js';

export const ADDON_RELATIVE = path.join('build', 'Release', 'walk_native.node');
/** Where node-gyp puts the addon: `build/` beside our package.json, from `src/` under tsx and from `dist/src/` alike. */
export const ADDON_PATH = path.join(PACKAGE_ROOT, ADDON_RELATIVE);

export type NativeAddonLoad = { addon: Record<string, unknown>; path: string } | { addon: null; reason: string };

let cached: NativeAddonLoad | null = null;

/** The addon's exports, or why it is unavailable; never throws. */
export function loadNativeAddon(): NativeAddonLoad {
  if (cached) return cached;
  if (!existsSync(ADDON_PATH)) {
    cached = { addon: null, reason: `${ADDON_RELATIVE} not built (no C compiler at install?)` };
    return cached;
  }
  try {
    cached = { addon: createRequire(import.meta.url)(ADDON_PATH) as Record<string, unknown>, path: ADDON_PATH };
  } catch (err) {
    cached = { addon: null, reason: `${ADDON_PATH} did not load: ${(err as Error).message}` };
  }
  return cached;
}
