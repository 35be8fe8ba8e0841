// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { escapeForTerminal, escapeJsonForTerminal, renderTable } from '../src/index';

const TITLE_SETTER = '\x1b]0;pwned\x07evil';
// "exe.txt" written right to left after the override: shows as "txt.exe" reversed.
const BIDI = 'invoice\u202etxt.exe';
// eslint-disable-next-line no-control-regex -- what must not reach a terminal
const TABLE_UNSAFE = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;
// eslint-disable-next-line no-control-regex -- what escapeJsonForTerminal leaves out
const JSON_UNSAFE = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

test('control and bidi characters are shown as visible escapes', () => {
  assert.equal(escapeForTerminal(TITLE_SETTER), '\\x1b]0;pwned\\x07evil');
  assert.equal(escapeForTerminal(BIDI), 'invoice\\u202etxt.exe');
  assert.equal(escapeForTerminal('a\nb\tc\rd\x7fe\x9bf'), 'a\\x0ab\\x09c\\x0dd\\x7fe\\x9bf');
  for (const c of ['\u202a', '\u202d', '\u2066', '\u2069'])
    assert.equal(escapeForTerminal(c), `\\u${c.charCodeAt(0).toString(16)}`);
  assert.equal(escapeForTerminal('plain ünïcode 名前 \\x1b'), 'plain ünïcode 名前 \\x1b');
});

test('renderTable escapes every cell and aligns on what it shows', () => {
  const out = renderTable(
    ['COMM', 'PID'],
    [
      [TITLE_SETTER, 1],
      [BIDI, 22],
    ],
  );
  assert.doesNotMatch(out, TABLE_UNSAFE);
  assert.equal(
    out,
    [`${'COMM'.padEnd(20)}  PID`, '\\x1b]0;pwned\\x07evil    1', 'invoice\\u202etxt.exe   22'].join(
      '\n',
    ),
  );
});

test('JSON keeps its value and loses the characters a terminal acts on', () => {
  const value = { comm: TITLE_SETTER, path: BIDI, sep: 'a\u2028b', c1: '\x85' };
  const json = escapeJsonForTerminal(JSON.stringify(value));
  assert.doesNotMatch(json, JSON_UNSAFE);
  assert.deepEqual(JSON.parse(json), value);
  assert.match(json, /invoice\\u202etxt\.exe/);
});
