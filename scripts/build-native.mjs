#!/usr/bin/env node
/**
 * npm install hook: builds the optional native addon (native/walk_native.c,
 * the build-size walker, and native/file_lock.c, flock(2) for the sidecar
 * lock) with the node-gyp that ships with npm. Without a C toolchain the
 * install still succeeds: build-size walks use the JS walker (same figures,
 * about half the speed) and the sidecar lock takes its flock through a
 * helper process (flock(1) or python3, same lock, a few ms more per update),
 * so this never fails an install by default.
 *
 * DEVICE_BUILDER_REQUIRE_NATIVE=1 turns a failed build into a failed install;
 * CI sets it so a broken addon cannot hide behind the fallback.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
// npm hands lifecycle scripts the path of its bundled node-gyp; outside npm, try PATH.
const bundled = process.env.npm_config_node_gyp;
const [command, args] = bundled ? [process.execPath, [bundled, 'rebuild']] : ['node-gyp', ['rebuild']];
const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
if (result.status === 0) process.exit(0);

const why = result.error ? result.error.message : `node-gyp exited with code ${result.status ?? result.signal}`;
if (process.env.DEVICE_BUILDER_REQUIRE_NATIVE === '1') {
  console.error(`device-builder: the native walker did not build (${why}) and DEVICE_BUILDER_REQUIRE_NATIVE=1`);
  process.exit(1);
}
console.warn(
  `device-builder: the native walker did not build (${why}); build-size walks will use the JS walker ` +
    '(same figures, about half the speed) and the sidecar lock a flock(1)/python3 helper process. ' +
    'With a C compiler and Python 3 installed, `npm rebuild` builds it.',
);
