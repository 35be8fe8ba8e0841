// SPDX-License-Identifier: Apache-2.0
/**
 * Text that customers control (a process's comm and argv, paths, host labels,
 * any cell of a query) is printed on an administrator's terminal. A terminal
 * acts on control characters: ESC and the C1 range start sequences that set
 * the window title, move the cursor, rewrite what is on screen or, on some
 * terminals, answer with input; CR and BS overwrite a line; the Unicode bidi
 * overrides and isolates (UAX #9) reorder what is shown so a cell reads
 * differently from its bytes. Such characters are shown as visible escapes.
 */

/**
 * C0 controls (newline and tab included: a cell is one line), DEL, C1
 * controls, and the bidi embeddings, overrides (U+202A-U+202E) and isolates
 * (U+2066-U+2069).
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE_FOR_TERMINAL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** Also escaped in JSON output: the line and paragraph separators break lines in some viewers. */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const hex = (c: string, width: number) => c.charCodeAt(0).toString(16).padStart(width, '0');

/**
 * `text` with every unsafe character written as a visible escape: `\x1b`
 * for C0, DEL and C1, `\u202e` for the bidi characters. A backslash is left
 * as it is: the escapes are for reading, not for decoding back.
 */
export function escapeForTerminal(text: string): string {
  return text.replace(UNSAFE_FOR_TERMINAL, (c) =>
    c.charCodeAt(0) <= 0xff ? `\\x${hex(c, 2)}` : `\\u${hex(c, 4)}`,
  );
}

/**
 * JSON text (as JSON.stringify made it) with DEL, C1, the line separators
 * and the bidi characters written as \u escapes. JSON.stringify already
 * escapes C0; the result parses to the same value.
 */
export function escapeJsonForTerminal(json: string): string {
  return json.replace(UNSAFE_IN_JSON, (c) => `\\u${hex(c, 4)}`);
}
