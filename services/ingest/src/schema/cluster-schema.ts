// SPDX-License-Identifier: Apache-2.0
/**
 * The schema for a ClickHouse cluster, generated from the migrations (the one
 * definition of every table) so it cannot drift from the single-server schema.
 * For each table `db.t` the migrations create:
 *
 * - `db.t_local`, on every server: the same columns, PARTITION BY, ORDER BY
 *   and settings, its engine made replicated (ReplacingMergeTree(v) becomes
 *   ReplicatedReplacingMergeTree(path, replica, v), keeping FINAL's collapse
 *   of a batch stored twice), plus the retention TTL where the server has TTL;
 * - `db.t`, a Distributed table over the `_local` ones under the same name
 *   the single server uses, so ingest, the controller, the docs' queries and
 *   the query users' grants all work unchanged.
 *
 * Sharding key: a function of the sorting key, so that every copy of a row
 * (a batch stored twice, an older version of a controller row) lands on the
 * shard of the first and FINAL still collapses them: cityHash64(host) where
 * host is in the sorting key (every collector table: each host's rows on one
 * shard), otherwise cityHash64 of the key's first column (batches by
 * agent_id, stacks by stack_id, jobs and job_runs by job_id, agents by
 * agent_id).
 *
 * A column a later migration adds (ALTER TABLE ... ADD COLUMN) is folded into
 * its table's CREATE: the DDL creates the tables the migrations end at. Any
 * other statement with no cluster form here throws: a new kind of migration
 * must be taught to this file, never skipped.
 */
import type { StoreFeatures } from '@fleettrace/store';
import { MIGRATIONS } from './migrations';

export interface ClusterSchemaOptions {
  /** the cluster's name in the servers' remote_servers */
  cluster: string;
  /** what the cluster's servers support (the oldest of them) */
  features: StoreFeatures;
  /**
   * 'zookeeper' (default): Replicated*MergeTree local tables, every statement
   * ON CLUSTER (distributed DDL also needs ZooKeeper or ClickHouse Keeper).
   * 'none': plain *MergeTree local tables and no ON CLUSTER, for shards of one
   * server each without ZooKeeper: run the statements on every server.
   */
  replication?: 'zookeeper' | 'none';
  /** prefix of each table's path in ZooKeeper; `/<db>/<table>` is appended */
  zookeeperPath?: string;
  /** the replica's name, normally a macro of each server's config */
  replica?: string;
  /** TTL of the time-partitioned tables in days where the servers have TTL; 0 for none */
  retentionDays?: number;
}

export interface ClusterTable {
  /** the Distributed table, e.g. fleettrace.proc */
  table: string;
  /** the table on each server, e.g. fleettrace.proc_local */
  local: string;
  shardingKey: string;
  engine: string;
}

export interface ClusterSchema {
  statements: string[];
  tables: ClusterTable[];
}

export const DEFAULT_ZOOKEEPER_PATH = '/clickhouse/tables/{shard}';
export const DEFAULT_REPLICA = '{replica}';
export const LOCAL_SUFFIX = '_local';

/** A CREATE TABLE of a migration, in parts. */
interface TableParts {
  database: string;
  name: string;
  columns: string;
  engine: string;
  engineArgs: string;
  /** PARTITION BY, ORDER BY, SETTINGS lines, in their order */
  clauses: string[];
}

/** Index of the parenthesis closing the one at `open`; quotes are skipped. */
function closingParen(sql: string, open: number): number {
  let depth = 0;
  let quote: string | undefined;
  for (let i = open; i < sql.length; i++) {
    const c = sql[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
    } else if (c === "'" || c === '`' || c === '"') quote = c;
    else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i;
  }
  return -1;
}

/** Splits at commas outside parentheses and quotes. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
    } else if (c === "'" || c === '`' || c === '"') quote = c;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(text.slice(start).trim());
  return parts.filter(Boolean);
}

function parseCreateTable(sql: string, where: string): TableParts {
  const head = /^CREATE TABLE IF NOT EXISTS (\w+)\.(\w+) \(/.exec(sql);
  if (!head) throw new Error(`${where}: expected CREATE TABLE IF NOT EXISTS db.table (`);
  const open = head[0].length - 1;
  const close = closingParen(sql, open);
  if (close < 0) throw new Error(`${where}: unbalanced parentheses in ${head[1]}.${head[2]}`);
  const columns = sql.slice(open + 1, close).trim();
  const rest = sql.slice(close + 1).trim();
  const engine = /^ENGINE = (\w+)\(([^)]*)\)\s*/.exec(rest);
  if (!engine) throw new Error(`${where}: ${head[1]}.${head[2]}: expected ENGINE = Name(...)`);
  return {
    database: head[1]!,
    name: head[2]!,
    columns,
    engine: engine[1]!,
    engineArgs: engine[2]!.trim(),
    clauses: rest
      .slice(engine[0].length)
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean),
  };
}

/** The expression a table's rows are spread over shards by (see the file's comment). */
function shardingKey(t: TableParts, where: string): string {
  const order = t.clauses.find((c) => c.startsWith('ORDER BY '));
  if (!order) throw new Error(`${where}: ${t.database}.${t.name} has no ORDER BY`);
  const key = splitTopLevel(order.slice('ORDER BY '.length).replace(/^\((.*)\)$/, '$1'));
  return `cityHash64(${key.includes('host') ? 'host' : key[0]})`;
}

