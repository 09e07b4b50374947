/** The `sizes` progress line: terminal only, after a second, erased at the end. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startProgress } from '../../src/commands/progress.js';

afterEach(() => {
  vi.useRealTimers();
});

function stream(isTTY: boolean) {
  const writes: string[] = [];
  return { isTTY, writes, write: (text: string) => writes.push(text) };
}

describe('progress line', () => {
  it('prints nothing when stderr is not a terminal', () => {
    vi.useFakeTimers();
    const out = stream(false);
    const progress = startProgress(out);
    vi.advanceTimersByTime(5000);
    progress.update(3, 'kitchen.yaml');
    progress.clear();
    expect(out.writes).toEqual([]);
  });

  it('prints nothing for a pass that ends within a second', () => {
    vi.useFakeTimers();
    const out = stream(true);
    const progress = startProgress(out);
    progress.update(1, 'kitchen.yaml');
    vi.advanceTimersByTime(900);
    progress.clear();
    vi.advanceTimersByTime(5000);
    expect(out.writes).toEqual([]);
  });

  it('appears after a second on a terminal, follows the walks, and is erased at the end', () => {
    vi.useFakeTimers();
    const out = stream(true);
    const progress = startProgress(out);
    vi.advanceTimersByTime(1000);
    expect(out.writes).toEqual(['\r\x1b[2KChecking build folders…']);
    progress.update(2, 'garage.yaml');
    expect(out.writes.at(-1)).toBe('\r\x1b[2KMeasuring build folders… 2 walked (last: garage.yaml)');
    progress.clear();
    expect(out.writes.at(-1)).toBe('\r\x1b[2K');
  });
});
