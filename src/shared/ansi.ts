/**
 * The one definition of "an ANSI escape" for the server and the page.
 *
 * ESPHome and PlatformIO write coloured, cursor-moving output, and some tools
 * in the build chain emit OSC sequences (window titles, `ESC ] 8` hyperlinks).
 * The page renders SGR colours and drops the rest; the server only needs the
 * plain text (to spot the last `ERROR` line of a failed job). Two hand-written
 * patterns drifted apart once (the server's missed OSC), so both sides take
 * the grammar from here.
 */

/**
 * CSI (`ESC [ params intermediates final`, group 1 = params, group 2 = final),
 * OSC (`ESC ] ... BEL` or `ESC ] ... ESC \`, also unterminated up to the next
 * ESC), or a two-byte escape (a lone ESC is swallowed too).
 */
// eslint-disable-next-line no-control-regex
const ESCAPE_SOURCE = /\x1b\[([0-9;:?]*)[ -/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]?/.source;

/** C0 control characters other than tab and newline, and DEL. */
// eslint-disable-next-line no-control-regex
export const ANSI_CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/g;

/**
 * A fresh global matcher for escape sequences. Fresh because a `g` regex
 * carries `lastIndex`: a parser that walks matches with `exec` owns its own.
 */
export function ansiEscapePattern(): RegExp {
  return new RegExp(ESCAPE_SOURCE, 'g');
}

const ESCAPES = ansiEscapePattern();

/** Plain text of a line: escape sequences and control characters (but tab and newline) removed. */
export function stripAnsi(line: string): string {
  // `replace` with a global regex resets and ignores lastIndex, so sharing ESCAPES is safe.
  return line.replace(ESCAPES, '').replace(ANSI_CONTROL, '');
}
