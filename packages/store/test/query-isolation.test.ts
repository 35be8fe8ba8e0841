// SPDX-License-Identifier: Apache-2.0
/**
 * User queries cannot starve ingestion on the embedded store (real chDB):
 * while a viewer's runaway query holds its lane, inserts, the owner's
 * selects, parsing and another user's query answer within a second; a query
 * stuck inside one block is answered at its time limit + 0.5 s and killed;
 * one whose asker went away stops within 2 s; a result over the byte cap is
 * refused with a clear message; with every lane taken a query is refused at
 * once instead of queueing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DEFAULT_QUERY_LIMITS, EmbeddedStore, StoreBusyError } from '../src';

/** One block of work the engine checks its time limit only after (~10 s here). */
const ONE_SLOW_BLOCK =
  "SELECT sum(arrayCount(x -> position(repeat('ab', 500000), toString(x)) > 0, range(number * 0 + 30000))) FROM numbers(1)";
/** Many small blocks: the engine sees a kill between them. */
const MANY_BLOCKS =
  "SELECT count() FROM numbers(1500000000) WHERE position(toString(number), '99999999') > 0";

let store: EmbeddedStore;
const dir = mkdtempSync(join(tmpdir(), 'fleettrace-isolation-'));

before(async () => {
  store = new EmbeddedStore({
    dataDir: dir,
    limits: { ...DEFAULT_QUERY_LIMITS, maxExecutionTimeS: 2, maxResultBytes: 1 << 20 },
    maxConcurrentQueries: 2,
  });
  await store.command(
    'CREATE TABLE t (x UInt64, batch_id UInt64, row_idx UInt32) ENGINE = MergeTree ORDER BY (batch_id, row_idx)',
  );
});

after(async () => {
  // A stopped query may still run on its lane: let it end before the engine closes.
  for (let i = 0; i < 300 && store.queriesRunning() > 0; i++)
    await new Promise((r) => setTimeout(r, 100));
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function timed<T>(work: Promise<T>): Promise<{ ms: number; value?: T; error?: Error }> {
  const t0 = performance.now();
  try {
    const value = await work;
    return { ms: performance.now() - t0, value };
  } catch (error) {
    return { ms: performance.now() - t0, error: error as Error };
  }
}

test('a runaway query: inserts and other queries answer within 1 s, it ends at its limit + 1 s', async () => {
  const slow = timed(store.queryAs('viewer', ONE_SLOW_BLOCK, 'select'));
  await new Promise((r) => setTimeout(r, 300));
  const insert = await timed(store.insert('t', Buffer.from('{"x":1,"batch_id":1,"row_idx":0}\n')));
  assert.ok(insert.ms < 1000, `insert took ${insert.ms.toFixed(0)} ms`);
  const owner = await timed(store.select('SELECT count() AS n FROM t'));
  assert.ok(owner.ms < 1000, `the owner's select took ${owner.ms.toFixed(0)} ms`);
  assert.equal(Number((owner.value as Array<{ n: unknown }>)[0]?.n), 1);
  const parse = await timed(store.explainAst('SELECT 1'));
  assert.ok(parse.ms < 1000, `EXPLAIN AST took ${parse.ms.toFixed(0)} ms`);
  const other = await timed(store.queryAs('admin', 'SELECT 1 AS one', 'select'));
  assert.ok(other.ms < 1000, `another user's query took ${other.ms.toFixed(0)} ms`);
  assert.deepEqual(other.value?.rows, [[1]]);
  const s = await slow;
  assert.ok(s.error, 'the runaway query fails');
  assert.match(s.error.message, /time limit of 2 s|Timeout exceeded/);
  assert.ok(s.ms < 2000 + 1000 + 300, `answered after ${s.ms.toFixed(0)} ms (limit 2 s)`);
});

test('every lane taken: refused at once, not queued', async () => {
  // Wait for the lane the runaway of the last test still holds inside its block.
  for (let i = 0; i < 300 && store.queriesRunning() > 0; i++)
    await new Promise((r) => setTimeout(r, 100));
  const a = store.queryAs('viewer', ONE_SLOW_BLOCK, 'select').catch((e: Error) => e);
  const b = store.queryAs('viewer', ONE_SLOW_BLOCK, 'select').catch((e: Error) => e);
  await new Promise((r) => setTimeout(r, 200));
  const third = await timed(store.queryAs('viewer', 'SELECT 1', 'select'));
  assert.ok(third.error instanceof StoreBusyError, String(third.error));
  assert.match(third.error.message, /2 queries are running/);
  assert.ok(third.ms < 100, `refused after ${third.ms.toFixed(0)} ms`);
  await Promise.all([a, b]);
});

test('a 1e6 x 1e6 cross join ends at its limit + 1 s, and a query beside it answers at once', async () => {
  for (let i = 0; i < 300 && store.queriesRunning() > 0; i++)
    await new Promise((r) => setTimeout(r, 100));
  const join = timed(
    store.queryAs(
      'viewer',
      'SELECT count() FROM numbers(1000000) AS a CROSS JOIN numbers(1000000) AS b',
      'select',
    ),
  );
  await new Promise((r) => setTimeout(r, 300));
  const one = await timed(store.queryAs('admin', 'SELECT 1', 'select'));
  assert.ok(one.ms < 1000, `SELECT 1 beside it took ${one.ms.toFixed(0)} ms`);
  const r = await join;
  assert.ok(r.error, 'the cross join is stopped');
  assert.ok(r.ms < 2000 + 1000, `stopped after ${r.ms.toFixed(0)} ms (limit 2 s)`);
});

test('a query whose asker went away stops within 2 s', async () => {
  for (let i = 0; i < 300 && store.queriesRunning() > 0; i++)
    await new Promise((r) => setTimeout(r, 100));
  const asker = new AbortController();
  const q = timed(store.queryAs('viewer', MANY_BLOCKS, 'select', { signal: asker.signal }));
  await new Promise((r) => setTimeout(r, 500));
  const abortedAt = performance.now();
  asker.abort();
  const r = await q;
  assert.match(String(r.error), /client went away/);
  for (let i = 0; i < 40 && store.queriesRunning() > 0; i++)
    await new Promise((res) => setTimeout(res, 50));
  const stoppedMs = performance.now() - abortedAt;
  assert.equal(store.queriesRunning(), 0, 'the engine stopped it');
  assert.ok(stoppedMs < 2000, `the engine stopped it after ${stoppedMs.toFixed(0)} ms`);
});

test('a result over the byte cap is refused with the cap in the message', async () => {
  for (const sql of [
    "SELECT repeat('x', 1000) FROM numbers(100000)", // many blocks
    "SELECT repeat('x', 1000000) AS big FROM numbers(3)", // one block
  ]) {
    const r = await timed(store.queryAs('viewer', sql, 'select'));
    assert.match(String(r.error), /larger than max_result_bytes \(1048576 bytes\)/, sql);
  }
  const ok = await store.queryAs('viewer', "SELECT repeat('x', 10) AS s FROM numbers(3)", 'select');
  assert.deepEqual(ok.columns, [{ name: 's', type: 'String' }]);
  assert.equal(ok.rows.length, 3);
});
