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
 *
 * Who may post (DESIGN.md "Security": every customer of a shared host can
 * reach every loopback port): the subscriber knows its publishers, each by a
 * secret token and the topics it may post to. A post carries
 * `Authorization: Bearer <token>`; one without a known token is answered 401
 * before its body is read, a topic the publisher may not post to 403. Every
 * consumed message then carries the publisher's name in the header
 * `x-fleettrace-publisher` (whatever the post said there), so the consumer
 * can bind a batch's identity to who sent it. A unix socket is made 0600 in
 * a directory made 0700; a loopback TCP address is refused without
 * publishers, because there the token is the only fence.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { chmodSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  BusError,
  type Bus,
  type BusMessage,
  type ConsumedMessage,
  type Position,
  type SubscribeOptions,
  type Subscription,
} from './bus';

/** A publisher the subscriber accepts posts from. */
export interface LocalPublisher {
  /** the name consumers see in `x-fleettrace-publisher` */
  name: string;
  /** its secret (at least 16 characters) */
  token: string;
  /** the topics it may post to */
  topics: string[];
}

/** The header a consumed message of the local bus names its authenticated publisher in. */
export const PUBLISHER_HEADER = 'x-fleettrace-publisher';

export interface LocalBusOptions {
  /** "host:port" on loopback, or an absolute path of a unix socket */
  address: string;
  /** publisher side: the token it posts with */
  token?: string;
  /**
   * subscriber side: who may post. Required on a TCP address; on a unix
   * socket, without it anyone who can open the socket (root: it is 0600 in a
   * 0700 directory) posts as publisher "socket".
   */
  publishers?: LocalPublisher[];
  /** how long a publisher waits for ingest to store a post (default 30 s) */
  publishTimeoutMs?: number;
  /** the largest post a subscriber accepts (default 64 MiB; an agent posts at most 8 MiB) */
  maxPostBytes?: number;
  /** subscriber side: connections open at once (default 64) */
  maxConnections?: number;
  /** subscriber side: a connection with nothing moving for this long is closed (default 120 s) */
  idleTimeoutMs?: number;
}

type Target = { socketPath: string } | { host: string; port: number };

function parseAddress(address: string): Target {
  if (address.startsWith('/')) {
    // sun_path holds 108 bytes with its NUL (unix(7))
    if (Buffer.byteLength(address) > 107)
      throw new BusError(
        'local',
        `socket path ${JSON.stringify(address)} is longer than 107 bytes: choose a shorter data directory or --bus-listen`,
      );
    return { socketPath: address };
  }
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
      key?: unknown;
      headers?: unknown;
    };
    if (meta === null || typeof meta !== 'object') throw new Error('frame meta is not an object');
    if (meta.key !== undefined && typeof meta.key !== 'string')
      throw new Error('frame key is not a string');
    const headers = meta.headers as Record<string, unknown> | undefined;
    if (
      headers !== undefined &&
      (headers === null ||
        typeof headers !== 'object' ||
        Object.values(headers).some((v) => typeof v !== 'string'))
    )
      throw new Error('frame headers are not strings');
    at += metaLen;
    const valueLen = body.readUInt32BE(at);
    at += 4;
    if (at + valueLen > body.length) throw new Error('truncated frame value');
    out.push({
      key: meta.key,
      headers: headers as Record<string, string> | undefined,
      value: body.subarray(at, at + valueLen),
    });
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
          headers: {
            'content-type': 'application/octet-stream',
            'content-length': body.length,
            ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}),
          },
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
    const publishers = this.options.publishers;
    if (!('socketPath' in this.target) && !publishers?.length)
      throw new BusError(
        'subscribe',
        `a local bus on TCP (${this.options.address}) needs publishers with tokens: every local user can reach a loopback port`,
      );
    publishers?.forEach((p, i) => {
      if (typeof p.token !== 'string' || p.token.length < 16)
        throw new BusError('subscribe', `publishers[${i}].token: at least 16 characters`);
    });
    const sub = new LocalSubscription(this.target, options, this.options, () => {
      this.subscription = undefined;
    });
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

function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

function refusal(status: number, message: string): Error & { status: number } {
  return Object.assign(new Error(message), { status });
}

