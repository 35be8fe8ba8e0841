// SPDX-License-Identifier: Apache-2.0
/**
 * The publisher against a real local bus (HTTP on a unix socket) whose consumer comes
 * and goes: envelopes cut by size and time, spooled while nobody takes them,
 * replayed in sequence order by the next agent process (a new publisher on
 * the same state directory), sequences never repeated across restarts, and
 * the spool's bound dropping the oldest batches and counting them.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  LocalBus,
  TABLES_ENCODING,
  TOPICS,
  unpackRows,
  unpackTables,
  type Bus,
  type Subscription,
} from '@fleettrace/bus';
import { memoryCaches } from '@fleettrace/common';
import { EventBatch } from '@fleettrace/proto';
import { EventPublisher } from '../src/publish/event-publisher';

/** A unix socket path in a fresh directory: the local bus as `fleettrace up` runs it. */
async function freeAddress(): Promise<string> {
  return join(mkdtempSync(join(tmpdir(), 'fleettrace-bus-')), 'bus.sock');
}

/** A consumer that stores (here: keeps) and commits everything at once. */
async function consumer(
  address: string,
  into: EventBatch[],
): Promise<{ bus: LocalBus; sub: Subscription }> {
  const bus = new LocalBus({ address });
  const sub: Subscription = await bus.subscribe({
    groupId: 'test',
    topics: [TOPICS.events],
    onMessages: async (messages) => {
      for (const m of messages) into.push(EventBatch.decode(m.value));
      const last = messages[messages.length - 1]!;
      await sub.commit([{ topic: last.topic, partition: 0, next: last.offset + 1n }]);
    },
  });
  return { bus, sub };
}

const rows = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => ({
    ts_ns: 1_700_000_000_000_000_000n + BigInt(from + i),
    pid: from + i,
    comm: 'x',
  }));

test('cuts, spools while the bus is away, replays in order after a restart', async () => {
  const address = await freeAddress();
  const stateDir = mkdtempSync(join(tmpdir(), 'fleettrace-publisher-'));
  const options = {
    agentId: 'agent-1',
    host: 'h1',
    stateDir,
    maxBatchBytes: 2000,
    maxDelayMs: 100,
    retryMinMs: 50,
    retryMaxMs: 200,
    // JSON lines: this test reads the rows back as objects.
    rowsEncoding: 'json' as const,
    log: () => undefined,
  };
  try {
    // No consumer: everything goes to the spool.
    const bus1 = new LocalBus({ address, publishTimeoutMs: 2000 });
    const p1 = new EventPublisher({ ...options, bus: bus1 });
    p1.publish({ jobId: 'j', runId: 'r', collector: 'proc', rows: rows(100), lost: 3, weight: 1 });
    await p1.flush();
    const spooled = p1.spoolState().batches;
    assert.ok(spooled >= 2, `size cut into several envelopes (${spooled})`);
    await p1.close();
    await bus1.close();

    // The next agent process: replays the spool first, then new batches.
    const got: EventBatch[] = [];
    const c = await consumer(address, got);
    const bus2 = new LocalBus({ address, publishTimeoutMs: 2000 });
    const p2 = new EventPublisher({ ...options, bus: bus2 });
    p2.publish({
      jobId: 'j',
      runId: 'r',
      collector: 'proc',
      rows: rows(5, 100),
      lost: 0,
      weight: 1,
    });
    await new Promise((r) => setTimeout(r, 300));
    await p2.flush();
    while (p2.spoolState().batches > 0) await new Promise((r) => setTimeout(r, 20));
    await p2.close();
    const sequences = got.map((b) => b.sequence);
    assert.deepEqual(
      [...sequences].sort((a, b) => a - b),
      sequences,
      'in sequence order',
    );
    assert.equal(new Set(sequences).size, sequences.length, 'no sequence twice');
    const all = (
      await Promise.all(got.map((b) => unpackRows(b.encoding, b.rows, b.rowCount)))
    ).flat();
    assert.deepEqual(
      all.map((r) => r.pid),
      Array.from({ length: 105 }, (_, i) => i),
      'every row once, in order',
    );
    assert.equal(all[0]!.ts_ns, '1700000000000000000', 'bigints as decimal strings');
    assert.equal(
      got.reduce((s, b) => s + b.lost, 0),
      3,
      'collector loss travels in the envelopes',
    );
    assert.ok(got.every((b) => b.agentId === 'agent-1' && b.host === 'h1' && b.runId === 'r'));
    const snapshot = await p2.metrics.snapshot();
    assert.equal(snapshot['fleettrace_agent_events_published_total'], 105);
    await c.bus.close();
    await bus2.close();
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
});

test('the spool bound drops the oldest batches and counts their rows as lost', async () => {
  const address = await freeAddress();
  const stateDir = mkdtempSync(join(tmpdir(), 'fleettrace-publisher-'));
  try {
    const bus = new LocalBus({ address, publishTimeoutMs: 1000 });
    const p = new EventPublisher({
      agentId: 'agent-2',
      host: 'h2',
      bus,
      stateDir,
      maxBatchBytes: 1000,
      maxDelayMs: 50,
      spoolMaxBytes: 2000,
      retryMinMs: 50,
      log: () => undefined,
    });
    for (let i = 0; i < 10; i++) {
      p.publish({
        jobId: 'j',
        runId: 'r',
        collector: 'proc',
        rows: rows(20, i * 20),
        lost: 0,
        weight: 1,
      });
      await p.flush();
    }
    const s = await p.metrics.snapshot();
    assert.ok(p.spoolState().bytes <= 2000, `spool within its bound (${p.spoolState().bytes})`);
    assert.ok(s['fleettrace_agent_spool_dropped_batches_total']! > 0, 'dropped batches counted');
    assert.ok(
      s['fleettrace_agent_events_lost_total{stage=spool_full}']! > 0,
      'their rows counted as lost',
    );
    await p.close();
    await bus.close();
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
});

test('the outbox is a tracked cache: size and bound in the figures, a shrink spools it, nothing lost', async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'fleettrace-publisher-'));
  // A bus that holds its first publish until released (logic only: the real bus is above).
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const sequences: number[] = [];
  let publishes = 0;
  const bus = {
    kind: 'local',
    publish: async (_topic: string, messages: Array<{ value: Buffer }>) => {
      if (publishes++ === 0) await gate;
      for (const m of messages) sequences.push(EventBatch.decode(m.value).sequence);
    },
    close: async () => undefined,
  } as unknown as Bus;
  const outbox = () => memoryCaches.figures().find((c) => c.name === 'publish.outbox')!;
  try {
    const p = new EventPublisher({
      agentId: 'agent-3',
      host: 'h3',
      bus,
      stateDir,
      maxBatchBytes: 1000,
      maxDelayMs: 20,
      maxPublishBytes: 1000,
      retryMinMs: 20,
      rowsEncoding: 'json',
      log: () => undefined,
    });
    p.publish({ jobId: 'j', runId: 'r', collector: 'proc', rows: rows(100), lost: 0, weight: 1 });
    await new Promise((r) => setTimeout(r, 200));
    const held = outbox();
    assert.ok(held.entries >= 3, `envelopes held while the bus has not answered: ${held.entries}`);
    // (summed over the publishers of this file still alive: 32 MiB each by default)
    assert.ok(held.bytes > 0 && held.maxBytes % (32 << 20) === 0, JSON.stringify(held));
    // The memory governor's shrink: what waits behind the publish in flight goes to disk.
    memoryCaches.shrinkAll(0.5);
    release();
    while (p.spoolState().batches > 0 || outbox().entries > 0)
      await new Promise((r) => setTimeout(r, 20));
    assert.ok(outbox().evictions >= held.entries - 1, `spooled: ${outbox().evictions}`);
    assert.deepEqual(
      sequences,
      [...sequences].sort((a, b) => a - b),
      'delivered in sequence order',
    );
    assert.equal(sequences.length, held.entries, 'every envelope delivered once');
    await p.close();
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
});

