// SPDX-License-Identifier: Apache-2.0
/**
 * A collector's manifest: everything about it that is not kernel code, in
 * one place beside its definition (packages/collectors/src/<name>/manifest.ts).
 * Ingest's tables and migrations, its row routing, the controller's role
 * check and the tables of docs/schema.md and docs/kernels.md are generated
 * from the manifests (scripts/gen-schema.mjs); nothing else lists collectors.
 *
 * Kernel-free on purpose: the controller and ingest load manifests without
 * the native addon.
 */
import type { z } from 'zod';
import type { NeededFilter } from './filters';
import { KERNEL_FEATURES, type KernelFeature } from './kernel-features';

/** One column: its ClickHouse type as on a current server, and what it means. */
export interface Column {
  name: string;
  /**
   * ClickHouse type. `LowCardinality(String)` becomes `String` and codecs are
   * dropped on servers without them (render.ts).
   */
  type: string;
  /** one line for docs/schema.md */
  doc: string;
  /** which rows fill it, when not all (docs/schema.md's "for" column) */
  for?: string;
}

/** A table of the collector: the main one, or its sensitive one. */
export interface TableSpec {
  /** columns after the common head (ts_ns, time, host, job_id, run_id[, identity]) */
  columns: Column[];
  /** leading sort-key columns; `batch_id, row_idx` always follow (exactly once) */
  sortKey: string[];
  /**
   * pid, uid, user, cgroup, comm after the common head (default true); false
   * for collectors that aggregate per user and declare what they keep
   */
  identity?: boolean;
}

export type ManifestRole = 'operator' | 'admin';

/** A row as the agent sends it (JSON object, 64-bit integers as decimal strings). */
export type Row = Record<string, unknown>;

export interface CollectorManifest<Params = unknown> {
  name: string;
  /** one line: what it measures */
  description: string;
  /** least role that may run it; admin for collectors that see sensitive data */
  role: ManifestRole;
  /** for role admin: what it sees that others must not (shown in the refusal) */
  sensitiveBecause?: string;
  /**
   * Its parameters: a strict zod object of `p.*` builders (params.ts), with a
   * transform into the shape the collector's start() takes.
   */
  params: z.ZodType<Params>;
  /**
   * Filters of which at least one must be set, and why. Checked where a job
   * is accepted (the controller's API, the local `trace` command) so that a
   * job that would fail on every host is refused up front.
   */
  needsFilter?: NeededFilter;
  /** kernel features without which it cannot run */
  requires: KernelFeature[];
  /** first mainline kernel with everything it needs, and why that one */
  minKernel: { version: string; why: string };
  /** fleettrace.<name> */
  table: TableSpec;
  /**
   * Values only the admin role may read, in fleettrace_sensitive.<table>:
   * rows with `when` (every row by default) go there as well, before `derive`
   * runs, with these columns.
   */
  sensitive?: TableSpec & { table: string; when?: { field: string; equals: string } };
  /** rows carry a resolved stack: its frames go to fleettrace.stacks, its id stays */
  stacks?: boolean;
  /**
   * Fields of the agent's row that are not columns of the main table but
   * feed one (derive) or the sensitive table. They are accepted and not
   * stored in the main table; any other field without a column is counted
   * as lost by ingest.
   */
  consumes?: string[];
  /** row field -> column, where the row's name differs (applied before derive) */
  renames?: Record<string, string>;
  /**
   * Fills derived columns of the main table from a parsed row (in place).
   * Runs in ingest for every row that has one of `derivedFrom` (every row
   * when that is empty).
   */
  derive?: (row: Row) => void;
  /** the fields whose presence makes a row need `derive`; empty: every row */
  derivedFrom?: string[];
  /**
   * In `fleettrace up`'s always-on job, with these parameters (absent: not
   * in it), and what that costs or saves, in a few words for its banner.
   */
  alwaysOn?: { params: Record<string, string | number | boolean>; summary: string };
}

