// SPDX-License-Identifier: Apache-2.0
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { parseDuration, parseInteger } from '@fleettrace/common';
import {
  DEFAULT_QUERY_LIMITS,
  queryUsersSql,
  queryUsersXml,
  type QueryLimits,
  type QueryUsersOptions,
} from '@fleettrace/store';
import { toJson, UsageError } from '../cli-error';
import { defineCommand, type OptionSpecs, type Values as ParsedValues } from '../command';
import { listed } from '../registry';
import { readSecret, secretOptions } from '../secret-flags';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

const WHERE = 'where (one of)';
const PASSWORDS =
  'passwords (never needed on the command line; the controller reads the same files through its --clickhouse-viewer-password-file and --clickhouse-admin-password-file)';
const USERS = 'users';
const LIMITS = 'query limits (each user query; readonly=1 stops a query from lifting them)';

const OPTIONS = {
  'users-d': {
    type: 'string',
    placeholder: 'DIR',
    section: WHERE,
    help: 'write DIR/fleettrace-users.xml (mode 0640, owned like DIR when run as root) for a server configured by files, e.g. /etc/clickhouse-server/users.d; the server loads it within seconds, without a restart (every version, 18.16 included)',
  },
  sql: {
    type: 'boolean',
    default: false,
    section: WHERE,
    help: 'print CREATE SETTINGS PROFILE / CREATE USER / GRANT statements instead, for servers with SQL access control (20.5 on); run them as a user with access management',
  },
  apply: {
    type: 'string',
    placeholder: 'URL',
    section: WHERE,
    help: 'run those statements on the server at URL (http://H:8123)',
  },
  user: {
    type: 'string',
    placeholder: 'NAME',
    section: WHERE,
    help: 'with --apply: who runs them (default "default")',
  },
  ...secretOptions(
    'password',
    "with --apply: that user's password (default $FLEETTRACE_CLICKHOUSE_PASSWORD, as ingest reads it; none if unset)",
    WHERE,
  ),
  ...secretOptions(
    'viewer-password',
    "the viewer's (default $FLEETTRACE_CLICKHOUSE_VIEWER_PASSWORD)",
    PASSWORDS,
  ),
  ...secretOptions(
    'admin-password',
    "the admin's (default $FLEETTRACE_CLICKHOUSE_ADMIN_PASSWORD)",
    PASSWORDS,
  ),
  generate: {
    type: 'string',
    placeholder: 'DIR',
    section: PASSWORDS,
    help: 'make a random password for each user not given above, in DIR/clickhouse-viewer-password and DIR/clickhouse-admin-password (mode 0600; a file already there is kept and used, so running again does not change a password)',
  },
  'viewer-user': {
    type: 'string',
    placeholder: 'NAME',
    section: USERS,
    help: "the viewer's name (default fleettrace_viewer)",
  },
  'admin-user': {
    type: 'string',
    placeholder: 'NAME',
    section: USERS,
    help: "the admin's name (default fleettrace_admin)",
  },
  network: {
    type: 'string',
    multiple: true,
    placeholder: 'ADDR',
    section: USERS,
    help: "an address or CIDR network they may connect from, e.g. the controller's (repeatable; default 127.0.0.1 and ::1)",
  },
  'max-execution-time': {
    type: 'string',
    placeholder: 'D',
    section: LIMITS,
    help: `e.g. 30s, 2m (default ${DEFAULT_QUERY_LIMITS.maxExecutionTimeS}s)`,
  },
  'max-memory': {
    type: 'string',
    placeholder: 'BYTES',
    section: LIMITS,
    help: 'memory of one query (default 2GiB)',
  },
  'max-rows-to-read': {
    type: 'string',
    placeholder: 'N',
    section: LIMITS,
    help: `rows one query may read (default ${DEFAULT_QUERY_LIMITS.maxRowsToRead})`,
  },
  'max-result-rows': {
    type: 'string',
    placeholder: 'N',
    section: LIMITS,
    help: `rows in a result (default ${DEFAULT_QUERY_LIMITS.maxResultRows})`,
  },
  'max-result-bytes': {
    type: 'string',
    placeholder: 'BYTES',
    section: LIMITS,
    help: 'bytes in a result (default 256MiB); BYTES: a number of bytes, or with KiB, MiB or GiB',
  },
} as const satisfies OptionSpecs;

