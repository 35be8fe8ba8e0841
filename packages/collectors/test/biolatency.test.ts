// SPDX-License-Identifier: Apache-2.0
/**
 * biolatency against the real kernel: 4 MiB written with O_DIRECT in 1 MiB
 * writes by a known user to a file on the disk of /var/tmp are counted as
 * writes of that disk with at least 4 MiB, most of it attributed to that user
 * (direct I/O is issued from the writer's context), each with a latency.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, chmodSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { localHost } from '../src/runtime/host';
import { collector, deviceName } from '../src/biolatency/collector';

const UID = 61000 + (process.pid % 4000);

describe('biolatency', () => {
  test('O_DIRECT writes of 1 MiB are counted with their bytes, disk and user', async () => {
    const dir = mkdtempSync('/var/tmp/fleettrace-bio-');
    chmodSync(dir, 0o777);
    const st = statSync(dir);
    // glibc's major()/minor() of the file system's device number
    const disk = deviceName((st.dev >> 8) & 0xfff, (st.dev & 0xff) | ((st.dev >> 12) & 0xfff00));
    const session = await collector.start({
      params: collector.parseParams({}, 'params'),
      filters: {},
      host: localHost(),
    });
    try {
      const dd = spawn(
        'dd',
        ['if=/dev/zero', `of=${join(dir, 'data')}`, 'bs=1M', 'count=4', 'oflag=direct'],
        { uid: UID, gid: UID, stdio: 'ignore' },
      );
      assert.equal((await once(dd, 'exit'))[0], 0, 'dd wrote');
      await new Promise((r) => setTimeout(r, 200));
      const { rows, lost } = await session.drain();
      assert.equal(lost, 0);
      // The disk's writes hold all 4 MiB; a 1 MiB write is split into requests, and the
      // block layer issues a tail of them from its own context (uid 0) now and then.
      const onDisk = rows.filter((r) => r.op === 'write' && r.device === disk);
      const bytes = onDisk.reduce((n, r) => n + r.bytes, 0);
      assert.ok(bytes >= 4 << 20, `${bytes} bytes written to ${disk}`);
      const writes = onDisk.filter((r) => r.uid === UID);
      const mine = writes.reduce((n, r) => n + r.bytes, 0);
      assert.ok(mine >= 3 << 20, `${mine} of them issued by uid ${UID}`);
      for (const r of writes) {
        assert.equal(
          r.hist.reduce((a, b) => a + b, 0),
          r.count,
          'one histogram entry per request',
        );
        assert.ok(r.total_ns > 0 && r.max_ns > 0);
      }
    } finally {
      await session.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
