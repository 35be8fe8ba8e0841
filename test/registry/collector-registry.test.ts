// SPDX-License-Identifier: Apache-2.0
/**
 * The collector registry against what is generated from it, on the real
 * embedded store (chDB): for every collector, after the migrations its
 * tables' columns are its manifest's; docs/schema.md documents each column
 * under that table's own heading; its rows are routed to its tables (stacks
 * to fleettrace.stacks, sensitive fields to fleettrace_sensitive) and stored;
 * a row field without a column is counted, not dropped silently; and nothing
 * generated is out of date (scripts/gen-schema.mjs --check).
 *
 * Then a fixture collector that exists only as a folder under the test tree
 * (test/fixtures/collectors/tpcount), put on FLEETTRACE_COLLECTOR_PATH: it
 * gets a migration, a table, routing, a docs section, a kernels row and its
 * role with no other edit.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  acceptedFields,
  alwaysOnCollectors,
  allColumns,
  reportedType,
  STACK_ONLY_FIELDS,
  tableEncoder,
  tablesOf,
  type TableSegment,
  type CollectorManifest,
  type Row,
} from '@fleettrace/collector-spec';
import { manifests } from '@fleettrace/collectors/manifests';
import {
  fromGenerated,
  migrate,
  MIGRATIONS,
  pendingMigration,
  renderKernelsDoc,
  renderRolesDoc,
  renderSchemaDoc,
  RowRouter,
  TableBuffer,
  tableColumns,
  TsvTableBuffer,
  type BatchContext,
} from '@fleettrace/ingest';
import { packTables, unpackTables } from '@fleettrace/bus';
import { EmbeddedStore, type StoreFeatures } from '@fleettrace/store';
import { Workload, workload } from '@fleettrace/testing';

const ROOT = resolve(__dirname, '../../..');
const DOC = readFileSync(join(ROOT, 'docs/schema.md'), 'utf8');
const FIXTURES = join(ROOT, 'test/dist/fixtures/collectors');

/** The text of docs/schema.md under the heading naming `table`, to the next heading as high. */
function sectionOf(doc: string, table: string): string | undefined {
  const heading = new RegExp(`^(#+) .*\\b${table.replace('.', '\\.')}\\b.*$`, 'm').exec(doc);
  if (!heading) return undefined;
  const level = heading[1]!.length;
  const rest = doc.slice(heading.index + heading[0].length);
  const next = new RegExp(`^#{1,${level}} `, 'm').exec(rest);
  return next ? rest.slice(0, next.index) : rest;
}

/** A value of a column's type, as the agent would send it. */
function sample(type: string): unknown {
  if (type.startsWith('Nullable(')) return null;
  if (type.startsWith('Array(')) return type.includes('String') ? ['a', 'b'] : ['1', '2'];
  if (/Int|Float/.test(type)) return type.includes('64') ? '7' : 7;
  if (type.startsWith('DateTime')) return 0;
  return 'x';
}

/** Fields that feed derived columns or other tables, with a value of their own. */
const CONSUMED: Record<string, unknown> = {
  errnos: { EAGAIN: 2, ENOENT: 1 },
  filename: '/usr/bin/php-cgi',
  argv: ['php-cgi', '-f', 'index.php'],
  kernel_frames: ['do_syscall_64'],
  user_frames: ['main'],
  result: 1,
};

/** A row carrying every field the collector accepts. */
function fullRow(m: CollectorManifest): Row {
  const types = new Map(
    tablesOf(m).flatMap(({ spec }) => allColumns(spec).map((c) => [c.name, c.type] as const)),
  );
  const row: Row = {};
  for (const f of acceptedFields(m)) row[f] = f in CONSUMED ? CONSUMED[f] : sample(types.get(f)!);
  row.ts_ns = String(BigInt(Date.now()) * 1_000_000n);
  if (m.sensitive?.when) row[m.sensitive.when.field] = m.sensitive.when.equals;
  if (m.stacks) row.stack_id = `stack-${m.name}`;
  return row;
}

