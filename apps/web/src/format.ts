// SPDX-License-Identifier: Apache-2.0
/** Display helpers shared by the pages. */

export function percent(share: number, digits = 2): string {
  return `${(share * 100).toFixed(digits)}%`;
}

/** "12 s ago", "3 min ago", or the date for anything older than a day. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.round((now - t) / 1000);
  if (s < 0) return 'just now';
  if (s < 90) return `${s} s ago`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min ago`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)} h ago`;
  return new Date(t).toISOString().slice(0, 16).replace('T', ' ');
}

/**
 * A ClickHouse DateTime as the JSON formats write it ("2026-12-04 20:00:00",
 * UTC as the schema's columns are) or an ISO string, in ms; NaN otherwise.
 */
export function parseTime(value: unknown): number {
  if (typeof value === 'number') return value > 1e12 ? value : value * 1000;
  if (typeof value !== 'string') return NaN;
  const iso = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?$/.test(value)
    ? `${value.replace(' ', 'T')}Z`
    : value;
  return Date.parse(iso);
}

export function formatTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

/** A cell of a query answer: 64-bit integers come as strings, arrays and maps as JSON. */
export function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** A number with at most 3 significant decimals, or as is. */
export function num(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 1000 || Number.isInteger(n)) return Math.round(n).toLocaleString('en');
  return n.toPrecision(3);
}

/** A query answer's rows as objects by column name. */
export function rowObjects(answer: {
  columns: Array<{ name: string }>;
  rows: unknown[][];
}): Array<Record<string, unknown>> {
  return answer.rows.map((row) =>
    Object.fromEntries(answer.columns.map((c, i) => [c.name, row[i]])),
  );
}
