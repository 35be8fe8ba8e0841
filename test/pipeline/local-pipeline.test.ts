// SPDX-License-Identifier: Apache-2.0
/**
 * Single-host mode's pipeline (what `fleettrace up` wires): the agent's proc
 * collector and publisher → the local bus (loopback HTTP, answered once
 * stored) → `fleettrace ingest --bus local --store embedded` → chDB. Exactly
 * 200 exec rows with no fault, and when ingest is killed for 10 s in the
 * middle and started again: the agent spools what ingest did not
 * acknowledge and replays it, exactly once. And the controller's changes
 * (ControlEvents) land in jobs, job_runs and agents, the latest version winning.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ControlEventSender, LocalBus } from '@fleettrace/bus';
import { IngestProcess, type IngestArgs } from '../harness/ingest-process';
import { freePort, sleep, waitFor } from '../harness/local-processes';
import { AgentSide, runScenario, type Select } from './pipeline-rig';

describe('single host: proc → local bus → ingest → chDB', { timeout: 300_000 }, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'fleettrace-local-'));
  const current: { ingest?: IngestProcess } = {};
  let agent: AgentSide;
  let args: IngestArgs;
  const select: Select = async (sql) => {
    const r = await current.ingest!.query(sql);
    return r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c.name, row[i]])));
  };

  before(async () => {
    const listen = `127.0.0.1:${await freePort()}`;
    const token = randomBytes(24).toString('base64url');
    const busTokenFile = join(dataDir, 'bus-token');
    writeFileSync(busTokenFile, token + '\n', { mode: 0o600 });
    args = { bus: 'local', listen, busTokenFile, store: 'embedded', dataDir };
    current.ingest = await IngestProcess.start(args);
    agent = new AgentSide(
      new LocalBus({ address: listen, token, publishTimeoutMs: 10_000 }),
      `local-agent-${process.pid}`,
    );
  });

  after(async () => {
    await agent?.close();
    await agent?.bus.close();
    await current.ingest?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('200 execs, no fault: exactly 200 exec rows', async () => {
    await runScenario({ name: 'local-plain', agent, select });
    // Every field of the real collector's rows has a column (the manifest is complete).
    assert.doesNotMatch(
      await current.ingest!.metrics(),
      /^fleettrace_ingest_unmapped_fields_total\{/m,
    );
  });

  test('ingest killed for 10 s mid-run: the agent spools and replays, exactly once', () =>
    runScenario({
      name: 'local-ingest-down',
      agent,
      select,
      fault: async () => {
        await current.ingest!.process.stop('SIGKILL');
        await sleep(10_000);
        current.ingest = await IngestProcess.start(args);
      },
    }));

  test('controller changes land in jobs, job_runs and agents (latest version wins)', async () => {
    const sender = new ControlEventSender(agent.bus);
    const job = `control-${Date.now()}`;
    sender.send({
      unixMs: 1000,
      body: {
        $case: 'job',
        value: { jobId: job, specJson: '{}', state: 'running', createdBy: 'alice' },
      },
    });
    sender.send({
      unixMs: 2000,
      body: {
        $case: 'job',
        value: { jobId: job, specJson: '{}', state: 'finished', createdBy: 'alice' },
      },
    });
    sender.send({
      unixMs: 1500,
      body: {
        $case: 'run',
        value: {
          jobId: job,
          runId: `${job}-r`,
          agentId: 'a1',
          host: 'h1',
          state: 'failed',
          reason: 'no BTF',
          eventsSent: 5,
          eventsAcked: 4,
          eventsLost: 1,
          overheadShare: 0.01,
          weight: 1,
        },
      },
    });
    sender.send({
      unixMs: 1500,
      body: {
        $case: 'agent',
        value: {
          agentId: `${job}-agent`,
          host: 'h1',
          state: 'connected',
          labelsJson: '{}',
          kernel: '6.18',
        },
      },
    });
    await sender.close();
    assert.equal(sender.sent, 4);
    const rows = await waitFor('the control events to be queryable', async () => {
      const r = await select(
        `SELECT (SELECT any(state) FROM fleettrace.jobs FINAL WHERE job_id = '${job}') AS job_state,
                (SELECT any(reason) FROM fleettrace.job_runs FINAL WHERE job_id = '${job}') AS run_reason,
                (SELECT any(events_acked) FROM fleettrace.job_runs FINAL WHERE job_id = '${job}') AS run_acked,
                (SELECT count() FROM fleettrace.agents FINAL WHERE agent_id = '${job}-agent') AS agents`,
      );
      return r[0]?.job_state ? r : undefined;
    });
    assert.deepEqual(rows[0], {
      job_state: 'finished',
      run_reason: 'no BTF',
      run_acked: '4',
      agents: '1',
    });
  });
});
