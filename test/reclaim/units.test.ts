import { describe, expect, it } from 'vitest';
import { formatAge, formatSize, formatThreshold, parseAge, parseFreeSpace, parseSize, ReclaimInputError } from '../../src/reclaim/units.js';

describe('parseSize (bytes from the documented spellings)', () => {
  it.each([
    ['20GB', 20e9],
    ['20 GB', 20e9],
    ['20gb', 20e9],
    ['500 MB', 500e6],
    ['750M', 750e6],
    ['1.5GiB', 1.5 * 1024 ** 3],
    ['2 TiB', 2 * 1024 ** 4],
    ['1 TB', 1e12],
    ['4kB', 4000],
    ['4 KiB', 4096],
    ['3 k', 3000],
    ['1024', 1024],
    ['  7 b ', 7],
    ['.5 MB', 500_000],
    ['0', 0],
    [1024, 1024],
    [0, 0],
  ] as const)('%s → %d bytes', (text, bytes) => {
    expect(parseSize(text, 'max_total')).toBe(bytes);
  });

  it.each([
    ['20 GBs'],
    ['20GB free'],
    ['-5GB'],
    ['GB'],
    [''],
    ['   '],
    ['NaN'],
    ['Infinity'],
    ['1e9'],
    ['0x10'],
    ['1,5GB'],
    ['10%'],
    ['20 G B'],
    ['99999999999 TB'],
    [-1],
    [Number.NaN],
    [Number.POSITIVE_INFINITY],
    [1.5],
    [2 ** 53 + 2],
  ] as const)('refuses %s, naming the field and the accepted spellings', (text) => {
    let caught: unknown;
    try {
      parseSize(text, 'max_total');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ReclaimInputError);
    const error = caught as ReclaimInputError;
    expect(error.field).toBe('max_total');
    expect(error.message.startsWith('max_total: ')).toBe(true);
  });

  it('says what would have been accepted', () => {
    expect(() => parseSize('20 GBs', 'max_total')).toThrow('max_total: "20 GBs" is not a size (use e.g. 20GB, 500 MB, 1.5GiB)');
  });
});

describe('parseAge (seconds)', () => {
  it.each([
    ['30d', 30 * 86_400],
    ['12h', 12 * 3600],
    ['90m', 90 * 60],
    ['2w', 14 * 86_400],
    ['45s', 45],
    ['3 days', 3 * 86_400],
    ['1 week', 604_800],
    ['36H', 36 * 3600],
    ['1.5d', 129_600],
    ['3600', 3600],
    [7200, 7200],
  ] as const)('%s → %d s', (text, seconds) => {
    expect(parseAge(text, 'older_than')).toBe(seconds);
  });

  it.each([['30 dayz'], ['1y'], ['-3d'], [''], ['d'], ['30d ago'], [-5], [1.5], [Number.NaN]] as const)('refuses %s naming the field', (text) => {
    expect(() => parseAge(text, 'unused_older_than')).toThrow(ReclaimInputError);
    expect(() => parseAge(text, 'unused_older_than')).toThrow(/^unused_older_than: .*use e\.g\. 30d, 12h, 90m, 2w/);
  });
});

describe('parseFreeSpace (a percentage or a size)', () => {
  it.each([
    ['10%', { percent: 10 }],
    [' 12.5 % ', { percent: 12.5 }],
    ['5GB', { bytes: 5e9 }],
    ['500 MB', { bytes: 500e6 }],
    [1_000_000, { bytes: 1_000_000 }],
  ] as const)('%s → %o', (text, threshold) => {
    expect(parseFreeSpace(text, 'min_free')).toEqual(threshold);
  });

  it.each([['0%'], ['100%'], ['150%'], ['-5%'], ['%'], ['ten%'], ['5 GBs'], ['']] as const)('refuses %s naming the field', (text) => {
    expect(() => parseFreeSpace(text, 'min_free')).toThrow(ReclaimInputError);
    expect(() => parseFreeSpace(text, 'min_free')).toThrow(/^min_free: /);
  });
});

describe('printing back', () => {
  it.each([
    [20e9, '20 GB'],
    [1.5 * 1024 ** 3, '1.5 GiB'],
    [500e6, '500 MB'],
    [4096, '4 KiB'],
    [1_230_000, '1.23 MB'],
    [1_234_567, '1234567 B'],
    [1_234_567_891, '1234567891 B'],
    [512, '512 B'],
  ] as const)('formatSize(%d) = %s and parses back to the same bytes', (bytes, text) => {
    expect(formatSize(bytes)).toBe(text);
    expect(parseSize(text, 'max_total')).toBe(bytes);
  });

  it.each([
    [30 * 86_400, '30d'],
    [14 * 86_400, '14d'],
    [12 * 3600, '12h'],
    [90 * 60, '90m'],
    [45, '45s'],
  ] as const)('formatAge(%d) = %s and parses back', (seconds, text) => {
    expect(formatAge(seconds)).toBe(text);
    expect(parseAge(text, 'older_than')).toBe(seconds);
  });

  it('formatThreshold', () => {
    expect(formatThreshold({ percent: 10 })).toBe('10%');
    expect(formatThreshold({ bytes: 5e9 })).toBe('5 GB');
  });
});
