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
import { parseServiceArgs } from '../config-file';
import type { OptionTable } from '../config-keys';
import { KAFKA_CONNECTION_FLAGS, kafkaSettings } from '../kafka-flags';
import { readSecret } from '../secret-flags';
import { serveUntilSignal } from '../signals';

export const INGEST_HELP = `usage: fleettrace ingest [--bus kafka|local] [--brokers host:port,...] [--listen ADDR]
                        [--store server|embedded] [--clickhouse-url URL] [--data DIR]
                        [--http ADDR] [--retention-days N] [--max-bytes N]

Consumes event batches and controller changes from the bus and writes them to
the store exactly once; applies the schema migrations first. Stops on SIGINT or
SIGTERM within 5 s (a second signal forces): what it consumed is written and its
offsets committed, or left uncommitted for the next start to read again.

  --config FILE            take options from FILE's ingest: section (YAML, see
                           docs/config.md); flags given here override it
  --bus kafka|local        Kafka (default) or the local bus of a single host
  --brokers LIST           Kafka brokers (default 127.0.0.1:9092)
  --kafka-tls              connect to them over TLS (system CAs)
  --kafka-sasl-mechanism plain|scram-sha-256|scram-sha-512
                           authenticate to them with SASL
  --kafka-sasl-user NAME   the SASL user
  --kafka-sasl-password-file FILE
                           the SASL password (default $FLEETTRACE_KAFKA_SASL_PASSWORD;
                           --kafka-sasl-password takes it on the command line, which
                           every local user can read)
  --partitions N           partitions of the topics ingest creates (default 1)
  --group ID               consumer group (default fleettrace-ingest)
  --listen ADDR            local bus: where agents post batches, a unix socket path or
                           H:P (default 127.0.0.1:7420)
  --bus-token-file FILE    local bus: the token publishers must post with (required on
                           H:P: every local user can reach a loopback port; agents
                           read it from $FLEETTRACE_BUS_TOKEN)
  --store server|embedded  a ClickHouse server (default) or chDB in --data
  --clickhouse-url URL     the ClickHouse server (default http://127.0.0.1:8123)
  --clickhouse-user NAME   its user (default default)
  --clickhouse-password-file FILE
                           the ClickHouse password (default $FLEETTRACE_CLICKHOUSE_PASSWORD;
                           --clickhouse-password takes it on the command line, which every
                           local user can read)
  --data DIR               embedded store and local dead letters (default ~/.local/share/fleettrace)
  --http ADDR|off          /metrics, /healthz, /v1/query (default 127.0.0.1:7421; port 0
                           picks one), behind the bearer token in DATA/http-token (0600)
  --flush-interval D       the longest rows wait for an insert (default 1s on kafka, 250ms on local)
  --retention-days N       keep N days (default 30; 0 keeps everything)
  --max-bytes N            embedded store size cap in bytes (default 10 GiB)`;

export const INGEST_OPTIONS = {
  bus: { type: 'string', default: 'kafka' },
  brokers: { type: 'string', default: '127.0.0.1:9092' },
  'kafka-tls': { type: 'boolean' },
  'kafka-sasl-mechanism': { type: 'string' },
  'kafka-sasl-user': { type: 'string' },
  'kafka-sasl-password': { type: 'string' },
  'kafka-sasl-password-file': { type: 'string' },
  partitions: { type: 'string', default: '1' },
  group: { type: 'string', default: 'fleettrace-ingest' },
  listen: { type: 'string', default: '127.0.0.1:7420' },
  'bus-token-file': { type: 'string' },
  store: { type: 'string', default: 'server' },
  'clickhouse-url': { type: 'string', default: 'http://127.0.0.1:8123' },
  'clickhouse-user': { type: 'string', default: 'default' },
  'clickhouse-password': { type: 'string' },
  'clickhouse-password-file': { type: 'string' },
  data: { type: 'string' },
  http: { type: 'string', default: '127.0.0.1:7421' },
  'flush-interval': { type: 'string' },
  'retention-days': { type: 'string', default: '30' },
  'max-bytes': { type: 'string', default: String(10 * 1024 ** 3) },
  help: { type: 'boolean', short: 'h', default: false },
} satisfies OptionTable;

export async function ingestCommand(argv: string[]): Promise<number> {
  // Before anything is created: chDB parts and dead letters are owner-only.
  ownerOnlyUmask();
  const { values } = parseServiceArgs(
    { name: 'ingest', help: INGEST_HELP },
    {
      args: argv,
      strict: true,
      options: INGEST_OPTIONS,
    },
  );
  if (values.help) {
    process.stdout.write(INGEST_HELP + '\n');
    return 0;
  }
  if (values.bus !== 'kafka' && values.bus !== 'local')
    throw new UsageError(`--bus: expected kafka or local, got ${JSON.stringify(values.bus)}`);
  if (values.store !== 'server' && values.store !== 'embedded')
    throw new UsageError(
      `--store: expected server or embedded, got ${JSON.stringify(values.store)}`,
    );
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
