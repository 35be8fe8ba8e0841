// SPDX-License-Identifier: Apache-2.0
/**
 * Retention on chDB (the modern engine): the TTL is set on every partitioned
 * table, and the embedded store's size cap drops whole days, oldest first.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { EmbeddedStore } from '@fleettrace/store';
import { applyRetention, migrate } from '../src';

const dir = mkdtempSync(join(tmpdir(), 'fleettrace-retention-'));
let store: EmbeddedStore;

before(async () => {
  store = new EmbeddedStore({ dataDir: dir });
  await migrate(store);
});

after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const DAY = 86_400;

async function insertDay(daysAgo: number, rows: number): Promise<void> {
  const t = Math.floor(Date.now() / 1000) - daysAgo * DAY;
  const lines = Array.from({ length: rows }, (_, i) =>
    JSON.stringify({
      ts_ns: `${t}000000000`,
      time: t,
      host: 'h',
      event: 'fork',
      pid: i,
      comm: `c${i % 97}`,
      batch_id: String(daysAgo + 1),
      row_idx: i,
    }),
  );
  await store.insert('fleettrace.proc', Buffer.from(lines.join('\n') + '\n'));
}

test('sets a TTL on every partitioned table', async () => {
  await applyRetention(store, { days: 7, maxBytes: 0 });
  const tables = await store.select<{ name: string; create: string }>(
    `SELECT name, create_table_query AS create FROM system.tables
     WHERE database IN ('fleettrace', 'fleettrace_sensitive') AND partition_key != ''`,
  );
  assert.ok(tables.length >= 8);
  for (const t of tables) assert.match(t.create, /TTL time \+ toIntervalDay\(7\)/, t.name);
});

test('the size cap drops the oldest days first', async () => {
  for (const d of [3, 2, 1, 0]) await insertDay(d, 20_000);
  const days = async () =>
    (
      await store.select<{ p: string }>(
        `SELECT DISTINCT partition AS p FROM system.parts WHERE active AND database = 'fleettrace' AND table = 'proc' ORDER BY p`,
      )
    ).map((r) => r.p);
  const before = await days();
  assert.equal(before.length, 4);
  const [total] = await store.select<{ b: string }>(
    `SELECT sum(bytes_on_disk) AS b FROM system.parts WHERE active AND database IN ('fleettrace', 'fleettrace_sensitive')`,
  );
  // Room for about two of the four days.
  await applyRetention(store, { days: 0, maxBytes: Math.floor(Number(total!.b) * 0.55) });
  const after = await days();
  assert.deepEqual(after, before.slice(-after.length), 'the newest days are kept');
  assert.ok(after.length < 4 && after.length >= 1, `dropped some days (${after.length} left)`);
});
