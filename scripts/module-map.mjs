#!/usr/bin/env node
/**
 * The module map: which folder imports which, read from the code, and the
 * layering rules that keep the shared code shareable.
 *
 *   node scripts/module-map.mjs            prints the map (Markdown) to stdout
 *   node scripts/module-map.mjs --write    rewrites it in docs/ARCHITECTURE.md
 *   node scripts/module-map.mjs --check    exits 1 when that copy is stale, a
 *                                          layering rule is broken, or the doc
 *                                          names a src/ file that does not exist
 *
 * Imports are read with the TypeScript parser (not a regex), so multi-line
 * imports, `import type`, `export ... from`, `import('...')` with a string
 * literal, `typeof import('...')` and `require('...')` all count, and text
 * that only looks like an import (comments, template strings) does not.
 * Only relative specifiers make edges; packages and `node:` builtins do not
 * (but `src/shared/` may import neither, see {@link RULES}). Worker entry
 * points loaded by URL (`new Worker(new URL('./walk-worker.js', ...))`) are
 * not imports and are not drawn.
 *
 * A node is a folder directly under `src/` (`api`, `jobs`, ...) or a file
 * directly in it (`cli.ts`); the page's code (`web/src/`) is a separate
 * group whose nodes are prefixed `web/`. Everything is sorted, so the output
 * only changes when the code does.
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DOC = 'docs/ARCHITECTURE.md';
export const BEGIN = '<!-- module-map:begin -->';
export const END = '<!-- module-map:end -->';

/** The groups scanned: where their files are, and the prefix of their node names. */
const GROUPS = [
  { name: 'src', dir: 'src', prefix: '' },
  { name: 'web', dir: 'web/src', prefix: 'web/' },
];

/**
 * Imports that break a rule today and are accepted, each named by rule,
 * importing file and imported file (repository-relative), with the reason.
 * An entry that no longer matches anything fails the check, so this list
 * only shrinks. Empty: the code satisfied every rule when the rules were
 * written.
 * @type {{ rule: string, from: string, to: string, reason: string }[]}
 */
export const KNOWN_EXCEPTIONS = [];

// ---------------------------------------------------------------------------
// Import extraction

/**
 * Every module specifier a TypeScript source names as an import, in source
 * order: static imports (type-only too), re-exports, `import x = require()`,
 * `import('...')` and `require('...')` with a string literal, and
 * `import('...')` types. Dynamic imports of computed strings are skipped.
 * @param {string} sourceText
 * @param {string} [fileName]
 * @returns {string[]}
 */
export function extractImports(sourceText, fileName = 'module.ts') {
  const source = ts.createSourceFile(fileName, sourceText, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  /** @type {string[]} */
  const found = [];
  /** @param {ts.Node | undefined} node */
  const literal = (node) => {
    if (node && (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node))) found.push(node.text);
  };
  /** @param {ts.Node} node */
  const visit = (node) => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) {
      literal(node.moduleSpecifier);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      literal(node.moduleReference.expression);
    } else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const dynamicImport = callee.kind === ts.SyntaxKind.ImportKeyword;
      const requireCall = ts.isIdentifier(callee) && callee.text === 'require';
      if ((dynamicImport || requireCall) && node.arguments.length >= 1) literal(node.arguments[0]);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      literal(node.argument.literal);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

// ---------------------------------------------------------------------------
// Files and nodes

/**
 * Every `.ts` file under `dir` (absolute paths, sorted).
 * @param {string} dir
 * @returns {string[]}
 */
function listTs(dir) {
  if (!existsSync(dir)) return [];
  /** @type {string[]} */
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listTs(full));
    else if (entry.isFile() && entry.name.endsWith('.ts')) out.push(full);
  }
  return out.sort();
}

/**
 * The file a relative specifier names, as the compiler and Vite would find
 * it (`./x.js` is `./x.ts`); the plain resolved path when nothing matches.
 * @param {string} fromFile absolute
 * @param {string} specifier relative
 */