test("typed encoding: rows in their tables' column order, sensitive fields apart, odd fields counted", async () => {
  const address = await freeAddress();
  const stateDir = mkdtempSync(join(tmpdir(), 'fleettrace-publisher-'));
  const got: EventBatch[] = [];
  const c = await consumer(address, got);
  const bus = new LocalBus({ address, publishTimeoutMs: 2000 });
  const logs: string[] = [];
  const p = new EventPublisher({
    agentId: 'agent-3',
    host: 'h3',
    bus,
    stateDir,
    maxDelayMs: 50,
    log: (m) => logs.push(m),
  });
  try {
    const ident = { pid: 7, tid: 7, uid: 1001, user: 'c1', comm: 'php', cgroup: '/' };
    const ts = 1_700_000_000_123_456_789n;
    p.publish({
      jobId: 'j',
      runId: 'r',
      collector: 'proc',
      rows: [
        {
          ts_ns: ts,
          ...ident,
          event: 'exec',
          ppid: 1,
          filename: '/usr/bin/php\tx',
          argv: ['php', "it's"],
          args_truncated: false,
          redacted: 0,
        },
        {
          ts_ns: ts + 1n,
          ...ident,
          event: 'exit',
          ppid: 1,
          exit_code: null,
          signal: 9,
          signal_name: 'SIGKILL',
          core_dumped: true,
          lifetime_ns: 5,
          surprise: 1,
        },
      ],
      lost: 0,
      weight: 1,
    });
    await p.flush();
    assert.equal(got.length, 1);
    assert.equal(got[0]!.encoding, TABLES_ENCODING);
    assert.equal(got[0]!.rowCount, 2);
    const segments = await unpackTables(got[0]!.rows);
    const main = segments.find((s) => s.table === 'fleettrace.proc')!;
    const at = (line: Buffer, col: string) =>
      line.toString().split('\t')[1 + main.columns.indexOf(col)];
    assert.deepEqual(
      main.lines.map((l) => l.toString().split('\t')[0]),
      ['0', '1'],
      'row_idx first',
    );
    assert.equal(at(main.lines[0]!, 'exe'), 'php\\tx', 'derived on the agent, escaped');
    assert.equal(at(main.lines[0]!, 'argc'), '2');
    assert.equal(at(main.lines[0]!, 'time'), '1700000000');
    assert.equal(at(main.lines[1]!, 'exit_code'), '\\N');
    assert.equal(at(main.lines[1]!, 'core_dumped'), '1');
    assert.ok(!main.columns.includes('argv'), 'arguments stay out of the main table');
    const exec = segments.find((s) => s.table === 'fleettrace_sensitive.proc_exec')!;
    assert.equal(exec.lines.length, 1, 'only the exec row is sensitive');
    const argv = exec.lines[0]!.toString().split('\t')[1 + exec.columns.indexOf('argv')];
    assert.equal(argv, "['php','it\\'s']");
    const snap = await p.metrics.snapshot();
    assert.equal(snap['fleettrace_agent_events_lost_total{stage=unmapped_field}'], 1);
    assert.ok(
      logs.some((l) => l.includes('"surprise"')),
      logs.join('\n'),
    );
  } finally {
    await p.close();
    await bus.close();
    await c.bus.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
});
