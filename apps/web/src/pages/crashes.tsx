// SPDX-License-Identifier: Apache-2.0
import { useEffect, useState } from 'preact/hooks';
import { query, request, type QueryAnswerResponse } from '../api';
import { TimeChart, type Series } from '../components/time-chart';
import { usePoll } from '../components/use-poll';
import { cell, formatTime, num, parseTime, percent, rowObjects } from '../format';

const RANGES = ['15m', '1h', '6h', '24h', '168h'];
/** The three kinds of GET /api/v1/crashes rows, one lane each. */
const LANES = [
  { event: 'exit', title: 'exits by signal' },
  { event: 'oom_kill', title: 'OOM kills' },
  { event: 'signal', title: 'kills (sender → target)' },
] as const;

type Crash = Record<string, unknown> & { ms: number };

function describe(c: Crash): string {
  const who = `${cell(c.comm)} (pid ${cell(c.pid)}, ${cell(c.user) || `uid ${cell(c.uid)}`})`;
  if (c.event === 'signal')
    return `${who} sent ${cell(c.signal_name)} to ${cell(c.target_comm)} (pid ${cell(c.target_pid)}, ${cell(c.target_user) || `uid ${cell(c.target_uid)}`})`;
  if (c.event === 'oom_kill')
    return `${who} OOM-killed (rss ${Math.round(Number(c.rss_kb) / 1024)} MiB${c.trigger_comm ? `; triggered by ${cell(c.trigger_comm)}` : ''})`;
  return `${who} died of ${cell(c.signal_name)}${Number(c.core_dumped) ? ' (core dumped)' : ''}`;
}

