/**
 * The module map in docs/ARCHITECTURE.md matches the code, the layering
 * rules hold, and the import extraction behind both counts every kind of
 * import (scripts/module-map.mjs).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

interface ImportEdge {
  from: string;
  specifier: string;
  to: string | null;
}
interface CheckResult {
  ok: boolean;
  problems: string[];
  expected: string;
  actual: string | null;
  violations: { rule: string; from: string; to: string; why: string }[];
  staleExceptions: unknown[];
  missing: string[];
}
interface ModuleMap {
  ROOT: string;
  BEGIN: string;
  END: string;
  KNOWN_EXCEPTIONS: { rule: string; from: string; to: string; reason: string }[];
  extractImports(source: string, fileName?: string): string[];
  nodeOf(file: string): string;
  scan(root?: string): { files: Map<string, string[]>; imports: ImportEdge[] };
  checkRules(
    scanned: { imports: ImportEdge[] },
    exceptions?: { rule: string; from: string; to: string; reason: string }[],
  ): { violations: { rule: string; from: string }[]; staleExceptions: unknown[] };
  check(root?: string): CheckResult;
  lineDiff(before: string, after: string): string;
}

// A plain-JS script without type declarations: imported by URL, typed here.
const scriptUrl = pathToFileURL(path.resolve(import.meta.dirname, '..', '..', 'scripts', 'module-map.mjs')).href;
const map = (await import(scriptUrl)) as ModuleMap;

const temps: string[] = [];
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

/** A throwaway repository: files by relative path. */
function fixture(files: Record<string, string>): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'module-map-'));
  temps.push(root);
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), text);
  }
  return root;
}

describe('the repository', () => {
  it('docs/ARCHITECTURE.md holds the current module map and every layering rule holds', () => {
    const result = map.check();
    // The problems, not just `false`, when it fails: they say what to run or fix.
    expect(result.problems).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.actual).toBe(result.expected);
  });

  it('the known exceptions are each named by rule and file, with a reason', () => {
    for (const exception of map.KNOWN_EXCEPTIONS) {
      expect(exception.rule).toMatch(/\S/);
      expect(exception.from).toMatch(/^(src|web\/src)\/.+\.ts$/);
      expect(exception.reason).toMatch(/\S/);
    }
  });

  it('the map shows the page reaching src/ only through shared', () => {
    const { expected } = map.check();
    expect(expected).toContain('n_web_state --> n_shared');
    expect(expected).not.toMatch(/n_web_\w+ --> n_(?!web_|shared\b)/);
    expect(expected).toMatch(/^\| `shared\/` \| \d+ \| — \|$/m);
  });
});

describe('extractImports', () => {
  it('counts static, type-only, re-export, dynamic, require and import-type specifiers, in order', () => {
    const source = [
      "import a from './a.js';",
      "import { b, type B } from '../b/b.js';",
      "import type { C } from './c.js';",
      "import './side-effect.js';",
      'import {',
      '  d,',
      '  e,',
      "} from './multi-line.js';",
      "export { f } from './f.js';",
      "export * from './star.js';",
      "export type { G } from './g.js';",
      "import h = require('./h.js');",
      "const i = await import('./dynamic.js');",
      'const j = await import(`./template.js`);',
      "type K = typeof import('./type-query.js');",
      "const l = require('./required.js');",
      "import { pino } from 'pino';",
      "import fs from 'node:fs';",
    ].join('\n');
    expect(map.extractImports(source)).toEqual([
      './a.js',
      '../b/b.js',
      './c.js',
      './side-effect.js',
      './multi-line.js',
      './f.js',
      './star.js',
      './g.js',
      './h.js',
      './dynamic.js',
      './template.js',
      './type-query.js',
      './required.js',
      'pino',
      'node:fs',
    ]);
  });

  it('ignores what only looks like an import: comments, strings, computed specifiers', () => {
    const source = [
      "// import x from './commented.js';",
      "/* export * from './block-comment.js'; */",
      'const text = "import y from \'./in-a-string.js\'";',
      'const code = `import(${JSON.stringify(url)})`;',
      'const name = "./computed.js";',
      'await import(name);',
      'await import(`./${name}`);',
      "exportedFrom('./not-an-import.js');",
    ].join('\n');
    expect(map.extractImports(source)).toEqual([]);
  });
});

describe('nodeOf', () => {
  it('names folders under src/ and web/src/, and top-level files', () => {
    expect(map.nodeOf('src/api/ws-api.ts')).toBe('api');
    expect(map.nodeOf('src/cli.ts')).toBe('cli.ts');
    expect(map.nodeOf('web/src/state/store.ts')).toBe('web/state');
    expect(map.nodeOf('web/src/main.ts')).toBe('web/main.ts');
    expect(map.nodeOf('test/helpers/x.ts')).toBe('test/');
  });
});

