// SPDX-License-Identifier: Apache-2.0
/**
 * Retention on the ClickHouse 18.16 server, which has no TTL: day partitions
 * older than the retention are dropped, newer ones kept.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { applyRetention, migrate } from '@fleettrace/ingest';
import { ServerStore } from '@fleettrace/store';
import { ClickHouseServer } from '../harness/clickhouse-server';

let server: ClickHouseServer;
let store: ServerStore;

before(async () => {
  server = await ClickHouseServer.start();
  store = new ServerStore({ url: server.url });
  await migrate(store);
});

after(async () => {
  await store?.close();
  await server?.destroy();
});

test('drops day partitions older than the retention where the server has no TTL', async () => {
  assert.equal((await store.features()).ttl, false, 'the CI server is 18.16');
  const now = Math.floor(Date.now() / 1000);
  const lines = [40, 10, 0].map((daysAgo, i) => {
    const t = now - daysAgo * 86_400;
    return JSON.stringify({
      ts_ns: `${t}000000000`,
      time: t,
      event: 'fork',
      batch_id: '1',
      row_idx: i,
    });
  });
  await store.insert('fleettrace.proc', Buffer.from(lines.join('\n') + '\n'));
  await applyRetention(store, { days: 30, maxBytes: 0 });
  const [r] = await store.select<{ n: string; oldest: string }>(
    `SELECT count() AS n, toString(min(time)) AS oldest FROM fleettrace.proc`,
  );
  assert.equal(Number(r!.n), 2);
  assert.ok(new Date(r!.oldest + 'Z').getTime() > Date.now() - 30 * 86_400_000);
});
