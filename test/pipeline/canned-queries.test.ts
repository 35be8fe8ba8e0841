// SPDX-License-Identifier: Apache-2.0
/**
 * `top`'s SQL on known rows, on both stores (chDB and the ClickHouse 18.16
 * server): time in waiting syscalls (epoll_wait, futex, …) is its own column
 * and not counted as busy syscall time, so an idle daemon does not outrank a
 * user who burns CPU; and `topFunctionsSql` names the hottest functions
 * behind a row's CPU time, self and total, and `profileFunctionsSql` those of
 * a selection, perf report–style.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { migrate } from '@fleettrace/ingest';
import { cannedQueries, EmbeddedStore, ServerStore, type Store } from '@fleettrace/store';
import { ADMIN, ClickHouseServer, VIEWER } from '../harness/clickhouse-server';

const NOW_S = Math.floor(Date.now() / 1000) - 30;
const TIME = new Date(NOW_S * 1000).toISOString().slice(0, 19).replace('T', ' ');
let rowIdx = 0;

function head(uid: number, user: string, comm: string) {
  rowIdx++;
  return {
    ts_ns: String(BigInt(NOW_S) * 1_000_000_000n + BigInt(rowIdx)),
    time: TIME,
    host: 'web-1',
    job_id: 'j1',
    run_id: 'r1',
    pid: 1000 + uid,
    uid,
    user,
    comm,
    weight: 1,
    batch_id: 7,
    row_idx: rowIdx,
  };
}

const lines = (rows: object[]) => Buffer.from(rows.map((r) => JSON.stringify(r)).join('\n'));

/*
 * root's daemon waited 1,000 s in epoll_wait and futex and used 0.1 s of CPU;
 * alice (1001) burned 10 s of CPU in burn() called from main(), 2 s of it in
 * the kernel's clear_page under burn(), and spent 3 s in read.
 */
async function fill(store: Store): Promise<void> {
  await store.insert(
    'fleettrace.syscalls',
    lines([
      { ...head(0, 'root', 'daemon'), syscall: 'epoll_wait', count: 10, total_ns: 600e9 },
      { ...head(0, 'root', 'daemon'), syscall: 'futex', count: 20, total_ns: 400e9 },
      { ...head(0, 'root', 'daemon'), syscall: 'read', count: 5, total_ns: 0.5e9 },
      { ...head(1001, 'alice', 'burner'), syscall: 'read', count: 100, total_ns: 3e9 },
      { ...head(1001, 'alice', 'burner'), syscall: 'nanosleep', count: 1, total_ns: 1e9 },
    ]),
  );
  await store.insert(
    'fleettrace.cpu_profile',
    lines([
      { ...head(1001, 'alice', 'burner'), samples: 800, cpu_ns: 8e9, stack_id: 'aaaa' },
      { ...head(1001, 'alice', 'burner'), samples: 200, cpu_ns: 2e9, stack_id: 'bbbb' },
      { ...head(0, 'root', 'daemon'), samples: 10, cpu_ns: 0.1e9, stack_id: 'cccc' },
      // a lost stack: counted in cpu_s, not in the functions
      { ...head(1001, 'alice', 'burner'), samples: 5, cpu_ns: 0.05e9, stack_id: '' },
    ]),
  );
  const stack = (id: string, kernel: string[], user: string[]) => ({
    stack_id: id,
    time: TIME,
    kernel_frames: kernel,
    user_frames: user,
    user_depth: user.length,
  });
  await store.insert(
    'fleettrace.stacks',
    lines([
      stack('aaaa', [], ['burn+0x1a (/usr/bin/burner)', 'main+0x10 (/usr/bin/burner)']),
      stack(
        'bbbb',
        ['clear_page+0x4 ([kernel])', 'do_page_fault+0x20 ([kernel])'],
        ['burn+0x30 (/usr/bin/burner)', 'main+0x10 (/usr/bin/burner)'],
      ),
      stack('cccc', [], ['epoll_loop+0x8 (/usr/sbin/daemon)', '/usr/sbin/daemon+0x1234']),
    ]),
  );
}

