/**
 * The fake `esphome` executable: `node fake-esphome.js <args>` (or the .ts
 * through tsx) behaves like the real CLI for the commands the dashboard
 * runs. All the logic lives in {@link ./esphome-cli.ts}; this file only runs
 * it on load, which is why nothing should import it.
 */
import { runFakeEsphome } from './esphome-cli.js';

process.exitCode = await runFakeEsphome(process.argv.slice(2));
