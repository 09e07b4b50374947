/**
 * How a firmware job turns into an `esphome` command line, and how the
 * executable is found. Kept apart from the queue so the argv rules (the
 * exact lines the Python Device Builder runs) are testable without a child
 * process.
 */
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import path from 'node:path';
import type { JobType } from '../shared/jobs.js';

/**
 * The arguments after the esphome command itself, e.g.
 * `['--dashboard', 'compile', '/config/kitchen.yaml']`.
 *
 * - compile: `--dashboard compile <yaml>`
 * - upload: `--dashboard upload [--device P] <yaml>`
 * - install: `--dashboard run --no-logs [--device P] <yaml>`
 * - clean: `--dashboard clean <yaml>`
 * - reset_build_env: `--dashboard clean-all <configDir>` (fleet-wide; `configuration` is ignored)
 *
 * `<yaml>` is `<configDir>/<configuration>`, absolute. `port` is used only by
 * upload and install; null or "" means "let esphome choose" (OTA / the only port).
 */
export function esphomeArgs(type: JobType, configDir: string, configuration: string, port: string | null): string[] {
  const dir = path.resolve(configDir);
  const yaml = path.join(dir, configuration);
  const device = port ? ['--device', port] : [];
  switch (type) {
    case 'compile':
      return ['--dashboard', 'compile', yaml];
    case 'upload':
      return ['--dashboard', 'upload', ...device, yaml];
    case 'install':
      return ['--dashboard', 'run', '--no-logs', ...device, yaml];
    case 'clean':
      return ['--dashboard', 'clean', yaml];
    case 'reset_build_env':
      return ['--dashboard', 'clean-all', dir];
  }
}

/**
 * Environment for an esphome child: the base env plus variables that keep
 * its output coloured and live even though stdout is a pipe, not a TTY.
 *
 * - `PYTHONUNBUFFERED=1`: Python block-buffers stdout into a pipe (4-8 KB),
 *   so without it log lines and `\r` progress would arrive in late bursts.
 * - `PLATFORMIO_FORCE_ANSI=true`: PlatformIO strips colours when not on a
 *   TTY unless told otherwise; the dashboard renders ANSI, so keep them.
 * - `FORCE_COLOR=1`, `CLICOLOR_FORCE=1`: the widely used "colour even into
 *   a pipe" conventions that many CLIs and colour libraries in the build
 *   chain honour. (ESPHome has no `ESPHOME_COLOR` variable of its own.)
 */
export function esphomeChildEnv(base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return {
    ...base,
    PYTHONUNBUFFERED: '1',
    PLATFORMIO_FORCE_ANSI: 'true',
    FORCE_COLOR: '1',
    CLICOLOR_FORCE: '1',
  };
}

function isExecutableFile(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds the executable a command name refers to, the way `execvp` would:
 * a name with a `/` is a path (relative ones resolve against `cwd`); a bare
 * name is looked up in each `PATH` entry of `env`. Returns the absolute path,
 * or null when nothing executable is there.
 */
export function resolveExecutable(command: string, env: NodeJS.ProcessEnv, cwd = process.cwd()): string | null {
  if (command === '') return null;
  if (command.includes('/')) {
    const file = path.resolve(cwd, command);
    return isExecutableFile(file) ? file : null;
  }
  const searchPath = env['PATH'] ?? '';
  for (const entry of searchPath.split(path.delimiter)) {
    // An empty PATH entry means the current directory, as in POSIX shells.
    const file = path.resolve(cwd, entry === '' ? '.' : entry, command);
    if (isExecutableFile(file)) return file;
  }
  return null;
}

/** The user-facing error for a missing or unusable esphome executable. */
export function esphomeNotFoundMessage(command: string, reason?: string): string {
  const why = reason ?? (command.includes('/') ? 'does not exist or is not executable' : 'is not on PATH');
  return `esphome CLI not found: "${command}" ${why}. ` + 'Install ESPHome (pip install esphome) or start the dashboard with --esphome <command>.';
}
