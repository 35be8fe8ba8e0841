// SPDX-License-Identifier: Apache-2.0
/**
 * Where `fleettrace query`, `top` and `crashes` send their SQL, until they go
 * through the controller's API: a ClickHouse server (--clickhouse-url, as its
 * readonly query user), an embedded store's data directory (--data, only
 * while no ingest holds it: chDB binds a directory to one process), or a
 * running ingest's /v1/query (--ingest-url). Every path goes through
 * QueryService, so the same statements are refused everywhere.
 */
import { join } from 'node:path';
import {
  EmbeddedStore,
  QueryService,
  ServerStore,
  type QueryResult,
  type Role,
} from '@fleettrace/store';
import { escapeForTerminal, parseDuration, parseInteger } from '@fleettrace/common';
import { toJson, UsageError } from '../cli-error';
import { ApiClient, CONNECTION_OPTIONS } from '../api-client';
import type { OptionSpecs } from '../command';
import { readSecret, secretOptions } from '../secret-flags';

const WHERE = 'where to query, instead of the API (one of)';

/** What query, top and crashes say of where their SQL goes, after the options. */
export const TARGET_EPILOG = `By default the statement goes to the controller's API (the connection
options), which applies the token's role and limits and audits the query.
--clickhouse-url, --data or --ingest-url query one store directly instead,
through the same checks.`;

export const TARGET_OPTIONS = {
  'clickhouse-url': {
    type: 'string',
    placeholder: 'URL',
    section: WHERE,
    help: 'a ClickHouse server, queried as --clickhouse-user',
  },
  'clickhouse-user': {
    type: 'string',
    placeholder: 'NAME',
    section: WHERE,
    help: 'the ClickHouse user (default fleettrace_viewer, or fleettrace_admin with --role admin)',
  },
  ...secretOptions(
    'clickhouse-password',
    "that user's password (default $FLEETTRACE_CLICKHOUSE_PASSWORD)",
    WHERE,
  ),
  data: {
    type: 'string',
    placeholder: 'DIR',
    section: WHERE,
    help: "an embedded store's data directory (not while ingest runs on it: chDB binds a directory to one process)",
  },
  'ingest-url': {
    type: 'string',
    placeholder: 'URL',
    section: WHERE,
    help: "a running ingest's query endpoint (viewer role)",
  },
  role: {
    type: 'string',
    default: 'viewer',
    choices: ['viewer', 'operator', 'admin'],
    section: WHERE,
    help: "whose rights the query runs with (through the API: the token's)",
  },
  ...CONNECTION_OPTIONS,
  format: {
    type: 'string',
    default: 'table',
    choices: ['table', 'json', 'csv'],
    section: 'output',
    help: 'how to print the rows',
  },
  json: { type: 'boolean', default: false, section: 'output', help: 'the same as --format json' },
} as const satisfies OptionSpecs;

/** --since, --hosts and --limit of the canned queries (top, crashes), with their defaults. */
export function cannedOptions(since: string, limit: string) {
  return {
    since: { type: 'string', default: since, placeholder: 'D', help: 'the last D' },
    hosts: { type: 'string', placeholder: 'a,b', help: 'only these hosts' },
    limit: { type: 'string', default: limit, placeholder: 'N', help: 'at most N lines' },
  } as const satisfies OptionSpecs;
}

/** The canned query's time range, hosts and row limit from its options. */
export function cannedScope(
  values: { since: string; hosts?: string | undefined; limit: string },
  maxLimit: number,
): { sinceS: number; hosts: string[] | undefined; limit: number } {
  return {
    sinceS: parseDuration('--since', values.since, { minMs: 1000 }) / 1000,
    hosts: values.hosts
      ?.split(',')
      .map((h) => h.trim())
      .filter(Boolean),
    limit: parseInteger('--limit', values.limit, 1, maxLimit),
  };
}

export interface TargetValues {
  'clickhouse-url'?: string;
  'clickhouse-user'?: string;
  'clickhouse-password'?: string;
  'clickhouse-password-file'?: string;
  data?: string;
  'ingest-url'?: string;
  role?: string;
  server?: string;
  token?: string;
  'token-file'?: string;
}

