// SPDX-License-Identifier: Apache-2.0
/**
 * The addon against the real kernel: verifier errors, the ring-buffer reader's
 * delivery and back-pressure accounting, map operations, run-time statistics,
 * and that a killed process leaves nothing attached.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { ftProgramsOf, waitForUnloaded, workload, Workload } from '@fleettrace/testing';
import {
  BpfObject,
  bootTimeOffsetNs,
  constant,
  perCpuSlots,
  RunTimeStats,
  type NativeError,
} from '../lib/index';

const BPF = process.env.FLEETTRACE_BPF_DIR ?? resolve(__dirname, '../../../bpf/build');
const objectPath = (name: string) => join(BPF, `${name}.bpf.o`);

/** Sets the pid filter of bpf/include/ft_common.h by hand (the collectors' runtime does it for them). */
function filterPid(obj: BpfObject, pid: number): void {
  obj.update('ft_filter_pids', constant.u32(pid), Buffer.from([1]));
  const cfg = Buffer.alloc(obj.map('ft_filter').valueSize); // struct ft_filter_cfg
  cfg.writeUInt32LE(1, 0); // FT_FILTER_PID
  obj.update('ft_filter', constant.u32(0), cfg);
}

describe('BpfObject', () => {
  test('a program the verifier refuses fails with the verifier log, the program name and errno', async () => {
    const obj = BpfObject.fromFile(objectPath('verifier_reject'));
    try {
      await assert.rejects(obj.load(), (err: NativeError) => {
        assert.equal(err.program, 'ft_bad_deref');
        assert.equal(err.code, 'EACCES');
        assert.equal(err.errno, 13);
        assert.match(err.log ?? '', /invalid mem access 'map_value_or_null'/);
        assert.match(err.message, /ft_bad_deref/);
        return true;
      });
    } finally {
      obj.closeNow();
    }
  });

  test('bad arguments throw TypeErrors naming what is wrong', async () => {
    const obj = BpfObject.fromFile(objectPath('proc'));
    try {
      assert.throws(
        () => obj.setConstant('proc_include_sigchld', Buffer.alloc(8)),
        /proc_include_sigchld is 1 bytes, got 8/,
      );
      assert.throws(
        () => obj.setConstant('no_such_constant', Buffer.alloc(4)),
        /no constant named no_such_constant/,
      );
      assert.throws(() => obj.setMaxEntries('no_such_map', 1), /no map named no_such_map/);
      assert.throws(() => obj.attach('ft_proc_exec'), /not loaded/);
    } finally {
      obj.closeNow();
    }
  });

  test('map update, lookup, batch dump and delete; per-CPU values split by CPU', async () => {
    const obj = BpfObject.fromFile(objectPath('syscalls'));
    try {
      await obj.load();
      const errs = obj.map('ft_sc_errs_b');
      assert.equal(errs.perCpu, true);
      const key = (i: number) => Buffer.from(new Uint32Array([1, 2, 3, i]).buffer);
      const value = Buffer.alloc(errs.userValueSize);
      for (const [cpu, slot] of perCpuSlots(value, 8).entries())
        slot.writeBigUInt64LE(BigInt(cpu + 1));
      // More entries than the dump's first buffer (256): it grows, keeping what it holds.
      const n = Math.min(3000, errs.maxEntries);
      assert.ok(n > 1000, `ft_sc_errs_b holds ${errs.maxEntries}`);
      for (let i = 0; i < n; i++) obj.update('ft_sc_errs_b', key(i), value);
      const one = obj.lookup('ft_sc_errs_b', key(7));
      assert.ok(one);
      assert.deepEqual(
        perCpuSlots(one, 8).map((s) => s.readBigUInt64LE(0)),
        perCpuSlots(value, 8).map((s) => s.readBigUInt64LE(0)),
      );
      const kept = obj.dump('ft_sc_errs_b');
      assert.equal(kept.count, n);
      const seen = new Set<number>();
      for (let i = 0; i < kept.count; i++) {
        seen.add(kept.keys.readUInt32LE(i * kept.keySize + 12));
        const v = kept.values.subarray(i * kept.valueSize, (i + 1) * kept.valueSize);
        assert.ok(v.equals(value), `value of entry ${i} intact`);
      }
      assert.equal(seen.size, n, 'every key once');
      const dumped = obj.dump('ft_sc_errs_b', { delete: true });
      assert.equal(dumped.count, n);
      assert.equal(dumped.batched, true);
      assert.equal(obj.dump('ft_sc_errs_b').count, 0, 'dump with delete empties the map');
      assert.equal(obj.lookup('ft_sc_errs_b', key(7)), null);
      assert.equal(obj.delete('ft_sc_errs_b', key(7)), false);
    } finally {
      await obj.close();
    }
  });

  test('run-time statistics count program runs while a stats fd is open', async () => {
    const bin = workload('syscall_workload');
    const w = await Workload.start(bin, ['getppid', '5000']);
    const obj = BpfObject.fromFile(objectPath('syscalls'));
    const stats = new RunTimeStats();
    try {
      await obj.load();
      filterPid(obj, w.pid);
      obj.attachAll();
      await w.run();
      const enter = obj.programStats('ft_sc_enter');
      assert.ok(enter.runCount >= 5000, `ran ${enter.runCount} times`);
      assert.ok(enter.runTimeNs > 0);
    } finally {
      stats.close();
      await obj.close();
      await w.stop();
    }
  });

  test('the boot-time offset turns BPF boot stamps into UTC', () => {
    const offset = bootTimeOffsetNs();
    const uptimeNs = BigInt(Math.round(process.uptime() * 1e9));
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    // offset = realtime - boottime: the boot instant, somewhere in the past.
    assert.ok(offset < nowNs - uptimeNs);
    assert.ok(offset > nowNs - 10n * 365n * 86_400n * 1_000_000_000n);
  });
});

