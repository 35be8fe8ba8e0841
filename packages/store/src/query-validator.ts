// SPDX-License-Identifier: Apache-2.0
/**
 * What a user's SQL may be (DESIGN.md "Security"): exactly one SELECT, WITH,
 * SHOW, DESCRIBE or EXPLAIN statement; table functions only from a harmless
 * list; no SETTINGS, no INTO OUTFILE, no FORMAT; the sensitive database only
 * for admins. Two passes:
 *
 * 1. A lexer pass here, before the engine sees anything. It must come first:
 *    chDB runs every statement of a multi-statement text, so even EXPLAIN AST
 *    of "SELECT 1; DROP ..." would drop. Where the lexer and ClickHouse
 *    could disagree about where a string or comment ends ('#' comments,
 *    '$$' strings, nested block comments) the query is refused, not guessed.
 * 2. ClickHouse's own parser (EXPLAIN AST) where the engine has it: the
 *    statement kind, table functions in table position, SETTINGS clauses and
 *    scalar functions that read files come from the real syntax tree.
 *
 * On an engine without EXPLAIN AST (the 18.16 CI server) pass 1 refuses any
 * call of a known non-harmless table function name anywhere, and the server's
 * readonly=1 user refuses table functions altogether.
 */

/** A refusal: `message` says what is not allowed, for the person who wrote the query. */
export class QueryRefusedError extends Error {
  readonly code = 'QUERY_REFUSED';
  constructor(message: string) {
    super(message);
    this.name = 'QueryRefusedError';
  }
}

/** Table functions that only generate data: allowed anywhere. */
export const HARMLESS_TABLE_FUNCTIONS = new Set([
  'numbers',
  'numbers_mt',
  'zeros',
  'zeros_mt',
  'generateseries',
  'generate_series',
  'values',
  'null',
  'view',
  'primes',
]);

/**
 * Names that read or write outside the query's tables (files, network,
 * processes, other databases) as table functions or as scalar functions
 * (`file()` is both). Pass 2 also refuses every table function not harmless.
 */
export const REFUSED_FUNCTIONS = new Set([
  'file',
  'filecluster',
  'filesystem',
  'url',
  'urlcluster',
  'executable',
  'executablepool',
  'eval',
  'remote',
  'remotesecure',
  'cluster',
  'clusterallreplicas',
  'mysql',
  'postgresql',
  'sqlite',
  'mongodb',
  'redis',
  'jdbc',
  'odbc',
  'hdfs',
  'hdfscluster',
  's3',
  's3cluster',
  'gcs',
  'cosn',
  'oss',
  'azureblobstorage',
  'azureblobstoragecluster',
  'input',
  'merge',
  'dictionary',
  'loop',
  'iceberg',
  'deltalake',
  'hudi',
  'paimon',
  'ytsaurus',
  'prometheusquery',
  'prometheusqueryrange',
  'mergetreeindex',
  'mergetreeanalyzeindexes',
  'mergetreeprojection',
  'viewifpermitted',
  'viewexplain',
  // introspection: server addresses, symbols and thread ids, and server-side settings (paths)
  'addresstoline',
  'addresstolinewithinlines',
  'addresstosymbol',
  'demangle',
  'tid',
  'logtrace',
  'getserversetting',
  'getmergetreesetting',
]);

/**
 * Tables of the `system` database a role below admin may read: the ones that
 * only generate data. The rest hold other users' failed queries
 * (system.errors, query_log), the sensitive database's DDL and on-disk paths
 * (system.tables, parts, disks) and server settings; information_schema shows
 * the same through views.
 */
export const VIEWER_SYSTEM_TABLES = new Set(['one', 'numbers', 'numbers_mt', 'zeros', 'zeros_mt']);
const SERVER_DATABASES = new Set(['system', 'information_schema']);

function refuseServerDatabase(database: string, table: string | undefined, role: string): void {
  if (!SERVER_DATABASES.has(database.toLowerCase())) return;
  if (database.toLowerCase() === 'system' && table && VIEWER_SYSTEM_TABLES.has(table.toLowerCase()))
    return;
  throw new QueryRefusedError(
    `${database}${table ? `.${table}` : ''} is readable by the admin role only (role: ${role}); ` +
      `the fleettrace databases are described by SHOW TABLES and DESCRIBE`,
  );
}

export type StatementKind = 'select' | 'show' | 'describe' | 'explain';

export interface Token {
  type: 'word' | 'string' | 'quoted' | 'number' | 'punct';
  text: string;
  at: number;
}

