// SPDX-License-Identifier: Apache-2.0
/** The local bus over a real loopback connection: a post is answered only once its messages are committed. */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { test } from 'node:test';
import { LocalBus, TOPICS, type ConsumedMessage } from '../src';

async function freeAddress(): Promise<string> {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as { port: number }).port;
  s.close();
  return `127.0.0.1:${port}`;
}

test('publish resolves after commit, in order, and fails while nobody listens', async () => {
  const address = await freeAddress();
  const publisher = new LocalBus({ address, publishTimeoutMs: 5000 });
  await assert.rejects(
    publisher.publish(TOPICS.events, [{ value: Buffer.from('x') }]),
    /ECONNREFUSED/,
  );

  const ingest = new LocalBus({ address });
  const got: ConsumedMessage[] = [];
  const sub = await ingest.subscribe({
    groupId: 'g',
    topics: [TOPICS.events],
    onMessages: async (m) => {
      got.push(...m);
    },
  });
  let acknowledged = false;
  const p = publisher
    .publish(TOPICS.events, [
      { key: 'a', value: Buffer.from('one') },
      { key: 'a', value: Buffer.from('two'), headers: { h: 'v' } },
    ])
    .then(() => (acknowledged = true));
  while (got.length < 2) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(acknowledged, false, 'not acknowledged before commit');
  assert.deepEqual(
    got.map((m) => [m.offset, m.key, m.value.toString(), m.headers.h]),
    [
      [0n, 'a', 'one', undefined],
      [1n, 'a', 'two', 'v'],
    ],
  );
  assert.equal(await sub.lag(), 2);
  await sub.commit([{ topic: TOPICS.events, partition: 0, next: 1n }]);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(acknowledged, false, 'half a post is not acknowledged');
  await sub.commit([{ topic: TOPICS.events, partition: 0, next: 2n }]);
  await p;
  assert.equal(await sub.lag(), 0);
  await assert.rejects(
    publisher.publish('other-topic', [{ value: Buffer.from('x') }]),
    /503 nobody consumes topic/,
  );
  await ingest.close();
  await publisher.close();
});
