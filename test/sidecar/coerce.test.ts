import { describe, expect, it } from 'vitest';
import { coerceSidecarInt } from '../../src/sidecar/coerce.js';
import { parsePreserving, PreservedNumber } from '../../src/util/json-preserving.js';

describe('coerceSidecarInt (cached integers read defensively)', () => {
  describe('anything that is not a whole number reads as 0', () => {
    it.each([
      ['null', null],
      ['undefined (missing key)', undefined],
      ['an empty string', ''],
      ['a whitespace-only string', '   '],
      ['a decimal string "12.7"', '12.7'],
      ['a non-numeric string "abc"', 'abc'],
      ['digits with trailing junk "12abc"', '12abc'],
      ['an exponent string "1e3"', '1e3'],
      ['a hex string "0x10"', '0x10'],
      ['an empty object', {}],
      ['an object with a value', { value: 5 }],
      ['an empty array', []],
      ['an array holding a number', [5]],
    ])('%s → 0', (_label, value) => {
      expect(coerceSidecarInt(value)).toBe(0);
    });

    it('NaN → 0', () => {
      expect(coerceSidecarInt(Number.NaN)).toBe(0);
    });

    it('Infinity and -Infinity → 0', () => {
      expect(coerceSidecarInt(Number.POSITIVE_INFINITY)).toBe(0);
      expect(coerceSidecarInt(Number.NEGATIVE_INFINITY)).toBe(0);
    });

    it('a digit string beyond the safe-integer range → 0 rather than a rounded value', () => {
      expect(coerceSidecarInt('99999999999999999999')).toBe(0);
    });

    it('a number beyond the safe-integer range (a hand-edited 1e308) → 0', () => {
      expect(coerceSidecarInt(1e308)).toBe(0);
      expect(coerceSidecarInt(-3e20)).toBe(0);
      expect(coerceSidecarInt(2 ** 53)).toBe(0);
      expect(coerceSidecarInt(2 ** 53 - 1)).toBe(2 ** 53 - 1);
    });
  });

  describe('whole numbers are kept', () => {
    it('a plain integer is returned as is', () => {
      expect(coerceSidecarInt(123456789)).toBe(123456789);
      expect(coerceSidecarInt(0)).toBe(0);
    });

    it('a digit string "1714900000" reads as 1714900000', () => {
      expect(coerceSidecarInt('1714900000')).toBe(1714900000);
    });

    it('a digit string with surrounding whitespace reads as its number (like Python int())', () => {
      expect(coerceSidecarInt(' 42\n')).toBe(42);
    });

    it('a signed digit string reads with its sign', () => {
      expect(coerceSidecarInt('+7')).toBe(7);
      expect(coerceSidecarInt('-7')).toBe(-7);
    });

    it('negative integers are kept', () => {
      expect(coerceSidecarInt(-5)).toBe(-5);
      expect(coerceSidecarInt(-1714900000)).toBe(-1714900000);
    });

    it('a size past 4 GiB survives (no 32-bit truncation)', () => {
      expect(coerceSidecarInt(5 * 1024 ** 3)).toBe(5 * 1024 ** 3);
      expect(coerceSidecarInt(String(5 * 1024 ** 3))).toBe(5 * 1024 ** 3);
    });
  });

  describe('floats truncate like Python int()', () => {
    it('12.9 → 12', () => {
      expect(coerceSidecarInt(12.9)).toBe(12);
    });

    it('-12.9 → -12 (toward zero, not floor)', () => {
      expect(coerceSidecarInt(-12.9)).toBe(-12);
    });

    it('0.5 → 0', () => {
      expect(coerceSidecarInt(0.5)).toBe(0);
    });

    it('-0.5 and -0 → 0, never -0 (Python ints have no negative zero)', () => {
      expect(Object.is(coerceSidecarInt(-0.5), 0)).toBe(true);
      expect(Object.is(coerceSidecarInt(-0), 0)).toBe(true);
    });
  });

  describe('booleans follow Python int(bool)', () => {
    it('true → 1, false → 0', () => {
      expect(coerceSidecarInt(true)).toBe(1);
      expect(coerceSidecarInt(false)).toBe(0);
    });
  });

  describe('numbers kept as text by the preserving parse read as Python int() of what json.load gives', () => {
    it.each([
      ['1.0', 1],
      ['1714900000.0', 1714900000],
      ['1e5', 100000],
      ['1E5', 100000],
      ['1.5e3', 1500],
      ['-0', 0],
      ['-0.0', 0],
      ['12.90', 12],
      ['9007199254740991.0', 9007199254740991],
    ])('%s → %d', (text, expected) => {
      const parsed = (parsePreserving(`{"v": ${text}}`) as { v: unknown }).v;
      // Each of these is text JS cannot reproduce, so it reaches us as a PreservedNumber.
      expect(parsed).toBeInstanceOf(PreservedNumber);
      expect(coerceSidecarInt(parsed)).toBe(expected);
    });

    it.each([
      ['an integer past 2^53 (2**64 + 1)', '18446744073709551617'],
      ['2**53 + 1', '9007199254740993'],
      ['a float past 2^53', '1e20'],
      ['an overflowing float', '1e400'],
    ])('%s → 0, like an unsafe plain number', (_label, text) => {
      const parsed = (parsePreserving(`{"v": ${text}}`) as { v: unknown }).v;
      expect(parsed).toBeInstanceOf(PreservedNumber);
      expect(coerceSidecarInt(parsed)).toBe(0);
    });
  });

  it('always returns an integer for arbitrary JSON values', () => {
    const samples: unknown[] = [null, 1.5, -0.1, 'x', '12', [], {}, true, 3e20, -3e20, '007'];
    for (const value of samples) {
      expect(Number.isInteger(coerceSidecarInt(value)), JSON.stringify(value)).toBe(true);
    }
  });
});