class Tables {
  readonly buffers = new Map<string, TableBuffer>();
  constructor(names: Iterable<string>) {
    for (const n of names) this.buffers.set(n, new TableBuffer(n));
  }
  get(t: string) {
    return this.buffers.get(t);
  }
}

describe('collector registry', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fleettrace-registry-'));
  let store: EmbeddedStore;
  let features: StoreFeatures;
  let builtIn: CollectorManifest[];
  let withFixture: CollectorManifest[];
  let columns: Map<string, Array<{ name: string; type: string }>>;
  const batch: BatchContext = {
    host: 'h1',
    jobId: 'job-1',
    runId: 'run-1',
    weight: 1,
    batchId: '42',
  };

  before(async () => {
    builtIn = [...manifests().values()];
    process.env.FLEETTRACE_COLLECTOR_PATH = FIXTURES;
    try {
      withFixture = [...manifests().values()];
    } finally {
      delete process.env.FLEETTRACE_COLLECTOR_PATH;
    }
    const next = Math.max(...MIGRATIONS.map((m) => m.version)) + 1;
    const fixture = pendingMigration(withFixture, next);
    assert.ok(fixture, 'the fixture needs a migration');
    store = new EmbeddedStore({ dataDir: dir });
    features = await store.features();
    await migrate(store, undefined, [...MIGRATIONS, fromGenerated(fixture)]);
    columns = await tableColumns(store);
  });

  after(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('finds the built-in collectors by folder', () => {
    assert.deepEqual(
      builtIn.map((m) => m.name),
      [
        'biolatency',
        'bpftrace',
        'counters',
        'cpu_profile',
        'file_opens',
        'offcpu',
        'proc',
        'runqlat',
        'syscall_trace',
        'syscalls',
        'tcp',
        'tracepoint',
        'uprobe',
      ],
    );
  });

  test("up's always-on job is the manifests' (proc, syscalls, cpu_profile, offcpu, runqlat)", () => {
    assert.deepEqual(
      alwaysOnCollectors(builtIn).map((c) => c.name),
      ['cpu_profile', 'offcpu', 'proc', 'runqlat', 'syscalls'],
    );
  });

  test("after the migrations every collector table's columns are its manifest's", () => {
    for (const m of withFixture)
      for (const { table, spec } of tablesOf(m))
        assert.deepEqual(
          columns.get(table),
          allColumns(spec).map((c) => ({ name: c.name, type: reportedType(c.type, features) })),
          table,
        );
  });

  test('nothing generated is out of date (scripts/gen-schema.mjs --check)', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts/gen-schema.mjs'), '--check'], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr + r.stdout);
  });

  test("docs/schema.md documents each column under its table's own heading", () => {
    const conventions = sectionOf(DOC, 'Conventions') ?? '';
    const missing: string[] = [];
    for (const m of builtIn)
      for (const { table, spec } of tablesOf(m)) {
        const section = sectionOf(DOC, table);
        if (!section) {
          missing.push(`${table} (no heading)`);
          continue;
        }
        for (const c of allColumns(spec)) {
          const own = spec.columns.includes(c);
          if (!(own ? section : conventions).includes(`\`${c.name}\``))
            missing.push(`${table}.${c.name}`);
        }
      }
    assert.deepEqual(missing, []);
  });

  test('rows of every collector are routed to its tables and stored', async () => {
    const names = [...columns.keys()];
    for (const m of withFixture) {
      const tables = new Tables(names);
      const lost: string[] = [];
      const router = new RowRouter(tables, withFixture, (c, f) => lost.push(`${c}.${f}`));
      const row = fullRow(m);
      assert.equal(router.route(m.name, batch, [JSON.stringify(row)]), 1);
      assert.deepEqual(lost, [], `${m.name}: every field has a place`);
      const expected = new Set(tablesOf(m).map((t) => t.table));
      if (m.stacks) expected.add('fleettrace.stacks');
      for (const [name, buffer] of tables.buffers) {
        const block = buffer.take();
        assert.equal(block?.rows ?? 0, expected.has(name) ? 1 : 0, `${m.name} -> ${name}`);
        if (!block) continue;
        // Every field of what goes to the store is a column of that table.
        const have = new Set(columns.get(name)!.map((c) => c.name));
        const out = JSON.parse(block.payload.toString()) as Row;
        for (const k of Object.keys(out)) assert.ok(have.has(k), `${name} has no column ${k}`);
        if (name === `fleettrace.${m.name}`)
          for (const f of [...(m.consumes ?? []), ...STACK_ONLY_FIELDS])
            if (!have.has(f)) assert.ok(!(f in out), `${f} stays out of ${name}`);
        await store.insert(name, block.payload);
      }
      for (const t of expected) {
        const [r] = await store.select<{ n: string }>(
          `SELECT count() AS n FROM ${t} WHERE ${t.endsWith('stacks') ? `stack_id = 'stack-${m.name}'` : "job_id = 'job-1'"}`,
        );
        assert.ok(Number(r!.n) >= 1, `${t} holds the ${m.name} row`);
      }
    }
  });

  test('the typed encoding of every collector reaches its tables, unparsed by ingest', async () => {
    const typedBatch: BatchContext = { ...batch, jobId: 'job-typed', batchId: '43' };
    for (const m of withFixture) {
      const segments = new Map<string, TableSegment>();
      const r = tableEncoder(m).encode([fullRow(m)], 0, segments);
      assert.equal(r.unmapped, undefined, `${m.name}: every field has a place`);
      const unpacked = await unpackTables(await packTables(segments.values()));
      const buffers = new Map<string, TsvTableBuffer>();
      const router = new RowRouter(new Tables(columns.keys()), withFixture);
      router.routeTables(m.name, typedBatch, unpacked, 1, (table, cols, prefixed) => {
        const key = `${table} ${cols.join(',')}`;
        let b = buffers.get(key);
        if (!b) buffers.set(key, (b = new TsvTableBuffer(table, cols, prefixed)));
        return b;
      });
      const expected = new Set(tablesOf(m).map((t) => t.table));
      if (m.stacks) expected.add('fleettrace.stacks');
      assert.deepEqual(new Set([...buffers.values()].map((b) => b.table)), expected, m.name);
      for (const b of buffers.values()) {
        const block = b.take()!;
        await store.insert(block.table, block.payload, {
          format: 'TabSeparated',
          columns: block.columns,
        });
      }
      const [n] = await store.select<{ n: string }>(
        `SELECT count() AS n FROM fleettrace.${m.name} WHERE job_id = 'job-typed'`,
      );
      assert.equal(Number(n!.n), 1, `${m.name} typed row stored`);
    }
    const [exec] = await store.select<{ exe: string; argc: number; batch_id: string }>(
      "SELECT exe, argc, toString(batch_id) AS batch_id FROM fleettrace.proc WHERE job_id = 'job-typed'",
    );
    assert.deepEqual(
      { ...exec, argc: Number(exec!.argc) },
      { exe: 'php-cgi', argc: 3, batch_id: '43' },
    );
    const [argv] = await store.select<{ argv: string[] }>(
      "SELECT argv FROM fleettrace_sensitive.proc_exec WHERE job_id = 'job-typed'",
    );
    assert.deepEqual(argv!.argv, ['php-cgi', '-f', 'index.php']);
  });

  test('a typed batch naming a column its table lacks is refused, not stored in part', () => {
    const router = new RowRouter(new Tables(columns.keys()), builtIn);
    const segment = {
      table: 'fleettrace.syscalls',
      columns: ['ts_ns', 'new_column'],
      lines: [Buffer.from('0\t1\t2')],
    };
    assert.throws(
      () =>
        router.routeTables('syscalls', batch, [segment], 1, () => assert.fail('nothing buffered')),
      /fleettrace\.syscalls has no column new_column/,
    );
    assert.throws(
      () =>
        router.routeTables(
          'syscalls',
          batch,
          [{ ...segment, table: 'fleettrace.proc', columns: ['ts_ns'] }],
          1,
          () => assert.fail('nothing buffered'),
        ),
      /fleettrace\.proc is not a table of collector syscalls/,
    );
  });

  test('derived columns are filled and renamed fields land in their column', async () => {
    const [exec] = await store.select<{ exe: string; argc: number; signal_result: number }>(
      "SELECT exe, argc, signal_result FROM fleettrace.proc WHERE job_id = 'job-1'",
    );
    assert.deepEqual(
      { ...exec, argc: Number(exec!.argc), signal_result: Number(exec!.signal_result) },
      { exe: 'php-cgi', argc: 3, signal_result: 1 },
    );
    const [sc] = await store.select<{ errno_names: string[] }>(
      "SELECT errno_names FROM fleettrace.syscalls WHERE job_id = 'job-1'",
    );
    assert.deepEqual(sc!.errno_names, ['EAGAIN', 'ENOENT']);
    const [argv] = await store.select<{ argv: string[] }>(
      "SELECT argv FROM fleettrace_sensitive.proc_exec WHERE job_id = 'job-1'",
    );
    assert.deepEqual(argv!.argv, ['php-cgi', '-f', 'index.php']);
  });

  test('a row field without a column is counted as lost, the rest of the row is stored', () => {
    const tables = new Tables(columns.keys());
    const lost: Array<[string, string, number]> = [];
    const router = new RowRouter(tables, builtIn, (c, f, n) => lost.push([c, f, n]));
    const m = builtIn.find((x) => x.name === 'syscalls')!;
    const row = { ...fullRow(m), renamed_count: 5 };
    router.route('syscalls', batch, [JSON.stringify(row), JSON.stringify(row)]);
    assert.deepEqual(lost, [['syscalls', 'renamed_count', 2]]);
    assert.equal(tables.get('fleettrace.syscalls')!.rowCount, 2);
    // A pass-through row (proc's exit) is checked the same way.
    lost.length = 0;
    const exit = { ts_ns: '1', pid: 1, uid: 0, event: 'exit', exit_status: 3 };
    router.route('proc', batch, [JSON.stringify(exit)]);
    assert.deepEqual(lost, [['proc', 'exit_status', 1]]);
  });

  test('a collector without a manifest is refused, not routed to a table of its name', () => {
    const router = new RowRouter(new Tables(columns.keys()), builtIn);
    assert.throws(
      () => router.route('batches', batch, ['{}']),
      /no collector "batches" in this ingest's manifests/,
    );
  });

  describe('a fixture collector added as two folders (test/fixtures/collectors/tpcount, test/fixtures/bpf/tpcount)', () => {
    test('gets a migration creating its table and nothing else', () => {
      const next = Math.max(...MIGRATIONS.map((m) => m.version)) + 1;
      const g = pendingMigration(withFixture, next)!;
      assert.deepEqual(
        g.steps.map((s) => `${s.kind} ${s.table}`),
        ['create fleettrace.tpcount'],
      );
      assert.equal(g.version, next);
    });

    test('the generator says the workspace is out of date with it on the path', () => {
      const r = spawnSync(process.execPath, [join(ROOT, 'scripts/gen-schema.mjs'), '--check'], {
        encoding: 'utf8',
        env: { ...process.env, FLEETTRACE_COLLECTOR_PATH: FIXTURES },
      });
      assert.equal(r.status, 1);
      assert.match(r.stdout, /migration \d+: create fleettrace\.tpcount/);
      assert.match(r.stderr, /collector-migrations\.gen\.ts, docs\/schema\.md, docs\/kernels\.md/);
    });

    test('gets its docs section, kernels row and role', async () => {
      const { adminOnlyCollectors } = await import('@fleettrace/controller');
      const doc = renderRolesDoc(renderSchemaDoc(DOC, withFixture), withFixture);
      const section = sectionOf(doc, 'fleettrace.tpcount');
      assert.ok(section, 'a section of its own');
      assert.match(section, /`tracepoint`/);
      assert.match(section, /`hits`/);
      assert.match(doc, /\| `tpcount` +\| admin/);
      const kernels = renderKernelsDoc(
        readFileSync(join(ROOT, 'docs/kernels.md'), 'utf8'),
        withFixture,
      );
      assert.match(kernels, /\| `tpcount` +\| 4\.7 /);
      process.env.FLEETTRACE_COLLECTOR_PATH = FIXTURES;
      try {
        assert.ok('tpcount' in adminOnlyCollectors(), 'the controller asks admin for it');
      } finally {
        delete process.env.FLEETTRACE_COLLECTOR_PATH;
      }
      assert.ok(!('tpcount' in adminOnlyCollectors()));
    });

    test('its program builds with bpf/Makefile, loads, counts a workload and its rows are stored', async () => {
      // The second folder: test/fixtures/bpf/tpcount, built like bpf/<name>/ is.
      const build = mkdtempSync(join(tmpdir(), 'fleettrace-tpcount-'));
      const made = spawnSync(
        'make',
        [
          '-C',
          join(ROOT, 'bpf'),
          `SRCS=${join(ROOT, 'test/fixtures/bpf/tpcount/tpcount.bpf.c')}`,
          `BUILD=${build}`,
        ],
        { encoding: 'utf8' },
      );
      assert.equal(made.status, 0, made.stderr);
      process.env.FLEETTRACE_COLLECTOR_PATH = FIXTURES;
      process.env.FLEETTRACE_BPF_PATH = build;
      const { collectors, localHost } = await import('@fleettrace/collectors');
      const w = await Workload.start(workload('syscall_workload'), ['getppid', '1000']);
      try {
        const def = collectors().get('tpcount');
        assert.ok(def, 'the runtime finds the collector by its folder');
        assert.ok(collectors().has('syscalls'), 'next to the built-in ones');
        const session = await def.start({
          params: def.parseParams({}, 'params'),
          filters: { pid: w.pid },
          host: localHost(),
        });
        let rows: Row[];
        try {
          await w.run();
          const drained = await session.drain();
          assert.equal(drained.lost, 0);
          rows = drained.rows as Row[];
        } finally {
          await session.close();
        }
        assert.deepEqual(
          rows.map((r) => [r.pid, r.uid, r.comm, r.hits]),
          [[w.pid, 0, 'syscall_workloa', 1000]],
        );
        // Through the routing generated from its manifest into its table.
        const tables = new Tables([...columns.keys()]);
        const lost: string[] = [];
        const router = new RowRouter(tables, withFixture, (c, f) => lost.push(`${c}.${f}`));
        const lines = rows.map((r) => JSON.stringify({ ...r, ts_ns: String(r.ts_ns) }));
        assert.equal(router.route('tpcount', { ...batch, jobId: 'job-tp' }, lines), 1);
        assert.deepEqual(lost, []);
        const block = tables.get('fleettrace.tpcount')!.take()!;
        await store.insert('fleettrace.tpcount', block.payload);
        const [stored] = await store.select<{ hits: string; comm: string }>(
          `SELECT sum(hits) AS hits, any(comm) AS comm FROM fleettrace.tpcount WHERE job_id = 'job-tp' AND pid = ${w.pid}`,
        );
        assert.deepEqual([Number(stored!.hits), stored!.comm], [1000, 'syscall_workloa']);
      } finally {
        delete process.env.FLEETTRACE_COLLECTOR_PATH;
        delete process.env.FLEETTRACE_BPF_PATH;
        await w.stop();
        rmSync(build, { recursive: true, force: true });
      }
    });
  });
});
