// SPDX-License-Identifier: Apache-2.0
/** The local bus over a real loopback connection: a post is answered only once its messages are committed. */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { test } from 'node:test';
import { request } from 'node:http';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalBus, PUBLISHER_HEADER, TOPICS, encodeFrames, type ConsumedMessage } from '../src';

async function freeAddress(): Promise<string> {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as { port: number }).port;
  s.close();
  return `127.0.0.1:${port}`;
}

const TOKEN = 'publisher-token-0123456789';
const publishers = [{ name: 'agent', token: TOKEN, topics: [TOPICS.events] }];

test('publish resolves after commit, in order, and fails while nobody listens', async () => {
  const address = await freeAddress();
  const publisher = new LocalBus({ address, token: TOKEN, publishTimeoutMs: 5000 });
  await assert.rejects(
    publisher.publish(TOPICS.events, [{ value: Buffer.from('x') }]),
    /ECONNREFUSED/,
  );

  const ingest = new LocalBus({
    address,
    publishers: [{ name: 'agent', token: TOKEN, topics: [TOPICS.events, 'other-topic'] }],
  });
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
    got.map((m) => [m.offset, m.key, m.value.toString(), m.headers.h, m.headers[PUBLISHER_HEADER]]),
    [
      [0n, 'a', 'one', undefined, 'agent'],
      [1n, 'a', 'two', 'v', 'agent'],
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

/** A raw post, as any local user could send it: status code and body. */
function rawPost(
  target: { socketPath: string } | { host: string; port: number },
  topic: string,
  body: Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { ...target, method: 'POST', path: `/v1/publish/${encodeURIComponent(topic)}`, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test('only known publishers post, to their topics, under their own name', async () => {
  const address = await freeAddress();
  const [host, port] = address.split(':') as [string, string];
  const target = { host, port: Number(port) };
  await assert.rejects(
    new LocalBus({ address }).subscribe({
      groupId: 'g',
      topics: [TOPICS.events],
      onMessages: async () => undefined,
    }),
    /needs publishers with tokens/,
    'a TCP bus without publishers is refused',
  );
  const ingest = new LocalBus({
    address,
    publishers: [
      ...publishers,
      { name: 'controller', token: 'controller-token-0123456789', topics: [TOPICS.control] },
    ],
  });
  const got: ConsumedMessage[] = [];
  const sub = await ingest.subscribe({
    groupId: 'g',
    topics: [TOPICS.events, TOPICS.control],
    onMessages: async (m) => {
      got.push(...m);
      const last = m[m.length - 1]!;
      await sub.commit([{ topic: last.topic, partition: 0, next: last.offset + 1n }]);
    },
  });
  // Forging the publisher header inside a frame does not help.
  const forged = encodeFrames([
    { key: 'agent-x', value: Buffer.from('forged'), headers: { [PUBLISHER_HEADER]: 'agent' } },
  ]);
  assert.equal((await rawPost(target, TOPICS.events, forged)).status, 401, 'no token');
  assert.equal(
    (
      await rawPost(target, TOPICS.events, forged, {
        authorization: 'Bearer wrong-token-0123456789',
      })
    ).status,
    401,
    'a wrong token',
  );
  assert.equal(
    (await rawPost(target, TOPICS.control, forged, { authorization: `Bearer ${TOKEN}` })).status,
    403,
    'the agent may not post control events',
  );
  assert.equal(got.length, 0, 'nothing refused reached the consumer');
  const ok = await rawPost(target, TOPICS.events, forged, {
    authorization: 'Bearer controller-token-0123456789',
  });
  assert.equal(ok.status, 403, 'the controller may not post events');
  const publisher = new LocalBus({ address, token: TOKEN, publishTimeoutMs: 5000 });
  await publisher.publish(TOPICS.events, [
    { key: 'a', value: Buffer.from('real'), headers: { [PUBLISHER_HEADER]: 'controller' } },
  ]);
  assert.deepEqual(
    got.map((m) => [m.value.toString(), m.headers[PUBLISHER_HEADER]]),
    [['real', 'agent']],
    'the name comes from the token, not from the frame',
  );
  // Undecodable frames from a known publisher: 400, nothing delivered.
  const bad = await rawPost(target, TOPICS.events, Buffer.from([0, 0, 0, 9, 1, 2]), {
    authorization: `Bearer ${TOKEN}`,
  });
  assert.equal(bad.status, 400);
  assert.equal(got.length, 1);
  await publisher.close();
  await ingest.close();
});

test('on a unix socket: socket 0600 in a 0700 directory', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'fleettrace-bus-')), 'run');
  const address = join(dir, 'bus.sock');
  const ingest = new LocalBus({ address, publishers });
  const got: ConsumedMessage[] = [];
  const sub = await ingest.subscribe({
    groupId: 'g',
    topics: [TOPICS.events],
    onMessages: async (m) => {
      got.push(...m);
      await sub.commit([
        { topic: TOPICS.events, partition: 0, next: m[m.length - 1]!.offset + 1n },
      ]);
    },
  });
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.equal(statSync(address).mode & 0o777, 0o600);
  assert.equal(
    (await rawPost({ socketPath: address }, TOPICS.events, Buffer.alloc(0))).status,
    401,
  );
  const publisher = new LocalBus({ address, token: TOKEN });
  await publisher.publish(TOPICS.events, [{ value: Buffer.from('x') }]);
  assert.equal(got.length, 1);
  await publisher.close();
  await ingest.close();
});

test('a socket path longer than unix(7) allows is refused with the reason', () => {
  assert.throws(() => new LocalBus({ address: '/' + 'd'.repeat(120) }), /longer than 107 bytes/);
});
