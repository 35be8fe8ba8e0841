// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Workload, workload } from '@fleettrace/testing';
import { localHost } from '../src/runtime/host';
import { collector, pathArgumentTable } from '../src/syscall_trace/collector';
import { formatCall } from '../src/syscall_trace/strace-format';
import type { SyscallTraceRow } from '../src/syscall_trace/collector';

const NR_OPENAT = 257;
const NR_WRITE = 1;

describe('syscall_trace collector (real kernel)', () => {
  test('a missing-file open and a 100-byte write read like strace -T -f', async () => {
    const w = await Workload.start(workload('syscall_workload'), [
      'openat_missing',
      '1',
      'write100',
      '1',
    ]);
    const session = await collector.start({
      params: collector.parseParams({}, 'p'),
      filters: { pid: w.pid },
      host: localHost(),
    });
    let rows: SyscallTraceRow[] = [];
    try {
      await w.run();
      await new Promise((r) => setTimeout(r, 100));
      const drained = await session.drain();
      assert.equal(drained.lost, 0);
      rows = drained.rows;
    } finally {
      await session.close();
      await w.stop();
    }
    assert.ok(rows.every((r) => r.pid === w.pid));
    const missing = rows.find(
      (r) => r.nr === NR_OPENAT && r.path === '/nonexistent/fleettrace-test',
    );
    assert.ok(missing, 'the openat of the missing path');
    assert.equal(missing.ret, -2n);
    assert.match(
      formatCall(missing),
      /openat\(AT_FDCWD, "\/nonexistent\/fleettrace-test", O_RDONLY\) = -1 ENOENT \(No such file or directory\) <\d+\.\d{6}>$/,
    );
    const devnull = rows.find((r) => r.nr === NR_OPENAT && r.path === '/dev/null');
    assert.ok(devnull && devnull.ret >= 0n, 'the /dev/null open succeeded');
    const write = rows.find((r) => r.nr === NR_WRITE && r.args[0] === devnull.ret);
    assert.ok(write, 'the write to that fd');
    assert.equal(write.ret, 100n);
    assert.match(
      formatCall(write),
      new RegExp(`write\\(${devnull.ret}, <100 bytes>, 100\\) = 100 <`),
    );
    assert.match(formatCall(write), new RegExp(`^\\[pid +${w.pid}\\] `));
    assert.ok(rows.every((r) => r.duration_ns >= 0 && r.ts_ns > 1_600_000_000_000_000_000n));
  });

  test('the rate limit drops and counts what exceeds it', async () => {
    const w = await Workload.start(workload('syscall_workload'), ['getppid', '20000']);
    const session = await collector.start({
      params: collector.parseParams({ rate: 100 }, 'p'),
      filters: { pid: w.pid },
      host: localHost(),
    });
    try {
      await w.run();
      await new Promise((r) => setTimeout(r, 100));
      const { rows, lost, lostDetail } = await session.drain();
      const getppid = rows.filter((r) => r.nr === 110).length;
      assert.ok((lostDetail?.['rate limit'] ?? 0) > 0, 'rate-limited calls are counted');
      assert.ok(getppid < 20000);
      assert.equal(
        getppid + (lostDetail?.['rate limit'] ?? 0) + (lostDetail?.['ring buffer full'] ?? 0) >=
          20000,
        true,
      );
      assert.ok(lost > 0);
    } finally {
      await session.close();
      await w.stop();
    }
  });

  test('a pid or comm filter is required', async () => {
    await assert.rejects(
      collector.start({ params: collector.parseParams({}, 'p'), filters: {}, host: localHost() }),
      /filters: syscall_trace needs a pid or comm filter/,
    );
  });

  test('the kernel path table comes from the TypeScript one', () => {
    const table = pathArgumentTable();
    assert.equal(table.readInt8(NR_OPENAT), 1);
    assert.equal(table.readInt8(59), 0); // execve
    assert.equal(table.readInt8(110), -1); // getppid
  });
});
