// SPDX-License-Identifier: Apache-2.0
/**
 * The faults the suite injects, as `fault` functions for playScenario; each
 * restarts what it broke with the same ingest variant, so a broken ingest
 * stays broken after its restart.
 */
import type { ClickHouseServer } from '../harness/clickhouse-server';
import { sleep } from '../harness/local-processes';
import type { IngestVariant, Pipeline } from './fault-rig';

/**
 * The ClickHouse server is killed (down at once, while the scenario still
 * sends rows); 8 s into the outage ingest is killed with
 * SIGKILL while its flush is retrying; 4 s later the server and then a new
 * ingest start. Whatever the killed ingest had consumed is redelivered from
 * the last committed offset, which must not have moved in the outage.
 */
export function storeDownThenIngestKilled(
  p: Pipeline,
  server: ClickHouseServer,
  variant: IngestVariant,
): () => Promise<void> {
  return async () => {
    await server.kill();
    p.watch?.storeDown();
    await sleep(8000);
    await p.killIngest();
    await sleep(4000);
    p.watch?.storeUp();
    await server.restart();
    await p.startIngest(variant);
  };
}

/**
 * Ingest armed to die at its third flush with data, after taking the
 * flush's blocks and before inserting any of them ("before-insert"); the
 * fault waits for that death and starts a replacement.
 */
export async function ingestKilledBeforeInsert(
  p: Pipeline,
  variant: IngestVariant,
): Promise<() => Promise<void>> {
  await p.replaceIngest({ ...variant, failpoints: 'before-insert@3' });
  return async () => {
    await p.ingestDiedOfFailpoint();
    await p.startIngest(variant);
  };
}
