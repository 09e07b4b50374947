/**
 * JSON that keeps the numbers we do not touch exactly as they were written.
 *
 * The shared sidecar and the Python tool's per-instance store are written by
 * Python (orjson, or `json.dump`), whose numbers JavaScript cannot always
 * hold: `1.0` is a float to Python but `1` after `JSON.parse` +
 * `JSON.stringify`, `2**64 + 1` loses its last digits in a double, and `1e5`
 * comes back as `100000`. When we rewrite such a file to change one device,
 * every value we did not touch must reach the Python tool unchanged, so:
 *
 * - {@link parsePreserving} keeps a number as a plain JS number only when
 *   its text round-trips exactly (`String(Number(t)) === t`); every other
 *   number becomes a {@link PreservedNumber} holding its original text.
 * - {@link stringifyPreserving} writes a PreservedNumber back as that text.
 * - A PreservedNumber that reaches plain `JSON.stringify` (a log line, an API
 *   reply) turns into the JS number, as `JSON.parse` would have given.
 * - {@link toPlainJson} turns a preserving tree into what `JSON.parse` would
 *   have returned, for readers that only look at values.
 * - {@link jsonEqual} compares values the way Python's `==` does for the
 *   values `json.load` gives (`1.0 == 1`, `0.10 == 0.1`, but
 *   `2**64 + 1 != 2**64`), so "did this update change anything" does not
 *   depend on how a number happened to be spelled.
 *
 * Duplicate keys keep the last value, as Python's `json` and orjson do.
 */
import { isLosslessNumber, LosslessNumber, parse, stringify } from 'lossless-json';

/** A JSON number whose text a JS number cannot reproduce; stringifies back to that text. */
export class PreservedNumber extends LosslessNumber {
  /** For plain `JSON.stringify` (logs, API replies): the nearest JS number, as `JSON.parse` gives. */
  toJSON(): number {
    return Number(this.value);
  }
}

/** Whether `value` is a number kept as text (ours or any lossless-json number). */
export function isNumberText(value: unknown): value is LosslessNumber {
  return isLosslessNumber(value);
}

function parseNumber(text: string): number | PreservedNumber {
  const number = Number(text);
  return String(number) === text ? number : new PreservedNumber(text);
}

/** Parses JSON text; throws a SyntaxError for invalid JSON, like `JSON.parse`. */
export function parsePreserving(text: string): unknown {
  return parse(text, null, { parseNumber, onDuplicateKey: ({ newValue }) => newValue });
}

/** JSON text with `indent` spaces; preserved numbers come out as their original text. */
export function stringifyPreserving(value: unknown, indent?: number): string {
  const text = stringify(value, undefined, indent);
  if (text === undefined) throw new TypeError('value has no JSON representation');
  return text;
}

/** What `JSON.parse` would have returned for the same text: preserved numbers become JS numbers. */
export function toPlainJson(value: unknown): unknown {
  if (isLosslessNumber(value)) return Number(value.value);
  if (Array.isArray(value)) return value.map(toPlainJson);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      // defineProperty, not assignment: a "__proto__" key stays a plain key, as in JSON.parse.
      Object.defineProperty(out, key, { value: toPlainJson(item), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return value;
}

/** An exact decimal: (-1)^neg × digits × 10^exp, digits without leading or trailing zeros ('' for zero). */
interface Decimal {
  neg: boolean;
  digits: string;
  exp: bigint;
}

function normalize(neg: boolean, rawDigits: string, exp: bigint): Decimal {
  const digits = rawDigits.replace(/^0+/, '');
  const trimmed = digits.replace(/0+$/, '');
  if (trimmed === '') return { neg: false, digits: '', exp: 0n };
  return { neg, digits: trimmed, exp: exp + BigInt(digits.length - trimmed.length) };
}

const INTEGER_TEXT = /^-?\d+$/;

/** An integer's text as an exact decimal. */
function decimalOfInteger(text: string): Decimal {
  const neg = text.startsWith('-');
  return normalize(neg, neg ? text.slice(1) : text, 0n);
}

/** The exact value of a finite double as a decimal (every double is a finite decimal). */
function decimalOfDouble(value: number): Decimal {
  if (value === 0) return { neg: false, digits: '', exp: 0n };
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, value);
  const bits = view.getBigUint64(0);
  const biased = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & ((1n << 52n) - 1n);
  const mantissa = biased === 0 ? fraction : fraction | (1n << 52n);
  const exp2 = biased === 0 ? -1074 : biased - 1075;
  // m × 2^e: an integer for e >= 0, else m × 5^-e / 10^-e.
  if (exp2 >= 0) return normalize(value < 0, (mantissa << BigInt(exp2)).toString(), 0n);
  return normalize(value < 0, (mantissa * 5n ** BigInt(-exp2)).toString(), BigInt(exp2));
}

function isNumeric(value: unknown): value is number | LosslessNumber {
  return typeof value === 'number' || isLosslessNumber(value);
}

/**
 * A JSON number as Python's `json` holds it: integer text is an exact int,
 * anything with a fraction or exponent is a float (the same double JS's
 * `Number` gives); a JS number is its double.
 */
function pythonValue(value: number | LosslessNumber): number | Decimal {
  if (typeof value === 'number') return value;
  return INTEGER_TEXT.test(value.value) ? decimalOfInteger(value.value) : Number(value.value);
}

/** Python's `==` between two JSON numbers: exact, also between an int and a float. */
function numbersEqual(a: number | LosslessNumber, b: number | LosslessNumber): boolean {
  const left = pythonValue(a);
  const right = pythonValue(b);
  if (typeof left === 'number' && typeof right === 'number') return left === right;
  if ((typeof left === 'number' && !Number.isFinite(left)) || (typeof right === 'number' && !Number.isFinite(right))) return false;
  const x = typeof left === 'number' ? decimalOfDouble(left) : left;
  const y = typeof right === 'number' ? decimalOfDouble(right) : right;
  return x.neg === y.neg && x.digits === y.digits && x.exp === y.exp;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !isLosslessNumber(value);
}

/**
 * Deep equality of JSON values as Python compares what `json.load` gives:
 * integer text is an exact int, other number text a float (double), and an
 * int equals a float only when their values are exactly equal (`1.0 == 1`,
 * `1e0 == 1`); objects compare regardless of key order. A key holding `undefined` counts as absent (it is not written).
 */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (isNumeric(a) && isNumeric(b)) return numbersEqual(a, b);
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, i) => jsonEqual(item, b[i]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const keysA = Object.keys(a).filter((key) => a[key] !== undefined);
    const keysB = Object.keys(b).filter((key) => b[key] !== undefined);
    return keysA.length === keysB.length && keysA.every((key) => Object.hasOwn(b, key) && jsonEqual(a[key], b[key]));
  }
  return false;
}
