// SPDX-License-Identifier: Apache-2.0
/**
 * The bus on Apache Kafka through kafkajs 2.2.4. kafkajs speaks the protocol
 * versions of Kafka 2.x/3.x (brokers 4.x removed some of them): the supported
 * broker is 3.9 in KRaft mode.
 *
 * Producer: acks=-1 (every in-sync replica), idempotent (the broker drops a
 * retried produce request it already wrote), one request in flight (the
 * idempotent producer needs it to keep order). Its retries are bounded, unlike
 * kafkajs's idempotent default of "forever": the agent must learn within
 * seconds that the broker is gone, so it can spool to disk instead of holding
 * batches in memory. After a failed send the producer is rebuilt, because its
 * idempotence state (producer id, sequence numbers) may no longer match the
 * broker's; the new producer's duplicates collapse downstream.
 *
 * Consumer: a consumer group, offsets committed only by `Subscription.commit`
 * (autoCommit off), heartbeats kept up while the handler waits (a store that
 * is down for a while must not cost the group membership).
 */
import {
  Kafka,
  Partitioners,
  logLevel as LogLevel,
  type Admin,
  type Consumer,
  type KafkaConfig,
  type LogEntry,
  type Producer,
  type SASLOptions,
} from 'kafkajs';
import {
  BusError,
  type Bus,
  type BusMessage,
  type ConsumedMessage,
  type Position,
  type SubscribeOptions,
  type Subscription,
} from './bus';

export interface KafkaBusOptions {
  brokers: string[];
  clientId?: string;
  /** TLS to the brokers (system CAs unless `ca` is given) */
  tls?: boolean | { ca?: string; cert?: string; key?: string };
  sasl?: {
    mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
    username: string;
    password: string;
  };
  /** how long one publish may take before it is reported failed (default 15 s) */
  publishTimeoutMs?: number;
  /** partitions of topics this bus creates (default 1) */
  partitions?: number;
  /**
   * Message bytes per produce request (default 900 KiB): brokers refuse a
   * record batch over their max.message.bytes (1 MiB by default), and
   * kafkajs writes one batch per partition per request.
   */
  maxRequestBytes?: number;
  /** where kafkajs logs go (default: warnings and errors as JSON lines on stderr) */
  log?: (entry: { level: string; message: string; extra: Record<string, unknown> }) => void;
}

export class KafkaBus implements Bus {
  readonly kind = 'kafka' as const;
  private readonly kafka: Kafka;
  private producer?: Promise<Producer>;
  private admin?: Promise<Admin>;
  private readonly subscriptions = new Set<KafkaSubscription>();
  private readonly knownTopics = new Set<string>();
  private closed = false;

