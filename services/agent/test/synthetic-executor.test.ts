// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RunState, type JobAssignment, type JobStatus } from '@fleettrace/proto';
import { SyntheticExecutor } from '../src/synthetic-executor';

function assignment(runId: string, durationMs: number): JobAssignment {
  const now = Date.now();
  return {
    jobId: `job-${runId}`,
    runId,
    collectors: [{ name: 'syscalls', params: {} }],
    startUnixMs: now,
    endUnixMs: now + durationMs,
    weight: 1,
    intervalMs: 20,
  };
}

describe('synthetic executor', () => {
  test('runs, counts events, finishes at the end; a repeated assignment is ignored', async () => {
    const seen: JobStatus[] = [];
    const ex = new SyntheticExecutor({ onStatus: (s) => seen.push(s) }, { eventsPerSecond: 1000 });
    const a = assignment('r1', 150);
    ex.assign(a);
    ex.assign(a);
    assert.equal(seen[0]?.state, RunState.RUN_STATE_RUNNING);
    assert.ok(ex.overheadShare() > 0);
    await new Promise((r) => setTimeout(r, 250));
    const last = seen.at(-1)!;
    assert.equal(last.state, RunState.RUN_STATE_FINISHED);
    assert.ok(last.eventsSent >= 100, `${last.eventsSent} events`);
    assert.equal(ex.runs().length, 1);
    assert.equal(ex.overheadShare(), 0);
    await ex.close();
  });

  test('cancel ends the run at once with the reason', async () => {
    const seen: JobStatus[] = [];
    const ex = new SyntheticExecutor({ onStatus: (s) => seen.push(s) });
    ex.assign(assignment('r2', 60_000));
    ex.cancel('job-r2', 'enough');
    const last = seen.at(-1)!;
    assert.equal(last.state, RunState.RUN_STATE_CANCELLED);
    assert.equal(last.reason, 'enough');
    const n = seen.length;
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(seen.length, n, 'no status after the end');
    await ex.close();
  });
});