class LocalSubscription implements Subscription {
  private readonly server: Server;
  private readonly nextOffset = new Map<string, bigint>();
  private readonly committed = new Map<string, bigint>();
  private pending: PendingPost[] = [];
  private delivery: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly maxPostBytes: number;
  /** publishers by the SHA-256 of their token (compared in constant time) */
  private readonly publishers?: Array<{ digest: Buffer; publisher: LocalPublisher }>;

  constructor(
    private readonly target: Target,
    private readonly options: SubscribeOptions,
    busOptions: LocalBusOptions,
    private readonly onClosed: () => void,
  ) {
    this.maxPostBytes = busOptions.maxPostBytes ?? 64 << 20;
    this.publishers = busOptions.publishers?.map((publisher) => ({
      digest: tokenDigest(publisher.token),
      publisher,
    }));
    this.server = createServer((req, res) => {
      this.handle(req).then(
        () => res.writeHead(200).end('stored\n'),
        (err: Error & { status?: number }) => {
          if (res.headersSent) return;
          // A refused post's body is not read: close the connection instead of draining it.
          if (err.status === 401 || err.status === 403 || err.status === 413)
            res.setHeader('connection', 'close');
          res.writeHead(err.status ?? 500).end(err.message + '\n');
          if (err.status === 401 || err.status === 403 || err.status === 413)
            res.once('finish', () => req.socket.destroy());
        },
      );
    });
    // Posts wait for the store; the publisher's own timeout governs them. A
    // connection that sends nothing (no headers, no body, no new post) is cut.
    this.server.requestTimeout = 0;
    this.server.headersTimeout = 10_000;
    this.server.keepAliveTimeout = 10_000;
    this.server.timeout = busOptions.idleTimeoutMs ?? 120_000;
    this.server.maxConnections = busOptions.maxConnections ?? 64;
  }

  async listen(): Promise<void> {
    if ('socketPath' in this.target) {
      const dir = dirname(this.target.socketPath);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      if (existsSync(this.target.socketPath)) rmSync(this.target.socketPath);
    }
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      if ('socketPath' in this.target) this.server.listen(this.target.socketPath, resolve);
      else this.server.listen(this.target.port, this.target.host, resolve);
    });
    if ('socketPath' in this.target) chmodSync(this.target.socketPath, 0o600);
  }

  /** The publisher a post authenticates as, or a 401 / 403. */
  private authenticate(req: IncomingMessage, topic: string): string {
    if (!this.publishers) return 'socket';
    const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    const digest = tokenDigest(m?.[1] ?? '');
    const found = this.publishers.find((p) => timingSafeEqual(p.digest, digest))?.publisher;
    if (!found) throw refusal(401, 'a known publisher token is required (Authorization: Bearer)');
    if (!found.topics.includes(topic))
      throw refusal(403, `publisher ${found.name} may not post to ${topic}`);
    return found.name;
  }

  private async handle(req: IncomingMessage): Promise<void> {
    const m = req.url?.match(/^\/v1\/publish\/([^/?]+)$/);
    if (req.method !== 'POST' || !m) throw refusal(404, 'not found');
    const topic = decodeURIComponent(m[1]!);
    const publisher = this.authenticate(req, topic);
    if (!this.options.topics.includes(topic))
      throw refusal(503, `nobody consumes topic ${topic} here`);
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > this.maxPostBytes)
      throw refusal(413, `post larger than ${this.maxPostBytes} bytes`);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > this.maxPostBytes)
        throw refusal(413, `post larger than ${this.maxPostBytes} bytes`);
      chunks.push(c);
    }
    if (this.closed) throw refusal(503, 'ingest is stopping');
    let frames: BusMessage[];
    try {
      frames = decodeFrames(Buffer.concat(chunks));
    } catch (err) {
      throw refusal(400, `undecodable post: ${(err as Error).message}`);
    }
    if (frames.length === 0) return;
    let offset = this.nextOffset.get(topic) ?? 0n;
    const messages: ConsumedMessage[] = frames.map((f) => ({
      topic,
      partition: 0,
      offset: offset++,
      key: f.key,
      value: f.value,
      headers: { ...f.headers, [PUBLISHER_HEADER]: publisher },
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