describe('RingBufferReader', () => {
  async function ringRun(opts: {
    calls: number;
    /** rounds of `calls` with a pause between them */
    rounds?: number;
    pauseMs?: number;
    ringBytes?: number;
    maxBatchRecords?: number;
    maxQueuedBatches?: number;
    stallMs?: number;
  }) {
    const bin = workload('syscall_workload');
    const w = await Workload.start(bin, [
      '-r',
      String(opts.rounds ?? 1),
      '-s',
      String(opts.pauseMs ?? 0),
      'getppid',
      String(opts.calls),
    ]);
    const obj = BpfObject.fromFile(objectPath('ringbuf_probe'));
    const seqs: bigint[] = [];
    let stalled = false;
    try {
      if (opts.ringBytes) obj.setMaxEntries('ft_rb_events', opts.ringBytes);
      await obj.load();
      filterPid(obj, w.pid);
      const reader = obj.openRingBuffer(
        'ft_rb_events',
        (records) => {
          if (opts.stallMs && !stalled) {
            stalled = true;
            const until = Date.now() + opts.stallMs;
            while (Date.now() < until); // JavaScript falls behind
          }
          for (const r of records) {
            assert.equal(r.readUInt32LE(16), w.pid, 'header pid');
            seqs.push(r.readBigUInt64LE(48));
          }
        },
        { maxBatchRecords: opts.maxBatchRecords, maxQueuedBatches: opts.maxQueuedBatches },
      );
      obj.attachAll();
      await w.run();
      await reader.close();
      const stats = reader.stats();
      const lost = Number(obj.sumPerCpuCounter('ft_rb_lost'));
      return { delivered: seqs.length, lost, stats, seqs };
    } finally {
      await obj.close();
      await w.stop();
    }
  }

  test('delivers every record in batches, none lost, in order', async () => {
    // Bursts of 500 events 2 ms apart: a busy but sustainable rate. (A bare
    // getppid loop emits ~4 M events/s, more than any consumer takes: that is
    // the loss test below.)
    const r = await ringRun({ calls: 500, rounds: 40, pauseMs: 2 });
    assert.equal(r.lost, 0);
    assert.equal(r.delivered, 20_000);
    assert.equal(r.stats.delivered, 20_000);
    assert.equal(r.stats.dropped, 0);
    assert.ok(r.stats.batches < 20_000, 'records arrive in batches');
    for (let i = 1; i < r.seqs.length; i++)
      assert.ok((r.seqs[i] as bigint) > (r.seqs[i - 1] as bigint));
  });

  test('records below the wake-up threshold wait in the ring until flush() delivers them', async () => {
    // 200 records of 56 bytes stay under ft_ring_wakeup_bytes (64 KB): the BPF
    // side submits them without waking the reader, whose timer is set far away.
    const w = await Workload.start(workload('syscall_workload'), ['getppid', '200']);
    const obj = BpfObject.fromFile(objectPath('ringbuf_probe'));
    try {
      await obj.load();
      filterPid(obj, w.pid);
      let delivered = 0;
      const reader = obj.openRingBuffer(
        'ft_rb_events',
        (records) => (delivered += records.length),
        {
          pollIntervalMs: 60_000,
        },
      );
      obj.attachAll();
      await w.run();
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(delivered, 0, 'no wake-up below the threshold');
      await reader.flush();
      assert.equal(delivered, 200, 'flush() delivers every committed record');
      await reader.flush();
      assert.equal(delivered, 200);
      await reader.close();
      await reader.flush(); // a closed reader answers at once
    } finally {
      await obj.close();
      await w.stop();
    }
  });

  test('when JavaScript stalls, the reader stops consuming and the kernel side counts the loss', async () => {
    const r = await ringRun({
      calls: 50_000,
      ringBytes: 16 * 1024,
      maxBatchRecords: 16,
      maxQueuedBatches: 1,
      stallMs: 400,
    });
    assert.ok(r.lost > 0, 'loss is forced');
    assert.ok(r.stats.waits > 0, 'the reader waited on JavaScript (back-pressure)');
    assert.equal(r.stats.dropped, 0, 'the reader itself dropped nothing');
    assert.equal(r.delivered + r.lost, 50_000, 'every event is either delivered or counted lost');
  });
});