const quote = (s: string) => `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;

/** The cluster DDL for every table of every migration, in the order they must run. */
export function clusterSchema(options: ClusterSchemaOptions): ClusterSchema {
  const { cluster, features } = options;
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(cluster))
    throw new Error(
      `cluster name: letters, digits and _ (starting with a letter or _), got ${JSON.stringify(cluster)}`,
    );
  const replicated = (options.replication ?? 'zookeeper') === 'zookeeper';
  const onCluster = replicated ? ` ON CLUSTER ${cluster}` : '';
  const zkPrefix = (options.zookeeperPath ?? DEFAULT_ZOOKEEPER_PATH).replace(/\/+$/, '');
  const replica = options.replica ?? DEFAULT_REPLICA;
  const retentionDays = options.retentionDays ?? 0;
  const statements: string[] = [];
  const tables: ClusterTable[] = [];
  const databases = new Set<string>();
  // The schema the migrations end at: a column a later migration adds is folded into its
  // table's CREATE, so the DDL creates the latest tables (and runs again harmlessly).
  const steps: Array<{ database: string } | { table: TableParts; where: string }> = [];
  const byName = new Map<string, TableParts>();
  for (const m of MIGRATIONS) {
    for (const sql of m.statements(features)) {
      const where = `migration ${m.version} (${m.name})`;
      const db = /^CREATE DATABASE IF NOT EXISTS (\w+)$/.exec(sql);
      if (db) {
        steps.push({ database: db[1]! });
        continue;
      }
      const add = /^ALTER TABLE (\w+\.\w+) ADD COLUMN (?!IF )(\w+) (.+?)(?: AFTER (\w+))?$/.exec(
        sql,
      );
      if (add) {
        const t = byName.get(add[1]!);
        if (!t) throw new Error(`${where}: ${add[1]} is not created by an earlier migration`);
        const columns = splitTopLevel(t.columns);
        const after = add[4] ? columns.findIndex((c) => c.split(/\s/)[0] === add[4]) : -1;
        if (add[4] && after < 0) throw new Error(`${where}: ${add[1]} has no column ${add[4]}`);
        columns.splice(after < 0 ? columns.length : after + 1, 0, `${add[2]} ${add[3]}`);
        t.columns = columns.join(',\n  ');
        continue;
      }
      if (!sql.startsWith('CREATE TABLE '))
        throw new Error(
          `${where}: no cluster form for this statement (teach cluster-schema.ts): ${sql.split('\n')[0]}`,
        );
      const t = parseCreateTable(sql, where);
      byName.set(`${t.database}.${t.name}`, t);
      steps.push({ table: t, where });
    }
  }
  for (const step of steps) {
    if ('database' in step) {
      if (!databases.has(step.database))
        statements.push(`CREATE DATABASE IF NOT EXISTS ${step.database}${onCluster}`);
      databases.add(step.database);
      continue;
    }
    const { table: t, where } = step;
    if (!t.engine.endsWith('MergeTree'))
      throw new Error(`${where}: ${t.database}.${t.name}: no replicated form of ${t.engine}`);
    const local = `${t.name}${LOCAL_SUFFIX}`;
    const engine = replicated ? `Replicated${t.engine}` : t.engine;
    const args = replicated
      ? [
          quote(`${zkPrefix}/${t.database}/${local}`),
          quote(replica),
          ...(t.engineArgs ? [t.engineArgs] : []),
        ]
      : t.engineArgs
        ? [t.engineArgs]
        : [];
    const clauses = t.clauses.map((c) =>
      // A replicated table deduplicates inserted blocks through ZooKeeper, by its own window.
      replicated && c.startsWith('SETTINGS ')
        ? c.replace('non_replicated_deduplication_window', 'replicated_deduplication_window')
        : c,
    );
    // The same tables applyRetention keeps: those partitioned by time.
    const partitioned = clauses.some((c) => c.startsWith('PARTITION BY ') && c.includes('(time)'));
    if (retentionDays > 0 && features.ttl && partitioned) {
      const at = clauses.findIndex((c) => c.startsWith('SETTINGS '));
      clauses.splice(
        at < 0 ? clauses.length : at,
        0,
        `TTL time + toIntervalDay(${Math.floor(retentionDays)})`,
      );
    }
    const key = shardingKey(t, where);
    statements.push(
      `CREATE TABLE IF NOT EXISTS ${t.database}.${local}${onCluster} (\n  ${t.columns}\n) ENGINE = ${engine}(${args.join(', ')})\n${clauses.join('\n')}`,
      `CREATE TABLE IF NOT EXISTS ${t.database}.${t.name}${onCluster} AS ${t.database}.${local}\n` +
        `ENGINE = Distributed(${cluster}, ${t.database}, ${local}, ${key})`,
    );
    tables.push({
      table: `${t.database}.${t.name}`,
      local: `${t.database}.${local}`,
      shardingKey: key,
      engine,
    });
  }
  return { statements, tables };
}
