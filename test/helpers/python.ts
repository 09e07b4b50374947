/**
 * Runs real python3 for interop tests: the Python Device Builder reads and
 * writes the same files, so "Python gets the same values back" is checked
 * by Python itself rather than by our idea of it.
 */
import { spawnSync } from 'node:child_process';
import { expect } from 'vitest';

/** Runs `code` with python3 (stdin = `input`), expects exit 0 and no stderr, returns stdout. */
export function runPython(code: string, args: readonly string[] = [], input = ''): string {
  const run = spawnSync('python3', ['-c', code, ...args], { input, encoding: 'utf8' });
  expect(run.error, 'python3 must be installed for this test').toBeUndefined();
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  return run.stdout;
}
