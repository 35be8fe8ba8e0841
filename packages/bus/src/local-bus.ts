// SPDX-License-Identifier: Apache-2.0
/**
 * The bus of a single host (`fleettrace up`): no broker. The embedded ingest
 * subscribes, which makes it listen on a loopback address (or a unix socket);
 * the local agent publishes by posting batches there. The answer to a post
 * comes only once ingest committed every message in it, i.e. stored them, so
 * an agent that gets no answer (ingest down, restarting, too slow) keeps its
 * batches and spools them, exactly as it does when Kafka is unreachable.
 *
 * Wire format of a post to /v1/publish/<topic>: frames, each
 *   u32be meta length, meta JSON {"key"?: string, "headers"?: {..}},
 *   u32be value length, value bytes.
 * Status 200: all stored; 503: nobody subscribed to the topic; 500: the
 * consumer failed or went away before it stored them (publish again).
 *
 * Offsets are per topic, one partition, counted from 0 by the subscribing
 * process: they order messages and tie commits to posts, nothing more.
 */
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { existsSync, rmSync } from 'node:fs';
import {
  BusError,
  type Bus,
  type BusMessage,
  type ConsumedMessage,
  type Position,
  type SubscribeOptions,
  type Subscription,
} from './bus';

export interface LocalBusOptions {
  /** "host:port" on loopback, or an absolute path of a unix socket */
  address: string;
  /** how long a publisher waits for ingest to store a post (default 30 s) */
  publishTimeoutMs?: number;
  /** the largest post a subscriber accepts (default 256 MiB) */
  maxPostBytes?: number;
}

type Target = { socketPath: string } | { host: string; port: number };

function parseAddress(address: string): Target {
  if (address.startsWith('/')) return { socketPath: address };
  const m = address.match(/^\[?([^\]]*)\]?:(\d+)$/);
  if (!m)
    throw new BusError(
      'local',
      `address ${JSON.stringify(address)} is neither host:port nor an absolute socket path`,
    );
  return { host: m[1]!, port: Number(m[2]) };
}

export function encodeFrames(messages: BusMessage[]): Buffer {
  const parts: Buffer[] = [];
  for (const m of messages) {
    const meta = Buffer.from(JSON.stringify({ key: m.key, headers: m.headers }));
    const head = Buffer.allocUnsafe(4);
    head.writeUInt32BE(meta.length);
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(m.value.length);
    parts.push(head, meta, len, m.value);
  }
  return Buffer.concat(parts);
}

export function decodeFrames(body: Buffer): BusMessage[] {
  const out: BusMessage[] = [];
  let at = 0;
  while (at < body.length) {
    if (at + 4 > body.length) throw new Error('truncated frame header');
    const metaLen = body.readUInt32BE(at);
    at += 4;
    if (at + metaLen + 4 > body.length) throw new Error('truncated frame meta');
    const meta = JSON.parse(body.subarray(at, at + metaLen).toString('utf8')) as {
      key?: string;
      headers?: Record<string, string>;
    };
    at += metaLen;
    const valueLen = body.readUInt32BE(at);
    at += 4;
    if (at + valueLen > body.length) throw new Error('truncated frame value');
    out.push({ key: meta.key, headers: meta.headers, value: body.subarray(at, at + valueLen) });
    at += valueLen;
  }
  return out;
}

export class LocalBus implements Bus {
  readonly kind = 'local' as const;
  private readonly target: Target;
  private subscription?: LocalSubscription;
  private closed = false;

  constructor(private readonly options: LocalBusOptions) {
    this.target = parseAddress(options.address);
  }

