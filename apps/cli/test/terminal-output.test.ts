// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toJson } from '../src/cli-error';
import { formatResult } from '../src/commands/query-target';

const COMM = '\x1b]0;pwned\x07evil';
const PATH = '/tmp/\u202egpj.sh';
const result = {
  columns: [
    { name: 'comm', type: 'String' },
    { name: 'path', type: 'String' },
    { name: 'n', type: 'UInt64' },
  ],
  rows: [
    [COMM, PATH, 3],
    ['two\nlines\tand tab', 'a,"b"', 1],
  ],
} as Parameters<typeof formatResult>[0];
// eslint-disable-next-line no-control-regex -- what must not reach a terminal
const UNSAFE = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

test('query, top and crashes tables show control and bidi characters escaped', () => {
  const table = formatResult(result, 'table');
  assert.doesNotMatch(table, UNSAFE);
  const lines = table.split('\n');
  assert.equal(lines.length, 5, 'header, two rows, the count and the final newline');
  assert.match(lines[1]!, /^\\x1b\]0;pwned\\x07evil +\/tmp\/\\u202egpj\.sh +3$/);
  assert.match(lines[2]!, /^two\\x0alines\\x09and tab/);
});

test('CSV is escaped the same way and stays one record per line', () => {
  const csv = formatResult(result, 'csv');
  assert.doesNotMatch(csv, UNSAFE);
  assert.deepEqual(csv.split('\n'), [
    'comm,path,n',
    '\\x1b]0;pwned\\x07evil,/tmp/\\u202egpj.sh,3',
    'two\\x0alines\\x09and tab,"a,""b""",1',
    '',
  ]);
});

test('JSON output keeps every value exactly and carries no raw control or bidi character', () => {
  const json = formatResult(result, 'json');
  assert.doesNotMatch(json, UNSAFE);
  assert.deepEqual(JSON.parse(json), [
    { comm: COMM, path: PATH, n: 3 },
    { comm: 'two\nlines\tand tab', path: 'a,"b"', n: 1 },
  ]);
  assert.equal(toJson({ s: '\u2028\x9b' }, 0), '{"s":"\\u2028\\u009b"}');
});