function resolveRelative(fromFile, specifier) {
  const base = path.resolve(path.dirname(fromFile), specifier);
  const candidates = [base];
  const ext = path.extname(base);
  if (ext === '.js') candidates.push(`${base.slice(0, -3)}.ts`);
  if (ext === '.mjs') candidates.push(`${base.slice(0, -4)}.mts`);
  if (ext === '') candidates.push(`${base}.ts`, path.join(base, 'index.ts'));
  for (const candidate of candidates) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  return candidates[candidates.length - 1] ?? base;
}

/**
 * The node a repository-relative path belongs to: `api` for
 * `src/api/x.ts`, `cli.ts` for `src/cli.ts`, `web/state` for
 * `web/src/state/x.ts`; anything else by its first folder (`test`, `web`, ...).
 * @param {string} file repository-relative, `/`-separated
 */
export function nodeOf(file) {
  for (const group of GROUPS) {
    if (file.startsWith(`${group.dir}/`)) {
      const [first = ''] = file.slice(group.dir.length + 1).split('/');
      return `${group.prefix}${first}`;
    }
  }
  const [first = file] = file.split('/');
  return first === file ? file : `${first}/`;
}

/**
 * @typedef {{ from: string, specifier: string, to: string | null }} ImportEdge
 *   `from` and `to` repository-relative; `to` null for a package or builtin.
 * @typedef {{ files: Map<string, string[]>, imports: ImportEdge[] }} Scan
 */

/**
 * Reads every scanned file and its imports.
 * @param {string} [root]
 * @returns {Scan}
 */
export function scan(root = ROOT) {
  /** @type {Map<string, string[]>} */
  const files = new Map();
  /** @type {ImportEdge[]} */
  const imports = [];
  for (const group of GROUPS) {
    for (const file of listTs(path.join(root, group.dir))) {
      const from = path.relative(root, file).split(path.sep).join('/');
      const specifiers = extractImports(readFileSync(file, 'utf8'), file);
      files.set(from, specifiers);
      for (const specifier of specifiers) {
        const relative = specifier.startsWith('./') || specifier.startsWith('../');
        const to = relative ? path.relative(root, resolveRelative(file, specifier)).split(path.sep).join('/') : null;
        imports.push({ from, specifier, to });
      }
    }
  }
  return { files, imports };
}

// ---------------------------------------------------------------------------
// The graph

/**
 * Folder-level graph: per node, how many files it holds, and per imported
 * node, how many of its files import it.
 * @param {Scan} scanned
 */
export function buildGraph(scanned) {
  /** @type {Map<string, { files: number, deps: Map<string, Set<string>> }>} */
  const nodes = new Map();
  const nodeFor = (/** @type {string} */ name) => {
    let node = nodes.get(name);
    if (!node) {
      node = { files: 0, deps: new Map() };
      nodes.set(name, node);
    }
    return node;
  };
  for (const file of scanned.files.keys()) nodeFor(nodeOf(file)).files++;
  for (const { from, to } of scanned.imports) {
    if (to === null) continue;
    const source = nodeOf(from);
    const target = nodeOf(to);
    if (source === target) continue;
    const deps = nodeFor(source).deps;
    deps.set(target, (deps.get(target) ?? new Set()).add(from));
  }
  return nodes;
}

const compare = (/** @type {string} */ a, /** @type {string} */ b) => (a < b ? -1 : a > b ? 1 : 0);

/** @param {string} name */
const mermaidId = (name) => `n_${name.replace(/[^A-Za-z0-9]/g, '_')}`;

/**
 * The generated Markdown: a Mermaid flowchart and a table.
 * @param {ReturnType<typeof buildGraph>} graph
 */
