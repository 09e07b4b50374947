/**
 * Defensive integer reads for the sidecar. The file is shared with the
 * Python Device Builder and open to hand edits, so a cached number may
 * arrive as anything; a wrong type must read as "nothing cached" (0) and
 * never fail a scan or a sweep.
 */
export function coerceSidecarInt(value: unknown): number {
  if (typeof value === 'number') {
    // Python's int() truncates floats; NaN/Infinity are not numbers to cache,
    // and neither is anything past 2^53 (a hand-edited 1e308 would show as a
    // size of 1e308 bytes): those read as nothing cached, like such strings.
    const whole = Math.trunc(value);
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
