// SPDX-License-Identifier: Apache-2.0
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  describeSecuredDataDir,
  ownerOnlyUmask,
  parseDuration,
  secureDataDir,
} from '@fleettrace/common';
import { TOPICS } from '@fleettrace/bus';
import { startIngestProcess } from '@fleettrace/ingest';
import { UsageError } from '../cli-error';
import { defineCommand, type OptionSpecs, type Values } from '../command';
import { configFileParser, configOption } from '../config-file';
import { KAFKA_CONNECTION_FLAGS, kafkaConnectionOptions, kafkaSettings } from '../kafka-flags';
import { readSecret, secretOptions } from '../secret-flags';
import { listed } from '../registry';
import { serveUntilSignal } from '../signals';

export const INGEST_OPTIONS = {
  config: configOption('ingest'),
  bus: {
    type: 'string',
    default: 'kafka',
    choices: ['kafka', 'local'],
    placeholder: 'kafka|local',
    help: 'Kafka or the local bus of a single host',
  },
  brokers: {
    type: 'string',
    default: '127.0.0.1:9092',
    placeholder: 'LIST',
    help: 'Kafka brokers',
  },
  ...kafkaConnectionOptions(),
  partitions: {
    type: 'string',
    default: '1',
    placeholder: 'N',
    help: 'partitions of the topics ingest creates',
  },
  group: {
    type: 'string',
    default: 'fleettrace-ingest',
    placeholder: 'ID',
    help: 'consumer group',
  },
  listen: {
    type: 'string',
    default: '127.0.0.1:7420',
    placeholder: 'ADDR',
    help: 'local bus: where agents post batches, a unix socket path or H:P',
  },
  'bus-token-file': {
    type: 'string',
    placeholder: 'FILE',
    help: 'local bus: the token publishers must post with (required on H:P: every local user can reach a loopback port; agents read it from $FLEETTRACE_BUS_TOKEN)',
  },
  store: {
    type: 'string',
    default: 'server',
    choices: ['server', 'embedded'],
    placeholder: 'server|embedded',
    help: 'a ClickHouse server or chDB in --data',
  },
  'clickhouse-url': {
    type: 'string',
    default: 'http://127.0.0.1:8123',
    placeholder: 'URL',
    help: 'the ClickHouse server',
  },
  'clickhouse-user': { type: 'string', default: 'default', placeholder: 'NAME', help: 'its user' },
  ...secretOptions(
    'clickhouse-password',
    'the ClickHouse password (default $FLEETTRACE_CLICKHOUSE_PASSWORD)',
  ),
  data: {
    type: 'string',
    placeholder: 'DIR',
    help: 'embedded store and local dead letters (default ~/.local/share/fleettrace)',
  },
  http: {
    type: 'string',
    default: '127.0.0.1:7421',
    placeholder: 'ADDR|off',
    help: '/metrics, /healthz, /v1/query (port 0 picks one; off: none), behind the bearer token in DATA/http-token (0600)',
  },
  'flush-interval': {
    type: 'string',
    placeholder: 'D',
    help: 'the longest rows wait for an insert (default 1s on kafka, 250ms on local)',
  },
  'retention-days': {
    type: 'string',
    default: '30',
    placeholder: 'N',
    help: 'keep N days; 0 keeps everything',
  },
  'max-bytes': {
    type: 'string',
    default: '10737418240',
    placeholder: 'N',
    help: 'embedded store size cap in bytes (10 GiB by default)',
  },
} as const satisfies OptionSpecs;

export const ingestCommand = defineCommand({
  ...listed('ingest'),
  description: `Consumes event batches and controller changes from the bus and writes them to
the store exactly once; applies the schema migrations first. Stops on SIGINT or
SIGTERM within 5 s (a second signal forces): what it consumed is written and its
offsets committed, or left uncommitted for the next start to read again.`,
  options: INGEST_OPTIONS,
  parse: configFileParser({ name: 'ingest', options: INGEST_OPTIONS }),
  run: ingest,
});

async function ingest(values: Values<typeof INGEST_OPTIONS>): Promise<number> {
  // Before anything is created: chDB parts and dead letters are owner-only.
  ownerOnlyUmask();
  const number = (name: string, v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0)
      throw new UsageError(`--${name}: expected a number ≥ 0, got ${JSON.stringify(v)}`);
    return n;
  };
  let busToken: string | undefined;
  if (values['bus-token-file'] !== undefined) {
    try {
      busToken = readFileSync(values['bus-token-file'], 'utf8').trim();
    } catch (err) {
      throw new UsageError(`--bus-token-file: ${(err as Error).message}`);
    }
    if (busToken.length < 16)
      throw new UsageError('--bus-token-file: the token must be at least 16 characters');
  }
  const kafka = kafkaSettings(values);
  if (values.bus === 'local')
    for (const flag of KAFKA_CONNECTION_FLAGS)
      if ((values as Record<string, unknown>)[flag] !== undefined)
        throw new UsageError(`--${flag}: for --bus kafka only`);
  const clickhousePassword = readSecret(values, {
    flag: 'clickhouse-password',
    env: 'FLEETTRACE_CLICKHOUSE_PASSWORD',
  });
  const dataDir =
    values.data ?? join(process.env.XDG_DATA_HOME ?? join(homedir(), '.local/share'), 'fleettrace');
  process.stderr.write(`fleettrace ingest: ${describeSecuredDataDir(secureDataDir(dataDir))}\n`);
  const running = await startIngestProcess({
    bus: values.bus,
    brokers: values.brokers
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean),
    ...(values.bus === 'kafka' && kafka?.tls ? { kafkaTls: true } : {}),
    ...(values.bus === 'kafka' && kafka?.saslMechanism
      ? {
          kafkaSasl: {
            mechanism: kafka.saslMechanism as 'plain' | 'scram-sha-256' | 'scram-sha-512',
            username: kafka.saslUsername,
            password: kafka.saslPassword,
          },
        }
      : {}),
    partitions: Math.max(1, number('partitions', values.partitions)),
    groupId: values.group,
    localAddress: values.listen,
    ...(busToken
      ? {
          localPublishers: [
            { name: 'local', token: busToken, topics: [TOPICS.events, TOPICS.control] },
          ],
        }
      : {}),
    store: values.store,
    clickhouseUrl: values['clickhouse-url'],
    clickhouseUser: values['clickhouse-user'],
    clickhousePassword: clickhousePassword ?? '',
    dataDir,
    httpAddress: values.http,
    retentionDays: number('retention-days', values['retention-days']),
    maxBytes: number('max-bytes', values['max-bytes']),
    flushIntervalMs:
      values['flush-interval'] === undefined
        ? undefined
        : parseDuration('--flush-interval', values['flush-interval'], { minMs: 10, maxMs: 60_000 }),
  });
  return serveUntilSignal('ingest', async (step) => {
    step('writing what was consumed and committing its offsets');
    await running.stop();
  });
}
