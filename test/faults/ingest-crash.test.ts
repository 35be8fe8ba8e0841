// SPDX-License-Identifier: Apache-2.0
/**
 * Ingest crashes the pipeline tests do not cover, on both pipelines: killed
 * before the first insert of a flush (nothing of it stored, nothing
 * committed), and, on Kafka with the ClickHouse server, killed with SIGKILL
 * in the middle of a server outage, then the server and ingest restarted.
 * Every batch the bus acknowledged to the publisher must be stored exactly
 * once in every table it feeds (checkDelivery), and on Kafka the committed
 * offset must stand still while the server is down.
 */
import { after, before, describe, test } from 'node:test';
import { ClickHouseServer } from '../harness/clickhouse-server';
import { KafkaBroker } from '../harness/kafka-broker';
import { runScenario } from '../pipeline/pipeline-rig';
import { fleetPipeline, localPipeline, type Pipeline } from './fault-rig';
import { ingestKilledBeforeInsert, storeDownThenIngestKilled } from './fault-scenarios';

describe('faults: Kafka → ingest → ClickHouse 18.16 server', { timeout: 600_000 }, () => {
  let broker: KafkaBroker;
  let server: ClickHouseServer;
  let p: Pipeline;

  before(async () => {
    broker = await KafkaBroker.start();
    server = await ClickHouseServer.start();
    p = await fleetPipeline(broker, server, {}, `faults-fleet-${process.pid}`);
  });

  after(async () => {
    await p?.close();
    await server?.destroy();
    await broker?.destroy();
  });

  test('server killed, ingest SIGKILLed during the outage, both restarted: every batch once, offsets stood still', async () => {
    await runScenario({
      name: 'faults-server-down-ingest-killed',
      agent: p.agent,
      select: p.select,
      watch: p.watch,
      sensitive: p.sensitive,
      fault: storeDownThenIngestKilled(p, server, {}),
    });
  });

  test('ingest killed before the first insert of a flush, restarted: every batch once', async () => {
    await runScenario({
      name: 'faults-server-before-insert',
      agent: p.agent,
      select: p.select,
      watch: p.watch,
      sensitive: p.sensitive,
      fault: await ingestKilledBeforeInsert(p, {}),
    });
  });
});

describe('faults: local bus → ingest → chDB', { timeout: 300_000 }, () => {
  let p: Pipeline;

  before(async () => {
    p = await localPipeline({}, `faults-local-${process.pid}`);
  });

  after(async () => {
    await p?.close();
  });

  test('ingest killed before the first insert of a flush, restarted: every batch once', async () => {
    await runScenario({
      name: 'faults-local-before-insert',
      agent: p.agent,
      select: p.select,
      sensitive: p.sensitive,
      fault: await ingestKilledBeforeInsert(p, {}),
    });
  });
});