  publish(topic: string, messages: BusMessage[]): Promise<void> {
    if (this.closed) return Promise.reject(new BusError('publish', 'the bus is closed'));
    if (messages.length === 0) return Promise.resolve();
    const body = encodeFrames(messages);
    const timeoutMs = this.options.publishTimeoutMs ?? 30_000;
    return new Promise<void>((resolve, reject) => {
      const req = request(
        {
          ...this.target,
          method: 'POST',
          path: `/v1/publish/${encodeURIComponent(topic)}`,
          headers: { 'content-type': 'application/octet-stream', 'content-length': body.length },
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            if (res.statusCode === 200) resolve();
            else
              reject(
                new BusError(
                  'publish',
                  `to ${topic} at ${this.options.address}: ${res.statusCode} ${Buffer.concat(chunks).toString('utf8').trim()}`,
                ),
              );
          });
          res.on('error', (err) => reject(new BusError('publish', err.message, { cause: err })));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no acknowledgement within ${timeoutMs} ms`)));
      req.on('error', (err) =>
        reject(
          new BusError('publish', `to ${topic} at ${this.options.address}: ${err.message}`, {
            cause: err,
          }),
        ),
      );
      req.end(body);
    });
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    if (this.closed) throw new BusError('subscribe', 'the bus is closed');
    if (this.subscription) throw new BusError('subscribe', 'the local bus has one subscriber');
    const sub = new LocalSubscription(
      this.target,
      options,
      this.options.maxPostBytes ?? 256 << 20,
      () => {
        this.subscription = undefined;
      },
    );
    await sub.listen();
    this.subscription = sub;
    return sub;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.subscription?.close();
  }
}

interface PendingPost {
  topic: string;
  /** offset of the post's last message */
  last: bigint;
  resolve(): void;
  reject(err: Error): void;
}

class LocalSubscription implements Subscription {
  private readonly server: Server;
  private readonly nextOffset = new Map<string, bigint>();
  private readonly committed = new Map<string, bigint>();
  private pending: PendingPost[] = [];
  private delivery: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly target: Target,
    private readonly options: SubscribeOptions,
    private readonly maxPostBytes: number,
    private readonly onClosed: () => void,
  ) {
    this.server = createServer((req, res) => {
      this.handle(req).then(
        () => res.writeHead(200).end('stored\n'),
        (err: Error & { status?: number }) => {
          if (!res.headersSent) res.writeHead(err.status ?? 500).end(err.message + '\n');
        },
      );
    });
    // Posts wait for the store; the publisher's own timeout governs them.
    this.server.requestTimeout = 0;
    this.server.headersTimeout = 10_000;
  }

  async listen(): Promise<void> {
    if ('socketPath' in this.target && existsSync(this.target.socketPath))
      rmSync(this.target.socketPath);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      if ('socketPath' in this.target) this.server.listen(this.target.socketPath, resolve);
      else this.server.listen(this.target.port, this.target.host, resolve);
    });
  }

  private async handle(req: IncomingMessage): Promise<void> {
    const m = req.url?.match(/^\/v1\/publish\/([^/?]+)$/);
    if (req.method !== 'POST' || !m) throw Object.assign(new Error('not found'), { status: 404 });
    const topic = decodeURIComponent(m[1]!);
    if (!this.options.topics.includes(topic))
      throw Object.assign(new Error(`nobody consumes topic ${topic} here`), { status: 503 });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > this.maxPostBytes)
        throw Object.assign(new Error(`post larger than ${this.maxPostBytes} bytes`), {
          status: 413,
        });
      chunks.push(c);
    }
    if (this.closed) throw Object.assign(new Error('ingest is stopping'), { status: 503 });
    const frames = decodeFrames(Buffer.concat(chunks));
    if (frames.length === 0) return;
    let offset = this.nextOffset.get(topic) ?? 0n;
    const messages: ConsumedMessage[] = frames.map((f) => ({
      topic,
      partition: 0,
      offset: offset++,
      key: f.key,
      value: f.value,
      headers: f.headers ?? {},
    }));
    this.nextOffset.set(topic, offset);
    const stored = new Promise<void>((resolve, reject) =>
      this.pending.push({ topic, last: offset - 1n, resolve, reject }),
    );
    // One delivery at a time, in arrival order; a failed delivery is retried
    // (the handler said it could not take them yet), never skipped.
    this.delivery = this.delivery.then(async () => {
      for (let attempt = 0; !this.closed; attempt++) {
        try {
          await this.options.onMessages(messages);
          return;
        } catch {
          await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** attempt)));
        }
      }
    });
    return stored;
  }

  async commit(positions: Position[]): Promise<void> {
    for (const p of positions) {
      const prev = this.committed.get(p.topic) ?? 0n;
      if (p.next > prev) this.committed.set(p.topic, p.next);
    }
    const still: PendingPost[] = [];
    for (const post of this.pending) {
      if (post.last < (this.committed.get(post.topic) ?? 0n)) post.resolve();
      else still.push(post);
    }
    this.pending = still;
  }

  async lag(): Promise<number> {
    let total = 0;
    for (const [topic, next] of this.nextOffset)
      total += Number(next - (this.committed.get(topic) ?? 0n));
    return total;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending) p.reject(new Error('ingest stopped before storing the batch'));
    this.pending = [];
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.onClosed();
  }
}
