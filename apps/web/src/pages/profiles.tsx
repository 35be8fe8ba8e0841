// SPDX-License-Identifier: Apache-2.0
import { useState } from 'preact/hooks';
import { ApiError, query } from '../api';
import { FlameGraph } from '../components/flame-graph';
import { buildFlameTree, type FlameNode } from '../components/flame-model';

interface Filters {
  uid: string;
  comm: string;
  host: string;
  /** datetime-local values, read as UTC */
  from: string;
  to: string;
}

/** The heaviest stacks drawn; the rest, each lighter than any of them, are left out (and said to be). */
const MAX_STACKS = 20_000;

/** A string as a ClickHouse string literal. */
const literal = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** A datetime-local value (UTC) in Unix seconds, or a message naming the field. */
function seconds(field: string, raw: string): number {
  const ms = Date.parse(`${raw}Z`);
  if (Number.isNaN(ms)) throw new Error(`${field}: must be a date and time`);
  return Math.floor(ms / 1000);
}

/**
 * Folded stacks of cpu_profile joined with stacks (docs/schema.md, "Hottest
 * stacks"), weighted to fleet totals, within the filters. The filters are
 * checked or quoted here; the API checks the statement again.
 */
export function profileSql(f: Filters): string {
  const where = ["stack_id != ''"];
  const from = seconds('from', f.from);
  const to = seconds('to', f.to);
  if (to <= from) throw new Error('to: must be after from');
  where.push(`time >= toDateTime(${from}, 'UTC')`, `time < toDateTime(${to}, 'UTC')`);
  if (f.uid.trim()) {
    if (!/^\d{1,10}$/.test(f.uid.trim())) throw new Error('uid: must be a number');
    where.push(`uid = ${f.uid.trim()}`);
  }
  if (f.comm.trim()) where.push(`comm = ${literal(f.comm.trim())}`);
  if (f.host.trim()) where.push(`host = ${literal(f.host.trim())}`);
  return `SELECT arrayStringConcat(arrayReverse(arrayConcat(s.kernel_frames, s.user_frames)), ';') AS folded,
       p.cpu_s
FROM
(
    SELECT stack_id, sum(cpu_ns * weight) / 1e9 AS cpu_s
    FROM fleettrace.cpu_profile FINAL
    WHERE ${where.join('\n      AND ')}
    GROUP BY stack_id
) AS p
LEFT JOIN
(
    SELECT stack_id, any(kernel_frames) AS kernel_frames, any(user_frames) AS user_frames
    FROM fleettrace.stacks
    GROUP BY stack_id
) AS s ON s.stack_id = p.stack_id
ORDER BY p.cpu_s DESC
LIMIT ${MAX_STACKS}`;
}

/** datetime-local text of a time, in UTC. */
const localInput = (ms: number) => new Date(ms).toISOString().slice(0, 16);

const seconds3 = (v: number) => (v >= 100 ? `${v.toFixed(0)} s` : `${v.toPrecision(3)} s`);

/** CPU profiles of the fleet as a flame graph, by user, command, host and time range. */
export function ProfilesPage() {
  const now = Date.now();
  const [filters, setFilters] = useState<Filters>({
    uid: '',
    comm: '',
    host: '',
    from: localInput(now - 3_600_000),
    to: localInput(now + 60_000),
  });
  const [tree, setTree] = useState<{ root: FlameNode; stacks: number; at: number } | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const load = async (e?: Event) => {
    e?.preventDefault();
    setBusy(true);
    setError('');
    try {
      const answer = await query(profileSql(filters));
      const stacks = answer.rows.map(([folded, value]) => ({
        folded: String(folded) || '[stack not stored]',
        value: Number(value),
      }));
      setTree({ root: buildFlameTree(stacks), stacks: stacks.length, at: Date.now() });
    } catch (err) {
      setError(err instanceof ApiError || err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  const field = (name: keyof Filters, label: string, time = false) => {
    const common = {
      name,
      value: filters[name],
      onInput: (e: { currentTarget: HTMLInputElement }) =>
        setFilters({ ...filters, [name]: e.currentTarget.value }),
    };
    return (
      <label>
        {label}
        {time ? (
          <input type="datetime-local" {...common} />
        ) : (
          <input type="text" placeholder="any" {...common} />
        )}
      </label>
    );
  };
  return (
    <section>
      <h2>Profiles</h2>
      <form class="row filters" onSubmit={load}>
        {field('uid', 'uid')}
        {field('comm', 'comm')}
        {field('host', 'host')}
        {field('from', 'from (UTC)', true)}
        {field('to', 'to (UTC)', true)}
        <button type="submit" disabled={busy}>
          {busy ? 'Loading…' : 'Show'}
        </button>
      </form>
      <ProfileDownloads filters={filters} />
      {error && <p class="error">{error}</p>}
      {tree && tree.stacks === 0 && <p class="muted">No CPU samples match these filters.</p>}
      {tree && tree.stacks > 0 && (
        <>
          <p class="muted small">
            {tree.stacks} stacks, {seconds3(tree.root.value)} of CPU (weighted to fleet totals)
            {tree.stacks >= MAX_STACKS && ` — the ${MAX_STACKS.toLocaleString('en')} heaviest only`}
          </p>
          <FlameGraph key={tree.at} root={tree.root} format={seconds3} />
        </>
      )}
    </section>
  );
}

/**
 * PROFILES EXPORT: the place for download links to GET /api/v1/profiles
 * (folded, pprof, speedscope, svg), which another change is adding. To be
 * wired once both have landed: a fetch with the token (a plain link cannot
 * send it) of /api/v1/profiles with these filters and the format, saved
 * through a blob URL. Until then the formats are shown, disabled.
 */
function ProfileDownloads(_props: { filters: Filters }) {
  return (
    <p class="muted small" data-testid="profile-downloads">
      Download:{' '}
      {['folded', 'pprof', 'speedscope', 'svg'].map((format) => (
        <button
          key={format}
          type="button"
          class="link"
          disabled
          title="coming with /api/v1/profiles"
        >
          {format}
        </button>
      ))}
    </p>
  );
}
