// SPDX-License-Identifier: Apache-2.0
import { useState } from 'preact/hooks';
import {
  ApiError,
  request,
  roleAtLeast,
  type JobListResponse,
  type JobResponse,
  type WhoamiResponse,
} from '../api';
import { usePoll } from '../components/use-poll';
import { ago, formatTime, percent } from '../format';

/** Jobs: the list, one job's per-host runs (polled while it runs), cancel, and a form for a new one. */
export function JobsPage({ me }: { me: WhoamiResponse }) {
  const [selected, setSelected] = useState<string | null>(null);
  const jobs = usePoll(
    () => request<JobListResponse>('GET', '/api/v1/jobs?limit=50').then((r) => r.jobs),
    5_000,
  );
  const mayRun = roleAtLeast(me.role, 'operator');
  return (
    <section>
      <h2>Jobs</h2>
      {mayRun ? (
        <JobForm
          collectors={me.collectors}
          onCreated={(job) => {
            setSelected(job.id);
            jobs.reload();
          }}
        />
      ) : (
        <p class="muted">Your token's role ({me.role}) reads jobs; running them needs operator.</p>
      )}
      {selected && (
        <JobDetail
          id={selected}
          mayCancel={mayRun}
          onClose={() => setSelected(null)}
          onChanged={jobs.reload}
        />
      )}
      {jobs.error && <p class="error">{jobs.error}</p>}
      <table class="grid" data-testid="jobs">
        <thead>
          <tr>
            <th>job</th>
            <th>state</th>
            <th>collectors</th>
            <th>targets</th>
            <th>runs</th>
            <th class="num">events sent / lost</th>
            <th>created</th>
          </tr>
        </thead>
        <tbody>
          {(jobs.data ?? []).map((j) => (
            <tr
              key={j.id}
              class={`clickable ${j.id === selected ? 'selected' : ''}`}
              onClick={() => setSelected(j.id)}
            >
              <td>{j.id}</td>
              <td>
                <span class={`state state-${j.state}`}>{j.state}</span>
              </td>
              <td>{j.spec.collectors.map((c) => c.name).join(', ')}</td>
              <td class="small">{describeTargets(j)}</td>
              <td class="small">
                {Object.entries(j.runs_by_state)
                  .map(([s, n]) => `${n} ${s}`)
                  .join(', ')}
              </td>
              <td class="num">
                {j.events_sent.toLocaleString('en')} / {j.events_lost.toLocaleString('en')}
              </td>
              <td title={j.created}>
                {ago(j.created)} by {j.created_by}
              </td>
            </tr>
          ))}
          {jobs.data?.length === 0 && (
            <tr>
              <td colSpan={7} class="muted">
                No job yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}

function describeTargets(j: JobResponse): string {
  const t = j.spec.targets;
  return [
    t.hosts?.length ? `hosts ${t.hosts.join(', ')}` : '',
    t.labels
      ? Object.entries(t.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ')
      : '',
    t.sample !== undefined ? `sample ${t.sample}` : '',
  ]
    .filter(Boolean)
    .join('; ');
}

function JobDetail(props: {
  id: string;
  mayCancel: boolean;
  onClose: () => void;
  onChanged: () => void;
}) {
  const [cancelError, setCancelError] = useState('');
  // Polled while the job runs: each host's progress.
  const job = usePoll(
    () => request<JobResponse>('GET', `/api/v1/jobs/${encodeURIComponent(props.id)}`),
    2_000,
    [props.id],
  );
  const j = job.data;
  const cancel = async () => {
    setCancelError('');
    try {
      await request('POST', `/api/v1/jobs/${encodeURIComponent(props.id)}/cancel`, {
        reason: 'cancelled in the web UI',
      });
      job.reload();
      props.onChanged();
    } catch (err) {
      setCancelError(err instanceof ApiError ? err.message : String(err));
    }
  };
  return (
    <div class="panel" data-testid="job-detail">
      <div class="row">
        <h3>
          Job {props.id} {j && <span class={`state state-${j.state}`}>{j.state}</span>}
        </h3>
        <span class="spacer" />
        {props.mayCancel && j?.state === 'running' && (
          <button type="button" class="danger" onClick={cancel}>
            Cancel job
          </button>
        )}
        <button type="button" class="link" onClick={props.onClose}>
          Close
        </button>
      </div>
      {job.error && <p class="error">{job.error}</p>}
      {cancelError && <p class="error">{cancelError}</p>}
      {j && (
        <>
          <p class="muted small">
            {formatTime(Date.parse(j.start))} → {formatTime(Date.parse(j.end))} UTC · budget{' '}
            {percent(j.spec.limits.overhead_budget)} · interval {j.spec.interval_ms} ms
            {j.cancel_reason ? ` · cancelled: ${j.cancel_reason}` : ''}
          </p>
          <table class="grid">
            <thead>
              <tr>
                <th>host</th>
                <th>state</th>
                <th>reason</th>
                <th class="num">sent</th>
                <th class="num">acked</th>
                <th class="num">lost</th>
                <th class="num">overhead</th>
                <th>progress</th>
              </tr>
            </thead>
            <tbody>
              {(j.runs ?? []).map((r) => (
                <tr key={r.id}>
                  <td>{r.host}</td>
                  <td>
                    <span class={`state state-${r.state}`}>{r.state}</span>
                  </td>
                  <td class="small">{r.reason}</td>
                  <td class="num">{r.events_sent.toLocaleString('en')}</td>
                  <td class="num">{r.events_acked.toLocaleString('en')}</td>
                  <td class="num">{r.events_lost.toLocaleString('en')}</td>
                  <td class="num">{percent(r.overhead_share, 3)}</td>
                  <td>
                    <Progress start={j.start} end={j.end} ended={r.ended} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </div>
  );
}

/** How much of the job's window a run covered: up to now while it runs, up to its end after. */
function Progress({ start, end, ended }: { start: string; end: string; ended: string | null }) {
  const s = Date.parse(start);
  const e = Date.parse(end);
  const at = ended ? Date.parse(ended) : Date.now();
  const share = Math.max(0, Math.min(1, (at - s) / Math.max(1, e - s)));
  return (
    <svg class="progress" viewBox="0 0 100 8" preserveAspectRatio="none" width="100" height="8">
      <rect x="0" y="0" width="100" height="8" class="track" />
      <rect x="0" y="0" width={share * 100} height="8" class="fill" />
    </svg>
  );
}

/** Numbers where the text is one; otherwise the text, for the API to name what is wrong. */
function numberOr(raw: string): number | string {
  const t = raw.trim();
  return t !== '' && Number.isFinite(Number(t)) ? Number(t) : t;
}

function listOf(raw: string): string[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** "a=1, b=x" as an object; a pair without "=" keeps its text as the key for the API to refuse. */
function pairs(raw: string, sep: RegExp): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const part of raw
    .split(sep)
    .map((s) => s.trim())
    .filter(Boolean)) {
    const at = part.indexOf('=');
    const key = at < 0 ? part : part.slice(0, at).trim();
    const value = at < 0 ? '' : part.slice(at + 1).trim();
    out[key] = value === 'true' ? true : value === 'false' ? false : numberOr(value);
  }
  return out;
}

type FormState = Record<string, string>;
const EMPTY: FormState = {
  'targets.hosts': '',
  'targets.labels': '',
  'targets.sample': '',
  'filters.pid': '',
  'filters.uid': '',
  'filters.comm': '',
  'filters.cgroup': '',
  duration: '30s',
  interval: '',
  'limits.overhead_budget': '0.01',
  'limits.max_events_per_second': '',
};

/** The job spec of POST /api/v1/jobs from the form; the API checks it and says which field is wrong. */
function jobSpec(f: FormState, chosen: string[], params: Record<string, string>): unknown {
  const v = (k: string) => (f[k] ?? '').trim();
  const targets: Record<string, unknown> = {};
  if (v('targets.hosts')) targets.hosts = listOf(v('targets.hosts'));
  if (v('targets.labels')) targets.labels = pairs(v('targets.labels'), /,/);
  if (v('targets.sample')) targets.sample = numberOr(v('targets.sample'));
  const filters: Record<string, unknown> = {};
  if (v('filters.pid')) filters.pid = numberOr(v('filters.pid'));
  if (v('filters.uid')) filters.uid = numberOr(v('filters.uid'));
  if (v('filters.comm')) filters.comm = v('filters.comm');
  if (v('filters.cgroup')) filters.cgroup = v('filters.cgroup');
  const limits: Record<string, unknown> = {};
  if (v('limits.overhead_budget')) limits.overhead_budget = numberOr(v('limits.overhead_budget'));
  if (v('limits.max_events_per_second'))
    limits.max_events_per_second = numberOr(v('limits.max_events_per_second'));
  return {
    targets,
    collectors: chosen.map((name) => {
      const p = (params[name] ?? '').trim();
      return p ? { name, params: pairs(p, /[\s,]+/) } : { name };
    }),
    ...(Object.keys(filters).length ? { filters } : {}),
    ...(v('duration') ? { duration: v('duration') } : {}),
    ...(v('interval') ? { interval: v('interval') } : {}),
    ...(Object.keys(limits).length ? { limits } : {}),
  };
}

function JobForm(props: { collectors: string[]; onCreated: (job: JobResponse) => void }) {
  const [form, setForm] = useState<FormState>(EMPTY);
  const [chosen, setChosen] = useState<string[]>([]);
  const [params, setParams] = useState<Record<string, string>>({});
  const [error, setError] = useState<{ message: string; field?: string } | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const job = await request<JobResponse>('POST', '/api/v1/jobs', jobSpec(form, chosen, params));
      props.onCreated(job);
    } catch (err) {
      setError(
        err instanceof ApiError
          ? { message: err.message, ...(err.field ? { field: err.field } : {}) }
          : { message: String(err) },
      );
    } finally {
      setBusy(false);
    }
  };
  /** The input the API's error names (its field, or the nearest enclosing one). */
  const invalid = (name: string) =>
    error?.field !== undefined &&
    (error.field === name ||
      error.field.startsWith(`${name}.`) ||
      error.field.startsWith(`${name}[`));
  /** The collector whose parameters the API's error names (`collectors[1].params.hz`), if any. */
  const paramsAt = /^collectors\[(\d+)\]\.params\b/.exec(error?.field ?? '');
  const invalidParams = paramsAt ? chosen[Number(paramsAt[1])] : undefined;
  const input = (name: string, label: string, placeholder = '') => (
    <label class={invalid(name) ? 'invalid' : ''}>
      {label}
      <input
        name={name}
        value={form[name]}
        placeholder={placeholder}
        onInput={(e) => setForm({ ...form, [name]: e.currentTarget.value })}
      />
    </label>
  );
  return (
    <form class="panel job-form" onSubmit={submit} data-testid="job-form">
      <h3>New job</h3>
      <fieldset>
        <legend>targets</legend>
        {input('targets.hosts', 'hosts', 'web-*, db-1')}
        {input('targets.labels', 'labels', 'role=web, dc=ams')}
        {input('targets.sample', 'sample', '0.1 (fraction of hosts)')}
      </fieldset>
      <fieldset class={invalid('collectors') && !invalidParams ? 'invalid' : ''}>
        <legend>collectors</legend>
        {props.collectors.map((name) => (
          <div key={name} class={name === invalidParams ? 'collector invalid' : 'collector'}>
            <label class="check">
              <input
                type="checkbox"
                name={`collector.${name}`}
                checked={chosen.includes(name)}
                onChange={(e) =>
                  setChosen(
                    e.currentTarget.checked ? [...chosen, name] : chosen.filter((c) => c !== name),
                  )
                }
              />
              {name}
            </label>
            {chosen.includes(name) && (
              <input
                class="params"
                name={`params.${name}`}
                placeholder="parameters, e.g. hz=19"
                value={params[name] ?? ''}
                onInput={(e) => setParams({ ...params, [name]: e.currentTarget.value })}
              />
            )}
          </div>
        ))}
      </fieldset>
      <fieldset>
        <legend>filters</legend>
        {input('filters.pid', 'pid')}
        {input('filters.uid', 'uid')}
        {input('filters.comm', 'comm', 'php-fpm')}
        {input('filters.cgroup', 'cgroup', '/site1')}
      </fieldset>
      <fieldset>
        <legend>time and budget</legend>
        {input('duration', 'duration', '30s')}
        {input('interval', 'interval', '1s')}
        {input('limits.overhead_budget', 'budget (share of CPU)', '0.01')}
        {input('limits.max_events_per_second', 'max events/s', '0 = no limit')}
      </fieldset>
      <div class="row">
        <button type="submit" disabled={busy}>
          Start job
        </button>
        {error && (
          <p class="error" role="alert" data-testid="job-error">
            {error.message}
          </p>
        )}
      </div>
    </form>
  );
}
