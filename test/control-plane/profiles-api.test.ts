// SPDX-License-Identifier: Apache-2.0
/**
 * GET /api/v1/profiles against a real controller and a real embedded store
 * (chDB, migrated by ingest): rows of cpu_profile, offcpu and stacks go in,
 * every format comes out with the right Content-Type and the totals of the
 * rows selected; a differential of two windows; bad fields are 400s naming
 * them; a viewer token may ask.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import type { RunningController } from '@fleettrace/controller' with { 'resolution-mode': 'import' };
import { migrate } from '@fleettrace/ingest';
import { exportDiff, exportProfile } from '@fleettrace/profiles';
import { pprof } from '@fleettrace/proto';
import { cannedQueries, EmbeddedStore, QueryService } from '@fleettrace/store';
import { adminApi, apiToken, cleanup, startTestController, tempDir } from './harness';

const S1 = {
  stack_id: 'aaaaaaaaaaaaaaa1',
  kernel_frames: ['vfs_read+0x5 (kernel)', 'entry_SYSCALL_64+0x0 (kernel)'],
  user_frames: ['read+0x3 (libc.so.6)', 'main+0x10 (app)'],
};
const S2 = {
  stack_id: 'aaaaaaaaaaaaaaa2',
  kernel_frames: [],
  user_frames: ['compute+0x5 (app)', 'work+0x20 (app)', 'main+0x10 (app)'],
};
const S1_FOLDED = 'main;read;entry_SYSCALL_64;vfs_read';
const S2_FOLDED = 'main;work;compute';

describe('profiles REST API', () => {
  let c: RunningController;
  let store: EmbeddedStore;
  let viewer: string;
  const storeDir = tempDir('profiles-store');

  const now = Math.floor(Date.now() / 1000);
  let rowIdx = 0;
  const identity = (agoS: number, uid: number) => ({
    ts_ns: `${(now - agoS) * 1e9}`,
    time: now - agoS,
    host: 'web-1',
    job_id: 'job_prof',
    run_id: 'run_1',
    pid: 4242,
    uid,
    user: `u${uid}`,
    cgroup: '/site',
    comm: 'php-fpm',
    weight: 2,
    batch_id: 7,
    row_idx: rowIdx++,
  });
  const insert = (table: string, rows: object[]) =>
    store.insert(table, Buffer.from(rows.map((r) => JSON.stringify(r)).join('\n') + '\n'));

  before(async () => {
    store = new EmbeddedStore({ dataDir: storeDir });
    await migrate(store);
    await insert(
      'fleettrace.stacks',
      [S1, S2].map((s) => ({ ...s, time: now, user_depth: s.user_frames.length })),
    );
    const cpu = (agoS: number, uid: number, stack: string, samples: number, missing = '') => ({
      ...identity(agoS, uid),
      samples,
      cpu_ns: samples * 10_000_000,
      stack_id: stack,
      missing,
    });
    await insert('fleettrace.cpu_profile', [
      // the target window: the last 10 minutes
      cpu(300, 1001, S1.stack_id, 30),
      cpu(290, 1001, S2.stack_id, 50),
      cpu(280, 1001, '', 3, 'no_user_stack'),
      cpu(270, 1002, S2.stack_id, 7), // another user
      // the baseline: 30 to 20 minutes ago
      cpu(1500, 1001, S1.stack_id, 10),
      cpu(1490, 1001, S2.stack_id, 60),
    ]);
    // The same batch delivered twice: the copy collapses (FINAL), totals do not change.
    rowIdx = 0;
    await insert('fleettrace.cpu_profile', [cpu(300, 1001, S1.stack_id, 30)]);
    await insert('fleettrace.offcpu', [
      {
        ...identity(200, 1001),
        state: 'uninterruptible',
        blocks: 2,
        total_ns: 5_000_000,
        max_ns: 3_000_000,
        stack_id: S1.stack_id,
        batch_id: 8,
      },
      {
        ...identity(200, 1001),
        state: 'interruptible',
        blocks: 4,
        total_ns: 9_000_000,
        max_ns: 3_000_000,
        stack_id: S2.stack_id,
        batch_id: 8,
      },
    ]);
    c = await startTestController({
      query: { backend: new QueryService(store), canned: cannedQueries },
    });
    viewer = await apiToken(adminApi(c), 'viewer');
  });
  after(async () => {
    await c.close();
    await store.close();
    cleanup(storeDir);
  });

  const get = async (query: Record<string, string>) => {
    const res = await fetch(`${c.url}/api/v1/profiles?${new URLSearchParams(query).toString()}`, {
      headers: { authorization: `Bearer ${viewer}` },
    });
    const bytes = Buffer.from(await res.arrayBuffer());
    return {
      status: res.status,
      type: res.headers.get('content-type') ?? '',
      disposition: res.headers.get('content-disposition') ?? '',
      bytes,
    };
  };
  const mine = { collector: 'cpu_profile' as const, uid: '1001', since: '10m' };

  test('folded: text/plain, the selected rows summed per stack, lost stacks kept', async () => {
    const r = await get({ ...mine, format: 'folded' });
    assert.equal(r.status, 200, r.bytes.toString());
    assert.match(r.type, /^text\/plain/);
    assert.equal(
      r.bytes.toString(),
      `[lost stack: no_user_stack] 3\n${S1_FOLDED} 30\n${S2_FOLDED} 50\n`,
    );
    const all = await get({ collector: 'cpu_profile', since: '10m', format: 'folded' });
    assert.match(all.bytes.toString(), new RegExp(`^${S2_FOLDED} 57$`, 'm'), 'both users');
  });

  test('pprof: gzipped profile.proto with the same totals', async () => {
    const r = await get({ ...mine, format: 'pprof' });
    assert.equal(r.status, 200);
    assert.equal(r.type, 'application/octet-stream');
    assert.equal(r.disposition, 'attachment; filename="profile.pb.gz"');
    const p = pprof.Profile.decode(gunzipSync(r.bytes));
    const s = (i: bigint) => p.stringTable[Number(i)];
    assert.deepEqual(
      p.sampleType.map((t) => [s(t.type), s(t.unit)]),
      [['samples', 'count']],
    );
    const fn = new Map(p.function.map((f) => [f.id, s(f.name)]));
    const loc = new Map(p.location.map((l) => [l.id, fn.get(l.line[0]!.functionId)]));
    const totals = Object.fromEntries(
      p.sample.map((x) => [
        x.locationId
          .map((id) => loc.get(id))
          .reverse()
          .join(';'),
        Number(x.value[0]),
      ]),
    );
    assert.deepEqual(totals, {
      '[lost stack: no_user_stack]': 3,
      [S1_FOLDED]: 30,
      [S2_FOLDED]: 50,
    });
  });

  test('speedscope: JSON in the speedscope format with the same totals', async () => {
    const r = await get({ ...mine, format: 'speedscope' });
    assert.equal(r.status, 200);
    assert.match(r.type, /^application\/json/);
    const doc = JSON.parse(r.bytes.toString()) as {
      $schema: string;
      profiles: Array<{ type: string; weights: number[]; endValue: number }>;
    };
    assert.equal(doc.$schema, 'https://www.speedscope.app/file-format-schema.json');
    assert.equal(doc.profiles[0]?.type, 'sampled');
    assert.equal(doc.profiles[0]?.endValue, 83);
    assert.equal(
      doc.profiles[0]?.weights.reduce((a, b) => a + b, 0),
      83,
    );
  });

  test('svg (the default): image/svg+xml, a flame graph of the same total', async () => {
    const r = await get(mine);
    assert.equal(r.status, 200);
    assert.match(r.type, /^image\/svg\+xml/);
    assert.equal(r.disposition, 'inline; filename="profile.svg"');
    const svg = r.bytes.toString();
    assert.match(svg, /^<\?xml/);
    assert.match(svg, /data-total="83"/);
    for (const name of ['main', 'work', 'compute', 'read', 'vfs_read'])
      assert.match(svg, new RegExp(`data-n="${name}"`));
  });

  test('values: cpu_ns, weighted (millisamples), offcpu total_ns and blocks by state', async () => {
    const ns = await get({ ...mine, value: 'cpu_ns', format: 'folded' });
    assert.match(ns.bytes.toString(), new RegExp(`^${S2_FOLDED} 500000000$`, 'm'));
    const weighted = await get({ ...mine, value: 'weighted', format: 'folded' });
    // 50 samples at weight 2: 100 estimated samples, in thousandths
    assert.match(weighted.bytes.toString(), new RegExp(`^${S2_FOLDED} 100000$`, 'm'));
    const weightedPprof = pprof.Profile.decode(
      gunzipSync((await get({ ...mine, value: 'weighted', format: 'pprof' })).bytes),
    );
    const str = (i: bigint) => weightedPprof.stringTable[Number(i)];
    assert.deepEqual(
      weightedPprof.sampleType.map((t) => [str(t.type), str(t.unit)]),
      [['weighted_samples', 'millisamples']],
    );
    assert.match(
      weightedPprof.comment.map(str).join('\n'),
      /1000 millisamples = one estimated sample/,
    );
    // (30 + 50 + 3 samples) at weight 2
    assert.equal(
      weightedPprof.sample.reduce((n, x) => n + Number(x.value[0]), 0),
      166_000,
    );
    const off = await get({
      collector: 'offcpu',
      state: 'uninterruptible',
      since: '10m',
      format: 'folded',
    });
    assert.equal(off.bytes.toString(), `${S1_FOLDED} 5000000\n`);
    const blocks = await get({
      collector: 'offcpu',
      value: 'blocks',
      since: '10m',
      format: 'folded',
    });
    assert.equal(blocks.bytes.toString(), `${S1_FOLDED} 2\n${S2_FOLDED} 4\n`);
  });

  test('differential: the last 10 minutes against 30 to 20 minutes ago', async () => {
    const diff = { ...mine, 'base.since': '30m', 'base.until': '20m' };
    const folded = await get({ ...diff, format: 'folded' });
    assert.equal(folded.status, 200, folded.bytes.toString());
    assert.equal(
      folded.bytes.toString(),
      `[lost stack: no_user_stack] 0 3\n${S1_FOLDED} 10 30\n${S2_FOLDED} 60 50\n`,
    );
    const svg = (await get(diff)).bytes.toString();
    assert.match(svg, /<g class="frame grown"[^>]*data-n="vfs_read"/);
    assert.match(svg, /<g class="frame shrunk"[^>]*data-n="compute"/);
    const normalized = await get({ ...diff, normalize: 'true', format: 'folded' });
    // base total 70 scaled to 83
    assert.match(normalized.bytes.toString(), new RegExp(`^${S2_FOLDED} 71 50$`, 'm'));
  });

  test('differential against another user: base.uid', async () => {
    const r = await get({ ...mine, 'base.uid': '1002', format: 'folded' });
    assert.equal(r.status, 200, r.bytes.toString());
    assert.equal(
      r.bytes.toString(),
      `[lost stack: no_user_stack] 0 3\n${S1_FOLDED} 0 30\n${S2_FOLDED} 7 50\n`,
    );
  });

  test('the library on the store itself (what a CLI calls) gives the bytes the route gives', async () => {
    for (const format of ['folded', 'svg', 'speedscope'] as const) {
      const direct = await exportProfile({ ...mine, uid: 1001 }, store, format);
      const served = await get({ ...mine, format });
      assert.equal(served.type.split(';')[0], direct.contentType.split(';')[0]);
      assert.equal(served.bytes.toString(), direct.bytes.toString(), format);
    }
    const diff = await exportDiff(
      { ...mine, uid: 1001, since: '30m', until: '20m' },
      { ...mine, uid: 1001 },
      store,
      'folded',
    );
    assert.equal(
      diff.bytes.toString(),
      (
        await get({ ...mine, 'base.since': '30m', 'base.until': '20m', format: 'folded' })
      ).bytes.toString(),
    );
  });

  test('a bad field is a 400 naming it', async () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ collector: 'proc' }, 'collector'],
      [{ ...mine, uid: 'x' }, 'uid'],
      [{ ...mine, value: 'total_ns' }, 'value'],
      [{ ...mine, state: 'uninterruptible' }, 'state'],
      [{ ...mine, format: 'png' }, 'format'],
      [{ ...mine, 'base.since': '30m', format: 'pprof' }, 'format'],
      [{ ...mine, 'base.since': '30m', 'base.until': '40m' }, 'base.until'],
      [{ ...mine, normalize: 'true' }, 'normalize'],
      [{ ...mine, 'base.uid': '-1' }, 'base.uid'],
      [{ ...mine, 'base.state': 'interruptible' }, 'base.state'],
      [{ ...mine, until: '20m' }, 'until'],
      [{ ...mine, comm: "it's a very long name" }, 'comm'],
      [{ ...mine, user: 'bob' }, 'user'],
    ];
    for (const [query, field] of cases) {
      const r = await get(query);
      const body = JSON.parse(r.bytes.toString()) as { field?: string; error?: string };
      assert.equal(r.status, 400, `${JSON.stringify(query)}: ${r.bytes.toString()}`);
      assert.equal(body.field, field, JSON.stringify(body));
      assert.ok(body.error?.startsWith(`${field}: `), body.error);
    }
  });

  test('without a token: 401', async () => {
    const res = await fetch(`${c.url}/api/v1/profiles?collector=cpu_profile`);
    assert.equal(res.status, 401);
  });
});
