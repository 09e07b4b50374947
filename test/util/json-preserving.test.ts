import { describe, expect, it } from 'vitest';
import { isNumberText, jsonEqual, parsePreserving, PreservedNumber, stringifyPreserving, toPlainJson } from '../../src/util/json-preserving.js';
import { runPython } from '../helpers/python.js';

/** Values Python writes that JSON.parse + JSON.stringify would change, with nesting and unicode. */
const PY_DOC = String.raw`
import json
doc = {
    "kitchen.yaml": {"friendly_name": "Küche 🍳", "build_size_bytes": 123456789, "ratio": 1.0},
    "big": 2**64 + 1,
    "huge": 10**30,
    "float_e5": 1e5,
    "float_e16": 1e16,
    "tiny": 1e-07,
    "neg_zero": -0.0,
    "plain": [0.1, 1.5, -3, 0],
    "nested": {"a": {"b": [1.0, {"c": 2.50}], "empty": {}, "none": [], "flag": True, "nothing": None}},
    "_preferences": {"columns": ["name", "build_size"], "ratio": 2.0},
    "text": "quote \" backslash \\ tab \t newline \n ctrl \u0001 slash /",
}
`;

describe('parsePreserving', () => {
  it('keeps numbers whose text round-trips as plain JS numbers', () => {
    const parsed = parsePreserving('{"a": 1, "b": -3, "c": 0.1, "d": 1714900000, "e": 1.5}') as Record<string, unknown>;
    expect(parsed).toEqual({ a: 1, b: -3, c: 0.1, d: 1714900000, e: 1.5 });
    for (const value of Object.values(parsed)) expect(typeof value).toBe('number');
  });

  it.each(['1.0', '1e5', '1E5', '100000.0', '1e+16', '1e-07', '-0', '-0.0', '2.50', '18446744073709551617', '1e400'])('keeps %s as its text', (text) => {
    const parsed = (parsePreserving(`[${text}]`) as unknown[])[0];
    expect(parsed).toBeInstanceOf(PreservedNumber);
    expect(isNumberText(parsed)).toBe(true);
    expect(stringifyPreserving([parsed])).toBe(`[${text}]`);
  });

  it('throws on invalid JSON, like JSON.parse', () => {
    for (const text of ['{"a": ', '', 'nope', '{"a": 1,}', "{'a': 1}"]) expect(() => parsePreserving(text)).toThrow();
  });

  it('keeps the last of duplicate keys, as Python json and orjson do', () => {
    expect(parsePreserving('{"a": 1, "a": 2}')).toEqual({ a: 2 });
    const fromPython = runPython('import json,sys; print(json.dumps(json.loads(sys.stdin.read())))', [], '{"a": 1, "a": 2}');
    expect(JSON.parse(fromPython)).toEqual({ a: 2 });
  });

  it('toPlainJson gives exactly what JSON.parse gives, "__proto__" keys included', () => {
    const text = '{"a": 1.0, "b": [1e5, {"c": 18446744073709551617}], "__proto__": {"x": 1}, "d": "s", "e": null, "f": -0.0}';
    const plain = toPlainJson(parsePreserving(text));
    expect(plain).toStrictEqual(JSON.parse(text));
    expect(Object.hasOwn(plain as object, '__proto__')).toBe(true);
    expect(Object.is((plain as { f: number }).f, -0)).toBe(true);
  });

  it('a preserved number in plain JSON.stringify (a log line, an API reply) is the JS number', () => {
    const parsed = parsePreserving('{"a": 1.0, "b": 1e5}');
    expect(JSON.stringify(parsed)).toBe('{"a":1,"b":100000}');
  });
});