/** The collectors of the always-on job with their parameters, in name order. */
export function alwaysOnCollectors(
  manifests: Iterable<CollectorManifest>,
): Array<{ name: string; params: Record<string, string | number | boolean>; summary: string }> {
  return [...manifests]
    .filter((m) => m.alwaysOn)
    .map((m) => ({ name: m.name, params: m.alwaysOn!.params, summary: m.alwaysOn!.summary }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

const NAME = /^[a-z][a-z0-9_]*$/;

/** Columns every collector table starts with (docs/schema.md, "Conventions"). */
export const HEAD_COLUMNS: Column[] = [
  { name: 'ts_ns', type: 'UInt64 CODEC(Delta, ZSTD(1))', doc: 'UTC Unix time in ns' },
  { name: 'time', type: "DateTime('UTC')", doc: 'ts_ns in seconds (partition key)' },
  { name: 'host', type: 'LowCardinality(String)', doc: "the agent's host name" },
  { name: 'job_id', type: 'LowCardinality(String)', doc: 'the job' },
  { name: 'run_id', type: 'LowCardinality(String)', doc: 'its run on this host' },
];

export const IDENTITY_COLUMNS: Column[] = [
  { name: 'pid', type: 'UInt32', doc: 'process (thread-group) id' },
  { name: 'uid', type: 'UInt32', doc: 'user id' },
  { name: 'user', type: 'LowCardinality(String)', doc: "the uid's name on the host" },
  { name: 'cgroup', type: 'LowCardinality(String)', doc: 'cgroup path' },
  { name: 'comm', type: 'LowCardinality(String)', doc: 'process name' },
];

export const TAIL_COLUMNS: Column[] = [
  { name: 'weight', type: 'Float64', doc: 'multiply counts by it for fleet totals' },
  { name: 'batch_id', type: 'UInt64', doc: 'the batch the row came in' },
  { name: 'row_idx', type: 'UInt32', doc: 'its place in the batch' },
];

/** Columns ingest fills from the batch, not from the agent's row. */
export const BATCH_COLUMNS = new Set([
  'time',
  'host',
  'job_id',
  'run_id',
  'weight',
  'batch_id',
  'row_idx',
]);

/** Fields of a row with a stack that go to fleettrace.stacks rather than the main table. */
export const STACK_ONLY_FIELDS = ['kernel_frames', 'user_frames'];

/** Every column of a table in order: head, identity, the table's own, tail. */
export function allColumns(t: TableSpec): Column[] {
  return [
    ...HEAD_COLUMNS,
    ...(t.identity === false ? [] : IDENTITY_COLUMNS),
    ...t.columns,
    ...TAIL_COLUMNS,
  ];
}

/**
 * Checks a manifest and returns it: names, duplicate columns, sort keys,
 * kernel features, roles. Errors name the collector and the field.
 */
export function defineCollector<P>(m: CollectorManifest<P>): CollectorManifest<P> {
  const where = `collector ${JSON.stringify(m.name)}`;
  const fail = (field: string, why: string): never => {
    throw new Error(`${where}: ${field}: ${why}`);
  };
  if (!NAME.test(m.name)) fail('name', 'must be lower case letters, digits and _');
  if (!m.description) fail('description', 'is required');
  if (m.role !== 'operator' && m.role !== 'admin') fail('role', 'must be operator or admin');
  if (m.role === 'admin' && !m.sensitiveBecause)
    fail('sensitiveBecause', 'an admin-only collector says what it sees');
  for (const f of m.requires)
    if (!(KERNEL_FEATURES as readonly string[]).includes(f))
      fail('requires', `unknown kernel feature ${JSON.stringify(f)}`);
  if (!/^\d+\.\d+$/.test(m.minKernel.version)) fail('minKernel.version', 'must be like 5.11');
  const checkTable = (t: TableSpec, field: string) => {
    const seen = new Set<string>();
    for (const c of allColumns(t)) {
      if (!NAME.test(c.name)) fail(`${field}.columns`, `bad column name ${JSON.stringify(c.name)}`);
      if (seen.has(c.name)) fail(`${field}.columns`, `column ${c.name} appears twice`);
      seen.add(c.name);
      if (!c.type) fail(`${field}.columns.${c.name}`, 'has no type');
      if (!c.doc) fail(`${field}.columns.${c.name}`, 'has no doc');
    }
    for (const k of t.sortKey) if (!seen.has(k)) fail(`${field}.sortKey`, `${k} is not a column`);
  };
  checkTable(m.table, 'table');
  if (m.sensitive) {
    if (!NAME.test(m.sensitive.table)) fail('sensitive.table', 'bad table name');
    checkTable(m.sensitive, 'sensitive');
    if (m.role !== 'admin') fail('role', 'a collector with a sensitive table is admin-only');
  }
  if (m.alwaysOn) {
    const r = m.params.safeParse(m.alwaysOn.params);
    if (!r.success) fail('alwaysOn.params', r.error.issues[0]!.message);
  }
  if (m.stacks && !m.table.columns.some((c) => c.name === 'stack_id'))
    fail('table.columns', 'a collector with stacks has a stack_id column');
  return m;
}

/** The tables a manifest owns, qualified, with their specs. */
export function tablesOf(m: CollectorManifest): Array<{ table: string; spec: TableSpec }> {
  const out = [{ table: `fleettrace.${m.name}`, spec: m.table }];
  if (m.sensitive)
    out.push({ table: `fleettrace_sensitive.${m.sensitive.table}`, spec: m.sensitive });
  return out;
}

/**
 * Every field the agent's rows may carry for this collector: columns of its
 * tables (less those ingest fills from the batch), consumed fields, renamed
 * fields and, with stacks, the frames.
 */
export function acceptedFields(m: CollectorManifest): Set<string> {
  const out = new Set<string>();
  for (const { spec } of tablesOf(m))
    for (const c of allColumns(spec)) if (!BATCH_COLUMNS.has(c.name)) out.add(c.name);
  for (const f of m.consumes ?? []) out.add(f);
  for (const f of Object.keys(m.renames ?? {})) out.add(f);
  if (m.stacks) for (const f of STACK_ONLY_FIELDS) out.add(f);
  return out;
}
