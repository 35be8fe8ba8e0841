// SPDX-License-Identifier: Apache-2.0
/**
 * From manifests to versioned migrations. The collector tables' state is a
 * baseline (what the hand-written migrations created) plus the steps of every
 * generated migration; the manifests say what it should be. The difference
 * becomes the next migration (scripts/gen-schema.mjs appends it), and a test
 * fails while there is one, so a manifest change never reaches a store
 * without its migration. Only what is safe to generate is generated (new
 * tables, new columns); a changed type, a removed column or table needs a
 * hand-written migration and is refused with that message.
 */
import { allColumns, tablesOf, type CollectorManifest } from './manifest';

export interface TableState {
  columns: Array<[string, string]>;
  sortKey: string[];
}

export type SchemaState = Record<string, TableState>;

export type Step =
  | { kind: 'create'; table: string; columns: Array<[string, string]>; sortKey: string[] }
  | { kind: 'add'; table: string; column: [string, string]; after: string };

export interface GeneratedMigration {
  version: number;
  name: string;
  steps: Step[];
}

/** What the manifests want. */
export function desiredState(manifests: Iterable<CollectorManifest>): SchemaState {
  const out: SchemaState = {};
  for (const m of manifests)
    for (const { table, spec } of tablesOf(m))
      out[table] = {
        columns: allColumns(spec).map((c) => [c.name, c.type]),
        sortKey: [...spec.sortKey],
      };
  return out;
}

/** The state after applying steps to a copy of `state`. */
export function applySteps(state: SchemaState, steps: Step[]): SchemaState {
  const out: SchemaState = structuredClone(state);
  for (const s of steps) {
    if (s.kind === 'create') out[s.table] = { columns: s.columns, sortKey: s.sortKey };
    else {
      const t = out[s.table];
      if (!t) throw new Error(`migration adds ${s.column[0]} to ${s.table}, which does not exist`);
      const at = t.columns.findIndex(([n]) => n === s.after);
      t.columns.splice(at + 1, 0, s.column);
    }
  }
  return out;
}

/** The steps from `current` to `desired`; throws what must be done by hand. */
export function planSteps(current: SchemaState, desired: SchemaState): Step[] {
  const steps: Step[] = [];
  const byHand: string[] = [];
  for (const [table, want] of Object.entries(desired)) {
    const have = current[table];
    if (!have) {
      steps.push({ kind: 'create', table, columns: want.columns, sortKey: want.sortKey });
      continue;
    }
    const types = new Map(have.columns);
    const wanted = new Set(want.columns.map(([n]) => n));
    for (const [name] of have.columns)
      if (!wanted.has(name)) byHand.push(`${table}.${name} was removed from its manifest`);
    if (have.sortKey.join() !== want.sortKey.join())
      byHand.push(
        `${table}'s sort key changed (${have.sortKey.join(', ')} -> ${want.sortKey.join(', ')})`,
      );
    let previous = '';
    for (const [name, type] of want.columns) {
      const old = types.get(name);
      if (old === undefined)
        steps.push({ kind: 'add', table, column: [name, type], after: previous });
      else if (old !== type) byHand.push(`${table}.${name} changed type (${old} -> ${type})`);
      previous = name;
    }
  }
  for (const table of Object.keys(current))
    if (!desired[table]) byHand.push(`${table} has no manifest any more`);
  if (byHand.length)
    throw new Error(
      `not generated (write a migration by hand in services/ingest/src/schema/migrations.ts and update the baseline): ${byHand.join('; ')}`,
    );
  return steps;
}

/** A short name for a migration made of these steps. */
export function describeSteps(steps: Step[]): string {
  const created = steps.filter((s) => s.kind === 'create').map((s) => s.table);
  const added = steps
    .filter((s): s is Extract<Step, { kind: 'add' }> => s.kind === 'add')
    .map((s) => `${s.table}.${s.column[0]}`);
  return [
    created.length ? `create ${created.join(', ')}` : '',
    added.length ? `add ${added.join(', ')}` : '',
  ]
    .filter(Boolean)
    .join('; ');
}
