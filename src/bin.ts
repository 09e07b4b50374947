#!/usr/bin/env node
/**
 * The installed `device-builder` command: turns on Node's on-disk compile
 * cache where Node has one (22.1+; a no-op on Node 20), then runs the CLI.
 * A separate file because ESM imports are hoisted: the cache must be on
 * before `cli.ts` and everything it loads are compiled, and a warm `sizes`
 * spends most of its time compiling modules, not measuring.
 */
import module from 'node:module';

const withCache = module as { enableCompileCache?: () => unknown };
try {
  withCache.enableCompileCache?.();
} catch {
  // A read-only temp folder: run without the cache.
}
await import('./cli.js');