/** Tokens of `sql` without whitespace and comments; refuses what it cannot delimit with certainty. */
export function tokenize(sql: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = sql.length;
  const refuse = (what: string) => {
    throw new QueryRefusedError(`${what} (at character ${i + 1})`);
  };
  while (i < n) {
    const c = sql[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '-' && sql[i + 1] === '-') {
      while (i < n && sql[i] !== '\n') i++;
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      if (end < 0) refuse('unterminated /* comment');
      if (sql.slice(i + 2, end).includes('/*')) refuse('nested /* comments are not accepted');
      i = end + 2;
    } else if (c === '#' || c === '$') {
      refuse(`"${c}" outside a string is not accepted (use -- comments and '...' strings)`);
    } else if (c === "'" || c === '"' || c === '`') {
      const start = i;
      i++;
      for (;;) {
        if (i >= n) refuse(`unterminated ${c === "'" ? 'string' : 'quoted identifier'}`);
        const d = sql[i]!;
        if (d === '\\') i += 2;
        else if (d === c && sql[i + 1] === c) i += 2;
        else if (d === c) {
          i++;
          break;
        } else i++;
      }
      out.push({ type: c === "'" ? 'string' : 'quoted', text: sql.slice(start, i), at: start });
    } else if (/[A-Za-z_]/.test(c)) {
      const start = i;
      while (i < n && /[A-Za-z0-9_]/.test(sql[i]!)) i++;
      out.push({ type: 'word', text: sql.slice(start, i), at: start });
    } else if (/[0-9]/.test(c)) {
      const start = i;
      while (i < n && /[0-9A-Za-z_.]/.test(sql[i]!)) {
        // exponents: 1e+5
        if (/[eE]/.test(sql[i]!) && /[+-]/.test(sql[i + 1] ?? '')) i++;
        i++;
      }
      out.push({ type: 'number', text: sql.slice(start, i), at: start });
    } else {
      out.push({ type: 'punct', text: c, at: i });
      i++;
    }
  }
  return out;
}

export interface LexicalCheck {
  /** the statement without trailing semicolons */
  sql: string;
  kind: StatementKind;
}

const FIRST: Record<string, StatementKind> = {
  SELECT: 'select',
  WITH: 'select',
  SHOW: 'show',
  DESCRIBE: 'describe',
  DESC: 'describe',
  EXPLAIN: 'explain',
};

/** Pass 1 (see the file comment). Throws QueryRefusedError. */
export function checkLexically(sql: string, role: string): LexicalCheck {
  const tokens = tokenize(sql);
  while (
    tokens.length &&
    tokens[tokens.length - 1]!.text === ';' &&
    tokens[tokens.length - 1]!.type === 'punct'
  )
    tokens.pop();
  if (tokens.length === 0) throw new QueryRefusedError('the query is empty');
  const semicolon = tokens.find((t) => t.type === 'punct' && t.text === ';');
  if (semicolon)
    throw new QueryRefusedError(
      `only one statement is allowed; a second one starts after the ";" at character ${semicolon.at + 1}`,
    );
  const first = tokens[0]!;
  const kind = first.type === 'word' ? FIRST[first.text.toUpperCase()] : undefined;
  if (!kind)
    throw new QueryRefusedError(
      `only SELECT, WITH, SHOW, DESCRIBE and EXPLAIN statements are allowed, not ${JSON.stringify(first.text.toUpperCase())}`,
    );
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k]!;
    if (t.type !== 'word') continue;
    const word = t.text.toUpperCase();
    const next = tokens[k + 1];
    if (word === 'SETTINGS')
      throw new QueryRefusedError(
        'SETTINGS clauses are not allowed: limits are fixed by the server',
      );
    if (word === 'INTO' && next?.type === 'word' && next.text.toUpperCase() === 'OUTFILE')
      throw new QueryRefusedError('INTO OUTFILE is not allowed: results come back through the API');
    if (word === 'FORMAT' && next && (next.type === 'word' || next.type === 'quoted'))
      throw new QueryRefusedError(
        'FORMAT clauses are not allowed: choose the output format of the API or of --format',
      );
    if (next?.type === 'punct' && next.text === '(' && REFUSED_FUNCTIONS.has(t.text.toLowerCase()))
      throw new QueryRefusedError(
        `${t.text}() is not allowed: only generating table functions (${[...HARMLESS_TABLE_FUNCTIONS].join(', ')}) may be used`,
      );
  }
  if (role !== 'admin')
    for (let k = 0; k < tokens.length; k++) {
      const t = tokens[k]!;
      const name = t.type === 'quoted' ? t.text.slice(1, -1) : t.text;
      if (t.type === 'word' || t.type === 'quoted') {
        const dot = tokens[k + 1];
        const table = tokens[k + 2];
        const tableName =
          dot?.type === 'punct' && dot.text === '.' && table
            ? table.type === 'quoted'
              ? table.text.slice(1, -1)
              : table.text
            : undefined;
        refuseServerDatabase(name, tableName, role);
      }
      if (
        (t.type === 'word' || t.type === 'quoted') &&
        name.toLowerCase() === 'fleettrace_sensitive'
      )
        throw new QueryRefusedError(
          `the database fleettrace_sensitive is readable by the admin role only (role: ${role})`,
        );
    }
  return {
    sql: sql.slice(0, tokens[tokens.length - 1]!.at + tokens[tokens.length - 1]!.text.length),
    kind,
  };
}