describe('stringifyPreserving reproduces what Python wrote', () => {
  it('json.dumps(indent=2, ensure_ascii=False) output comes back byte for byte', () => {
    const text = runPython(`${PY_DOC}\nimport sys; sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False))`);
    // Without preserving, this text would not survive: 1.0, 1e+16, 2**64+1 would all change.
    expect(JSON.stringify(JSON.parse(text), null, 2)).not.toBe(text);
    expect(stringifyPreserving(parsePreserving(text), 2)).toBe(text);
  });

  it('orjson OPT_INDENT_2 output (the Python tool’s writer) comes back byte for byte', () => {
    const text = runPython(String.raw`
import orjson, sys
doc = {"kitchen.yaml": {"friendly_name": "Küche 🍳", "ratio": 1.0, "e16": 1e16, "tiny": 1e-07, "max": 2**64 - 1},
       "nested": {"a": [1.0, {"b": 2.5}], "empty": {}, "none": []}, "text": "q \" b \\ t \t ctrl \u0001"}
sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
`);
    expect(stringifyPreserving(parsePreserving(text), 2)).toBe(text);
  });

  it('Python reads our rewrite of its json.dump (ensure_ascii=True) as the same values and types', () => {
    const original = runPython(`${PY_DOC}\nimport sys; sys.stdout.write(json.dumps(doc, indent=2))`);
    const ours = stringifyPreserving(parsePreserving(original), 2);
    // Python repr of each side: 1.0 vs 1 or a rounded 2**64+1 would differ here even where == holds.
    const verdict = runPython(
      String.raw`
import json, sys
a, b = sys.stdin.read().split("\0")
x, y = json.loads(a), json.loads(b)
print(json.dumps({"equal": x == y, "same_repr": repr(x) == repr(y)}))
`,
      [],
      `${original}\0${ours}`,
    );
    expect(JSON.parse(verdict)).toEqual({ equal: true, same_repr: true });
  });
});

describe('jsonEqual (Python == on what json.load gives)', () => {
  const p = (text: string): unknown => parsePreserving(text);

  it.each([
    ['1.0 == 1', '1.0', '1'],
    ['1e0 == 1', '1e0', '1'],
    ['1e5 == 100000', '1e5', '100000'],
    ['0.10 == 0.1 (the same float)', '0.10', '0.1'],
    ['-0.0 == 0', '-0.0', '0'],
    ['2**64 as int == 2**64 as float', '18446744073709551616', '1.8446744073709552e19'],
    ['objects regardless of key order', '{"a": 1, "b": [1.0]}', '{"b": [1], "a": 1.0}'],
  ])('%s', (_label, left, right) => {
    expect(jsonEqual(p(left), p(right))).toBe(true);
    expect(jsonEqual(p(right), p(left))).toBe(true);
  });

  it.each([
    ['2**64 + 1 != 2**64 as float', '18446744073709551617', '1.8446744073709552e19'],
    ['2**64 + 1 != 2**64', '18446744073709551617', '18446744073709551616'],
    ['1 != 1.5', '1', '1.5'],
    ['0.1 as float != 1/10 as exact int ratio (0.1 != 0)', '0.1', '0'],
    ['true != 1', 'true', '1'],
    ['"1" != 1', '"1"', '1'],
    ['[1] != [1, 2]', '[1]', '[1, 2]'],
    ['{} != []', '{}', '[]'],
    ['{"a": 1} != {"a": 1, "b": null}', '{"a": 1}', '{"a": 1, "b": null}'],
  ])('%s', (_label, left, right) => {
    expect(jsonEqual(p(left), p(right))).toBe(false);
    expect(jsonEqual(p(right), p(left))).toBe(false);
  });

  it('agrees with Python on every pair of a mixed sample', () => {
    const texts = [
      '1',
      '1.0',
      '1e0',
      '2',
      '0.1',
      '0.10',
      '1e-1',
      '-0',
      '-0.0',
      '0',
      '18446744073709551617',
      '18446744073709551616',
      '1.8446744073709552e19',
      '9007199254740993',
      '9007199254740992',
      '9007199254740993.0',
      '1e400',
    ];
    const python = JSON.parse(
      runPython(
        String.raw`
import json, sys
vals = [json.loads(t) for t in json.load(sys.stdin)]
print(json.dumps([[a == b for b in vals] for a in vals]))
`,
        [],
        JSON.stringify(texts),
      ),
    ) as boolean[][];
    const ours = texts.map((a) => texts.map((b) => jsonEqual(p(a), p(b))));
    expect(ours).toEqual(python);
  });

  it('a key holding undefined counts as absent (it is never written)', () => {
    expect(jsonEqual({ a: 1, b: undefined }, { a: 1 })).toBe(true);
  });
});
