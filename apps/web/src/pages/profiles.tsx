// SPDX-License-Identifier: Apache-2.0
import { useState } from 'preact/hooks';
import { ApiError, fetchFile, query } from '../api';
import { FlameGraph } from '../components/flame-graph';
import { buildFlameTree, type FlameNode } from '../components/flame-model';
import { num } from '../format';

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
  const [baseline, setBaseline] = useState<Filters>({
    uid: '',
    comm: '',
    host: '',
    job: '',
    from: '',
    to: '',
  });
  const [normalize, setNormalize] = useState(false);
  const [tree, setTree] = useState<{ root: FlameNode; stacks: number; at: number } | null>(null);
  const [diff, setDiff] = useState<{ root: FlameNode; stacks: number; at: number } | null>(null);
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
      setDiff(null);
      setTree({ root: buildFlameTree(stacks), stacks: stacks.length, at: Date.now() });
    } catch (err) {
      setError(err instanceof ApiError || err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  const compare = async (e?: Event) => {
    e?.preventDefault();
    setBusy(true);
    setError('');
    try {
      const { blob } = await fetchFile(diffUrl(filters, baseline, normalize, 'folded'));
      const stacks = parseDiffFolded(await blob.text());
      setTree(null);
      setDiff({ root: buildFlameTree(stacks), stacks: stacks.length, at: Date.now() });
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  const field = (name: keyof Filters, label: string, time = false, base = false) => {
    const [values, set] = base ? [baseline, setBaseline] : [filters, setFilters];
    const common = {
      name: base ? `base.${name}` : name,
      value: values[name],
      onInput: (e: { currentTarget: HTMLInputElement }) =>
        set({ ...values, [name]: e.currentTarget.value }),
    };
    return (
      <label>
        {label}
        {time ? (
          <input type="datetime-local" {...common} />
        ) : (
          <input type="text" placeholder={base ? 'as target' : 'any'} {...common} />
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
      <ProfileDownloads
        formats={FORMATS}
        url={(format) => profileUrl(filters, format)}
        name={(extension) => fileName(filters, extension)}
        testId="profile-downloads"
      />
      <form class="filters baseline" data-testid="diff-form" onSubmit={compare}>
        <fieldset>
          <legend>compare with a baseline (empty fields: as the target)</legend>
          <div class="row">
            {field('uid', 'uid', false, true)}
            {field('comm', 'comm', false, true)}
            {field('host', 'host', false, true)}
            {field('job', 'job', false, true)}
            {field('from', 'from (UTC)', true, true)}
            {field('to', 'to (UTC)', true, true)}
            <label class="check">
              <input
                type="checkbox"
                name="normalize"
                checked={normalize}
                onChange={(e) => setNormalize(e.currentTarget.checked)}
              />
              normalize
            </label>
            <button type="submit" disabled={busy}>
              {busy ? 'Loading…' : 'Compare'}
            </button>
          </div>
        </fieldset>
      </form>
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
      {diff && (
        <DiffView
          diff={diff}
          download={(format) => diffUrl(filters, baseline, normalize, format)}
          name={(extension) => fileName(filters, extension, 'diff')}
        />
      )}
    </section>
  );
}

const FORMATS = ['folded', 'pprof', 'speedscope', 'svg'] as const;
type Format = (typeof FORMATS)[number];
/** pprof and speedscope have no differential form (docs/profiles.md). */
const DIFF_FORMATS = ['folded', 'svg'] as const;

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
function fileName(f: Filters, extension: string, kind = 'cpu'): string {
  const parts = ['fleettrace', kind === 'cpu' ? 'cpu' : `cpu-${kind}`];
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
function ProfileDownloads(props: {
  formats: readonly Format[];
  url: (format: Format) => string;
  name: (extension: string) => string;
  testId: string;
}) {
  const { formats, url, name, testId } = props;
  const [busy, setBusy] = useState<Format | null>(null);
  const [error, setError] = useState('');
  const download = async (format: Format) => {
    setBusy(format);
    setError('');
    try {
      const { blob, filename } = await fetchFile(url(format));
      const extension = filename?.replace(/^[^.]*\./, '') ?? format;
      save(blob, name(extension));
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(null);
    }
  };
  return (
    <p class="muted small" data-testid={testId}>
      Download:{' '}
      {formats.map((format) => (
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

type Baseline = Filters;

/**
 * GET /api/v1/profiles of a differential (docs/profiles.md): the target is the
 * filters, the baseline the same selection with each baseline field that is
 * set put in as its `base.*` field; at least one must be. `normalize=true`
 * scales the baseline to the target's total.
 */
export function diffUrl(f: Filters, b: Baseline, normalize: boolean, format: Format): string {
  const q = new URLSearchParams(profileUrl(f, format).split('?')[1]);
  if (b.uid.trim()) q.set('base.uid', b.uid.trim());
  if (b.comm.trim()) q.set('base.comm', b.comm.trim());
  if (b.host.trim()) q.set('base.hosts', b.host.trim());
  if (b.job.trim()) q.set('base.job_id', b.job.trim());
  if (b.from) q.set('base.since', rfc3339('base.from', b.from));
  if (b.to) q.set('base.until', rfc3339('base.to', b.to));
  if (![...q.keys()].some((k) => k.startsWith('base.')))
    throw new Error('baseline: set at least one field (a time range, uid, comm, host or job)');
  if (normalize) q.set('normalize', 'true');
  return `/api/v1/profiles?${q.toString()}`;
}

/** The two-column folded form, `root;caller;leaf base target` a line (a name may hold spaces). */
export function parseDiffFolded(
  text: string,
): Array<{ folded: string; base: number; value: number }> {
  const out: Array<{ folded: string; base: number; value: number }> = [];
  for (const line of text.split('\n')) {
    const m = /^(.*) (\d+) (\d+)$/.exec(line);
    if (m) out.push({ folded: m[1] as string, base: Number(m[2]), value: Number(m[3]) });
  }
  return out;
}

/** Thousandths of an estimated sample (value=weighted) as samples. */
const samples = (v: number) => `${num(v / 1000)} samples`;

/** The largest change of a frame's total in the tree, for the color scale. */
function maxChange(node: FlameNode): number {
  return node.children.reduce(
    (m, c) => Math.max(m, maxChange(c)),
    Math.abs(node.value - node.base),
  );
}

/**
 * A frame's color by the change of its total, target − base: red where it
 * grew, blue where it shrank, deeper the larger (against the largest change
 * in the graph), white where nothing changed — as the API's differential svg.
 */
export function changeColor(scale: number): (node: FlameNode) => string {
  return (node) => {
    const delta = node.value - node.base;
    if (delta === 0 || scale === 0) return 'rgb(255,255,255)';
    const c = Math.round(255 * (1 - 0.85 * Math.min(1, Math.abs(delta) / scale)));
    return delta > 0 ? `rgb(255,${c},${c})` : `rgb(${c},${c},255)`;
  };
}

function DiffView(props: {
  diff: { root: FlameNode; stacks: number; at: number };
  download: (format: Format) => string;
  name: (extension: string) => string;
}) {
  const { diff, download, name } = props;
  const { root } = diff;
  const color = changeColor(maxChange(root));
  const signed = (v: number) => `${v > 0 ? '+' : v < 0 ? '−' : '±'}${samples(Math.abs(v))}`;
  return (
    <div data-testid="diff-view">
      <h3>Differential</h3>
      <ProfileDownloads formats={DIFF_FORMATS} url={download} name={name} testId="diff-downloads" />
      {diff.stacks === 0 ? (
        <p class="muted">No CPU samples in the target or the baseline.</p>
      ) : (
        <>
          <p class="muted small">
            {diff.stacks} stacks; target {samples(root.value)}, baseline {samples(root.base)}{' '}
            (weighted to fleet totals). Widths are the target's; red grew, blue shrank, white is
            unchanged. Stacks only in the baseline are in the folded download.
          </p>
          <FlameGraph
            key={diff.at}
            root={root}
            format={samples}
            color={color}
            detail={(node) => (
              <div>
                base {samples(node.base)} · target {samples(node.value)} ·{' '}
                {signed(node.value - node.base)}
                {node.base > 0 &&
                  ` (${(((node.value - node.base) / node.base) * 100).toFixed(1)}%)`}
              </div>
            )}
          />
        </>
      )}
    </div>
  );
}
