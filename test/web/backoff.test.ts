import { describe, expect, it } from 'vitest';
import { backoffDelay, DEFAULT_BACKOFF, nominalDelay } from '../../web/src/api/backoff.js';

describe('reconnect backoff', () => {
  it('doubles from 0.5 s up to a 15 s ceiling', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 20].map((n) => nominalDelay(n))).toEqual([500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
  });

  it('spreads each delay by ±20% and never past the ceiling', () => {
    expect(backoffDelay(0, DEFAULT_BACKOFF, () => 0)).toBe(400);
    expect(backoffDelay(0, DEFAULT_BACKOFF, () => 0.5)).toBe(500);
    expect(backoffDelay(0, DEFAULT_BACKOFF, () => 1)).toBe(600);
    expect(backoffDelay(10, DEFAULT_BACKOFF, () => 1)).toBe(15000);
    expect(backoffDelay(10, DEFAULT_BACKOFF, () => 0)).toBe(12000);
  });

  it('treats odd inputs sanely', () => {
    expect(nominalDelay(-3)).toBe(500);
    expect(backoffDelay(2, DEFAULT_BACKOFF, () => 7)).toBe(2400);
  });
});