function suite(name: string, open: () => Promise<{ store: Store; close: () => Promise<void> }>) {
  describe(name, { timeout: 180_000 }, () => {
    let store: Store;
    let close: () => Promise<void>;
    before(async () => {
      ({ store, close } = await open());
      await migrate(store);
      await fill(store);
    });
    after(async () => close?.());

    test('top by uid: waits apart, the CPU burner first', async () => {
      const rows = await store.select<Record<string, unknown>>(
        cannedQueries.topSql({ by: 'uid', sinceS: 600 }),
      );
      assert.deepEqual(
        rows.map((r) => [
          Number(r.uid),
          Number(r.cpu_s),
          Number(r.syscalls),
          Number(r.syscall_s),
          Number(r.wait_s),
        ]),
        [
          [1001, 10.05, 101, 3, 1],
          [0, 0.1, 35, 0.5, 1000],
        ],
      );
    });

    test('the hottest functions per uid, self and total', async () => {
      const rows = await store.select<Record<string, unknown>>(
        cannedQueries.topFunctionsSql({ by: 'uid', sinceS: 600, keys: [1001, 0], perKey: 3 }),
      );
      assert.deepEqual(
        rows.map((r) => [Number(r.uid), r.function, Number(r.self_s), Number(r.total_s)]),
        [
          [0, 'epoll_loop (/usr/sbin/daemon)', 0.1, 0.1],
          [0, '/usr/sbin/daemon+0x1234', 0, 0.1],
          [1001, 'burn (/usr/bin/burner)', 8, 10],
          [1001, 'clear_page ([kernel])', 2, 2],
          [1001, 'main (/usr/bin/burner)', 0, 10],
        ],
      );
    });

    test('functions by comm, quoted keys', async () => {
      const rows = await store.select<Record<string, unknown>>(
        cannedQueries.topFunctionsSql({ by: 'comm', sinceS: 600, keys: ["o'brien", 'burner'] }),
      );
      assert.deepEqual(
        rows.map((r) => r.comm),
        ['burner', 'burner', 'burner'],
      );
      const none = await store.select(
        cannedQueries.topFunctionsSql({ by: 'comm', sinceS: 600, keys: [] }),
      );
      assert.deepEqual(none, []);
    });

    test('profile of a uid: functions with self and total, and the whole time', async () => {
      const rows = await store.select<Record<string, unknown>>(
        cannedQueries.profileFunctionsSql({ collector: 'cpu_profile', sinceS: 600, uid: 1001 }),
      );
      assert.deepEqual(
        rows.map((r) => [r.function, Number(r.self_s), Number(r.total_s), Number(r.all_s)]),
        [
          ['burn (/usr/bin/burner)', 8, 10, 10.05],
          ['main (/usr/bin/burner)', 0, 10, 10.05],
          ['clear_page ([kernel])', 2, 2, 10.05],
          ['do_page_fault ([kernel])', 0, 2, 10.05],
        ],
      );
      const none = await store.select(
        cannedQueries.profileFunctionsSql({ collector: 'offcpu', sinceS: 600, comm: "o'brien" }),
      );
      assert.deepEqual(none, []);
    });

    test('a uid key that is not a number is refused', () => {
      assert.throws(
        () => cannedQueries.topFunctionsSql({ by: 'uid', sinceS: 60, keys: ['1 OR 1'] }),
        /keys: expected uids/,
      );
    });
  });
}

suite('chDB', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fleettrace-canned-'));
  const store = new EmbeddedStore({ dataDir: dir });
  return {
    store,
    close: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

suite('ClickHouse server', async () => {
  const server = await ClickHouseServer.start();
  const store = new ServerStore({ url: server.url, viewer: VIEWER, admin: ADMIN });
  return {
    store,
    close: async () => {
      await store.close();
      await server.stop();
    },
  };
});
