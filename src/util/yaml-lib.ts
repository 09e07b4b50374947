/**
 * The `yaml` package, loaded on first use rather than at import: a `sizes`
 * run or a server start whose YAMLs all come from the scan cache
 * (config/scan-cache.ts) never pays its ~80 ms of module set-up. Its
 * CommonJS build is required synchronously, so the sync loader of the fake
 * `esphome` keeps working.
 */
import { createRequire } from 'node:module';

type YamlModule = typeof import('yaml');

let loaded: YamlModule | null = null;

export function yamlLib(): YamlModule {
  loaded ??= createRequire(import.meta.url)('yaml') as YamlModule;
  return loaded;
}