const ROOTS: Record<string, StatementKind> = {
  SelectWithUnionQuery: 'select',
  SelectIntersectExceptQuery: 'select',
  SelectQuery: 'select',
  ShowTables: 'show',
  ShowCreateTableQuery: 'show',
  ShowColumns: 'show',
  DescribeQuery: 'describe',
  Explain: 'explain',
};

interface AstNode {
  depth: number;
  kind: string;
  /** the rest of the line, e.g. the function name */
  detail: string;
}

/** Pass 2: checks the output of EXPLAIN AST (one node per line, one space of indent per level). */
export function checkAst(ast: string, role: string): StatementKind {
  const nodes: AstNode[] = ast
    .split('\n')
    .filter((l) => l.trim().length > 0)
    .map((l) => {
      const depth = l.length - l.trimStart().length;
      const [kind = '', ...rest] = l.trim().split(' ');
      return { depth, kind, detail: rest.join(' ') };
    });
  const root = nodes[0];
  if (!root) throw new QueryRefusedError('the parser returned nothing for this query');
  if (nodes.some((x) => x.depth === 0 && x !== root))
    throw new QueryRefusedError('only one statement is allowed');
  const kind = ROOTS[root.kind];
  if (!kind)
    throw new QueryRefusedError(
      `only SELECT, WITH, SHOW TABLES/DATABASES/CREATE/COLUMNS, DESCRIBE and EXPLAIN are allowed, not a ${root.kind}`,
    );
  if (kind === 'explain') {
    const inner = nodes[1];
    if (
      inner &&
      !['SelectWithUnionQuery', 'SelectQuery', 'SelectIntersectExceptQuery'].includes(inner.kind)
    )
      throw new QueryRefusedError(
        `EXPLAIN is allowed for SELECT and WITH queries only, not a ${inner.kind}`,
      );
  }
  for (let k = 0; k < nodes.length; k++) {
    const node = nodes[k]!;
    if (node.kind === 'Set')
      throw new QueryRefusedError(
        'SETTINGS clauses are not allowed: limits are fixed by the server',
      );
    if (node.kind === 'Function') {
      const name = node.detail.split(' ')[0] ?? '';
      const lower = name.toLowerCase();
      const parent = parentOf(nodes, k);
      if (parent?.kind === 'TableExpression' && !HARMLESS_TABLE_FUNCTIONS.has(lower))
        throw new QueryRefusedError(
          `table function ${name}() is not allowed: only ${[...HARMLESS_TABLE_FUNCTIONS].join(', ')} may be used`,
        );
      if (REFUSED_FUNCTIONS.has(lower))
        throw new QueryRefusedError(
          `${name}() is not allowed: it reads outside the fleettrace tables`,
        );
    }
    if (role !== 'admin' && (node.kind === 'TableIdentifier' || node.kind === 'Identifier')) {
      const name = node.detail.split(' ')[0] ?? '';
      const [database = '', table] = name.split('.');
      refuseServerDatabase(database, table, role);
      if (
        name.toLowerCase() === 'fleettrace_sensitive' ||
        name.toLowerCase().startsWith('fleettrace_sensitive.')
      )
        throw new QueryRefusedError(
          `the database fleettrace_sensitive is readable by the admin role only (role: ${role})`,
        );
    }
  }
  return kind;
}

function parentOf(nodes: AstNode[], k: number): AstNode | undefined {
  const depth = nodes[k]!.depth;
  for (let j = k - 1; j >= 0; j--) if (nodes[j]!.depth < depth) return nodes[j];
  return undefined;
}
