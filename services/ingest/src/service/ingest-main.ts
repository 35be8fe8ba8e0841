// SPDX-License-Identifier: Apache-2.0
/**
 * Ingest as a process (what `fleettrace ingest` runs): builds the bus and the
 * store from options, starts the service and its HTTP endpoint, and stops
 * cleanly on SIGINT/SIGTERM (flush, commit, close).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ownerTokenFile } from '@fleettrace/common';
import { KafkaBus, LocalBus, TOPICS, type Bus, type LocalPublisher } from '@fleettrace/bus';
import { EmbeddedStore, QueryService, ServerStore, type Store } from '@fleettrace/store';
import { BusDeadLetters, DirectoryDeadLetters, type DeadLetterSink } from './dead-letters';
import { Failpoints } from './failpoints';
import { serveIngestHttp } from './ingest-http';
import { IngestService } from './ingest-service';

export interface IngestProcessOptions {
  bus: 'kafka' | 'local';
  brokers: string[];
  /** TLS and SASL to the brokers (KafkaBusOptions) */
  kafkaTls?: boolean;
  kafkaSasl?: {
    mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
    username: string;
    password: string;
  };
  /** the local bus's listen address (host:port or a socket path) */
  localAddress: string;
  /** who may post to the local bus (required on a TCP address) */
  localPublishers?: LocalPublisher[];
  /** the agent id each local publisher may send batches for (IngestOptions.agentOfPublisher) */
  agentOfPublisher?: (publisher: string) => string | undefined;
  store: 'server' | 'embedded';
  clickhouseUrl: string;
  clickhouseUser: string;
  clickhousePassword: string;
  /** data directory of the embedded store (and of local dead letters) */
  dataDir: string;
  /** host:port of /metrics, /healthz and /v1/query (behind the token in DATA/http-token), or "off" */
  httpAddress: string;
  groupId: string;
  retentionDays: number;
  maxBytes: number;
  partitions: number;
  /** the longest rows wait for an insert; default 1000 ms on Kafka, 250 ms on the local bus */
  flushIntervalMs?: number;
}

export interface RunningIngest {
  service: IngestService;
  store: Store;
  stop(): Promise<void>;
  /** 0 when the HTTP endpoint is off */
  httpPort: number;
  /** the file holding its bearer token, when it is on */
  httpTokenFile?: string;
}

export async function startIngestProcess(o: IngestProcessOptions): Promise<RunningIngest> {
  const log = (m: string) => process.stderr.write(`ingest: ${m}\n`);
  const failpoints = new Failpoints();
  if (failpoints.active) log(`failpoints armed: ${process.env.FLEETTRACE_FAILPOINTS}`);
  let bus: Bus;
  let deadLetters: DeadLetterSink;
  if (o.bus === 'kafka') {
    const kafka = new KafkaBus({
      brokers: o.brokers,
      clientId: 'fleettrace-ingest',
      partitions: o.partitions,
      ...(o.kafkaTls ? { tls: true } : {}),
      ...(o.kafkaSasl ? { sasl: o.kafkaSasl } : {}),
    });
    for (let attempt = 0; ; attempt++) {
      try {
        await kafka.ensureTopics([TOPICS.events, TOPICS.control, TOPICS.deadLetter]);
        break;
      } catch (err) {
        if (attempt % 10 === 0) log(`kafka not ready, retrying: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    bus = kafka;
    deadLetters = new BusDeadLetters(kafka);
  } else {
    bus = new LocalBus({ address: o.localAddress, publishers: o.localPublishers });
    deadLetters = new DirectoryDeadLetters(join(o.dataDir, 'dead-letters'));
  }
  const store: Store =
    o.store === 'embedded'
      ? new EmbeddedStore({ dataDir: join(o.dataDir, 'chdb') })
      : new ServerStore({
          url: o.clickhouseUrl,
          owner: { username: o.clickhouseUser, password: o.clickhousePassword },
        });
  const service = new IngestService({
    bus,
    store,
    deadLetters,
    groupId: o.groupId,
    // Every insert makes a part (files) and, soon, a merge: on an idle host
    // with the always-on job, inserting every 250 ms cost the embedded store
    // ~5% of a CPU for a few dozen rows a second. That trickle (< quietRows)
    // now waits for the quiet interval below; past it, rows are flushed within
    // 500 ms, because the local bus answers a publish once stored and the
    // agent has one publish in flight: a 2 s interval here made events wait
    // 6-7 s to be queryable at 20,000 rows/s (bench/ingest, 2026-12-04).
    // Busy, flushRows cuts inserts sooner. Fleet ingest inserts every second.
    flushIntervalMs: o.flushIntervalMs ?? (o.bus === 'local' ? 500 : 1000),
    // A quiet host's trickle waits up to 5 s: the always-on job's drain of five collectors
    // and the controller's changes around it become one insert per table instead of several.
    ...(o.bus === 'local' ? { quietFlushIntervalMs: 5000 } : {}),
    failpoints,
    log,
    agentOfPublisher: o.agentOfPublisher,
    retention: { days: o.retentionDays, maxBytes: o.store === 'embedded' ? o.maxBytes : 0 },
  });
  await service.start();
  let server: import('node:http').Server | undefined;
  let httpPort = 0;
  let httpTokenFile: string | undefined;
  if (o.httpAddress !== 'off') {
    const [host = '127.0.0.1', port = '0'] = splitHostPort(o.httpAddress);
    mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
    httpTokenFile = join(o.dataDir, 'http-token');
    server = await serveIngestHttp(service, new QueryService(store), {
      host,
      port: Number(port),
      token: ownerTokenFile(httpTokenFile),
    });
    const address = server.address();
    httpPort = typeof address === 'object' && address ? address.port : 0;
    log(
      `http on ${host}:${httpPort} (/metrics, /healthz, /v1/query; bearer token in ${httpTokenFile})`,
    );
  }
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      server?.closeAllConnections();
      server?.close();
      await service.stop();
      await bus.close();
      await store.close();
    })());
  return { service, store, stop, httpPort, httpTokenFile };
}

function splitHostPort(address: string): [string, string] {
  const i = address.lastIndexOf(':');
  return i < 0
    ? ['127.0.0.1', address]
    : [address.slice(0, i).replace(/^\[|\]$/g, ''), address.slice(i + 1)];
}
