/**
 * The spellings a person types for the reclaim policy (issue 14): sizes
 * (`20GB`, `500 MB`, `1.5GiB`), ages (`30d`, `12h`) and free-space
 * thresholds (`10%` or a size), parsed into bytes and seconds, and printed
 * back the same way.
 *
 * Why its own module: the server's `reclaim/set_policy`, the CLI's options
 * and the stored policy all take these spellings, and a wrong value must be
 * refused the same way everywhere, with a message that names the field and
 * shows what would have been accepted.
 *
 * Size units, case-insensitive, with or without a space before them:
 *
 * | spelling | factor |
 * | --- | --- |
 * | none, `B` | 1 (bytes) |
 * | `k`, `kB`, `M`, `MB`, `G`, `GB`, `T`, `TB` | decimal: 1000, 1000², 1000³, 1000⁴ (as disk makers and `df -H` count) |
 * | `KiB`, `MiB`, `GiB`, `TiB` | binary: 1024, 1024², 1024³, 1024⁴ |
 *
 * A fraction is allowed (`1.5GiB`) and rounded to whole bytes. Plain numbers
 * are bytes. Refused: negatives, NaN/Infinity, empty text, more than 2^53
 * bytes, and anything else (`20 GBs`, `20GB free`, `1e9`).
 *
 * Ages: `s`, `m` (minutes), `h`, `d`, `w` (and `sec`, `min`, `hour(s)`,
 * `day(s)`, `week(s)`); plain numbers are seconds.
 *
 * Printing ({@link formatSize}, {@link formatAge}) gives a spelling that
 * parses back to the same number when one exists (`20 GB`, `1.5 GiB`,
 * `30d`), so the page can show a saved policy the way it was typed.
 */
import type { FreeSpaceThreshold } from '../shared/reclaim.js';

/** A policy value that cannot be used; `field` names it as the user typed it (`max_total`, `older_than`, ...). */
export class ReclaimInputError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'ReclaimInputError';
  }
}

const SIZE_EXAMPLES = 'use e.g. 20GB, 500 MB, 1.5GiB';
const AGE_EXAMPLES = 'use e.g. 30d, 12h, 90m, 2w';
const FREE_EXAMPLES = 'use e.g. 10%, 5GB, 500 MB';

const SIZE_FACTORS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

const AGE_FACTORS: Readonly<Record<string, number>> = {
  '': 1,
  s: 1,
  sec: 1,
  m: 60,
  min: 60,
  h: 3600,
  hour: 3600,
  hours: 3600,
  d: 86_400,
  day: 86_400,
  days: 86_400,
  w: 604_800,
  week: 604_800,
  weeks: 604_800,
};

/** A number, optional spaces, an optional unit of letters; nothing else. */
const SPELLING = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*$/i;

/** Shows the offending value in an error as typed (quoted when it is text). */
function shown(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** A plain number as whole units: a finite, non-negative integer no larger than 2^53. */
function wholeNumber(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= Number.MAX_SAFE_INTEGER;
}

function parseScaled(text: string | number, field: string, factors: Readonly<Record<string, number>>, what: string, examples: string): number {
  if (typeof text === 'number') {
    if (!wholeNumber(text))
      throw new ReclaimInputError(field, `${shown(text)} is not ${what} (${examples}; a plain number must be a whole number from 0 to 2^53)`);
    return text;
  }
  if (typeof text !== 'string') throw new ReclaimInputError(field, `${shown(text)} is not ${what} (${examples})`);
  const match = SPELLING.exec(text);
  const factor = match ? factors[(match[2] ?? '').toLowerCase()] : undefined;
  if (!match || factor === undefined) throw new ReclaimInputError(field, `${shown(text)} is not ${what} (${examples})`);
  const value = Math.round(Number(match[1]) * factor);
  if (!wholeNumber(value)) throw new ReclaimInputError(field, `${shown(text)} is too large (at most 2^53)`);
  return value;
}

/** Bytes from `20GB`, `500 MB`, `1.5GiB`, `750M`, `1024` or a number of bytes; see the module header for the units. */
export function parseSize(text: string | number, field: string): number {
  return parseScaled(text, field, SIZE_FACTORS, 'a size', SIZE_EXAMPLES);
}

/** Seconds from `30d`, `12h`, `90m`, `2w` or a number of seconds. */
export function parseAge(text: string | number, field: string): number {
  return parseScaled(text, field, AGE_FACTORS, 'an age', AGE_EXAMPLES);
}

/** `10%` (a share of the file system, strictly between 0 and 100) or a size. */
export function parseFreeSpace(text: string | number, field: string): FreeSpaceThreshold {
  if (typeof text === 'string' && text.trim().endsWith('%')) {
    const number = text.trim().slice(0, -1).trim();
    const percent = /^(\d+(?:\.\d+)?|\.\d+)$/.test(number) ? Number(number) : NaN;
    if (!(percent > 0 && percent < 100))
      throw new ReclaimInputError(field, `${shown(text)} is not a share of the disk (a percentage above 0 and below 100, e.g. 10%)`);
    return { percent };
  }
  return { bytes: parseScaled(text, field, SIZE_FACTORS, 'a free-space threshold', FREE_EXAMPLES) };
}

// The spellings back (`20 GB`, `30d`, `10%`) live beside the wire types, for the page too.
export { formatAge, formatSize, formatThreshold } from '../shared/reclaim.js';
