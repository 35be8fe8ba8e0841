// SPDX-License-Identifier: Apache-2.0
/**
 * The embedded store on real chDB: JSONEachRow rows come back unchanged
 * (escapes, arrays, 64-bit values as strings, unknown fields skipped,
 * missing ones defaulted), a block is queryable once insert() resolves, and a
 * ReplacingMergeTree keyed on (batch_id, row_idx) collapses a block inserted
 * twice under FINAL.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { EmbeddedStore } from '../src';

let store: EmbeddedStore;
const dir = mkdtempSync(join(tmpdir(), 'fleettrace-store-test-'));

before(async () => {
  store = new EmbeddedStore({ dataDir: dir });
  await store.command(`CREATE TABLE t (
    s String, a Array(String), u UInt64, i Int64, n Nullable(Int32), b UInt8, time DateTime('UTC'), batch_id UInt64, row_idx UInt32
  ) ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMMDD(time) ORDER BY (batch_id, row_idx)`);
});

after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

test('rows survive JSONEachRow; a block stored twice collapses under FINAL', async () => {
  const nasty = [
    'tab\there',
    'new\nline',
    'quote \' " and \\ backslash',
    'ünïcødé ✓',
    '\u0000nul',
    "[']",
  ];
  const payload = Buffer.from(
    nasty
      .map((s, row_idx) =>
        JSON.stringify({
          s,
          a: [s, 'x'],
          u: '18446744073709551615',
          i: '-5',
          n: row_idx === 0 ? null : -1,
          b: true,
          time: 1_700_000_000,
          batch_id: '1',
          row_idx,
          not_a_column: { skipped: true },
        }),
      )
      .join('\n') + '\n',
  );
  await store.insert('t', payload);
  const rows = await store.select<Record<string, unknown>>(
    'SELECT s, a, toString(u) AS u, toString(i) AS i, n, b, toString(time) AS time FROM t ORDER BY row_idx',
  );
  assert.deepEqual(
    rows.map((r) => r.s),
    nasty,
  );
  assert.deepEqual(rows[0], {
    s: nasty[0],
    a: [nasty[0], 'x'],
    u: '18446744073709551615',
    i: '-5',
    n: null,
    b: 1,
    time: '2023-11-14 22:13:20',
  });
  assert.equal(rows[1]!.n, -1);

  await store.insert('t', payload);
  const [c] = await store.select<{ all: string; final: string }>(
    'SELECT (SELECT count() FROM t) AS all, (SELECT count() FROM t FINAL) AS final',
  );
  assert.equal(Number(c!.all), nasty.length * 2);
  assert.equal(Number(c!.final), nasty.length);
});
