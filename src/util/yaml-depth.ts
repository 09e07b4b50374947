/**
 * A cheap guard against YAML that nests too deeply to parse safely.
 *
 * The `yaml` library composes documents recursively. A few hundred levels
 * (`[[[[...`, `- - - - x`, or a staircase of indented keys) overflow the
 * stack; the library catches the RangeError and reports it as a document
 * error, but on Node 20 the overflow can strike inside V8's regexp
 * compiler, after which the *next* regexp compilation anywhere in the
 * process aborts it ("FATAL ERROR: RegExpCompiler Allocation failed").
 * Measured: two 2,000-deep documents parsed one after the other kill the
 * process. A 20 KB file dropped into the config dir must not do that, so
 * such text is refused before it reaches the parser.
 *
 * The estimate comes from the lexer alone (iterative, stops at the first
 * token past the limit, so a 4 MB bracket bomb costs microseconds and no
 * memory): open flow brackets, plus the number of distinct increasing
 * indentations of the enclosing block lines, plus the compact indicators
 * (`-`, `?`, `:`) on the current line. It may count a level twice but never
 * misses more than half of the real depth, and real ESPHome configs stay
 * under 20.
 */
import { yamlLib } from './yaml-lib.js';

/** Refuse anything nesting deeper than this; the parser overflows somewhere past 700. */
export const MAX_YAML_NESTING = 100;

/** Whether `text` nests deeper than `limit` (by the estimate above). */
export function yamlNestingExceeds(text: string, limit = MAX_YAML_NESTING): boolean {
  const indents: number[] = [];
  let flowDepth = 0;
  let indicators = 0;
  let atLineStart = true;
  let lineIndent = 0;
  let scalarSourceNext = false;

  const startLine = (): void => {
    atLineStart = false;
    if (flowDepth > 0) return;
    while (indents.length > 0 && (indents[indents.length - 1] as number) >= lineIndent) indents.pop();
    indents.push(lineIndent);
  };

  const { CST, Lexer } = yamlLib();
  for (const token of new Lexer().lex(text)) {
    if (scalarSourceNext) {
      // The source of a plain or block scalar (its type cannot be read from it).
      scalarSourceNext = false;
      if (atLineStart) startLine();
      if (token.endsWith('\n')) {
        // A block scalar ends with its last line break: the next token starts a line.
        atLineStart = true;
        lineIndent = 0;
        indicators = 0;
      }
      continue;
    }
    switch (CST.tokenType(token)) {
      case 'scalar':
        scalarSourceNext = true;
        continue;
      case 'newline':
        atLineStart = true;
        lineIndent = 0;
        indicators = 0;
        continue;
      case 'space':
        if (atLineStart && !token.includes('\n')) lineIndent = token.length;
        continue;
      case 'comment':
      case 'byte-order-mark':
      case 'doc-mode':
      case 'flow-error-end':
        continue;
      case 'doc-start':
      case 'doc-end':
        indents.length = 0;
        flowDepth = 0;
        continue;
      case 'flow-map-start':
      case 'flow-seq-start':
        if (atLineStart) startLine();
        flowDepth++;
        break;
      case 'flow-map-end':
      case 'flow-seq-end':
        if (atLineStart) startLine();
        flowDepth = Math.max(0, flowDepth - 1);
        break;
      case 'seq-item-ind':
      case 'explicit-key-ind':
      case 'map-value-ind':
        if (atLineStart) startLine();
        indicators++;
        break;
      default:
        if (atLineStart) startLine();
    }
    if (indents.length + indicators + flowDepth > limit) return true;
  }
  return false;
}