/** Exits by signal, OOM kills and kills across the fleet: a timeline by kind, and the list. */
export function CrashesPage() {
  const [since, setSince] = useState('1h');
  const [hosts, setHosts] = useState('');
  const [applied, setApplied] = useState({ since: '1h', hosts: '' });
  const crashes = usePoll(
    async () => {
      const qs = new URLSearchParams({ since: applied.since });
      if (applied.hosts.trim()) qs.set('hosts', applied.hosts.trim());
      const answer = await request<QueryAnswerResponse>('GET', `/api/v1/crashes?${qs}`);
      return {
        at: Date.now(),
        rows: rowObjects(answer).map((r) => ({ ...r, ms: parseTime(r.time) })),
      };
    },
    15_000,
    [applied.since, applied.hosts],
  );
  const rows = (crashes.data?.rows ?? []) as Crash[];
  const [selected, setSelected] = useState<Crash | null>(null);
  return (
    <section>
      <h2>Crashes</h2>
      <form
        class="row filters"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied({ since, hosts });
        }}
      >
        <label>
          last
          <select value={since} onChange={(e) => setSince(e.currentTarget.value)}>
            {RANGES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
        <label>
          hosts
          <input
            value={hosts}
            placeholder="web-1,web-2 (all)"
            onInput={(e) => setHosts(e.currentTarget.value)}
          />
        </label>
        <button type="submit">Show</button>
      </form>
      {crashes.error && <p class="error">{crashes.error}</p>}
      {crashes.data && (
        <Timeline
          rows={rows}
          now={crashes.data.at}
          spanMs={durationMs(applied.since)}
          onSelect={setSelected}
        />
      )}
      {selected && <CrashContext key={crashKey(selected)} crash={selected} />}
      <table class="grid">
        <thead>
          <tr>
            <th>time (UTC)</th>
            <th>host</th>
            <th>event</th>
            <th>what</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((c, i) => (
            <tr
              key={i}
              class={`clickable${selected && crashKey(selected) === crashKey(c) ? ' selected' : ''}`}
              onClick={() => setSelected(c)}
            >
              <td>{cell(c.time)}</td>
              <td>{cell(c.host)}</td>
              <td>
                <span class={`state event-${cell(c.event)}`}>{cell(c.event)}</span>
              </td>
              <td>{describe(c)}</td>
            </tr>
          ))}
          {crashes.data && rows.length === 0 && (
            <tr>
              <td colSpan={4} class="muted">
                No crash, OOM kill or kill in this range.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}

function durationMs(range: string): number {
  return Number(range.slice(0, -1)) * (range.endsWith('m') ? 60_000 : 3_600_000);
}

const WIDTH = 1000;
const LANE = 28;
const LEFT = 170;

function Timeline(props: {
  rows: Crash[];
  now: number;
  spanMs: number;
  onSelect: (crash: Crash) => void;
}) {
  const { rows, now, spanMs, onSelect } = props;
  const from = now - spanMs;
  const x = (ms: number) => LEFT + ((ms - from) / spanMs) * (WIDTH - LEFT - 10);
  const height = LANES.length * LANE + 24;
  const ticks = Array.from({ length: 5 }, (_, i) => from + (spanMs * i) / 4);
  return (
    <svg class="timeline" viewBox={`0 0 ${WIDTH} ${height}`} role="img" aria-label="crash timeline">
      {LANES.map((lane, i) => (
        <g key={lane.event} transform={`translate(0 ${i * LANE})`}>
          <text x="0" y={LANE / 2 + 4} class="lane-label">
            {lane.title} ({rows.filter((r) => r.event === lane.event).length})
          </text>
          <line x1={LEFT} x2={WIDTH - 10} y1={LANE / 2} y2={LANE / 2} class="lane-line" />
          {rows
            .filter((r) => r.event === lane.event && Number.isFinite(r.ms))
            .map((r, j) => (
              <circle
                key={j}
                cx={x(r.ms)}
                cy={LANE / 2}
                r="5"
                class={`dot event-${lane.event}`}
                onClick={() => onSelect(r)}
              >
                <title>{`${formatTime(r.ms)} UTC · ${cell(r.host)} · ${describe(r)}`}</title>
              </circle>
            ))}
        </g>
      ))}
      {ticks.map((t, i) => (
        <text
          key={t}
          x={x(t)}
          y={height - 6}
          class="tick"
          text-anchor={i === 0 ? 'start' : i === ticks.length - 1 ? 'end' : 'middle'}
        >
          {formatTime(t).slice(5, 16)}
        </text>
      ))}
    </svg>
  );
}

/** A crash's identity across polls (the rows are fetched again every 15 s). */
const crashKey = (c: Crash) =>
  [c.time, c.host, c.event, c.pid, c.tid, c.target_pid].map(cell).join('|');

/** The window around a crash the context shows, each side. */
const AROUND_MS = 5 * 60_000;
/** Points of the context's charts. */
const STEP_S = 30;
/** Users drawn in the CPU chart; the rest are summed as "others". */
const MAX_USERS = 5;

const literal = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** The WHERE of a host's rows within the window, for the query API. */
function around(c: Crash): { where: string; from: number; to: number } {
  const from = Math.floor((c.ms - AROUND_MS) / 1000);
  const to = Math.ceil((c.ms + AROUND_MS) / 1000);
  return {
    where: `host = ${literal(cell(c.host))}
  AND time >= toDateTime(${from}, 'UTC') AND time < toDateTime(${to}, 'UTC')`,
    from: from * 1000,
    to: to * 1000,
  };
}

/** CPU seconds per interval and user on the crash's host (cpu_ns × weight, docs/schema.md). */
export function cpuAroundSql(c: Crash): string {
  return `SELECT toStartOfInterval(time, INTERVAL ${STEP_S} SECOND) AS t, uid, any(user) AS user,
       sum(cpu_ns * weight) / 1e9 AS cpu_s
FROM fleettrace.cpu_profile FINAL
WHERE ${around(c).where}
GROUP BY t, uid
ORDER BY t`;
}

/** Run-queue wait per interval on the crash's host: seconds waited and waits. */
export function runqAroundSql(c: Crash): string {
  return `SELECT toStartOfInterval(time, INTERVAL ${STEP_S} SECOND) AS t,
       sum(total_ns) / 1e9 AS wait_s, sum(count) AS waits
FROM fleettrace.runqlat FINAL
WHERE ${around(c).where}
GROUP BY t
ORDER BY t`;
}

interface Context {
  cpu: Series[];
  top: Array<{ user: string; uid: string; cpu_s: number }>;
  total: number;
  wait: Series[];
  waits: Series[];
}

async function loadContext(c: Crash): Promise<Context> {
  const [cpu, runq] = await Promise.all([query(cpuAroundSql(c)), query(runqAroundSql(c))]);
  const byUser = new Map<
    string,
    { user: string; uid: string; cpu_s: number; points: Array<[number, number]> }
  >();
  for (const r of rowObjects(cpu)) {
    const uid = cell(r.uid);
    let u = byUser.get(uid);
    if (!u) byUser.set(uid, (u = { user: cell(r.user), uid, cpu_s: 0, points: [] }));
    u.cpu_s += Number(r.cpu_s);
    u.points.push([parseTime(r.t), Number(r.cpu_s)]);
  }
  const users = [...byUser.values()].sort((a, b) => b.cpu_s - a.cpu_s);
  const series: Series[] = users.slice(0, MAX_USERS).map((u) => ({
    name: u.user || `uid ${u.uid}`,
    points: u.points,
  }));
  const rest = new Map<number, number>();
  for (const u of users.slice(MAX_USERS))
    for (const [t, v] of u.points) rest.set(t, (rest.get(t) ?? 0) + v);
  if (rest.size)
    series[MAX_USERS - 1] = {
      name: 'others',
      points: [...rest].sort((a, b) => a[0] - b[0]),
    };
  const runRows = rowObjects(runq);
  const line = (name: string, key: string): Series[] =>
    runRows.length
      ? [{ name, points: runRows.map((r) => [parseTime(r.t), Number(r[key])] as [number, number]) }]
      : [];
  return {
    cpu: series,
    top: users.slice(0, 10).map(({ user, uid, cpu_s }) => ({ user, uid, cpu_s })),
    total: users.reduce((s, u) => s + u.cpu_s, 0),
    wait: line('wait_s', 'wait_s'),
    waits: line('waits', 'waits'),
  };
}

/** Who did what: the sender and target of a kill, the victim of an OOM kill or exit. */
function Parties({ crash: c }: { crash: Crash }) {
  const who = (comm: unknown, pid: unknown, user: unknown, uid: unknown) =>
    `${cell(comm)} (pid ${cell(pid)}, ${cell(user) || 'uid'} ${cell(uid)})`;
  return (
    <dl class="parties">
      {c.event === 'signal' ? (
        <>
          <dt>sender</dt>
          <dd>{who(c.comm, c.pid, c.user, c.uid)}</dd>
          <dt>target</dt>
          <dd>{who(c.target_comm, c.target_pid, c.target_user, c.target_uid)}</dd>
          <dt>signal</dt>
          <dd>{cell(c.signal_name)}</dd>
        </>
      ) : (
        <>
          <dt>{c.event === 'oom_kill' ? 'victim' : 'process'}</dt>
          <dd>{who(c.comm, c.pid, c.user, c.uid)}</dd>
          <dt>what</dt>
          <dd>{describe(c)}</dd>
        </>
      )}
    </dl>
  );
}

/**
 * The crash's host around its moment (±5 min): CPU seconds per interval by
 * user, the run-queue wait, each with a marker at the crash, and the top
 * users by CPU — through the SQL API with the user's token.
 */
function CrashContext({ crash }: { crash: Crash }) {
  const [context, setContext] = useState<Context | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    loadContext(crash).then(setContext, (err: unknown) =>
      setError(err instanceof Error ? err.message : String(err)),
    );
  }, [crash]);
  const { from, to } = around(crash);
  const range: [number, number] = [from, to];
  const marker = { at: crash.ms, label: cell(crash.event) };
  return (
    <div class="crash-context" data-testid="crash-context">
      <h3>
        {cell(crash.event)} on {cell(crash.host)} at {formatTime(crash.ms)} UTC, ±5 min
      </h3>
      <Parties crash={crash} />
      {error && <p class="error">{error}</p>}
      {!context && !error && <p class="muted">Loading…</p>}
      {context && (
        <>
          {context.cpu.length ? (
            <TimeChart
              series={context.cpu}
              range={range}
              marker={marker}
              title={`CPU seconds per ${STEP_S} s by user (weighted to fleet totals)`}
              testId="crash-cpu"
            />
          ) : (
            <p class="muted">No CPU samples of this host in the window (cpu_profile).</p>
          )}
          {context.wait.length ? (
            <div class="row charts">
              <TimeChart
                series={context.wait}
                range={range}
                marker={marker}
                title={`run-queue wait, seconds per ${STEP_S} s`}
                testId="crash-runq"
              />
              <TimeChart
                series={context.waits}
                range={range}
                marker={marker}
                title={`waits per ${STEP_S} s`}
                testId="crash-runq-count"
              />
            </div>
          ) : (
            <p class="muted">No run-queue latency of this host in the window (runqlat).</p>
          )}
          {context.top.length > 0 && (
            <table class="grid" data-testid="crash-top-users">
              <thead>
                <tr>
                  <th>user</th>
                  <th>uid</th>
                  <th class="num">CPU s</th>
                  <th class="num">share</th>
                </tr>
              </thead>
              <tbody>
                {context.top.map((u) => (
                  <tr key={u.uid}>
                    <td>{u.user}</td>
                    <td>{u.uid}</td>
                    <td class="num">{num(u.cpu_s)}</td>
                    <td class="num">{percent(u.cpu_s / (context.total || 1), 1)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </div>
  );
}