type Values = Record<string, unknown>;

const ROLES = ['viewer', 'admin'] as const;
type QueryRole = (typeof ROLES)[number];

/** The file name --generate writes a role's password to. */
export const generatedPasswordFile = (dir: string, role: QueryRole) =>
  join(dir, `clickhouse-${role}-password`);

/** The users file --users-d writes. */
export const USERS_FILE = 'fleettrace-users.xml';

/** "1073741824", "512MiB", "2GiB" as bytes. */
function parseBytes(flag: string, raw: string): number {
  const m = /^(\d+)\s*(KiB|MiB|GiB)?$/.exec(raw.trim());
  if (!m)
    throw new UsageError(
      `--${flag}: expected bytes such as 536870912 or 512MiB, got ${JSON.stringify(raw)}`,
    );
  const scale = { KiB: 1024, MiB: MiB, GiB: GiB }[m[2] ?? ''] ?? 1;
  const n = Number(m[1]) * scale;
  if (n < 1 || !Number.isSafeInteger(n))
    throw new UsageError(`--${flag}: must be between 1 byte and 8 PiB, got ${JSON.stringify(raw)}`);
  return n;
}

/** QueryLimits from the --max-* flags, each checked; defaults for those not given. */
function limitsFromFlags(values: Values): QueryLimits {
  const given = (flag: string) => values[flag] as string | undefined;
  const limits = { ...DEFAULT_QUERY_LIMITS };
  const time = given('max-execution-time');
  if (time !== undefined) {
    const ms = parseDuration('--max-execution-time', time, { minMs: 1000, maxMs: 86_400_000 });
    // The server's setting is whole seconds.
    if (ms % 1000)
      throw new UsageError(`--max-execution-time: whole seconds only, got ${JSON.stringify(time)}`);
    limits.maxExecutionTimeS = ms / 1000;
  }
  const memory = given('max-memory');
  if (memory !== undefined) limits.maxMemoryBytes = parseBytes('max-memory', memory);
  const resultBytes = given('max-result-bytes');
  if (resultBytes !== undefined)
    limits.maxResultBytes = parseBytes('max-result-bytes', resultBytes);
  const count = (flag: string) =>
    parseInteger(`--${flag}`, given(flag), 1, Number.MAX_SAFE_INTEGER);
  if (given('max-rows-to-read') !== undefined) limits.maxRowsToRead = count('max-rows-to-read');
  if (given('max-result-rows') !== undefined) limits.maxResultRows = count('max-result-rows');
  return limits;
}

function userName(values: Values, flag: string, fallback: string): string {
  const name = (values[flag] as string | undefined) ?? fallback;
  // Also an XML element name in the users.d file.
  if (!/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/.test(name))
    throw new UsageError(
      `--${flag}: a user name is a letter or _ then up to 63 letters, digits, _ . -, got ${JSON.stringify(name)}`,
    );
  return name;
}

function networks(values: Values): string[] | undefined {
  const list = values.network as string[] | undefined;
  if (!list) return undefined;
  for (const n of list)
    if (!/^[0-9A-Fa-f:.]+(\/\d{1,3})?$/.test(n))
      throw new UsageError(
        `--network: expected an IP address or CIDR network, got ${JSON.stringify(n)}`,
      );
  return list;
}

/** A random password in a new `file` (mode 0600), or the one an earlier run left there. */
function keepOrCreateSecret(file: string): { password: string; created: boolean } {
  if (existsSync(file)) {
    const password = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    if (!password) throw new UsageError(`--generate: ${file} exists and is empty`);
    return { password, created: false };
  }
  // 32 random bytes, URL-safe: no quoting needed in a shell, a YAML file or SQL.
  const password = randomBytes(32).toString('base64url');
  writeFileSync(file, password + '\n', { mode: 0o600, flag: 'wx' });
  return { password, created: true };
}

interface Passwords {
  viewer: string;
  admin: string;
  /** where each password is, when it came from or went to a file */
  files: Partial<Record<QueryRole, string>>;
  generated: QueryRole[];
}

