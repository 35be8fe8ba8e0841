// SPDX-License-Identifier: Apache-2.0
/**
 * deploy/grafana: every dashboard reads the provisioned data source, and
 * every panel's SQL, with the ClickHouse plugin's macros expanded as the
 * plugin does ($__timeFilter, $__timeInterval, $__interval_s,
 * $__conditionalAll) and the host variable set to All or to one host, runs
 * through the query API's validator as the viewer role on the real schema
 * (chDB) over known rows and returns what they say. The list of waiting
 * syscalls the panels leave out is the one `top` uses.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { migrate } from '@fleettrace/ingest';
import { cannedQueries, EmbeddedStore, QueryService } from '@fleettrace/store';
import { REPO } from './helm-check';

const GRAFANA = join(REPO, 'deploy/grafana');

interface Target {
  refId: string;
  datasource: { type: string; uid: string };
  queryType: string;
  rawSql: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource: { type: string; uid: string };
  targets: Target[];
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; query: string }> };
}

const dashboards: Dashboard[] = readdirSync(join(GRAFANA, 'dashboards'))
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => JSON.parse(readFileSync(join(GRAFANA, 'dashboards', f), 'utf8')) as Dashboard);

const datasource = (
  parse(readFileSync(join(GRAFANA, 'provisioning/datasources/fleettrace.yaml'), 'utf8')) as {
    datasources: Array<{ uid: string; type: string; jsonData: Record<string, unknown> }>;
  }
).datasources[0]!;

const INTERVAL_S = 60;
const TO = Math.floor(Date.now() / 1000);
const FROM = TO - 3600;

/**
 * The plugin's macros for a time range of the last hour and a 60 s interval,
 * after Grafana put in the host variable (`hosts` undefined: All selected).
 */
function expand(sql: string, hosts?: string[]): string {
  const quoted = (hosts ?? []).map((h) => `'${h.replace(/[\\']/g, (c) => '\\' + c)}'`).join(',');
  return sql
    .replace(/\$__conditionalAll\((.*?), \$host\)/g, (_, cond: string) =>
      hosts ? cond.replaceAll('${host:singlequote}', quoted) : '1=1',
    )
    .replace(
      /\$__timeFilter\((\w+)\)/g,
      (_, c: string) => `${c} >= toDateTime(${FROM}) AND ${c} <= toDateTime(${TO})`,
    )
    .replace(
      /\$__timeInterval\((\w+)\)/g,
      (_, c: string) => `toStartOfInterval(toDateTime(${c}), INTERVAL ${INTERVAL_S} second)`,
    )
    .replaceAll('$__interval_s', String(INTERVAL_S));
}

const TIME = new Date((TO - 120) * 1000).toISOString().slice(0, 19).replace('T', ' ');
let rowIdx = 0;
const head = (uid: number, user: string, comm: string) => ({
  ts_ns: String(BigInt(TO - 120) * 1_000_000_000n + BigInt(++rowIdx)),
  time: TIME,
  host: 'web-1',
  job_id: 'j1',
  run_id: 'r1',
  pid: 4000 + rowIdx,
  uid,
  user,
  comm,
  weight: 2,
  batch_id: 9,
  row_idx: rowIdx,
});
const lines = (rows: object[]) => Buffer.from(rows.map((r) => JSON.stringify(r)).join('\n'));
const slots = (at: number, n: number) => Array.from({ length: 32 }, (_, i) => (i === at ? n : 0));

