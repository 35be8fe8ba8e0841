// SPDX-License-Identifier: Apache-2.0
/** Shell word splitting for the redactor: quoting, operators, and where each character came from. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { shellTokens, type ShellWord } from '../src/runtime/shell-words';

const texts = (input: string) =>
  shellTokens(input).map((t) => (t.kind === 'word' ? t.text : `<${t.text}>`));

test('quotes are removed, their contents kept whole', () => {
  assert.deepEqual(texts(`a 'b c' "d e" f\\ g ''`), ['a', 'b c', 'd e', 'f g', '']);
  assert.deepEqual(texts(`x="a b"'c'd`), ['x=a bcd']);
});

test('a backslash escapes in double quotes only before $ ` " \\ and newline', () => {
  assert.deepEqual(texts(`"a\\"b" "c\\d" 'e\\f'`), ['a"b', 'c\\d', 'e\\f']);
});

test('operators split words; redirections do not separate commands', () => {
  const tokens = shellTokens('a&&b|c;d>e 2>&1 $(f) `g`');
  assert.deepEqual(
    tokens.map((t) =>
      t.kind === 'word' ? t.text : `<${t.text}${t.separates ? '' : ' redirect'}>`,
    ),
    [
      'a',
      '<&&>',
      'b',
      '<|>',
      'c',
      '<;>',
      'd',
      '<> redirect>',
      'e',
      '2',
      '<>& redirect>',
      '1',
      '<$(>',
      'f',
      '<)>',
      '<`>',
      'g',
      '<`>',
    ],
  );
});

test('each character of a word points at its place in the input', () => {
  const input = `--password="two words"`;
  const word = shellTokens(input)[0] as ShellWord;
  assert.equal(word.text, '--password=two words');
  const start = word.at[11] as number;
  const end = (word.at[word.text.length - 1] as number) + 1;
  assert.equal(input.slice(start, end), 'two words');
});

test('an unterminated quote runs to the end (arguments cut by the kernel buffer)', () => {
  assert.deepEqual(texts(`echo "abc def`), ['echo', 'abc def']);
  assert.deepEqual(texts(`echo 'abc`), ['echo', 'abc']);
});
