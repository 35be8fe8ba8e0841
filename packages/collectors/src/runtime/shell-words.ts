// SPDX-License-Identifier: Apache-2.0
/**
 * Splits a shell command string into words and operators the way a POSIX
 * shell does before any expansion (XCU 2.2 "Quoting", 2.3 "Token
 * Recognition"), remembering for every character of a word where it came
 * from in the input. The redactor uses this to find a secret inside
 * `sh -c "…"` and mask exactly those characters of the original string,
 * without re-quoting or re-joining anything.
 *
 * Nothing is expanded: `$VAR` stays as written. `$(` and a backquote start a
 * new command (their contents run as one), a closing `)` or backquote ends
 * it. Unterminated quotes run to the end of the input: exec arguments can be
 * cut short by the kernel side's buffer.
 */

export interface ShellWord {
  kind: 'word';
  /** the word after quote removal */
  text: string;
  /** for each character of text, its offset in the input */
  at: number[];
}

export interface ShellOperator {
  kind: 'operator';
  text: string;
  /** true for command separators (`;`, `&&`, `|`, `(`, newline...), false for redirections */
  separates: boolean;
}

export type ShellToken = ShellWord | ShellOperator;

/** Longest first, so that `&&` is not read as two `&`. */
const OPERATORS = [
  '<<<',
  '&&',
  '||',
  ';;',
  '|&',
  '$(',
  '>>',
  '<<',
  '>&',
  '<&',
  '>|',
  '&>',
  '<>',
  ';',
  '&',
  '|',
  '(',
  ')',
  '`',
  '<',
  '>',
  '\n',
];
const REDIRECTIONS = new Set(['<<<', '>>', '<<', '>&', '<&', '>|', '&>', '<>', '<', '>']);
/** Characters after which a backslash inside double quotes is an escape (XCU 2.2.3). */
const DOUBLE_QUOTE_ESCAPES = new Set(['$', '`', '"', '\\', '\n']);

function operatorAt(input: string, i: number): string | undefined {
  for (const op of OPERATORS) if (input.startsWith(op, i)) return op;
  return undefined;
}

/** The words and operators of `input`, in order. Never throws. */
export function shellTokens(input: string): ShellToken[] {
  const tokens: ShellToken[] = [];
  let text = '';
  let at: number[] = [];
  // A word exists once a character or a quote was seen: '' is an (empty) word.
  let inWord = false;
  const endWord = () => {
    if (inWord) tokens.push({ kind: 'word', text, at });
    text = '';
    at = [];
    inWord = false;
  };
  const push = (c: string, i: number) => {
    text += c;
    at.push(i);
    inWord = true;
  };

  let i = 0;
  while (i < input.length) {
    const c = input[i] as string;
    if (c === ' ' || c === '\t') {
      endWord();
      i++;
      continue;
    }
    if (c === '\\') {
      const next = input[i + 1];
      if (next === '\n') {
        i += 2; // line continuation: removed
      } else if (next === undefined) {
        push(c, i++);
      } else {
        push(next, i + 1);
        i += 2;
      }
      continue;
    }
    if (c === "'") {
      inWord = true;
      i++;
      while (i < input.length && input[i] !== "'") push(input[i] as string, i++);
      i++; // the closing quote, if any
      continue;
    }
    if (c === '"') {
      inWord = true;
      i++;
      while (i < input.length && input[i] !== '"') {
        const d = input[i] as string;
        const next = input[i + 1];
        if (d === '\\' && next !== undefined && DOUBLE_QUOTE_ESCAPES.has(next)) {
          if (next !== '\n') push(next, i + 1);
          i += 2;
        } else {
          push(d, i++);
        }
      }
      i++;
      continue;
    }
    const op = operatorAt(input, i);
    if (op !== undefined) {
      endWord();
      tokens.push({ kind: 'operator', text: op, separates: !REDIRECTIONS.has(op) });
      i += op.length;
      continue;
    }
    push(c, i++);
  }
  endWord();
  return tokens;
}