  constructor(private readonly options: KafkaBusOptions) {
    if (options.brokers.length === 0) throw new BusError('kafka', 'no brokers given');
    const log =
      options.log ??
      ((e) => process.stderr.write(JSON.stringify({ component: 'kafka', ...e }) + '\n'));
    const config: KafkaConfig = {
      clientId: options.clientId ?? 'fleettrace',
      brokers: options.brokers,
      connectionTimeout: 3000,
      requestTimeout: Math.min(options.publishTimeoutMs ?? 15_000, 30_000),
      retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 2000 },
      logLevel: LogLevel.WARN,
      logCreator:
        () =>
        ({ level, log: entry }: LogEntry) => {
          const { message, ...extra } = entry;
          // Said on every idempotent producer with bounded retries: intended here (see above).
          if (message.startsWith('Limiting retries for the idempotent producer')) return;
          log({ level: LogLevel[level] ?? String(level), message, extra });
        },
    };
    if (options.tls) config.ssl = options.tls === true ? true : { ...options.tls };
    if (options.sasl) config.sasl = { ...options.sasl } as SASLOptions;
    this.kafka = new Kafka(config);
  }

  async publish(topic: string, messages: BusMessage[]): Promise<void> {
    if (this.closed) throw new BusError('publish', 'the bus is closed');
    if (messages.length === 0) return;
    const producer = await this.getProducer();
    const timeoutMs = this.options.publishTimeoutMs ?? 15_000;
    const limit = this.options.maxRequestBytes ?? 900 * 1024;
    // Requests in order, each under the broker's batch limit; a failure
    // after some were written makes the caller resend all (they collapse).
    const chunks: BusMessage[][] = [[]];
    let size = 0;
    for (const m of messages) {
      const bytes = m.value.length + (m.key?.length ?? 0) + 64;
      if (chunks[chunks.length - 1]!.length > 0 && size + bytes > limit) {
        chunks.push([]);
        size = 0;
      }
      chunks[chunks.length - 1]!.push(m);
      size += bytes;
    }
    for (const chunk of chunks) {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          producer.send({
            topic,
            acks: -1,
            timeout: timeoutMs,
            messages: chunk.map((m) => ({ key: m.key, value: m.value, headers: m.headers })),
          }),
          new Promise((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`no acknowledgement within ${timeoutMs} ms`)),
              timeoutMs,
            );
          }),
        ]);
      } catch (err) {
        this.dropProducer();
        throw new BusError('publish', `to ${topic}: ${(err as Error).message}`, { cause: err });
      } finally {
        clearTimeout(timer);
      }
    }
  }

  /** Creates the topics if missing (idempotent); ingest calls it at start. */
  async ensureTopics(topics: string[], partitions = this.options.partitions ?? 1): Promise<void> {
    const missing = topics.filter((t) => !this.knownTopics.has(t));
    if (missing.length === 0) return;
    const admin = await this.getAdmin();
    const existing = new Set(await admin.listTopics());
    const create = missing.filter((t) => !existing.has(t));
    if (create.length) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: create.map((topic) => ({ topic, numPartitions: partitions })),
      });
    }
    for (const t of missing) this.knownTopics.add(t);
  }

  /** Committed offsets of a group (for tests and lag): topic -> partition -> next offset. */
  async committedOffsets(groupId: string, topic: string): Promise<Map<number, bigint>> {
    const admin = await this.getAdmin();
    const [res] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const out = new Map<number, bigint>();
    for (const p of res?.partitions ?? []) out.set(p.partition, BigInt(p.offset));
    return out;
  }

  /** High watermarks of a topic: partition -> offset of the next message to be written. */
  async endOffsets(topic: string): Promise<Map<number, bigint>> {
    const admin = await this.getAdmin();
    const out = new Map<number, bigint>();
    for (const p of await admin.fetchTopicOffsets(topic)) out.set(p.partition, BigInt(p.high));
    return out;
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    if (this.closed) throw new BusError('subscribe', 'the bus is closed');
    const sub = new KafkaSubscription(this.kafka, options, this, () =>
      this.subscriptions.delete(sub),
    );
    this.subscriptions.add(sub);
    await sub.start();
    return sub;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.subscriptions].map((s) => s.close()));
    const p = this.producer;
    const a = this.admin;
    this.producer = undefined;
    this.admin = undefined;
    await Promise.allSettled([p?.then((x) => x.disconnect()), a?.then((x) => x.disconnect())]);
  }

  private getProducer(): Promise<Producer> {
    if (!this.producer) {
      const producer = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        // Murmur2 on the key, as the Java client: one agent's batches share a partition.
        createPartitioner: Partitioners.DefaultPartitioner,
        allowAutoTopicCreation: true,
        retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2000 },
      });
      const connecting = producer.connect().then(() => producer);
      this.producer = connecting;
      connecting.catch(() => {
        if (this.producer === connecting) this.producer = undefined;
      });
    }
    return this.producer;
  }

  private dropProducer(): void {
    const p = this.producer;
    this.producer = undefined;
    void p?.then((x) => x.disconnect()).catch(() => undefined);
  }

  private getAdmin(): Promise<Admin> {
    if (!this.admin) {
      const admin = this.kafka.admin();
      const connecting = admin.connect().then(() => admin);
      this.admin = connecting;
      connecting.catch(() => {
        if (this.admin === connecting) this.admin = undefined;
      });
    }
    return this.admin;
  }
}

