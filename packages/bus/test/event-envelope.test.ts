// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { packRows, ROWS_ENCODING, rowLine, unpackRows } from '../src/event-envelope';

describe('rowLine', () => {
  test('bigints become decimal strings at the top level, in arrays and in nested objects', () => {
    const row = {
      ts_ns: 1_764_000_000_123_456_789n,
      pid: 7,
      comm: 'php-fpm',
      args: [1n, 18_446_744_073_709_551_615n],
      errnos: { EAGAIN: 3 },
      nested: { at: 5n },
      empty: [] as bigint[],
      none: null,
    };
    assert.deepEqual(JSON.parse(rowLine(row)), {
      ts_ns: '1764000000123456789',
      pid: 7,
      comm: 'php-fpm',
      args: ['1', '18446744073709551615'],
      errnos: { EAGAIN: 3 },
      nested: { at: '5' },
      empty: [],
      none: null,
    });
  });

  test('leaves the row it serializes as it was (one row goes to several jobs)', () => {
    const args = [2n];
    const nested = { at: 5n };
    const row = { ts_ns: 9n, pid: 1, args, nested };
    const first = rowLine(row);
    assert.equal(row.ts_ns, 9n);
    assert.equal(row.args, args);
    assert.equal(row.nested, nested);
    assert.deepEqual(Object.keys(row), ['ts_ns', 'pid', 'args', 'nested']);
    assert.equal(rowLine(row), first);
  });

  test('packed lines unpack to the same rows', async () => {
    const rows = [
      { ts_ns: 1n, pid: 2 },
      { ts_ns: 3n, pid: 4, comm: 'sh' },
    ];
    const bytes = await packRows(rows.map(rowLine));
    assert.deepEqual(await unpackRows(ROWS_ENCODING, bytes, 2), [
      { ts_ns: '1', pid: 2 },
      { ts_ns: '3', pid: 4, comm: 'sh' },
    ]);
  });
});
