import { describe, expect, it } from 'vitest';
import { formatBytes } from '../../src/shared/format.js';

describe('formatBytes', () => {
  describe('nothing to show', () => {
    it('prints 0 as "0 B"', () => {
      expect(formatBytes(0)).toBe('0 B');
    });

    it('prints a negative count as "0 B"', () => {
      expect(formatBytes(-1)).toBe('0 B');
      expect(formatBytes(-5 * 1024 * 1024)).toBe('0 B');
    });

    it('prints NaN and infinities as "0 B"', () => {
      expect(formatBytes(Number.NaN)).toBe('0 B');
      expect(formatBytes(Number.POSITIVE_INFINITY)).toBe('0 B');
      expect(formatBytes(Number.NEGATIVE_INFINITY)).toBe('0 B');
    });
  });

  describe('under one kilobyte', () => {
    it('prints whole bytes without a decimal', () => {
      expect(formatBytes(1)).toBe('1 B');
      expect(formatBytes(512)).toBe('512 B');
      expect(formatBytes(1023)).toBe('1023 B');
    });
  });

  describe('base 1024 with one decimal', () => {
    it('switches to KB at exactly 1024 bytes', () => {
      expect(formatBytes(1024)).toBe('1.0 KB');
    });

    it('prints 1536 bytes as "1.5 KB" (base 1024, not 1000)', () => {
      expect(formatBytes(1536)).toBe('1.5 KB');
      expect(formatBytes(1500)).toBe('1.5 KB');
      expect(formatBytes(2000)).toBe('2.0 KB');
    });

    it('prints a typical build folder in MB ("212.4 MB")', () => {
      expect(formatBytes(Math.round(212.4 * 1024 * 1024))).toBe('212.4 MB');
      expect(formatBytes(2.5 * 1024 * 1024)).toBe('2.5 MB');
    });

    it('prints a heavy build folder in GB ("1.2 GB")', () => {
      expect(formatBytes(Math.round(1.2 * 1024 ** 3))).toBe('1.2 GB');
    });

    it('goes up to TB and PB', () => {
      expect(formatBytes(3 * 1024 ** 4)).toBe('3.0 TB');
      expect(formatBytes(1024 ** 5)).toBe('1.0 PB');
    });

    it('keeps counting in PB past the last unit instead of running out of units', () => {
      expect(formatBytes(2048 * 1024 ** 5)).toBe('2048.0 PB');
    });

    it('always prints exactly one decimal above 1 KB', () => {
      for (const bytes of [1025, 10_000, 123_456_789, 9_876_543_210]) {
        expect(formatBytes(bytes)).toMatch(/^\d+\.\d [KMGTP]B$/);
      }
    });
  });

  describe('rounding carry', () => {
    it('prints 1023.96 KB as "1.0 MB", never "1024.0 KB"', () => {
      expect(formatBytes(1023.96 * 1024)).toBe('1.0 MB');
    });

    it('prints one byte short of 1 MB as "1.0 MB"', () => {
      expect(formatBytes(1024 * 1024 - 1)).toBe('1.0 MB');
    });

    it('prints one byte short of 1 GB as "1.0 GB"', () => {
      expect(formatBytes(1024 ** 3 - 1)).toBe('1.0 GB');
    });

    it('does not carry a value that rounds below 1024 ("1023.9 KB")', () => {
      expect(formatBytes(1023.9 * 1024)).toBe('1023.9 KB');
    });

    it('never prints a number of 1024 or more in any unit below PB', () => {
      for (let exp = 1; exp <= 4; exp++) {
        for (const delta of [-1, -50, -0.04 * 1024 ** exp]) {
          const out = formatBytes(1024 ** (exp + 1) + delta);
          expect(out.startsWith('1024'), out).toBe(false);
        }
      }
    });
  });
});
