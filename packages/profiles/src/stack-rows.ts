// SPDX-License-Identifier: Apache-2.0
/**
 * From the rows of selectionSql (selection.ts) to a profile, and the one
 * call a CLI or the controller makes: selection + store + format -> bytes.
 */
import { ValidationError } from '@fleettrace/common';
import { diffProfiles, toDiffFolded, type DiffOptions, type DiffProfile } from './diff';
import { toDiffSvg, toSvg } from './flamegraph-svg';
import { toFolded } from './folded';
import { canonicalProfile, type StackProfile } from './profile';
import { toPprof } from './pprof';
import {
  parseSelection,
  sampleTypeOf,
  selectionSql,
  valueOf,
  type Selection,
  type SelectionInput,
} from './selection';
import { toSpeedscope } from './speedscope';

/**
 * Where rows come from: `select` runs one SELECT and resolves to its rows as
 * objects (64-bit integers may come as decimal strings). A
 * `@fleettrace/store` Store is one (as the store's owner); a query API with
 * roles and limits is one through `rowSourceOf`.
 */
export interface RowSource {
  select<T = Record<string, unknown>>(sql: string): Promise<T[]>;
}

/** A RowSource over an answer in columns and rows (the REST query API's, QueryService's). */
export function rowSourceOf(
  query: (sql: string) => Promise<{ columns: Array<{ name: string }>; rows: unknown[][] }>,
): RowSource {
  return {
    async select<T>(sql: string): Promise<T[]> {
      const answer = await query(sql);
      const names = answer.columns.map((c) => c.name);
      return answer.rows.map((row) => Object.fromEntries(names.map((n, i) => [n, row[i]])) as T);
    },
  };
}

export interface StackRow {
  stack_id: string;
  lost_reason?: string;
  frames: string[];
  value: string | number;
}

/** Lost and unknown stacks keep their value under a marker frame, so totals stay the table's. */
function framesOf(row: StackRow): string[] {
  if (row.frames.length) return row.frames;
  if (row.stack_id === '') return [`[lost stack${row.lost_reason ? `: ${row.lost_reason}` : ''}]`];
  return [`[unknown stack ${row.stack_id}]`];
}

export function profileFromRows(
  rows: StackRow[],
  selection: Selection,
  name?: string,
): StackProfile {
  return canonicalProfile({
    sampleType: sampleTypeOf(selection),
    name,
    stacks: rows.map((row) => {
      const value = Number(row.value);
      // Every format holds values as integers of a JavaScript number: 2^53 ns is 104 days of CPU.
      if (!Number.isSafeInteger(value) || value < 0)
        throw new ValidationError(
          'value',
          `a stack's ${valueOf(selection)} (${String(row.value)}) is beyond 2^53: select a shorter time, fewer hosts, or samples`,
        );
      return { frames: framesOf(row), value };
    }),
  });
}

/** The profile of a selection (checked first: a ValidationError names the bad field). */
export async function loadProfile(
  selection: Selection | SelectionInput,
  source: RowSource,
): Promise<StackProfile> {
  const s = parseSelection(selection);
  const rows = await source.select<StackRow>(selectionSql(s));
  return profileFromRows(rows, s, nameOf(s));
}

function nameOf(s: Selection): string {
  const parts = [
    s.collector,
    s.value,
    s.state,
    s.job_id && `job ${s.job_id}`,
    s.hosts?.length ? `hosts ${s.hosts.join(',')}` : undefined,
    s.uid !== undefined ? `uid ${s.uid}` : undefined,
    s.pid !== undefined ? `pid ${s.pid}` : undefined,
    s.comm && `comm ${s.comm}`,
    `since ${s.since ?? '1h'}`,
    s.until && `until ${s.until}`,
  ];
  return parts.filter(Boolean).join(', ');
}

export const PROFILE_FORMATS = ['folded', 'pprof', 'speedscope', 'svg'] as const;
export type ProfileFormat = (typeof PROFILE_FORMATS)[number];
/** A differential profile is folded with two columns, or an SVG. */
export const DIFF_FORMATS = ['folded', 'svg'] as const;
export type DiffFormat = (typeof DIFF_FORMATS)[number];

export interface Rendered {
  bytes: Buffer;
  /** the HTTP Content-Type */
  contentType: string;
  /** a file name extension, for a CLI's default output file */
  extension: string;
}

export const CONTENT_TYPES: Record<ProfileFormat, { contentType: string; extension: string }> = {
  folded: { contentType: 'text/plain; charset=utf-8', extension: 'folded' },
  pprof: { contentType: 'application/octet-stream', extension: 'pb.gz' },
  speedscope: { contentType: 'application/json', extension: 'speedscope.json' },
  svg: { contentType: 'image/svg+xml', extension: 'svg' },
};

export function renderProfile(profile: StackProfile, format: ProfileFormat): Rendered {
  const bytes =
    format === 'folded'
      ? Buffer.from(toFolded(profile))
      : format === 'pprof'
        ? toPprof(profile, { comments: unitComments(profile) })
        : format === 'speedscope'
          ? Buffer.from(toSpeedscope(profile))
          : Buffer.from(toSvg(profile));
  return { bytes, ...CONTENT_TYPES[format] };
}

export function renderDiff(diff: DiffProfile, format: DiffFormat): Rendered {
  const bytes =
    format === 'folded' ? Buffer.from(toDiffFolded(diff)) : Buffer.from(toDiffSvg(diff));
  return { bytes, ...CONTENT_TYPES[format] };
}

function unitComments(profile: StackProfile): string[] {
  return profile.sampleType.unit === 'millisamples'
    ? [
        'weighted_samples: sampled counts times the fleet weight, in thousandths of a sample (1000 millisamples = one estimated sample)',
      ]
    : [];
}

/** selection + store + format -> the file: what `fleettrace flamegraph` needs. */
export async function exportProfile(
  selection: Selection | SelectionInput,
  source: RowSource,
  format: ProfileFormat,
): Promise<Rendered> {
  return renderProfile(await loadProfile(selection, source), format);
}

/** Two selections compared (diff.ts): the baseline's and the target's stacks, side by side. */
export async function exportDiff(
  base: Selection | SelectionInput,
  target: Selection | SelectionInput,
  source: RowSource,
  format: DiffFormat,
  options: DiffOptions = {},
): Promise<Rendered> {
  const [b, t] = [await loadProfile(base, source), await loadProfile(target, source)];
  return renderDiff(diffProfiles(b, t, options), format);
}