describe('process death', () => {
  test('a process killed with SIGKILL leaves no ft_ program loaded', async () => {
    const script = `
      const { BpfObject } = require(${JSON.stringify(resolve(__dirname, '../lib/index.js'))});
      (async () => {
        const obj = BpfObject.fromFile(${JSON.stringify(objectPath('syscalls'))});
        await obj.load();
        obj.attachAll();
        const rb = BpfObject.fromFile(${JSON.stringify(objectPath('ringbuf_probe'))});
        await rb.load();
        rb.update('ft_filter_pids', Buffer.from([1, 0, 0, 0]), Buffer.from([1]));
        rb.update('ft_filter', Buffer.from([0, 0, 0, 0]), Buffer.from([1, ...new Array(23).fill(0)]));
        rb.attachAll();
        rb.openRingBuffer('ft_rb_events', () => {});
        process.stdout.write('attached\\n');
        setInterval(() => {}, 1000);
      })();`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    await new Promise<void>((res, rej) => {
      child.stdout.on('data', (d: string) => {
        out += d;
        if (out.includes('attached')) res();
      });
      child.once('exit', () => rej(new Error('child exited early')));
    });
    // The child's programs only: another fleettrace on the host loads the same names.
    const held = ftProgramsOf([child.pid!]);
    assert.deepEqual(held.map((p) => p.name).sort(), [
      'ft_rb_enter',
      'ft_sc_count',
      'ft_sc_enter',
      'ft_sc_exit',
    ]);
    child.kill('SIGKILL');
    await once(child, 'exit');
    assert.deepEqual(await waitForUnloaded(held, 2000), [], 'none of them within 2 s of SIGKILL');
  });
});
