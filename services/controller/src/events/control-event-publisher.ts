// SPDX-License-Identifier: Apache-2.0
/**
 * Where changes of jobs, runs and agents go besides SQLite (the source of
 * truth): the pipeline issue plugs a Kafka producer in here so ingest can
 * mirror them into ClickHouse. Contract: `publish` never blocks and never
 * throws into the caller; an implementation that can fail buffers or counts
 * and logs its failures itself. Order is preserved per call site.
 */
import type { ControlEvent } from '@fleettrace/proto';

export interface ControlEventPublisher {
  publish(event: ControlEvent): void;
  close(): Promise<void>;
}

/** Keeps the most recent events in memory (bounded): for tests and single-host runs. */
export class InMemoryControlEventPublisher implements ControlEventPublisher {
  readonly events: ControlEvent[] = [];
  private listeners = new Set<(e: ControlEvent) => void>();

  constructor(private readonly capacity = 10_000) {}

  publish(event: ControlEvent): void {
    this.events.push(event);
    if (this.events.length > this.capacity)
      this.events.splice(0, this.events.length - this.capacity);
    for (const l of this.listeners) l(event);
  }

  /** Calls `listener` for every later event; returns the unsubscribe function. */
  subscribe(listener: (e: ControlEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }
}
