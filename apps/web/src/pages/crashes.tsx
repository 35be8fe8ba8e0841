// SPDX-License-Identifier: Apache-2.0
import { useState } from 'preact/hooks';
import { request, type QueryAnswerResponse } from '../api';
import { usePoll } from '../components/use-poll';
import { cell, formatTime, parseTime, rowObjects } from '../format';

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
        <Timeline rows={rows} now={crashes.data.at} spanMs={durationMs(applied.since)} />
      )}
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
            <tr key={i}>
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

function Timeline({ rows, now, spanMs }: { rows: Crash[]; now: number; spanMs: number }) {
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
              <circle key={j} cx={x(r.ms)} cy={LANE / 2} r="5" class={`dot event-${lane.event}`}>
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
