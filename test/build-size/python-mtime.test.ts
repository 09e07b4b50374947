/**
 * Whole-second mtimes must be the Python tool's `int(os.stat(p).st_mtime)`
 * to the bit, or a build-size pair cached by one tool reads as stale (or,
 * worse, fresh) to the other. Real python3 sets nanosecond mtimes on real
 * files and reports what it computes; we must compute the same.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILD_INFO_FILE, pythonWholeSeconds, readBuildDirSignal, wholeSecondMtime } from '../../src/build-size/freshness.js';

const NS = 1_000_000_000n;
const SEC = 1714900000;

/** What `Math.floor(stat.mtimeMs / 1000)` (our rule before) gives for an exact time. */
function oldRule(ns: bigint): number {
  const nsec = ((ns % NS) + NS) % NS;
  const sec = (ns - nsec) / NS;
  return Math.floor((Number(sec) * 1e3 + Number(nsec) / 1e6) / 1000);
}

/** nsec values in [from, 1e9) where Python's rule and `oldRule` disagree for `sec` (brute force). */
function disagreeing(sec: number, from: number): number[] {
  const out: number[] = [];
  for (let nsec = from; nsec < 1_000_000_000; nsec++) {
    const ns = BigInt(sec) * NS + BigInt(nsec);
    if (pythonWholeSeconds(ns) !== oldRule(ns)) out.push(nsec);
  }
  return out;
}

/** The first nsec at or after `from` where the float `sec + nsec * 1e-9` reaches the next second. */
function firstRoundUp(sec: number, from: number): number {
  for (let nsec = from; nsec < 1_000_000_000; nsec++) if (Math.trunc(sec + nsec * 1e-9) !== sec) return nsec;
  throw new Error(`no round-up for ${sec}`);
}

const PYTHON = String.raw`
import json, os, sys
out = []
for p, ns in json.load(sys.stdin):
    os.utime(p, ns=(ns, ns))
    st = os.stat(p)
    out.append([str(st.st_mtime_ns), int(st.st_mtime)])
print(json.dumps(out))
`;

interface PythonView {
  /** The exact time the file system kept (it may truncate what was set). */
  mtimeNs: bigint;
  /** Python's `int(os.stat(p).st_mtime)`. */
  whole: number;
}

/** Sets each file's mtime to `ns` with python3 and returns what Python reads back. */
function setWithPython(items: ReadonlyArray<[string, bigint]>): PythonView[] {
  const run = spawnSync('python3', ['-c', PYTHON], {
    input: `[${items.map(([p, ns]) => `[${JSON.stringify(p)}, ${ns}]`).join(',')}]`,
    encoding: 'utf8',
  });
  expect(run.error, 'python3 must be installed for this test').toBeUndefined();
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  return (JSON.parse(run.stdout) as [string, number][]).map(([ns, whole]) => ({ mtimeNs: BigInt(ns), whole }));
}