export function render(graph) {
  const names = [...graph.keys()].sort(compare);
  // Nodes outside both groups (`test/`, ...) only appear when a rule is broken.
  const outside = names.filter((name) => name.endsWith('/'));
  const web = names.filter((name) => name.startsWith('web/') && !outside.includes(name));
  const server = names.filter((name) => !name.startsWith('web/') && !outside.includes(name));
  const edges = names.flatMap((name) => [...(graph.get(name)?.deps.keys() ?? [])].sort(compare).map((to) => [name, to]));
  const fileCount = names.reduce((sum, name) => sum + (graph.get(name)?.files ?? 0), 0);
  const lines = [
    `Generated by \`npm run docs:map\` (\`scripts/module-map.mjs\`) from the imports of ${fileCount} files;`,
    '`npm run lint` fails when this copy is stale. An arrow means "imports".',
    '',
    '```mermaid',
    'flowchart LR',
  ];
  const declare = (/** @type {string} */ name, /** @type {string} */ label) => `    ${mermaidId(name)}["${label}"]`;
  lines.push('  subgraph src["src/"]');
  for (const name of server) lines.push(declare(name, name));
  lines.push('  end');
  if (web.length > 0) {
    lines.push('  subgraph web["web/src/"]');
    for (const name of web) lines.push(declare(name, name.slice('web/'.length)));
    lines.push('  end');
  }
  for (const name of outside) lines.push(`  ${mermaidId(name)}["${name}"]`);
  for (const [from, to] of edges) lines.push(`  ${mermaidId(from ?? '')} --> ${mermaidId(to ?? '')}`);
  lines.push('```', '', '| folder | files | imports (how many of its files) |', '| --- | ---: | --- |');
  // Folders end in `/` in the table; `shared/` is src/shared/ from either group.
  const label = (/** @type {string} */ name) => (name.endsWith('.ts') || name.endsWith('/') ? name : `${name}/`);
  for (const name of names) {
    const node = graph.get(name);
    if (!node) continue;
    const deps = [...node.deps.entries()].sort(([a], [b]) => compare(a, b)).map(([to, from]) => `\`${label(to)}\` (${from.size})`);
    lines.push(`| \`${label(name)}\` | ${node.files} | ${deps.length > 0 ? deps.join(', ') : '—'} |`);
  }
  const cycles = folderCycles(graph);
  lines.push(
    '',
    cycles.length === 0
      ? 'No folder-level cycles.'
      : `Folder-level cycles (folders that import each other, directly or through others): ${cycles
          .map((cycle) => cycle.map((name) => `\`${label(name)}\``).join(' ⇄ '))
          .join('; ')}.`,
  );
  return `${lines.join('\n')}\n`;
}

/**
 * The strongly connected components of more than one node (Tarjan), each
 * sorted, sorted by their first node: folders that import each other.
 * @param {ReturnType<typeof buildGraph>} graph
 * @returns {string[][]}
 */
export function folderCycles(graph) {
  let counter = 0;
  /** @type {Map<string, { index: number, low: number }>} */
  const seen = new Map();
  /** @type {string[]} */
  const stack = [];
  const onStack = new Set();
  /** @type {string[][]} */
  const components = [];
  const visit = (/** @type {string} */ name) => {
    const mark = { index: counter, low: counter };
    counter++;
    seen.set(name, mark);
    stack.push(name);
    onStack.add(name);
    for (const next of [...(graph.get(name)?.deps.keys() ?? [])].sort(compare)) {
      const known = seen.get(next);
      if (!known) {
        visit(next);
        mark.low = Math.min(mark.low, seen.get(next)?.low ?? mark.low);
      } else if (onStack.has(next)) {
        mark.low = Math.min(mark.low, known.index);
      }
    }
    if (mark.low !== mark.index) return;
    /** @type {string[]} */
    const component = [];
    let member;
    do {
      member = stack.pop() ?? name;
      onStack.delete(member);
      component.push(member);
    } while (member !== name);
    if (component.length > 1) components.push(component.sort(compare));
  };
  for (const name of [...graph.keys()].sort(compare)) if (!seen.has(name)) visit(name);
  return components.sort((a, b) => compare(a[0] ?? '', b[0] ?? ''));
}

// ---------------------------------------------------------------------------
// Layering rules

/**
 * Each rule judges one import (`to` is null for a package or builtin) and
 * returns why it is refused, or null.
 * @type {{ id: string, text: string, refuses: (edge: ImportEdge) => string | null }[]}
 */
export const RULES = [
  {
    id: 'shared-is-self-contained',
    text: 'src/shared/ imports nothing outside src/shared/ (the page bundles it: no packages, no node: builtins)',
    refuses: ({ from, to, specifier }) => {
      if (!from.startsWith('src/shared/')) return null;
      if (to === null) return `imports the package ${specifier}`;
      return to.startsWith('src/shared/') ? null : `imports ${to}`;
    },
  },
  {
    id: 'util-is-a-leaf',
    text: 'src/util/ imports only src/util/ and src/shared/ (packages allowed)',
    refuses: ({ from, to }) =>
      from.startsWith('src/util/') && to !== null && !to.startsWith('src/util/') && !to.startsWith('src/shared/') ? `imports ${to}` : null,
  },
  {
    id: 'src-not-web-or-test',
    text: 'nothing in src/ imports from web/ or test/',
    refuses: ({ from, to }) => (from.startsWith('src/') && to !== null && (to.startsWith('web/') || to.startsWith('test/')) ? `imports ${to}` : null),
  },
  {
    id: 'web-only-via-shared',
    text: 'web/src/ imports from src/ only through src/shared/',
    refuses: ({ from, to }) => (from.startsWith('web/src/') && to !== null && to.startsWith('src/') && !to.startsWith('src/shared/') ? `imports ${to}` : null),
  },
];

/**
 * Broken rules, known exceptions left out; plus exceptions that no longer
 * match any import (stale entries).
 * @param {Scan} scanned
 * @param {typeof KNOWN_EXCEPTIONS} [exceptions]
 */
export function checkRules(scanned, exceptions = KNOWN_EXCEPTIONS) {
  /** @type {{ rule: string, from: string, to: string, why: string }[]} */
  const violations = [];
  const used = new Set();
  for (const edge of scanned.imports) {
    for (const rule of RULES) {
      const why = rule.refuses(edge);
      if (why === null) continue;
      const target = edge.to ?? edge.specifier;
      const exception = exceptions.find((e) => e.rule === rule.id && e.from === edge.from && e.to === target);
      if (exception) used.add(exception);
      else violations.push({ rule: rule.id, from: edge.from, to: target, why });
    }
  }
  const staleExceptions = exceptions.filter((e) => !used.has(e));
  return { violations, staleExceptions };
}

// ---------------------------------------------------------------------------
// The document

/**
 * The text between the markers, or null when they are missing.
 * @param {string} doc
 */
export function currentBlock(doc) {
  const begin = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  if (begin < 0 || end < begin) return null;
  return doc.slice(begin + BEGIN.length, end).replace(/^\n/, '');
}

/**
 * `doc` with the block between the markers replaced.
 * @param {string} doc
 * @param {string} block
 */
export function replaceBlock(doc, block) {
  const begin = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`${DOC} has no ${BEGIN} ... ${END} markers`);
  return `${doc.slice(0, begin + BEGIN.length)}\n${block}${doc.slice(end)}`;
}

/**
 * `src/...ts` and `web/src/...ts` paths the doc names that do not exist.
 * @param {string} doc
 * @param {string} [root]
 */
export function missingPaths(doc, root = ROOT) {
  const named = new Set(doc.match(/(?<![\w/.-])(?:web\/)?src\/[\w./-]*[\w-]\.ts\b/g) ?? []);
  return [...named].filter((file) => !existsSync(path.join(root, file))).sort(compare);
}

/**
 * A line diff (longest common subsequence), `-` for the doc's lines and `+`
 * for the code's, with a line of context either side of each change.
 * @param {string} before
 * @param {string} after
 */
export function lineDiff(before, after) {
  const a = before.split('\n');
  const b = after.split('\n');
  const lcs = Array.from({ length: a.length + 1 }, () => new Array(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  /** @type {[string, string][]} */
  const ops = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      ops.push([' ', a[i] ?? '']);
      i++;
      j++;
    } else if (j < b.length && (i >= a.length || lcs[i][j + 1] > lcs[i + 1][j])) {
      ops.push(['+', b[j++] ?? '']);
    } else {
      ops.push(['-', a[i++] ?? '']);
    }
  }
  const near = (/** @type {number} */ k) => ops.slice(Math.max(0, k - 1), k + 2).some(([op]) => op !== ' ');
  return ops
    .map(([op, line], k) => (op !== ' ' || near(k) ? `${op} ${line}` : null))
    .map((line, k, all) => (line === null && all[k - 1] !== null && k > 0 ? '  ...' : line))
    .filter((line) => line !== null)
    .join('\n');
}

/**
 * Everything `--check` looks at; `ok` when the doc's map matches the code,
 * every layering rule holds, and every src/ path the doc names exists.
 * @param {string} [root]
 */
export function check(root = ROOT) {
  const scanned = scan(root);
  const expected = render(buildGraph(scanned));
  const docPath = path.join(root, DOC);
  const doc = existsSync(docPath) ? readFileSync(docPath, 'utf8') : '';
  const actual = currentBlock(doc);
  const { violations, staleExceptions } = checkRules(scanned);
  const missing = missingPaths(doc, root);
  /** @type {string[]} */
  const problems = [];
  if (actual === null) {
    problems.push(`${DOC}: no ${BEGIN} ... ${END} block; add the markers, then run npm run docs:map`);
  } else if (actual !== expected) {
    problems.push(`${DOC}: the module map is stale; run npm run docs:map (- in the doc, + from the code):\n${lineDiff(actual, expected)}`);
  }
  for (const v of violations) problems.push(`layering rule ${v.rule}: ${v.from} ${v.why}`);
  for (const e of staleExceptions) {
    problems.push(`known exception no longer needed (remove it from KNOWN_EXCEPTIONS): ${e.rule}: ${e.from} -> ${e.to}`);
  }
  for (const file of missing) problems.push(`${DOC} names ${file}, which does not exist`);
  return { ok: problems.length === 0, problems, expected, actual, violations, staleExceptions, missing };
}

// ---------------------------------------------------------------------------
// CLI

function main() {
  const args = process.argv.slice(2);
  const mode = args.includes('--check') ? 'check' : args.includes('--write') ? 'write' : 'print';
  const unknown = args.filter((arg) => arg !== '--check' && arg !== '--write');
  if (unknown.length > 0) {
    console.error(`usage: node scripts/module-map.mjs [--write | --check]  (unknown: ${unknown.join(' ')})`);
    process.exit(2);
  }
  if (mode === 'print') {
    process.stdout.write(render(buildGraph(scan())));
    return;
  }
  if (mode === 'write') {
    const docPath = path.join(ROOT, DOC);
    const doc = readFileSync(docPath, 'utf8');
    const next = replaceBlock(doc, render(buildGraph(scan())));
    if (next !== doc) writeFileSync(docPath, next);
    console.log(next === doc ? `${DOC}: module map already up to date` : `${DOC}: module map rewritten`);
  }
  const result = check();
  if (!result.ok) {
    console.error(`module-map: ${result.problems.length} problem(s)\n\n${result.problems.join('\n\n')}`);
    process.exit(1);
  }
  if (mode === 'check') console.log(`module-map: ${DOC} is up to date; ${RULES.length} layering rules hold`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
