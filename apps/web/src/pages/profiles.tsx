// SPDX-License-Identifier: Apache-2.0
import { useState } from 'preact/hooks';
import { ApiError, fetchFile, query } from '../api';
import { FlameGraph } from '../components/flame-graph';
import { buildFlameTree, type FlameNode } from '../components/flame-model';

interface Filters {
  uid: string;
  comm: string;
  host: string;
  job: string;
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
  if (f.job.trim()) where.push(`job_id = ${literal(f.job.trim())}`);
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
    job: '',
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
        {field('job', 'job')}
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

const FORMATS = ['folded', 'pprof', 'speedscope', 'svg'] as const;
type Format = (typeof FORMATS)[number];

/** An RFC 3339 time (seconds, UTC) of a datetime-local value read as UTC, for the API's since/until. */
const rfc3339 = (field: string, raw: string) =>
  new Date(seconds(field, raw) * 1000).toISOString().replace(/\.\d+Z$/, 'Z');

/**
 * GET /api/v1/profiles of the filters (docs/profiles.md): the same selection
 * as the flame graph, valued as it is, CPU samples weighted to fleet totals
 * (`weighted`: thousandths of an estimated sample). The API checks each field.
 */
export function profileUrl(f: Filters, format: Format): string {
  const q = new URLSearchParams({ collector: 'cpu_profile', value: 'weighted', format });
  if (f.uid.trim()) q.set('uid', f.uid.trim());
  if (f.comm.trim()) q.set('comm', f.comm.trim());
  if (f.host.trim()) q.set('hosts', f.host.trim());
  if (f.job.trim()) q.set('job_id', f.job.trim());
  q.set('since', rfc3339('from', f.from));
  q.set('until', rfc3339('to', f.to));
  return `/api/v1/profiles?${q.toString()}`;
}

/** "fleettrace-cpu-uid-1001-2026-12-04T2100" and the API's extension (pb.gz, speedscope.json...). */
function fileName(f: Filters, extension: string): string {
  const parts = ['fleettrace', 'cpu'];
  for (const [key, value] of [
    ['uid', f.uid],
    ['comm', f.comm],
    ['host', f.host],
    ['job', f.job],
  ] as const)
    if (value.trim()) parts.push(key, value.trim());
  parts.push(f.from.replace(':', ''));
  return `${parts.join('-').replace(/[^\w.-]+/g, '_')}.${extension}`;
}

/** Saves a blob under a name, through a link to an object URL (a download, not a navigation). */
function save(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  // The download has taken its copy once the click's task ran.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * The current selection as a file from GET /api/v1/profiles: fetched with the
 * token (a plain link cannot send it) and saved from a blob. The API's
 * message (`uid: must be an integer`) is shown when it refuses.
 */
function ProfileDownloads({ filters }: { filters: Filters }) {
  const [busy, setBusy] = useState<Format | null>(null);
  const [error, setError] = useState('');
  const download = async (format: Format) => {
    setBusy(format);
    setError('');
    try {
      const { blob, filename } = await fetchFile(profileUrl(filters, format));
      const extension = filename?.replace(/^[^.]*\./, '') ?? format;
      save(blob, fileName(filters, extension));
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(null);
    }
  };
  return (
    <p class="muted small" data-testid="profile-downloads">
      Download:{' '}
      {FORMATS.map((format) => (
        <button
          key={format}
          type="button"
          class="link"
          name={`download.${format}`}
          disabled={busy !== null}
          onClick={() => void download(format)}
        >
          {busy === format ? `${format}…` : format}
        </button>
      ))}
      {error && (
        <span class="error" role="alert">
          {' '}
          {error}
        </span>
      )}
    </p>
  );
}
