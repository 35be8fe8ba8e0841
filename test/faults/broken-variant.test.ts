// SPDX-License-Identifier: Apache-2.0
/**
 * The fault suite bites: ingest made deliberately wrong
 * (FLEETTRACE_TEST_BROKEN=commit-first: each flush commits its offsets, or
 * answers the local bus's posts, before inserting) and put through the same
 * faults as ingest-crash.test.ts must be reported by the same checks, every
 * run. If one of these tests fails, the checks stopped seeing the loss that
 * the order "insert, then commit" prevents, and the passing fault tests
 * prove nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ClickHouseServer } from '../harness/clickhouse-server';
import { KafkaBroker } from '../harness/kafka-broker';
import { playScenario } from '../pipeline/pipeline-rig';
import { fleetPipeline, localPipeline, type IngestVariant, type Pipeline } from './fault-rig';
import { ingestKilledBeforeInsert, storeDownThenIngestKilled } from './fault-scenarios';

const BROKEN: IngestVariant = { broken: 'commit-first' };

/**
 * The delivery check must have found an acknowledged batch missing from the
 * store, or stored only in some of its tables (a crash mid-flush stores some
 * tables' blocks: often fleettrace.batches but not the collector's table).
 */
function assertLossCaught(problems: string[]): void {
  assert.ok(
    problems.some((p) => /^batch \S+ \(.*\).*(missing from|holds \d+ (rows|of its))/.test(p)),
    `the checks missed the loss of the commit-first ingest; they reported: ${JSON.stringify(problems)}`,
  );
}

describe(
  'broken ingest (commit-first) on Kafka → ClickHouse 18.16 server is caught',
  { timeout: 600_000 },
  () => {
    let broker: KafkaBroker;
    let server: ClickHouseServer;

    before(async () => {
      broker = await KafkaBroker.start();
      server = await ClickHouseServer.start();
    });

    after(async () => {
      await server?.destroy();
      await broker?.destroy();
    });

    test('server killed, ingest SIGKILLed during the outage: loss and the early commit reported', async () => {
      const p = await fleetPipeline(broker, server, BROKEN, `broken-outage-${process.pid}`);
      try {
        const report = await playScenario({
          name: 'broken-server-down-ingest-killed',
          agent: p.agent,
          select: p.select,
          watch: p.watch,
          sensitive: p.sensitive,
          settleMs: 20_000,
          fault: storeDownThenIngestKilled(p, server, BROKEN),
        });
        assertLossCaught(report.problems);
        // The lost batches lie below the offset the restarted ingest goes on
        // from: the watch sees them committed and not queryable (or, when the
        // commit came later than the stop's grace, the offset moving in the outage).
        assert.ok(
          report.problems.some((x) =>
            /committed \(next \d+\) but \d+ rows queryable|committed offset moved/.test(x),
          ),
          `the offset watch missed the early commits: ${JSON.stringify(report.problems)}`,
        );
      } finally {
        await p.close();
      }
    });

    test('ingest killed before the first insert of a flush: loss reported', async () => {
      const p = await fleetPipeline(broker, server, BROKEN, `broken-before-insert-${process.pid}`);
      try {
        const report = await playScenario({
          name: 'broken-server-before-insert',
          agent: p.agent,
          select: p.select,
          watch: p.watch,
          sensitive: p.sensitive,
          settleMs: 20_000,
          fault: await ingestKilledBeforeInsert(p, BROKEN),
        });
        assertLossCaught(report.problems);
      } finally {
        await p.close();
      }
    });
  },
);

describe(
  'broken ingest (commit-first) on the local bus → chDB is caught',
  { timeout: 300_000 },
  () => {
    let p: Pipeline;

    before(async () => {
      p = await localPipeline(BROKEN, `broken-local-${process.pid}`);
    });

    after(async () => {
      await p?.close();
    });

    test('ingest killed before the first insert of a flush: loss reported', async () => {
      const report = await playScenario({
        name: 'broken-local-before-insert',
        agent: p.agent,
        select: p.select,
        sensitive: p.sensitive,
        settleMs: 20_000,
        fault: await ingestKilledBeforeInsert(p, BROKEN),
      });
      assertLossCaught(report.problems);
    });
  },
);
