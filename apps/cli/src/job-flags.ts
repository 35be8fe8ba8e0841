// SPDX-License-Identifier: Apache-2.0
/**
 * Command-line flags to a job spec, shared by `run` and `schedule create`
 * (and the kernel filters, by `trace` too).
 * Only the shape is checked here; the controller validates every field and
 * its message names the field.
 */
import { parseInteger, ValidationError } from '@fleettrace/common';
import type { Filters } from '@fleettrace/collector-spec';
import type { OptionSpecs } from './command';

/** The filters applied in the kernel: a job's (run, schedule create) and `trace`'s. */
export const FILTER_OPTIONS = {
  pid: { type: 'string', placeholder: 'N', help: 'only this process (thread-group id)' },
  uid: { type: 'string', placeholder: 'N', help: 'only this user id' },
  comm: {
    type: 'string',
    placeholder: 'NAME',
    help: 'only processes with this command name (at most 15 bytes)',
  },
  cgroup: {
    type: 'string',
    placeholder: 'PATH',
    help: 'only processes in this cgroup or below it: a path under a cgroup mount, or a hierarchy path such as /site1 (v2 first, then the v1 memory controller)',
  },
} as const satisfies OptionSpecs;

/** FILTER_OPTIONS' values as filters; the collectors check what is beyond the flags' syntax. */
export function filtersFromFlags(v: {
  pid?: string | undefined;
  uid?: string | undefined;
  comm?: string | undefined;
  cgroup?: string | undefined;
}): Filters {
  const filters: Filters = {};
  if (v.pid !== undefined) filters.pid = parseInteger('--pid', v.pid, 1, 4_194_304);
  if (v.uid !== undefined) filters.uid = parseInteger('--uid', v.uid, 0, 4_294_967_294);
  if (v.comm !== undefined) filters.comm = v.comm;
  if (v.cgroup !== undefined) filters.cgroup = v.cgroup;
  return filters;
}

export const JOB_OPTIONS = {
  collect: {
    type: 'string',
    placeholder: 'A,B',
    help: 'collectors to run (see `fleettrace collectors`), required',
  },
  param: {
    type: 'string',
    multiple: true,
    placeholder: 'C.K=V',
    help: 'collector parameter, e.g. cpu_profile.hz=99 (K=V with one collector); repeatable',
  },
  hosts: {
    type: 'string',
    multiple: true,
    placeholder: 'GLOB',
    help: "host names or globs such as 'web-*' (repeatable, or comma-separated)",
  },
  label: {
    type: 'string',
    multiple: true,
    placeholder: 'K=V',
    help: 'hosts carrying this label (repeatable: all must match)',
  },
  ...FILTER_OPTIONS,
  interval: { type: 'string', placeholder: 'D', help: 'how often collectors drain (default 1s)' },
  budget: {
    type: 'string',
    placeholder: 'P',
    help: 'overhead budget, share of host CPU: 0.5% or 0.005 (default 1%)',
  },
  'max-events-per-second': {
    type: 'string',
    placeholder: 'N',
    help: 'at most N events a second on each host',
  },
} as const satisfies OptionSpecs;

export interface JobFlagValues {
  collect?: string;
  param?: string[];
  hosts?: string[];
  label?: string[];
  pid?: string;
  uid?: string;
  comm?: string;
  cgroup?: string;
  interval?: string;
  budget?: string;
  'max-events-per-second'?: string;
}

/** "10%" -> 0.1, "0.1" -> 0.1. */
export function parseFraction(field: string, raw: string): number {
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(raw.trim());
  if (!m)
    throw new ValidationError(
      field,
      `must be a percentage such as 10% or a fraction such as 0.1, got ${JSON.stringify(raw)}`,
    );
  return m[2] ? Number(m[1]) / 100 : Number(m[1]);
}

export function parseLabels(field: string, list: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of list ?? []) {
    const eq = l.indexOf('=');
    if (eq <= 0) throw new ValidationError(field, `must be KEY=VALUE, got ${JSON.stringify(l)}`);
    out[l.slice(0, eq)] = l.slice(eq + 1);
  }
  return out;
}

/** The spec's targets, collectors, filters and limits from flags (duration and sample are the caller's). */
export function jobSpecFromFlags(v: JobFlagValues): Record<string, unknown> {
  if (!v.collect)
    throw new ValidationError('--collect', 'is required, e.g. --collect cpu_profile,syscalls');
  const names = v.collect
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const collectors = names.map((name) => ({ name, params: {} as Record<string, string> }));
  for (const p of v.param ?? []) {
    const m = /^(?:([a-z0-9_]+)\.)?([A-Za-z0-9_]+)=(.*)$/.exec(p);
    if (!m)
      throw new ValidationError('--param', `must be COLLECTOR.KEY=VALUE, got ${JSON.stringify(p)}`);
    const target = m[1] ?? (names.length === 1 ? names[0] : undefined);
    if (!target)
      throw new ValidationError(
        '--param',
        `name the collector (COLLECTOR.KEY=VALUE) when several run: ${p}`,
      );
    const c = collectors.find((x) => x.name === target);
    if (!c) throw new ValidationError('--param', `${target} is not in --collect`);
    c.params[m[2] as string] = m[3] as string;
  }
  const targets: Record<string, unknown> = {};
  const hosts = (v.hosts ?? [])
    .flatMap((h) => h.split(','))
    .map((h) => h.trim())
    .filter(Boolean);
  if (hosts.length) targets.hosts = hosts;
  const labels = parseLabels('--label', v.label);
  if (Object.keys(labels).length) targets.labels = labels;
  if (!hosts.length && !Object.keys(labels).length)
    throw new ValidationError('--hosts', "or --label is required (--hosts '*' targets every host)");
  const filters = filtersFromFlags(v);
  const limits: Record<string, unknown> = {};
  if (v.budget !== undefined) limits.overhead_budget = parseFraction('--budget', v.budget);
  if (v['max-events-per-second'] !== undefined)
    limits.max_events_per_second = parseInteger(
      '--max-events-per-second',
      v['max-events-per-second'],
      0,
      100_000_000,
    );
  return {
    targets,
    collectors: collectors.map((c) => (Object.keys(c.params).length ? c : { name: c.name })),
    ...(Object.keys(filters).length ? { filters } : {}),
    ...(v.interval !== undefined ? { interval: v.interval } : {}),
    ...(Object.keys(limits).length ? { limits } : {}),
  };
}
