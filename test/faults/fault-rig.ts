// SPDX-License-Identifier: Apache-2.0
/**
 * The two pipelines the fault tests break, each with its ingest as a child
 * process that a fault may kill and replace:
 *
 * - fleet: the agent's publisher → a real Kafka broker → `fleettrace ingest`
 *   → the ClickHouse server (queried as its owner, so the sensitive tables
 *   are checked too), with an OffsetWatch on the ingest group;
 * - single host: the publisher → the local bus (a post is answered once
 *   ingest committed it) → `fleettrace ingest` → chDB (queried as viewer
 *   through ingest's endpoint: the sensitive database is not readable there).
 *
 * `ingestArgs` (failpoints, the broken variant) apply to every ingest the
 * rig starts, replacements included.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KafkaBus, LocalBus } from '@fleettrace/bus';
import { ServerStore } from '@fleettrace/store';
import { ClickHouseServer } from '../harness/clickhouse-server';
import { IngestProcess, type IngestArgs } from '../harness/ingest-process';
import { KafkaBroker } from '../harness/kafka-broker';
import { freePort, sleep } from '../harness/local-processes';
import { AgentSide, OffsetWatch, type Select } from '../pipeline/pipeline-rig';

export type IngestVariant = Pick<IngestArgs, 'failpoints' | 'broken'>;

export interface Pipeline {
  agent: AgentSide;
  select: Select;
  /** Kafka only */
  watch?: OffsetWatch;
  /** whether `select` can read fleettrace_sensitive */
  sensitive: boolean;
  ingest(): IngestProcess;
  /** Starts an ingest with `variant` in place of the running one (SIGTERM). */
  replaceIngest(variant: IngestVariant): Promise<void>;
  /** Waits for the running ingest to die of SIGKILL (its failpoint) within `ms`; fails otherwise. */
  ingestDiedOfFailpoint(ms?: number): Promise<void>;
  /** Kills the running ingest with SIGKILL (no cleanup at all). */
  killIngest(): Promise<void>;
  /** Starts an ingest with `variant` after the previous one died. */
  startIngest(variant: IngestVariant): Promise<void>;
  close(): Promise<void>;
}

function ingestSlot(args: () => IngestArgs) {
  const slot: { ingest?: IngestProcess } = {};
  return {
    slot,
    ingest: () => slot.ingest!,
    startIngest: async (variant: IngestVariant) => {
      slot.ingest = await IngestProcess.start({ ...args(), ...variant });
    },
    replaceIngest: async (variant: IngestVariant) => {
      await slot.ingest?.stop();
      slot.ingest = await IngestProcess.start({ ...args(), ...variant });
    },
    killIngest: async () => {
      await slot.ingest?.process.stop('SIGKILL');
    },
    ingestDiedOfFailpoint: async (ms = 60_000) => {
      const armed = slot.ingest!;
      const exit = await Promise.race([armed.process.exited, sleep(ms).then(() => undefined)]);
      if (!exit || exit.signal !== 'SIGKILL')
        throw new Error(
          `ingest did not die at its failpoint: ${JSON.stringify(exit)}\n${armed.process.log}`,
        );
    },
  };
}

/** Kafka + the ClickHouse server; the broker and the server are the caller's. */
export async function fleetPipeline(
  broker: KafkaBroker,
  server: ClickHouseServer,
  variant: IngestVariant,
  agentId: string,
): Promise<Pipeline> {
  const store = new ServerStore({ url: server.url });
  const select: Select = (sql) => store.select(sql);
  const s = ingestSlot(() => ({
    bus: 'kafka',
    brokers: broker.brokers,
    store: 'server',
    clickhouseUrl: server.url,
  }));
  await s.startIngest(variant);
  const agent = new AgentSide(
    new KafkaBus({ brokers: broker.brokers, publishTimeoutMs: 5000, log: () => undefined }),
    agentId,
  );
  const watch = new OffsetWatch(broker.brokers);
  await watch.start(select);
  return {
    agent,
    select,
    watch,
    sensitive: true,
    ...s,
    close: async () => {
      await watch.stop();
      await agent.close();
      await agent.bus.close();
      await s.slot.ingest?.stop();
      await store.close();
    },
  };
}

/** The local bus + chDB, in a data directory of its own. */
export async function localPipeline(variant: IngestVariant, agentId: string): Promise<Pipeline> {
  const dataDir = mkdtempSync(join(tmpdir(), 'fleettrace-faults-'));
  const listen = `127.0.0.1:${await freePort()}`;
  const token = randomBytes(24).toString('base64url');
  const busTokenFile = join(dataDir, 'bus-token');
  writeFileSync(busTokenFile, token + '\n', { mode: 0o600 });
  const s = ingestSlot(() => ({
    bus: 'local',
    listen,
    busTokenFile,
    store: 'embedded',
    dataDir,
  }));
  await s.startIngest(variant);
  const select: Select = async (sql) => {
    const r = await s.ingest().query(sql);
    return r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c.name, row[i]])));
  };
  const agent = new AgentSide(
    new LocalBus({ address: listen, token, publishTimeoutMs: 10_000 }),
    agentId,
  );
  return {
    agent,
    select,
    sensitive: false,
    ...s,
    close: async () => {
      await agent.close();
      await agent.bus.close();
      await s.slot.ingest?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
