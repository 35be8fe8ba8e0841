// SPDX-License-Identifier: Apache-2.0
/** CPU time of co-located processes, read from /proc, for the jobs' overhead. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { ChargedProcesses, processCpuUs } from '../src/jobs/charged-cpu';

describe('ChargedProcesses', () => {
  test('bad and missing pids are refused, naming the field', () => {
    assert.throws(
      () => new ChargedProcesses([0], '--charge-pid'),
      (e: Error) => e.message === '--charge-pid: must be a process id (1-4194304), got 0',
    );
    assert.throws(
      () => new ChargedProcesses([1.5], '--charge-pid'),
      (e: Error) => e.message.startsWith('--charge-pid: must be a process id'),
    );
    assert.throws(
      () => new ChargedProcesses([4_194_000], '--charge-pid'),
      (e: Error) => e.message === '--charge-pid: no process 4194000 is running',
    );
  });

  test("a busy process's CPU time is counted, and kept after it exits", async () => {
    const child = spawn(process.execPath, [
      '-e',
      'const end = Date.now() + 1500; while (Date.now() < end);',
    ]);
    await once(child, 'spawn');
    const charged = new ChargedProcesses([child.pid as number]);
    const before = charged.cpuUs();
    await new Promise((r) => setTimeout(r, 900));
    const during = charged.cpuUs();
    // ~900 ms of a CPU spinning; allow for a loaded 2-CPU machine and 10 ms ticks.
    assert.ok(during - before >= 300_000, `counted ${during - before} us`);
    await once(child, 'exit');
    assert.equal(processCpuUs(child.pid as number), undefined, 'gone');
    assert.equal(charged.cpuUs(), during, 'a process that has gone keeps its last figure');
  });
});