export async function runQuery(values: TargetValues, sql: string): Promise<QueryResult> {
  const role = (values.role ?? 'viewer') as Role;
  const chosen = ['clickhouse-url', 'data', 'ingest-url'].filter(
    (k) => values[k as keyof TargetValues],
  );
  if (chosen.length === 0) {
    // The controller validates, applies the token's role and limits, and audits the query.
    return ApiClient.from(values).request<QueryResult>('POST', '/api/v1/query', { sql });
  }
  if (chosen.length !== 1)
    throw new UsageError(
      'say where to query: at most one of --clickhouse-url, --data, --ingest-url',
    );
  if (values['ingest-url']) {
    const res = await fetch(new URL('/v1/query', values['ingest-url']), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sql }),
    });
    const body = (await res.json()) as QueryResult & { error?: string };
    if (!res.ok) throw new Error(body.error ?? `ingest answered ${res.status}`);
    return body;
  }
  if (values.data) {
    const store = new EmbeddedStore({ dataDir: join(values.data, 'chdb') });
    try {
      return await new QueryService(store).query(sql, role);
    } finally {
      await store.close();
    }
  }
  const user =
    values['clickhouse-user'] ?? (role === 'admin' ? 'fleettrace_admin' : 'fleettrace_viewer');
  const password = readSecret(values as Record<string, unknown>, {
    flag: 'clickhouse-password',
    env: 'FLEETTRACE_CLICKHOUSE_PASSWORD',
  });
  const credentials = { username: user, password: password ?? '' };
  const store = new ServerStore({
    url: values['clickhouse-url']!,
    owner: credentials,
    viewer: credentials,
    admin: credentials,
  });
  try {
    return await new QueryService(store).query(sql, role);
  } finally {
    await store.close();
  }
}

/** A cell as shown: control and bidi characters escaped (the cells are what traced processes chose). */
function text(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return escapeForTerminal(JSON.stringify(v));
  return escapeForTerminal(String(v));
}

function csvField(v: unknown): string {
  const s = text(v);
  return /[",]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/**
 * The result as a table (aligned columns), JSON (one object per row) or CSV
 * with a header. Table and CSV cells show control and bidi characters as
 * escapes (a newline in a cell is `\x0a`); JSON keeps every value exactly.
 */
/** --format and --json, checked before any query runs. */
export function outputFormat(values: { format?: string; json?: boolean }): OutputFormat {
  // --format's choices are checked by defineCommand.
  const format = values.format ?? 'table';
  if (values.json && format !== 'table' && format !== 'json')
    throw new UsageError(`--json: conflicts with --format ${format}`);
  return values.json ? 'json' : (format as OutputFormat);
}

export type OutputFormat = 'table' | 'json' | 'csv';

/**
 * query, top and crashes: checks --format and --json, makes the statement
 * (its flags are checked there, also before any query runs), runs it where
 * the options say and prints the rows.
 */
export async function printQuery(
  values: TargetValues & { format?: string; json?: boolean },
  sql: () => string,
): Promise<number> {
  const format = outputFormat(values);
  process.stdout.write(formatResult(await runQuery(values, sql()), format));
  return 0;
}

export function formatResult(r: QueryResult, format: string): string {
  const names = r.columns.map((c) => c.name);
  switch (format) {
    case 'json':
      return (
        toJson(r.rows.map((row) => Object.fromEntries(names.map((n, i) => [n, row[i]])))) + '\n'
      );
    case 'csv':
      return [names, ...r.rows].map((row) => row.map(csvField).join(',')).join('\n') + '\n';
    case 'table': {
      const cells = [names.map((n) => n.toUpperCase()), ...r.rows.map((row) => row.map(text))];
      const widths = names.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
      const lines = cells.map((row) =>
        row
          .map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!)))
          .join('  ')
          .trimEnd(),
      );
      return lines.join('\n') + `\n(${r.rows.length} row${r.rows.length === 1 ? '' : 's'})\n`;
    }
    default:
      throw new UsageError(`--format: expected table, json or csv, got ${JSON.stringify(format)}`);
  }
}
