/**
 * The install hook that builds the native walker (scripts/build-native.mjs),
 * run on a copy of the addon's sources: a machine without a working C
 * compiler must still install (a warning, exit 0, no addon), unless
 * DEVICE_BUILDER_REQUIRE_NATIVE=1 asks for the build to be fatal (as CI does).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupTempDirs, makeTempDir } from '../helpers/fs-fixtures.js';
import { REPO_ROOT } from '../helpers/run-cli.js';

afterEach(cleanupTempDirs);

/** npm's bundled node-gyp: npm names it to scripts; else look beside this Node's npm. */
function findNodeGyp(): string | null {
  const candidates = [
    process.env['npm_config_node_gyp'],
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((candidate): candidate is string => !!candidate && fs.existsSync(candidate)) ?? null;
}

/** Where npm is set to find Node's headers (no network here to download them). */
function nodeHeadersDir(): string | null {
  const fromEnv = process.env['npm_config_nodedir'];
  if (fromEnv) return fromEnv;
  const asked = spawnSync('npm', ['config', 'get', 'nodedir'], { encoding: 'utf8' });
  const dir = asked.stdout?.trim();
  return dir && dir !== 'undefined' && fs.existsSync(path.join(dir, 'include', 'node', 'node_api.h')) ? dir : null;
}

const nodeGyp = findNodeGyp();
const headers = nodeHeadersDir();

/** A package folder holding only what the hook needs: binding.gyp, native/, scripts/. */
function addonSources(): string {
  const dir = makeTempDir('native-build-');
  fs.copyFileSync(path.join(REPO_ROOT, 'binding.gyp'), path.join(dir, 'binding.gyp'));
  fs.cpSync(path.join(REPO_ROOT, 'native'), path.join(dir, 'native'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'scripts'));
  fs.copyFileSync(path.join(REPO_ROOT, 'scripts', 'build-native.mjs'), path.join(dir, 'scripts', 'build-native.mjs'));
  return dir;
}

function runHook(dir: string, env: Record<string, string>): { status: number | null; stderr: string } {
  const run = spawnSync(process.execPath, [path.join(dir, 'scripts', 'build-native.mjs')], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 120_000,
    env: {
      ...process.env,
      npm_config_node_gyp: nodeGyp as string,
      ...(headers ? { npm_config_nodedir: headers } : {}),
      DEVICE_BUILDER_REQUIRE_NATIVE: '',
      ...env,
    },
  });
  return { status: run.status, stderr: run.stderr };
}

const addon = (dir: string): string => path.join(dir, 'build', 'Release', 'walk_native.node');

describe.runIf(nodeGyp && headers)('native walker install hook', () => {
  it('builds the addon where a compiler works', () => {
    const dir = addonSources();
    const run = runHook(dir, {});
    expect(run.status, run.stderr).toBe(0);
    expect(fs.existsSync(addon(dir))).toBe(true);
  });

  it('without a working compiler: warns, exits 0 (the install goes on), leaves no addon', () => {
    const dir = addonSources();
    const run = runHook(dir, { CC: 'false', CXX: 'false' });
    expect(run.status).toBe(0);
    expect(run.stderr).toMatch(/device-builder: the native walker did not build \(node-gyp exited with code \d+\); build-size walks will use the JS walker/);
    expect(fs.existsSync(addon(dir))).toBe(false);
  });

  it('with DEVICE_BUILDER_REQUIRE_NATIVE=1 a failed build fails the install', () => {
    const dir = addonSources();
    const run = runHook(dir, { CC: 'false', CXX: 'false', DEVICE_BUILDER_REQUIRE_NATIVE: '1' });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/did not build .* and DEVICE_BUILDER_REQUIRE_NATIVE=1/);
  });
});
