// SPDX-License-Identifier: Apache-2.0
/**
 * Ingest on the local bus against what a customer of a shared host (or a
 * compromised publisher) would send it, with the real embedded store:
 * a batch forged for another agent id is refused and counted and does not
 * claim that agent's sequence number; a gzip bomb is refused at its unpack
 * cap with memory bounded; a flood of undecodable frames stops at the
 * dead-letter caps with the drops counted; the HTTP endpoint answers nothing
 * but a bare health status without its token.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { LocalBus, ROWS_ENCODING, TOPICS } from '@fleettrace/bus';
import { EventBatch } from '@fleettrace/proto';
import { startIngestProcess, type RunningIngest } from '../src';

const AGENT_TOKEN = randomBytes(24).toString('base64url');
const REAL_AGENT = 'agent-real-0001';

function rssBytes(): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

function batch(agentId: string, sequence: number, rows: Buffer, rowCount: number): Buffer {
  return Buffer.from(
    EventBatch.encode(
      EventBatch.fromPartial({
        agentId,
        host: 'h1',
        sequence,
        jobId: 'job-1',
        runId: 'run-1',
        collector: 'proc',
        createdUnixMs: Date.now(),
        encoding: ROWS_ENCODING,
        rows,
        rowCount,
        weight: 1,
      }),
    ).finish(),
  );
}

function execRow(pid: number): string {
  return JSON.stringify({
    ts_ns: String(BigInt(Date.now()) * 1_000_000n),
    event: 'exec',
    pid,
    ppid: 1,
    uid: 64000,
    user: 'c1',
    comm: 'true',
    cgroup: '/',
    filename: '/bin/true',
    argv: ['/bin/true'],
  });
}

function get(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  body?: Buffer,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: body ? 'POST' : 'GET', headers },
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

describe('ingest against hostile posts (local bus, embedded store)', { timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'fleettrace-hostile-'));
  const socket = join(dir, 'run', 'bus.sock');
  let ingest: RunningIngest;
  let publisher: LocalBus;
  const stored = async (sql: string) =>
    Number((await ingest.store.select<{ n: string }>(sql))[0]?.n ?? 0);

  before(async () => {
    ingest = await startIngestProcess({
      bus: 'local',
      brokers: [],
      localAddress: socket,
      localPublishers: [{ name: 'agent', token: AGENT_TOKEN, topics: [TOPICS.events] }],
      agentOfPublisher: (p) => (p === 'agent' ? REAL_AGENT : undefined),
      store: 'embedded',
      clickhouseUrl: '',
      clickhouseUser: '',
      clickhousePassword: '',
      dataDir: join(dir, 'ingest'),
      httpAddress: '127.0.0.1:0',
      groupId: 'hostile',
      retentionDays: 0,
      maxBytes: 0,
      partitions: 1,
      flushIntervalMs: 200,
    });
    publisher = new LocalBus({ address: socket, token: AGENT_TOKEN, publishTimeoutMs: 60_000 });
  });

  after(async () => {
    await publisher?.close();
    await ingest?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a batch forged for another agent id is refused, counted, and claims nothing', async () => {
    const rows = gzipSync(execRow(4242));
    await publisher.publish(TOPICS.events, [
      { key: 'agent-victim', value: batch('agent-victim', 7, rows, 1) },
      { key: REAL_AGENT, value: batch(REAL_AGENT, 7, rows, 1) },
    ]);
    const metrics = await ingest.service.metrics.registry.metrics();
    assert.match(metrics, /fleettrace_ingest_refused_batches_total\{publisher="agent"\} 1/);
    assert.equal(
      await stored(`SELECT count() AS n FROM fleettrace.batches WHERE agent_id = 'agent-victim'`),
      0,
    );
    assert.equal(
      await stored(
        `SELECT count() AS n FROM fleettrace.batches WHERE agent_id = '${REAL_AGENT}' AND sequence = 7`,
      ),
      1,
      'the real agent keeps its sequence number',
    );
  });

  test('gzip bombs stop at the unpack cap; memory stays bounded', async () => {
    // 256 MiB of one repeated row unpack from ~250 KiB each; four of them in one post.
    const line = execRow(1);
    const bomb = gzipSync(Buffer.from((line + '\n').repeat(Math.ceil((256 << 20) / line.length))), {
      level: 9,
    });
    assert.ok(bomb.length < 2 << 20, `bomb is ${bomb.length} bytes`);
    const before = rssBytes();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssBytes())), 20);
    try {
      await publisher.publish(
        TOPICS.events,
        [100, 101, 102, 103].map((seq) => ({
          key: REAL_AGENT,
          value: batch(REAL_AGENT, seq, bomb, 1_000_000),
        })),
      );
    } finally {
      clearInterval(sampler);
    }
    const metrics = await ingest.service.metrics.registry.metrics();
    assert.match(metrics, /fleettrace_ingest_dead_letters_total 4/);
    const letters = readdirSync(join(dir, 'ingest', 'dead-letters')).filter((f) =>
      f.endsWith('.json'),
    );
    const reasons = letters.map((f) =>
      readFileSync(join(dir, 'ingest', 'dead-letters', f), 'utf8'),
    );
    assert.ok(
      reasons.every((r) => r.includes('unpack to more than')),
      'refused for their size',
    );
    // Two batches unpack at once at most, each stopped at 64 MiB.
    assert.ok(
      peak - before < 300 << 20,
      `RSS grew ${((peak - before) / 2 ** 20).toFixed(0)} MiB (cap: 2 x 64 MiB unpacked + strings)`,
    );
  });

  test('a flood of undecodable frames stops at the dead-letter caps, drops counted', async () => {
    const frames = 120;
    // The first frame is a well-formed batch for another agent, a zero byte,
    // then noise: ts-proto's decode stops quietly at the zero tag, so without
    // the whole-buffer check it would be counted a forgery instead of kept.
    // (Random frames alone hit that now and then: a CI run counted 123 of 124.)
    const prefixed = Buffer.concat([
      batch('agent-other', 1, gzipSync(execRow(1)), 1),
      Buffer.from([0]),
      randomBytes(1 << 20),
    ]);
    for (let i = 0; i < frames; i += 12)
      await publisher.publish(
        TOPICS.events,
        Array.from({ length: 12 }, (_, k) => ({
          key: 'x',
          value: i + k === 0 ? prefixed : randomBytes(1 << 20),
        })),
      );
    const deadDir = join(dir, 'ingest', 'dead-letters');
    const bytes = readdirSync(deadDir).reduce((s, f) => s + statSync(join(deadDir, f)).size, 0);
    assert.ok(bytes <= 64 << 20, `dead letters hold ${bytes} bytes (cap 64 MiB)`);
    const metrics = await ingest.service.metrics.registry.metrics();
    const kept = Number(/fleettrace_ingest_dead_letters_total (\d+)/.exec(metrics)?.[1]);
    const dropped = Number(/fleettrace_ingest_dead_letters_dropped_total (\d+)/.exec(metrics)?.[1]);
    assert.ok(dropped > 0, 'some were dropped');
    assert.match(
      metrics,
      /fleettrace_ingest_refused_batches_total\{publisher="agent"\} 1\n/,
      'no noise was taken for a forged batch',
    );
    assert.equal(kept + dropped, 4 + frames, 'every undecodable frame kept or counted dropped');
  });

  test('the HTTP endpoint needs its token for anything but a bare health status', async () => {
    const port = ingest.httpPort;
    const token = readFileSync(ingest.httpTokenFile!, 'utf8').trim();
    assert.equal(statSync(ingest.httpTokenFile!).mode & 0o777, 0o600);
    const sql = Buffer.from(JSON.stringify({ sql: 'SELECT 1' }));
    assert.equal((await get(port, '/metrics')).status, 401);
    assert.equal((await get(port, '/v1/query', {}, sql)).status, 401);
    const health = await get(port, '/healthz');
    assert.equal(health.status, 200);
    assert.equal(health.text, 'ok\n', 'no details without the token');
    const auth = { authorization: `Bearer ${token}` };
    assert.equal((await get(port, '/metrics', auth)).status, 200);
    assert.equal((await get(port, '/v1/query', auth, sql)).status, 200);
    const big = Buffer.from(JSON.stringify({ sql: `SELECT '${'x'.repeat(70_000)}'` }));
    assert.equal(
      (await get(port, '/v1/query', auth, big).catch(() => ({ status: 413 }))).status,
      413,
    );
  });
});
