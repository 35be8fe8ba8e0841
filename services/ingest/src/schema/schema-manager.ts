// SPDX-License-Identifier: Apache-2.0
/**
 * Applies the migrations, lists the tables and their columns, and
 * keeps the retention: TTL where the server has it, dropping whole day
 * partitions where it has not (18.16), and for the embedded store a cap on
 * the bytes on disk (oldest days dropped first).
 */
import type { Store } from '@fleettrace/store';
import { MIGRATIONS, type Migration } from './migrations';

export interface ColumnSpec {
  name: string;
  type: string;
}

export const DATABASES = ['fleettrace', 'fleettrace_sensitive'];

/** Applies missing migrations in order; returns the schema version. */
export async function migrate(
  store: Store,
  log: (m: string) => void = () => undefined,
  migrations: Migration[] = MIGRATIONS,
): Promise<number> {
  const f = await store.features();
  await store.command('CREATE DATABASE IF NOT EXISTS fleettrace');
  await store.command(`CREATE TABLE IF NOT EXISTS fleettrace.schema_migrations (
  version UInt32,
  name String,
  applied DateTime('UTC')
) ENGINE = ReplacingMergeTree()
ORDER BY version`);
  const done = new Set(
    (
      await store.select<{ version: number }>(
        'SELECT version FROM fleettrace.schema_migrations FINAL',
      )
    ).map((r) => Number(r.version)),
  );
  let version = Math.max(0, ...done);
  for (const m of migrations) {
    if (done.has(m.version)) continue;
    for (const sql of m.statements(f)) {
      try {
        await store.command(sql);
      } catch (err) {
        // A column that is already there (a cluster's DDL from `fleettrace schema --cluster`
        // creates the latest tables; 18.16 has no ADD COLUMN IF NOT EXISTS) is this step done.
        const column = /^ALTER TABLE (\S+) ADD COLUMN (\w+) /.exec(sql);
        if (!column || !/Code: 44\b.*already exists/.test((err as Error).message)) throw err;
        log(`schema: ${column[1]}.${column[2]} is there already`);
      }
    }
    const row = { version: m.version, name: m.name, applied: Math.floor(Date.now() / 1000) };
    await store.insert('fleettrace.schema_migrations', Buffer.from(JSON.stringify(row) + '\n'));
    log(`schema: applied migration ${m.version} (${m.name}) on ClickHouse ${f.version}`);
    version = m.version;
  }
  return version;
}

/** Every table of the fleettrace databases with its columns in order. */
export async function tableColumns(store: Store): Promise<Map<string, ColumnSpec[]>> {
  const rows = await store.select<{ database: string; table: string; name: string; type: string }>(
    `SELECT database, table, name, type FROM system.columns
     WHERE database IN ('fleettrace', 'fleettrace_sensitive') AND table != 'schema_migrations'`,
  );
  const out = new Map<string, ColumnSpec[]>();
  for (const r of rows) {
    const key = `${r.database}.${r.table}`;
    const list = out.get(key) ?? [];
    list.push({ name: r.name, type: r.type });
    out.set(key, list);
  }
  return out;
}

export interface RetentionOptions {
  /** days of data kept; 0 keeps everything */
  days: number;
  /** bytes on disk the embedded store may use; 0 for no cap */
  maxBytes: number;
}

interface Part {
  database: string;
  table: string;
  partition: string;
  bytes: string | number;
}

/** Tables with a time partition (controller-state tables are small and kept). */
async function partitionedTables(
  store: Store,
): Promise<Array<{ database: string; table: string; monthly: boolean }>> {
  const rows = await store.select<{ database: string; name: string; partition_key: string }>(
    `SELECT database, name, partition_key FROM system.tables
     WHERE database IN ('fleettrace', 'fleettrace_sensitive') AND partition_key != ''`,
  );
  return rows.map((r) => ({
    database: r.database,
    table: r.name,
    monthly: r.partition_key.includes('YYYYMM('),
  }));
}

/**
 * One round of retention. With TTL support the TTL is (re)set on every
 * partitioned table, idempotently; otherwise partitions older than `days`
 * are dropped. Then, if `maxBytes` is set, whole days are dropped, oldest
 * first, until the active parts fit.
 */
export async function applyRetention(
  store: Store,
  options: RetentionOptions,
  log: (m: string) => void = () => undefined,
): Promise<void> {
  const tables = await partitionedTables(store);
  const f = await store.features();
  if (options.days > 0) {
    if (f.ttl) {
      for (const t of tables)
        await store.command(
          `ALTER TABLE ${t.database}.${t.table} MODIFY TTL time + toIntervalDay(${Math.floor(options.days)})`,
        );
    } else {
      const cutoff = new Date(Date.now() - options.days * 86_400_000);
      const day = Number(cutoff.toISOString().slice(0, 10).replaceAll('-', ''));
      for (const p of await parts(store)) {
        const t = tables.find((x) => x.database === p.database && x.table === p.table);
        if (!t) continue;
        const id = Number(p.partition);
        if ((t.monthly && id < Math.floor(day / 100)) || (!t.monthly && id < day)) {
          await store.command(`ALTER TABLE ${p.database}.${p.table} DROP PARTITION ${p.partition}`);
          log(
            `retention: dropped ${p.database}.${p.table} partition ${p.partition} (older than ${options.days} days)`,
          );
        }
      }
    }
  }
  if (options.maxBytes > 0) {
    for (;;) {
      const all = await parts(store);
      const total = all.reduce((s, p) => s + Number(p.bytes), 0);
      const days = [
        ...new Set(all.filter((p) => p.partition.length === 8).map((p) => p.partition)),
      ].sort();
      if (total <= options.maxBytes || days.length <= 1) break;
      const oldest = days[0]!;
      for (const p of all.filter((x) => x.partition === oldest))
        await store.command(`ALTER TABLE ${p.database}.${p.table} DROP PARTITION ${p.partition}`);
      log(`retention: store uses ${total} bytes (cap ${options.maxBytes}): dropped day ${oldest}`);
    }
  }
}

async function parts(store: Store): Promise<Part[]> {
  return store.select<Part>(
    `SELECT database, table, partition, sum(bytes_on_disk) AS bytes FROM system.parts
     WHERE active AND database IN ('fleettrace', 'fleettrace_sensitive')
     GROUP BY database, table, partition`,
  );
}