let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'python-mtime-'));
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('pythonWholeSeconds against real python3 on real files', () => {
  const roundUp = firstRoundUp(SEC, 999_999_000);
  const disagree = disagreeing(SEC, 999_999_000);
  const samples: Array<[string, bigint]> = [
    ['epoch + 1 ns', 1n],
    ['a plain time', BigInt(SEC) * NS + 123_456_789n],
    ['a whole second', BigInt(SEC) * NS],
    ['last ns before the float rounds up', BigInt(SEC) * NS + BigInt(roundUp - 1)],
    ['first ns where the float rounds up to the next second', BigInt(SEC) * NS + BigInt(roundUp)],
    ['the last ns of a second', BigInt(SEC) * NS + 999_999_999n],
    ...disagree.map((nsec): [string, bigint] => [`floor(mtimeMs/1000) disagrees at nsec ${nsec}`, BigInt(SEC) * NS + BigInt(nsec)]),
    ['2100, last ns', 4102444800n * NS + 999_999_999n],
    ['1 ns before 1970', -1n],
    ['exactly 1 s before 1970', -NS],
    ['1.5 s before 1970', -1_500_000_000n],
    ['1969-12-31 23:59:58.000000001 (float rounds to -1.999999999)', -2n * NS + 1n],
    ['2 s before 1970 plus 999999999 ns', -2n * NS + 999_999_999n],
    ['1950, with nanoseconds', -631152000n * NS + 987_654_321n],
  ];

  it('the brute force found the cases worth testing', () => {
    // At 2024 a double's spacing is ~238 ns: from ~119 ns before the second the float rounds up.
    expect(roundUp).toBeGreaterThan(999_999_800);
    // Where Python and floor(mtimeMs / 1000) part ways at 2024 (mtimeMs rounds up a little earlier).
    expect(disagree.length).toBeGreaterThan(0);
  });

  /** Python's view of each sample, set on its own file in one python3 run. */
  let views: Map<bigint, { file: string; python: PythonView }>;

  beforeAll(() => {
    const files = samples.map(([, ns]): [string, bigint] => [path.join(dir, `f${ns < 0n ? `m${-ns}` : ns}`), ns]);
    for (const [file] of files) fs.writeFileSync(file, 'x');
    const python = setWithPython(files);
    views = new Map(files.map(([file, ns], i) => [ns, { file, python: python[i] as PythonView }]));
  });

  it.each(samples)('%s', (_label, ns) => {
    const view = views.get(ns);
    if (!view) throw new Error('no python view');
    const mine = fs.statSync(view.file, { bigint: true }).mtimeNs;
    // The file system must keep what was set (ext4/tmpfs/xfs do), else the case proves nothing.
    expect(view.python.mtimeNs).toBe(ns);
    expect(mine).toBe(ns);
    expect(pythonWholeSeconds(mine)).toBe(view.python.whole);
    expect(wholeSecondMtime(view.file)).toBe(view.python.whole);
  });

  it('our old rule really differed on the sample (so the cases above can fail)', () => {
    const differing = samples.filter(([, ns]) => oldRule(ns) !== pythonWholeSeconds(ns)).map(([label]) => label);
    expect(differing).toContain('1 ns before 1970');
    expect(differing).toContain('1.5 s before 1970');
    expect(differing.some((label) => label.startsWith('floor(mtimeMs/1000) disagrees'))).toBe(true);
    expect(differing).not.toContain('a plain time');
  });

  it('readBuildDirSignal: Python whole seconds for both halves, exact ms as Node reports them', () => {
    const buildDir = path.join(dir, 'build-kitchen');
    fs.mkdirSync(buildDir);
    const info = path.join(buildDir, BUILD_INFO_FILE);
    fs.writeFileSync(info, '{}');
    const [forInfo, forDir] = setWithPython([
      [info, BigInt(SEC) * NS + BigInt(disagree[0] ?? roundUp)],
      [buildDir, -1_500_000_000n],
    ]);
    const signal = readBuildDirSignal(buildDir);
    expect(signal.infoMtime).toBe(forInfo?.whole);
    expect(signal.dirMtime).toBe(forDir?.whole);
    expect(signal.dirMtime).toBe(-1);
    expect(signal.infoMtimeMs).toBe(fs.statSync(info).mtimeMs);
    expect(signal.dirMtimeMs).toBe(fs.statSync(buildDir).mtimeMs);
  });

  it('a missing build folder reads as (0, 0)', () => {
    expect(readBuildDirSignal(path.join(dir, 'nope'))).toEqual({ dirMtime: 0, infoMtime: 0, dirMtimeMs: 0, infoMtimeMs: 0 });
    expect(wholeSecondMtime(path.join(dir, 'nope'))).toBe(0);
  });
});

describe('pythonWholeSeconds (pure)', () => {
  it('truncates toward zero before 1970 where a floor would go down', () => {
    expect(pythonWholeSeconds(-1n)).toBe(0);
    expect(pythonWholeSeconds(-NS)).toBe(-1);
    expect(pythonWholeSeconds(-NS - 1n)).toBe(-1);
    expect(pythonWholeSeconds(-2n * NS)).toBe(-2);
  });

  it('follows the float sum, not the exact value, at the top of a second', () => {
    const roundUp = firstRoundUp(SEC, 999_999_000);
    expect(pythonWholeSeconds(BigInt(SEC) * NS + BigInt(roundUp))).toBe(SEC + 1);
    expect(pythonWholeSeconds(BigInt(SEC) * NS + BigInt(roundUp - 1))).toBe(SEC);
  });
});
