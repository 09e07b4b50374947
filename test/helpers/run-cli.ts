/** Runs the real `device-builder` CLI from source (through tsx) as a child process. */
import { spawn } from 'node:child_process';
import path from 'node:path';

export const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');
// The installed entry (bin.ts), which runs cli.ts: every CLI test goes through it.
const CLI = path.join(REPO_ROOT, 'src', 'bin.ts');
// By absolute path: the child's cwd may be any folder, where a bare `tsx` would not resolve.
export const TSX_LOADER = path.join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX_LOADER, CLI, ...args], {
      cwd: options.cwd ?? REPO_ROOT,
      // A PlatformIO folder that does not exist, unless a test gives one: never the machine's real one.
      env: { ...process.env, DEVICE_BUILDER_LOG_LEVEL: 'warn', PLATFORMIO_CORE_DIR: '/nonexistent/platformio', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
