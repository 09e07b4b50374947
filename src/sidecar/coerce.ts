/**
 * Defensive integer reads for the sidecar. The file is shared with the
 * Python Device Builder and open to hand edits, so a cached number may
 * arrive as anything; a wrong type must read as "nothing cached" (0) and
 * never fail a scan or a sweep.
 *
 * Inside a read-modify-write the file is parsed preserving
 * (util/json-preserving.ts): a number JS cannot reproduce (`1.0`, `12.90`,
 * `1e5`, an integer past 2^53) arrives as its text. Python's `json` reads
 * such text as a float (any `.`/exponent) or an exact int; `int()` of either
 * is what we return, with the same safe-integer limit as plain numbers.
 */
import { isNumberText } from '../util/json-preserving.js';

export function coerceSidecarInt(value: unknown): number {
  // Number(text) rounds exactly as Python's float(text) does; an integer
  // text that is not a safe integer fails the check below either way.
  if (isNumberText(value)) return coerceSidecarInt(Number(value.value));
  if (typeof value === 'number') {
    // Python's int() truncates floats; NaN/Infinity are not numbers to cache,
    // and neither is anything past 2^53 (a hand-edited 1e308 would show as a
    // size of 1e308 bytes): those read as nothing cached, like such strings.
    // `+ 0`: trunc(-0.5) is -0, Python's int(-0.5) is 0.
    const whole = Math.trunc(value) + 0;
    return Number.isSafeInteger(whole) ? whole : 0;
  }
  if (typeof value === 'string') {
    // Python's int("12.7") raises, so only an optionally signed run of digits counts.
    const trimmed = value.trim();
    if (!/^[+-]?\d+$/.test(trimmed)) return 0;
    const parsed = Number(trimmed);
    return Number.isSafeInteger(parsed) ? parsed : 0;
  }
  // JSON booleans are Python bools, which int() accepts; keep parity.
  if (typeof value === 'boolean') return value ? 1 : 0;
  return 0;
}
