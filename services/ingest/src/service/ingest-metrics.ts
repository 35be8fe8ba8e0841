// SPDX-License-Identifier: Apache-2.0
/** Ingest's Prometheus metrics (served on /metrics by ingest-http.ts). */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export class IngestMetrics {
  readonly registry = new Registry();
  readonly batches = new Counter({
    name: 'fleettrace_ingest_batches_total',
    help: 'Event batches decoded',
    registers: [this.registry],
  });
  readonly rows = new Counter({
    name: 'fleettrace_ingest_rows_total',
    help: 'Rows the store acknowledged, by table',
    labelNames: ['table'],
    registers: [this.registry],
  });
  readonly inserts = new Counter({
    name: 'fleettrace_ingest_inserts_total',
    help: 'Inserts the store acknowledged',
    registers: [this.registry],
  });
  readonly insertErrors = new Counter({
    name: 'fleettrace_ingest_insert_errors_total',
    help: 'Inserts that failed and were retried',
    registers: [this.registry],
  });
  readonly deadLetters = new Counter({
    name: 'fleettrace_ingest_dead_letters_total',
    help: 'Messages that could not be decoded, sent to the dead-letter topic with the reason',
    registers: [this.registry],
  });
  readonly deadLettersDropped = new Counter({
    name: 'fleettrace_ingest_dead_letters_dropped_total',
    help: 'Undecodable messages dropped, not kept, because the dead-letter directory was at its caps',
    registers: [this.registry],
  });
  readonly refusedBatches = new Counter({
    name: 'fleettrace_ingest_refused_batches_total',
    help: 'Batches refused because their agent id is not the one their authenticated publisher may send (forged), by publisher',
    labelNames: ['publisher'],
    registers: [this.registry],
  });
  readonly unmappedFields = new Counter({
    name: 'fleettrace_ingest_unmapped_fields_total',
    help: 'Values lost because no table of their collector has a column for their field (an agent newer than ingest\'s schema, a renamed field), by collector and field; past 100 fields they count as field="(other)"',
    labelNames: ['collector', 'field'],
    registers: [this.registry],
  });
  readonly duplicates = new Counter({
    name: 'fleettrace_ingest_duplicate_batches_total',
    help: 'Batches delivered again that ingest had stored already (skipped; the store collapses the ones it does not know)',
    registers: [this.registry],
  });
  readonly lag = new Gauge({
    name: 'fleettrace_ingest_consumer_lag',
    help: 'Messages on the bus not yet committed by this consumer group',
    registers: [this.registry],
  });
  readonly lost = new Counter({
    name: 'fleettrace_ingest_collector_lost_total',
    help: 'Events the agents reported lost (from the batches)',
    registers: [this.registry],
  });
  readonly flushSeconds = new Histogram({
    name: 'fleettrace_ingest_flush_seconds',
    help: 'Time from a flush start to its commit',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
