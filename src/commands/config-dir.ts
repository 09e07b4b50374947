/**
 * The config folder every command works on, and the one check that it is
 * usable before anything is read or written.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { UsageError } from './usage-error.js';

/** `[config_dir]`, else `$ESPHOME_CONFIG_DIR`, else `./config`. */
export function resolveConfigDir(arg: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(arg || env['ESPHOME_CONFIG_DIR'] || 'config');
}

/** Fails with a one-line reason unless `dir` is a folder we can list. */
export async function assertReadableDir(dir: string): Promise<void> {
  try {
    const stats = await fsp.stat(dir);
    if (!stats.isDirectory()) throw new UsageError(`config dir is not a folder: ${dir}`);
    await fsp.readdir(dir);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such folder' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new UsageError(`cannot read config dir ${dir}: ${why}`);
  }
}
