// SPDX-License-Identifier: Apache-2.0
/**
 * The event bus: how agents and the controller hand batches to ingest. Two
 * implementations, one contract (DESIGN.md "Two ways to run"):
 *
 * - KafkaBus (fleet): topics on an Apache Kafka cluster;
 * - LocalBus (single host): the agent posts batches to the embedded ingest
 *   over a loopback connection, and the answer comes once ingest stored them.
 *
 * Delivery is at least once on both: a publisher that gets an error
 * republishes, a consumer that crashes before `commit` sees the messages
 * again. Exactly-once comes from downstream: every batch carries
 * (agent id, sequence), and the store collapses a batch delivered twice.
 */

/** Topic names: the public contract between agents, the controller and ingest. */
export const TOPICS = {
  /** fleettrace.v1.EventBatch, keyed by agent id (one agent's batches stay in order in one partition) */
  events: 'fleettrace.events',
  /** fleettrace.v1.ControlEvent from the controller, keyed by the job / agent id it is about */
  control: 'fleettrace.control',
  /** undecodable messages of `events` and `control`, the original bytes with headers saying why */
  deadLetter: 'fleettrace.dead-letter',
} as const;

export interface BusMessage {
  /** partitioning key: messages with the same key keep their order */
  key?: string;
  value: Buffer;
  headers?: Record<string, string>;
}

/** A message as a consumer sees it; `offset` orders messages of one (topic, partition). */
export interface ConsumedMessage {
  topic: string;
  partition: number;
  offset: bigint;
  key: string | undefined;
  value: Buffer;
  headers: Record<string, string>;
}

/** Where a consumer is: the next offset to read of one partition. */
export interface Position {
  topic: string;
  partition: number;
  /** the offset of the first message NOT yet acknowledged (Kafka's committed-offset convention) */
  next: bigint;
}

export interface SubscribeOptions {
  /** consumers of one group share the partitions; each group sees every message */
  groupId: string;
  topics: string[];
  /**
   * Called with messages in order per (topic, partition), one call at a time.
   * The bus waits for the returned promise before it hands over more (that is
   * the back-pressure), but returning does NOT acknowledge anything: only
   * `Subscription.commit` does. A rejection is logged and the same messages
   * are delivered again after a pause.
   */
  onMessages(messages: ConsumedMessage[]): Promise<void>;
}

export interface Subscription {
  /**
   * Acknowledges every message before `next` in each given partition:
   * Kafka commits the offsets; the local bus answers the publishers whose
   * messages are all acknowledged. Call it only once the messages are stored.
   */
  commit(positions: Position[]): Promise<void>;
  /** Messages published but not yet acknowledged, summed over the subscribed partitions (best effort, may be cached). */
  lag(): Promise<number>;
  /** Stops delivering; unacknowledged messages will be delivered again to the next consumer. */
  close(): Promise<void>;
}

export interface Bus {
  readonly kind: 'kafka' | 'local';
  /**
   * Resolves once the bus durably holds every message (Kafka: acks from all
   * in-sync replicas; local: ingest stored them). Rejects when it cannot say
   * so within the bus's timeouts; the caller then keeps the messages (the
   * agent spools them) and publishes them again later, in the same order.
   * Never called concurrently by one publisher (order is the caller's).
   */
  publish(topic: string, messages: BusMessage[]): Promise<void>;
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  close(): Promise<void>;
}

/** An error of the bus with what was being done, for logs and metrics. */
export class BusError extends Error {
  constructor(
    readonly operation: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${operation}: ${message}`, options);
    this.name = 'BusError';
  }
}