function passwords(values: Values): Passwords {
  const out: Passwords = { viewer: '', admin: '', files: {}, generated: [] };
  const generate = values.generate as string | undefined;
  if (generate !== undefined) mkdirSync(generate, { recursive: true, mode: 0o700 });
  for (const role of ROLES) {
    const password = readSecret(values, {
      flag: `${role}-password`,
      env: `FLEETTRACE_CLICKHOUSE_${role.toUpperCase()}_PASSWORD`,
    });
    const file = values[`${role}-password-file`] as string | undefined;
    if (password !== undefined) {
      out[role] = password;
      if (file !== undefined) out.files[role] = resolve(file);
      continue;
    }
    if (generate === undefined)
      throw new UsageError(
        `--${role}-password-file: needed (or $FLEETTRACE_CLICKHOUSE_${role.toUpperCase()}_PASSWORD, or --generate DIR)`,
      );
    const path = resolve(generatedPasswordFile(generate, role));
    const made = keepOrCreateSecret(path);
    out[role] = made.password;
    out.files[role] = path;
    if (made.created) out.generated.push(role);
  }
  return out;
}

/**
 * Writes the users file into `dir` through a temporary name and a rename:
 * the server rereads users.d when a file changes and must never see half of it.
 * The temporary name does not end in .xml, so the server ignores it.
 */
function writeUsersFile(dir: string, xml: string): string {
  let dirStat;
  try {
    dirStat = statSync(dir);
  } catch (err) {
    throw new UsageError(`--users-d: ${(err as Error).message}`);
  }
  if (!dirStat.isDirectory()) throw new UsageError(`--users-d: ${dir} is not a directory`);
  const file = resolve(dir, USERS_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, xml, { mode: 0o640 });
    chmodSync(tmp, 0o640);
    // Run as root, the file gets the directory's owner and group (the server's
    // user, e.g. clickhouse:clickhouse on Debian), so the server can read it
    // while other users cannot.
    if (process.getuid?.() === 0) chownSync(tmp, dirStat.uid, dirStat.gid);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  return file;
}

/**
 * Runs each statement on the server over HTTP; stops at the first error.
 * First asks the server's version: before 20.5 there is no CREATE USER, and
 * the operator is better served by "use --users-d" than by a syntax error.
 */
async function applyStatements(
  url: string,
  user: string,
  password: string | undefined,
  statements: string[],
): Promise<string> {
  const run = async (sql: string) => {
    const headers: Record<string, string> = { 'X-ClickHouse-User': user };
    if (password !== undefined) headers['X-ClickHouse-Key'] = password;
    let r: Response;
    try {
      r = await fetch(url, { method: 'POST', headers, body: sql });
    } catch (err) {
      throw new Error(`--apply ${url}: ${(err as Error).message}`, { cause: err });
    }
    const text = (await r.text()).trim();
    // Only the statement's first words: the rest may hold a password hash.
    if (!r.ok)
      throw new Error(
        `--apply ${url}: ${sql.split(' ').slice(0, 4).join(' ')}: HTTP ${r.status}: ${text}`,
      );
    return text;
  };
  const version = await run('SELECT version()');
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (major < 20 || (major === 20 && minor < 5))
    throw new UsageError(
      `--apply: ClickHouse ${version} has no SQL access control (20.5 on): write the users file with --users-d instead`,
    );
  for (const sql of statements) await run(sql);
  return version;
}

export const clickhouseUsersCommand = defineCommand({
  ...listed('clickhouse-users'),
  usage: [
    '--users-d DIR [options]',
    '--sql [options]',
    '--apply URL [--user NAME] [--password-file FILE] [options]',
  ],
  description: `Provisions the read-only ClickHouse users the controller runs queries as
(fleettrace_viewer, fleettrace_admin): readonly=1, the query limits in their
profile, the viewer reading the fleettrace database and the admin also
fleettrace_sensitive. Passwords are stored as SHA-256 hashes, never in clear.`,
  options: OPTIONS,
  data: true,
  jsonHelp: 'print what was done as JSON',
  run: clickhouseUsers,
});