class KafkaSubscription implements Subscription {
  private consumer?: Consumer;
  private closed = false;
  private restartTimer?: NodeJS.Timeout;
  private lagCache = { at: 0, value: 0 };

  constructor(
    private readonly kafka: Kafka,
    private readonly options: SubscribeOptions,
    private readonly bus: KafkaBus,
    private readonly onClosed: () => void,
  ) {}

  async start(): Promise<void> {
    const consumer = this.kafka.consumer({
      groupId: this.options.groupId,
      // A crashed ingest's partitions move to its replacement after this long.
      sessionTimeout: 10_000,
      heartbeatInterval: 3000,
      maxWaitTimeInMs: 200,
      maxBytesPerPartition: 8 << 20,
      maxBytes: 32 << 20,
      retry: { retries: 8, initialRetryTime: 300, maxRetryTime: 5000 },
    });
    this.consumer = consumer;
    // A crash kafkajs does not restart itself from (e.g. retries exhausted
    // while the broker was down) would stop ingest for good: start over.
    consumer.on(consumer.events.CRASH, (e) => {
      if (e.payload.restart || this.closed || this.consumer !== consumer) return;
      this.restartTimer = setTimeout(() => {
        if (this.closed || this.consumer !== consumer) return;
        void consumer
          .disconnect()
          .catch(() => undefined)
          .then(() => this.start())
          .catch(() => this.scheduleRestart(consumer));
      }, 2000);
    });
    await consumer.connect();
    for (const topic of this.options.topics)
      await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch, heartbeat, isRunning, isStale }) => {
        if (!isRunning() || isStale() || batch.messages.length === 0) return;
        const messages: ConsumedMessage[] = batch.messages.map((m) => ({
          topic: batch.topic,
          partition: batch.partition,
          offset: BigInt(m.offset),
          key: m.key?.toString(),
          value: m.value ?? Buffer.alloc(0),
          headers: Object.fromEntries(
            Object.entries(m.headers ?? {}).map(([k, v]) => [k, String(v ?? '')]),
          ),
        }));
        const beat = setInterval(() => void heartbeat().catch(() => undefined), 2000);
        try {
          await this.options.onMessages(messages);
        } finally {
          clearInterval(beat);
        }
      },
    });
  }

  private scheduleRestart(consumer: Consumer): void {
    if (this.closed) return;
    this.restartTimer = setTimeout(() => {
      if (this.closed || this.consumer !== consumer) return;
      this.start().catch(() => this.scheduleRestart(consumer));
    }, 2000);
  }

  async commit(positions: Position[]): Promise<void> {
    if (positions.length === 0) return;
    const consumer = this.consumer;
    if (!consumer) throw new BusError('commit', 'not subscribed');
    await consumer.commitOffsets(
      positions.map((p) => ({ topic: p.topic, partition: p.partition, offset: p.next.toString() })),
    );
  }

  async lag(): Promise<number> {
    if (Date.now() - this.lagCache.at < 2000) return this.lagCache.value;
    let total = 0;
    for (const topic of this.options.topics) {
      const [end, committed] = await Promise.all([
        this.bus.endOffsets(topic),
        this.bus.committedOffsets(this.options.groupId, topic),
      ]);
      for (const [partition, high] of end) {
        const c = committed.get(partition) ?? -1n;
        total += Number(high - (c < 0n ? 0n : c));
      }
    }
    this.lagCache = { at: Date.now(), value: total };
    return total;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.restartTimer);
    this.onClosed();
    await this.consumer?.disconnect().catch(() => undefined);
  }
}