describe('check on a small repository', () => {
  const doc = (block: string) => `# Doc\n\n${map.BEGIN}\n${block}${map.END}\n`;

  it('passes when fresh, and says what changed when stale', () => {
    const root = fixture({
      'src/util/log.ts': "import { pino } from 'pino';\nexport const log = pino;\n",
      'src/api/hub.ts': "import { log } from '../util/log.js';\nexport const hub = log;\n",
      'docs/ARCHITECTURE.md': doc(''),
    });
    const stale = map.check(root);
    expect(stale.ok).toBe(false);
    expect(stale.problems[0]).toContain('module map is stale; run npm run docs:map');
    expect(stale.problems[0]).toContain('+   n_api --> n_util');

    writeFileSync(path.join(root, 'docs/ARCHITECTURE.md'), doc(stale.expected));
    expect(map.check(root).problems).toEqual([]);

    writeFileSync(path.join(root, 'src/api/hub.ts'), "import type { Logger } from '../util/log.js';\nimport '../metadata/store.js';\n");
    mkdirSync(path.join(root, 'src/metadata'));
    writeFileSync(path.join(root, 'src/metadata/store.ts'), 'export {};\n');
    const again = map.check(root);
    expect(again.ok).toBe(false);
    expect(again.problems[0]).toContain('+   n_api --> n_metadata');
  });

  it('refuses every layering violation, naming the file', () => {
    const root = fixture({
      'src/shared/format.ts': "import path from 'node:path';\nimport { log } from '../util/log.js';\nexport const f = [path, log];\n",
      'src/util/log.ts': "import { hub } from '../api/hub.js';\nimport { shared } from '../shared/ok.js';\nexport const log = [hub, shared];\n",
      'src/shared/ok.ts': 'export const shared = 1;\n',
      'src/api/hub.ts':
        "import { client } from '../../web/src/client.js';\nimport { helper } from '../../test/helpers/h.js';\nexport const hub = [client, helper];\n",
      'web/src/client.ts':
        "import { hub } from '../../src/api/hub.js';\nimport { shared } from '../../src/shared/ok.js';\nexport const client = [hub, shared];\n",
      'test/helpers/h.ts': 'export const helper = 1;\n',
      'docs/ARCHITECTURE.md': doc(''),
    });
    const { violations } = map.checkRules(map.scan(root));
    expect(violations.map((v) => `${v.rule} ${v.from}`)).toEqual([
      'src-not-web-or-test src/api/hub.ts',
      'src-not-web-or-test src/api/hub.ts',
      'shared-is-self-contained src/shared/format.ts',
      'shared-is-self-contained src/shared/format.ts',
      'util-is-a-leaf src/util/log.ts',
      'web-only-via-shared web/src/client.ts',
    ]);
    const problems = map.check(root).problems.join('\n');
    expect(problems).toContain('layering rule shared-is-self-contained: src/shared/format.ts imports the package node:path');
    expect(problems).toContain('layering rule util-is-a-leaf: src/util/log.ts imports src/api/hub.ts');
    expect(problems).toContain('layering rule web-only-via-shared: web/src/client.ts imports src/api/hub.ts');
  });

  it('lets a listed exception through, and reports one that no longer matches', () => {
    const root = fixture({
      'src/util/log.ts': "import '../api/hub.js';\n",
      'src/api/hub.ts': 'export {};\n',
    });
    const listed = { rule: 'util-is-a-leaf', from: 'src/util/log.ts', to: 'src/api/hub.ts', reason: 'test' };
    const gone = { rule: 'util-is-a-leaf', from: 'src/util/other.ts', to: 'src/api/hub.ts', reason: 'fixed since' };
    const result = map.checkRules(map.scan(root), [listed, gone]);
    expect(result.violations).toEqual([]);
    expect(result.staleExceptions).toEqual([gone]);
  });

  it('refuses a doc that names a src/ file that does not exist, or has no markers', () => {
    const root = fixture({
      'src/api/hub.ts': 'export {};\n',
      'docs/ARCHITECTURE.md': 'The hub is `src/api/hub.ts`; the bus was `src/api/bus.ts`, the page `web/src/gone.ts`.\n',
    });
    const { problems } = map.check(root);
    expect(problems).toContain('docs/ARCHITECTURE.md names src/api/bus.ts, which does not exist');
    expect(problems).toContain('docs/ARCHITECTURE.md names web/src/gone.ts, which does not exist');
    expect(problems.join('\n')).toContain('no <!-- module-map:begin --> ... <!-- module-map:end --> block');
  });
});

describe('lineDiff', () => {
  it('marks removed and added lines with context', () => {
    expect(map.lineDiff('a\nb\nc\nd\ne\nf', 'a\nb\nX\nd\ne\nf')).toBe('  b\n- c\n+ X\n  d\n  ...');
  });
});
