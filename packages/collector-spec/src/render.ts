// SPDX-License-Identifier: Apache-2.0
/**
 * SQL of collector tables, one text for both stores and every supported
 * server: what an old server lacks (LowCardinality, codecs, the insert
 * deduplication window) is switched off, never written twice.
 *
 * Exactly once: tables are ReplacingMergeTree with batch_id, row_idx last in
 * the sorting key, so a batch stored twice collapses into one copy in merges
 * and in FINAL. Both copies land in the same partition because `time` comes
 * from the row itself.
 */
export interface SqlFeatures {
  lowCardinality: boolean;
  codecs: boolean;
  insertDeduplicationToken: boolean;
}

/** A column's type on a server with these features. */
export function columnType(type: string, f: SqlFeatures): string {
  let t = type;
  if (!f.codecs) t = t.replace(/\s+CODEC\(.*\)\s*$/, '');
  if (!f.lowCardinality) t = t.replace(/LowCardinality\((\w+)\)/g, '$1');
  return t;
}

/** The type as system.columns reports it (no codec: that is a separate column there). */
export function reportedType(type: string, f: SqlFeatures): string {
  return columnType(type, f).replace(/\s+CODEC\(.*\)\s*$/, '');
}

export function createTableSql(
  table: string,
  columns: Array<[string, string]>,
  sortKey: string[],
  f: SqlFeatures,
): string {
  const settings = f.insertDeduplicationToken
    ? 'SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 1000'
    : 'SETTINGS index_granularity = 8192';
  return `CREATE TABLE IF NOT EXISTS ${table} (
  ${columns.map(([n, t]) => `${n} ${columnType(t, f)}`).join(',\n  ')}
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(time)
ORDER BY (${[...sortKey, 'batch_id', 'row_idx'].join(', ')})
${settings}`;
}

export function addColumnSql(
  table: string,
  column: [string, string],
  after: string | undefined,
  f: SqlFeatures,
): string {
  return (
    `ALTER TABLE ${table} ADD COLUMN ${column[0]} ${columnType(column[1], f)}` +
    (after ? ` AFTER ${after}` : '')
  );
}