async function clickhouseUsers(
  values: ParsedValues<typeof OPTIONS> & { json: boolean },
): Promise<number> {
  const modes = (['users-d', 'sql', 'apply'] as const).filter(
    (m) => values[m] !== undefined && values[m] !== false,
  );
  if (modes.length !== 1)
    throw new UsageError(
      `give one of --users-d DIR, --sql, --apply URL${modes.length ? ` (got ${modes.map((m) => `--${m}`).join(', ')})` : ''}\n\n${clickhouseUsersCommand.help()}`,
    );
  const mode = modes[0]!;
  if (mode !== 'apply')
    for (const flag of ['user', 'password', 'password-file'] as const)
      if (values[flag] !== undefined) throw new UsageError(`--${flag}: only with --apply`);
  let applyUrl: string | undefined;
  if (mode === 'apply') {
    let url: URL;
    try {
      url = new URL(values.apply!);
    } catch {
      throw new UsageError(
        `--apply: expected a URL such as http://127.0.0.1:8123, got ${JSON.stringify(values.apply)}`,
      );
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new UsageError(`--apply: expected http: or https:, got ${url.protocol}`);
    if (url.username || url.password)
      throw new UsageError('--apply: no credentials in the URL; use --user and --password-file');
    applyUrl = url.toString();
  }
  const options: QueryUsersOptions = {
    limits: limitsFromFlags(values),
    ...(networks(values) ? { networks: networks(values) } : {}),
  };
  const names = {
    viewer: userName(values, 'viewer-user', 'fleettrace_viewer'),
    admin: userName(values, 'admin-user', 'fleettrace_admin'),
  };
  if (names.viewer === names.admin)
    throw new UsageError(
      `--viewer-user, --admin-user: two different names needed, got ${names.viewer} twice`,
    );
  // Read before anything is written: a bad flag leaves no password files behind.
  const applyPassword =
    mode === 'apply'
      ? readSecret(values, { flag: 'password', env: 'FLEETTRACE_CLICKHOUSE_PASSWORD' })
      : undefined;
  const secrets = passwords(values);
  options.viewer = { username: names.viewer, password: secrets.viewer };
  options.admin = { username: names.admin, password: secrets.admin };

  const report = {
    users: ROLES.map((role) => ({
      role,
      name: names[role],
      ...(secrets.files[role] ? { password_file: secrets.files[role] } : {}),
      generated: secrets.generated.includes(role),
    })),
    limits: options.limits,
    networks: options.networks ?? ['127.0.0.1', '::1'],
  };
  if (mode === 'sql') {
    const statements = queryUsersSql(options);
    process.stdout.write(
      values.json ? toJson({ ...report, statements }) + '\n' : statements.join(';\n') + ';\n',
    );
    return 0;
  }
  let target: Record<string, unknown>;
  if (mode === 'users-d') {
    target = { users_file: writeUsersFile(values['users-d']!, queryUsersXml(options)) };
  } else {
    const statements = queryUsersSql(options);
    const version = await applyStatements(
      applyUrl!,
      values.user ?? 'default',
      applyPassword,
      statements,
    );
    target = { applied: applyUrl, server_version: version, statements: statements.length };
  }
  if (values.json) {
    process.stdout.write(toJson({ ...target, ...report }) + '\n');
    return 0;
  }
  const lines = [
    mode === 'users-d'
      ? `wrote ${target.users_file as string} (the server loads it within seconds)`
      : `applied ${target.statements as number} statements on ${applyUrl}`,
  ];
  for (const u of report.users)
    lines.push(
      `  ${u.name.padEnd(20)} ${u.password_file ? `password in ${u.password_file}${u.generated ? ' (generated)' : ''}` : 'password from the environment'}`,
    );
  const file = (role: QueryRole) => secrets.files[role] ?? 'FILE';
  lines.push(
    '',
    'start the controller with:',
    `  --clickhouse-url URL --clickhouse-viewer-password-file ${file('viewer')} --clickhouse-admin-password-file ${file('admin')}` +
      (names.viewer !== 'fleettrace_viewer' ? ` --clickhouse-viewer-user ${names.viewer}` : '') +
      (names.admin !== 'fleettrace_admin' ? ` --clickhouse-admin-user ${names.admin}` : ''),
  );
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
