// SPDX-License-Identifier: Apache-2.0
/**
 * The publisher's Prometheus metrics, in a registry of their own so the agent
 * can serve them on /metrics next to its other metrics (merge registries or
 * concatenate `text()`). Loss is counted by the stage where it happened, so
 * "events lost" on a dashboard says whether the kernel, the spool bound or
 * the disk lost them.
 */
import { Counter, Gauge, Registry } from 'prom-client';

export type LossStage = 'collector' | 'spool_full' | 'spool_write' | 'unmapped_field';

export class PublisherMetrics {
  readonly registry = new Registry();
  readonly events = new Counter({
    name: 'fleettrace_agent_events_total',
    help: 'Rows handed to the publisher by the collectors',
    registers: [this.registry],
  });
  readonly published = new Counter({
    name: 'fleettrace_agent_events_published_total',
    help: 'Rows the bus acknowledged',
    registers: [this.registry],
  });
  readonly batches = new Counter({
    name: 'fleettrace_agent_batches_published_total',
    help: 'Event batches the bus acknowledged',
    registers: [this.registry],
  });
  readonly lost = new Counter({
    name: 'fleettrace_agent_events_lost_total',
    help: 'Events lost, by stage: collector (kernel side and queues), spool_full (oldest spooled batches dropped at the bound), spool_write (the disk refused a batch), unmapped_field (values of row fields the collector manifest has no column for)',
    labelNames: ['stage'],
    registers: [this.registry],
  });
  readonly publishErrors = new Counter({
    name: 'fleettrace_agent_publish_errors_total',
    help: 'Publish attempts the bus did not acknowledge',
    registers: [this.registry],
  });
  readonly spoolBatches = new Gauge({
    name: 'fleettrace_agent_spool_batches',
    help: 'Batches waiting in the on-disk spool',
    registers: [this.registry],
  });
  readonly spoolBytes = new Gauge({
    name: 'fleettrace_agent_spool_bytes',
    help: 'Bytes of the batches in the on-disk spool',
    registers: [this.registry],
  });
  readonly spoolDropped = new Counter({
    name: 'fleettrace_agent_spool_dropped_batches_total',
    help: 'Spooled batches dropped, oldest first, to keep the spool within its bound',
    registers: [this.registry],
  });
  readonly pendingBatches = new Gauge({
    name: 'fleettrace_agent_pending_batches',
    help: 'Batches in memory waiting for the bus',
    registers: [this.registry],
  });
  readonly overhead = new Gauge({
    name: 'fleettrace_agent_overhead_share',
    help: 'Share of host CPU spent on tracing (BPF run time, hook cost, agent CPU), as the agent last measured it',
    registers: [this.registry],
  });

  constructor() {
    for (const stage of ['collector', 'spool_full', 'spool_write', 'unmapped_field'] as LossStage[])
      this.lost.inc({ stage }, 0);
  }

  /** Prometheus text exposition format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Current values as plain numbers (tests, status lines). */
  async snapshot(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const m of await this.registry.getMetricsAsJSON()) {
      for (const v of m.values) {
        const labels = Object.entries(v.labels ?? {})
          .map(([k, x]) => `${k}=${String(x)}`)
          .join(',');
        out[labels ? `${m.name}{${labels}}` : m.name] = v.value;
      }
    }
    return out;
  }
}
