// SPDX-License-Identifier: Apache-2.0
/**
 * The agent's publisher killed with SIGKILL (no close, no flush: a power
 * cut or the OOM killer) and started again on the same state directory:
 *
 * - with batches in its spool (the bus was away), the restarted publisher
 *   replays them and every batch, spooled or new, is stored exactly once;
 * - right after it handed out sequence numbers, the restarted publisher's
 *   sequences are all greater than every one used before: a repeated
 *   sequence would give two different batches one batch id, and FINAL would
 *   keep only one of them.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { IngestProcess } from '../harness/ingest-process';
import { freePort, LocalProcess, waitFor } from '../harness/local-processes';
import type { ChildConfig } from './publisher-child';

const CHILD = resolve(__dirname, 'publisher-child.js');

function startPublisher(config: ChildConfig): LocalProcess {
  return LocalProcess.start('publisher', process.execPath, [CHILD], {
    env: { ...process.env, FLEETTRACE_PUBLISHER_CHILD: JSON.stringify(config) },
  });
}

/** The sequences after `word` ("attempt" or "acked") in the child's output, in order. */
function sequences(p: LocalProcess, word: string): number[] {
  return [...p.log.matchAll(new RegExp(`^${word} (\\d+)$`, 'gm'))].map((m) => Number(m[1]));
}

describe('agent publisher crashes', { timeout: 300_000 }, () => {
  const dirs: string[] = [];
  const tempDir = (prefix: string) => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
  let ingest: IngestProcess | undefined;

  after(async () => {
    await ingest?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('SIGKILLed with a non-empty spool, restarted: every batch arrives exactly once', async () => {
    const stateDir = tempDir('fleettrace-crash-agent-');
    const dataDir = tempDir('fleettrace-crash-ingest-');
    const listen = `127.0.0.1:${await freePort()}`;
    const token = randomBytes(24).toString('base64url');
    const busTokenFile = join(dataDir, 'bus-token');
    writeFileSync(busTokenFile, token + '\n', { mode: 0o600 });
    const agentId = `spool-crash-agent-${process.pid}`;
    const jobId = `spool-crash-${Date.now()}`;
    const config = { stateDir, agentId, jobId, bus: { address: listen, token } };

    // No ingest on the bus's address yet: every publish fails and is spooled.
    const first = startPublisher({ ...config, batches: 12 });
    await first.waitForOutput(/^spool 12$/m, 60_000);
    assert.deepEqual(sequences(first, 'acked'), [], 'nothing could be acknowledged');
    await first.stop('SIGKILL');
    const spooled = readdirSync(join(stateDir, 'spool'))
      .filter((n) => n.endsWith('.batch'))
      .map((n) => Number(n.split('-')[0]));
    assert.equal(spooled.length, 12, 'the spool survived the SIGKILL');

    ingest = await IngestProcess.start({
      bus: 'local',
      listen,
      busTokenFile,
      store: 'embedded',
      dataDir,
    });
    const second = startPublisher({ ...config, batches: 3 });
    try {
      await second.waitForOutput(/^idle$/m, 90_000);
      const acked = sequences(second, 'acked');
      for (const s of spooled) assert.ok(acked.includes(s), `spooled sequence ${s} replayed`);
      const all = [...new Set(acked)].sort((a, b) => a - b);
      assert.equal(all.length, 15, 'the 12 spooled batches and the 3 new ones acknowledged');
      assert.ok(
        Math.min(...acked.filter((s) => !spooled.includes(s))) > Math.max(...spooled),
        'new batches numbered after the spooled ones',
      );
      // The local bus answers a post once ingest stored it: the rows are there now.
      const rows = async (sql: string) => {
        const r = await ingest!.query(sql);
        return r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c.name, row[i]])));
      };
      const stored = await waitFor('the batches to be queryable', async () => {
        const r = await rows(
          `SELECT toString(sequence) AS s, count() AS copies, any(row_count) AS n
           FROM fleettrace.batches FINAL WHERE job_id = '${jobId}' GROUP BY sequence ORDER BY sequence`,
        );
        return r.length >= all.length ? r : undefined;
      });
      assert.deepEqual(
        stored.map((r) => Number(r.s)),
        all,
        'fleettrace.batches holds exactly the acknowledged sequences',
      );
      assert.ok(
        stored.every((r) => Number(r.copies) === 1 && Number(r.n) === 1),
        'one row each',
      );
      const [proc] = await rows(
        `SELECT count() AS n, uniqExact(batch_id) AS batches, uniqExact(pid, child_pid) AS forks
         FROM fleettrace.proc FINAL WHERE job_id = '${jobId}'`,
      );
      assert.deepEqual(
        { n: Number(proc!.n), batches: Number(proc!.batches), forks: Number(proc!.forks) },
        { n: 15, batches: 15, forks: 15 },
        'every row once: 12 + 3 batches of one row, each a different fork',
      );
    } finally {
      await second.stop('SIGKILL');
    }
  });

  test('SIGKILLed right after handing out sequences: the restarted publisher never repeats one', async () => {
    const stateDir = tempDir('fleettrace-crash-sequence-');
    const config = { stateDir, agentId: 'sequence-crash-agent', jobId: `sequence-${Date.now()}` };
    const first = startPublisher({ ...config, batches: 100_000 });
    await waitFor(
      '20 sequences handed out',
      () => sequences(first, 'attempt').length >= 20,
      60_000,
      5,
    );
    await first.stop('SIGKILL');
    const before = sequences(first, 'attempt');
    assert.equal(new Set(before).size, before.length, 'no repeat within one run');

    const second = startPublisher({ ...config, batches: 20 });
    try {
      await second.waitForOutput(/^idle$/m, 60_000);
      const afterRestart = sequences(second, 'attempt');
      assert.equal(afterRestart.length, 20);
      assert.ok(
        Math.min(...afterRestart) > Math.max(...before),
        `sequences after the crash (from ${Math.min(...afterRestart)}) start above every one used before it (up to ${Math.max(...before)})`,
      );
    } finally {
      await second.stop('SIGKILL');
    }
  });
});
