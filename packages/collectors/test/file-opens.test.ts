// SPDX-License-Identifier: Apache-2.0
/**
 * file_opens against the real kernel: an open of a missing path is seen with
 * ENOENT, its path, flags and call; a successful open with its fd; paths go
 * through the redaction rules; the pid filter runs in the kernel; the run says
 * io_uring opens are not seen; the rate limit counts what it drops.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { Workload, workload } from '@fleettrace/testing';
import { localHost } from '../src/runtime/host';
import { collector, IO_URING_NOTE, type FileOpenRow } from '../src/file_opens/collector';

async function opens(
  args: string[],
  raw: Record<string, unknown> = {},
): Promise<{ rows: FileOpenRow[]; pid: number; lost: number; notes: readonly string[] }> {
  const w = await Workload.start(workload('syscall_workload'), args);
  const session = await collector.start({
    params: collector.parseParams(raw, 'params'),
    filters: { pid: w.pid },
    host: localHost(),
  });
  try {
    await w.run();
    await new Promise((r) => setTimeout(r, 100));
    const { rows, lost } = await session.drain();
    return { rows, pid: w.pid, lost, notes: session.notes ?? [] };
  } finally {
    await session.close();
    await w.stop();
  }
}

describe('file_opens', () => {
  test('an open of a missing path: ENOENT, the path, the flags, the call', async () => {
    const { rows, pid, lost, notes } = await opens(['openat_missing', '5']);
    assert.equal(lost, 0);
    assert.ok(rows.length >= 5 && rows.every((r) => r.pid === pid), 'only the filtered process');
    const missing = rows.filter((r) => r.path === '/nonexistent/fleettrace-test');
    assert.equal(missing.length, 5);
    for (const r of missing) {
      assert.equal(r.errno, 'ENOENT');
      assert.equal(r.fd, -1);
      assert.equal(r.call, 'openat');
      assert.equal(r.flags, 'O_RDONLY');
      assert.equal(r.dfd, -100);
      assert.equal(r.comm, 'syscall_workloa');
      assert.ok(r.duration_ns > 0 && r.has_path && !r.path_truncated);
    }
    assert.deepEqual(notes, [IO_URING_NOTE]);
  });

  test('a successful open has its fd and flags', async () => {
    const { rows } = await opens(['write100', '1']);
    const devnull = rows.find((r) => r.path === '/dev/null');
    assert.ok(devnull, rows.map((r) => r.path).join(' '));
    assert.ok(devnull.fd >= 3);
    assert.equal(devnull.errno, '');
    assert.match(devnull.flags, /^O_WRONLY/);
  });

  test('paths go through the redaction rules', async () => {
    const session = await collector.start({
      params: collector.parseParams({ redact: ['secret-(\\w+)'] }, 'params'),
      filters: { comm: 'cat' },
      host: localHost(),
    });
    try {
      for (const path of ['/tmp/x?password=hunter2', '/tmp/secret-swordfish']) {
        const c = spawn('cat', [path], { stdio: 'ignore' });
        await once(c, 'exit');
      }
      await new Promise((r) => setTimeout(r, 100));
      const paths = (await session.drain()).rows.map((r) => r.path);
      assert.ok(paths.includes('/tmp/x?password=***'), paths.join(' '));
      assert.ok(paths.includes('/tmp/secret-***'), paths.join(' '));
      assert.ok(!paths.some((p) => p?.includes('hunter2') || p?.includes('swordfish')));
    } finally {
      await session.close();
    }
  });

  test('the rate limit drops and counts what exceeds it', async () => {
    const { rows, lost } = await opens(['openat_missing', '20000'], { rate: 100 });
    assert.ok(lost > 0, 'rate-limited opens are counted');
    assert.ok(rows.length + lost >= 20000, `${rows.length} rows + ${lost} lost`);
    assert.ok(rows.length < 20000);
  });

  test('parameters are checked, naming the field', () => {
    assert.throws(() => collector.parseParams({ rate: 0 }, 'p'), /p\.rate/);
    assert.throws(
      () => collector.parseParams({ redact: ['(unclosed'] }, 'p'),
      /p\.redact: .*not a regular expression/,
    );
  });
});