describe('deploy/grafana', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fleettrace-grafana-'));
  let store: EmbeddedStore;
  let queries: QueryService;

  before(async () => {
    store = new EmbeddedStore({ dataDir: dir });
    await migrate(store);
    queries = new QueryService(store);
    const alice = () => head(1001, 'alice', 'php-fpm');
    await store.insert(
      'fleettrace.cpu_profile',
      lines([{ ...alice(), samples: 300, cpu_ns: 3e9, stack_id: '' }]),
    );
    await store.insert(
      'fleettrace.syscalls',
      lines([
        { ...alice(), syscall: 'read', count: 10, total_ns: 1e6, hist: slots(10, 10) },
        { ...alice(), syscall: 'epoll_wait', count: 5, total_ns: 9e9, hist: slots(30, 5) },
      ]),
    );
    await store.insert(
      'fleettrace.runqlat',
      lines([{ ...alice(), count: 4, total_ns: 4e6, max_ns: 2e6, hist: slots(20, 4) }]),
    );
    await store.insert(
      'fleettrace.proc',
      lines([
        { ...alice(), event: 'exit', signal: 11, signal_name: 'SIGSEGV', core_dumped: 1 },
        { ...alice(), event: 'oom_kill', anon_rss_kb: 1000, trigger_comm: 'php-fpm' },
        { ...alice(), event: 'exit', signal: 0 },
      ]),
    );
    await store.insert(
      'fleettrace.batches',
      lines([
        {
          time: TIME,
          agent_id: 'a1',
          host: 'web-1',
          sequence: 1,
          job_id: 'j1',
          run_id: 'r1',
          collector: 'syscalls',
          row_count: 2,
          lost: 3,
          batch_id: 9,
        },
      ]),
    );
    await store.insert(
      'fleettrace.job_runs',
      lines([
        {
          job_id: 'j1',
          run_id: 'r1',
          agent_id: 'a1',
          host: 'web-1',
          state: 'running',
          overhead_share: 0.004,
          updated: TIME,
          version: 1,
        },
      ]),
    );
    await store.insert(
      'fleettrace.agents',
      lines([{ agent_id: 'a1', host: 'web-1', state: 'connected', updated: TIME, version: 1 }]),
    );
  });

  after(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('three dashboards with unique uids and panel ids', () => {
    assert.deepEqual(
      dashboards.map((d) => d.uid),
      ['fleettrace-agents', 'fleettrace-fleet', 'fleettrace-latency'],
    );
    for (const d of dashboards) {
      const ids = d.panels.map((p) => p.id);
      assert.equal(new Set(ids).size, ids.length, `${d.uid}: panel ids repeat`);
    }
  });

  test('every panel and variable reads the provisioned data source as the viewer', () => {
    assert.equal(datasource.type, 'grafana-clickhouse-datasource');
    assert.equal(datasource.jsonData.username, 'fleettrace_viewer');
    for (const d of dashboards)
      for (const p of d.panels) {
        assert.deepEqual(p.datasource, { type: datasource.type, uid: datasource.uid }, p.title);
        for (const t of p.targets) assert.equal(t.datasource.uid, datasource.uid, p.title);
      }
  });

  test("panels that leave waiting syscalls out use top's list", () => {
    const list = `(${cannedQueries.WAIT_SYSCALLS.map((s) => `'${s}'`).join(', ')})`;
    let checked = 0;
    for (const d of dashboards)
      for (const p of d.panels)
        for (const t of p.targets)
          if (t.rawSql.includes("'epoll_wait'")) {
            assert.ok(t.rawSql.includes(list), `${p.title}: a different list of waits`);
            checked++;
          }
    assert.ok(checked >= 3, `${checked} panels`);
  });

  const panels = dashboards.flatMap((d) => d.panels.map((p) => ({ d, p })));
  for (const { d, p } of panels) {
    test(`${d.uid} / ${p.title}: runs as the viewer, for All hosts and for one`, async () => {
      for (const t of p.targets) {
        const all = await queries.query(expand(t.rawSql), 'viewer');
        assert.ok(all.rows.length > 0, `${p.title}: no rows for All\n${expand(t.rawSql)}`);
        if (t.queryType === 'timeSeries') assert.equal(all.columns[0]!.name, 'time');
        const one = await queries.query(expand(t.rawSql, ['web-1']), 'viewer');
        assert.equal(one.rows.length, all.rows.length, `${p.title}: web-1 is every host here`);
        const other = await queries.query(expand(t.rawSql, ["o'ther"]), 'viewer');
        assert.equal(other.rows.length, 0, `${p.title}: another host's filter keeps none`);
      }
    });
  }

  test('values: CPUs of a uid, waits apart, heatmap buckets, crashes', async () => {
    const run = async (uid: string, title: string) => {
      const p = dashboards.find((d) => d.uid === uid)!.panels.find((x) => x.title === title)!;
      return (await queries.query(expand(p.targets[0]!.rawSql), 'viewer')).rows as unknown[][];
    };
    // 3 s of CPU × weight 2 in one 60 s interval: 0.1 CPUs.
    const cpu = await run('fleettrace-fleet', 'CPU by customer (uid)');
    assert.deepEqual(
      cpu.map((r) => [r[1], Number(r[2])]),
      [['alice (1001)', 0.1]],
    );
    const top = await run('fleettrace-fleet', 'Top customers');
    assert.deepEqual(
      top.map((r) => r.slice(2).map(Number)),
      [[6, 30, 0.002, 18]],
    );
    // read's calls in slot 10 ([1024, 2048) ns): bucket le 2048, weight 2; epoll_wait not in it.
    const heat = await run('fleettrace-latency', 'Syscall latency (busy syscalls)');
    assert.deepEqual(
      heat.map((r) => [r[1], Number(r[2])]),
      [['2048', 20]],
    );
    const crashes = await run('fleettrace-fleet', 'Crashes, newest first');
    assert.deepEqual(crashes.map((r) => r[2]).sort(), ['exit', 'oom_kill']);
  });
});
