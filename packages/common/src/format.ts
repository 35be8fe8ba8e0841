// SPDX-License-Identifier: Apache-2.0
import { escapeForTerminal } from './terminal-text';

/** 1234567 ns -> "1.23ms". */
export function formatNs(ns: number): string {
  if (ns < 1000) return `${Math.round(ns)}ns`;
  if (ns < 1e6) return `${(ns / 1e3).toFixed(ns < 1e4 ? 2 : 1)}us`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(ns < 1e7 ? 2 : 1)}ms`;
  return `${(ns / 1e9).toFixed(2)}s`;
}

/**
 * A plain-text table with right-aligned numeric columns. Cells are shown with
 * control and bidi characters escaped (escapeForTerminal): they often hold
 * what a traced process chose, such as its comm or arguments.
 */
export function renderTable(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = rows.map((r) => r.map((c) => escapeForTerminal(String(c))));
  const widths = headers.map((h, i) =>
    Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)),
  );
  const numeric = headers.map(
    (_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'),
  );
  const line = (r: string[]) =>
    r
      .map((c, i) => (numeric[i] ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...cells.map(line)].join('\n');
}
