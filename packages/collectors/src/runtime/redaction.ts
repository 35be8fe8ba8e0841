// SPDX-License-Identifier: Apache-2.0
/**
 * Masks secrets in command lines before they leave the agent.
 *
 * An argv is read as the command it is: every argument is a word, and an
 * argument holding whitespace (the string of `sh -c`, `su -c`, `ssh host
 * CMD`, `flock -c`, `watch`...) is also split into shell words and commands
 * (shell-words.ts), recursively, so that `sh -c "mysql -pX && curl -u a:b"`
 * is read like the two commands it runs. Any argument with whitespace is
 * split, not only the one after `-c`: a command string reaches a shell
 * through too many wrappers to list, and a missed shell leaks a secret while
 * a sentence misread as a command loses one word at worst.
 *
 * Secrets are found three ways, on every word and every occurrence:
 *  - rules (regular expressions whose first capture group is the secret):
 *    `key=value`, `--password=…`, URL user info, HTTP headers, JSON and
 *    well-known token formats (DEFAULT_RULES), plus the operator's own;
 *  - options whose next word is a secret: any `--password`, `--token`,
 *    `--api-key`... and, per program, the short options that mean a password
 *    only there (PROGRAM_OPTIONS: `mysql -p`, `redis-cli -a`, `curl -u`);
 *  - assignments in front of a command (`MYSQL_PWD="a b" mysql`), whose
 *    whole value is masked.
 * The secret's characters in the original argument are replaced by MASK;
 * everything else, quotes included, is kept as it was. Overlapping or
 * touching secrets are masked once and counted once.
 */
import { shellTokens, type ShellToken } from './shell-words';

export const MASK = '***';

export interface RedactionRule {
  name: string;
  /**
   * Matched against every word, every occurrence (the search is global
   * whatever the flags); the first capture group of each match is the secret.
   */
  pattern: RegExp;
  /** which parts of the captured text are secret (offsets in it); the whole of it by default */
  pick?: (secret: string) => Span[];
  /**
   * Text every match contains, tested first: most arguments hold none, and a
   * plain test is far cheaper than a global search with capture offsets.
   */
  hint?: RegExp;
}

/** [start, end) offsets */
export type Span = [start: number, end: number];

/** Names whose value is always a secret. */
const SECRET_KEYS =
  'pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|access[_-]?key|secret[_-]?key';
/** Names whose value is a secret unless it is a file's path (`--private-key ~/.ssh/id`). */
const SECRET_OR_FILE_KEYS = 'auth|credentials?|private[_-]?key';
const NOT_A_PATH = '(?!(?:~|\\.{1,2})?/)';
/** What every name above contains (the hint of the rules built on them). */
const KEY_HINT = /pass|pwd|secret|token|key|auth|credential|identified|cookie/i;

/**
 * True for a value shaped like a generated token rather than a name: 20 or
 * more token characters mixing upper case, lower case and digits, or 32 or
 * more with letters and digits (lower-case tokens such as Azure DevOps PATs).
 * Used where a name is expected but a token is often put (`https://TOKEN@host`).
 */
export function looksLikeToken(value: string): boolean {
  if (value.length < 20 || !/^[A-Za-z0-9_.~+/=-]+$/.test(value)) return false;
  const digit = /[0-9]/.test(value);
  if (digit && /[a-z]/.test(value) && /[A-Z]/.test(value)) return true;
  return value.length >= 32 && digit && /[A-Za-z]/.test(value);
}

/**
 * `user<sep>password`: the password; the user instead when the password is
 * empty or a placeholder (`TOKEN:`, `TOKEN:x-oauth-basic`, GitHub's form), or
 * when the user looks like a token; with no separator, the whole value if it
 * looks like a token (a name alone is not a secret: curl then asks for the password).
 */
function userAndPassword(sep: string): (value: string) => Span[] {
  return (value) => {
    const i = value.indexOf(sep);
    if (i < 0) return looksLikeToken(value) ? [[0, value.length]] : [];
    const user = value.slice(0, i);
    const password = value.slice(i + 1);
    const spans: Span[] = [];
    if (user && (!password || password === 'x-oauth-basic' || looksLikeToken(user)))
      spans.push([0, i]);
    if (password && password !== 'x-oauth-basic') spans.push([i + 1, value.length]);
    return spans;
  };
}

export const DEFAULT_RULES: RedactionRule[] = [
  // key=value inside a word: password=hunter2, -Ddb.password=x, ?token=x&, DB_TOKEN=x.
  // Quotes end the value: in a command string they are the shell's, not the secret's.
  {
    name: 'key=value',
    pattern: new RegExp(
      `(?:^|[^a-z0-9])[a-z0-9_.-]*(?:(?:${SECRET_KEYS})=|(?:${SECRET_OR_FILE_KEYS})=${NOT_A_PATH})([^&\\s'"]+)`,
      'i',
    ),
    hint: KEY_HINT,
  },
  // --password=two words: an option is never a command string, so its value is the rest of the word
  {
    name: '--option=value',
    pattern: new RegExp(
      `^--?[a-z0-9_.-]*(?:(?:${SECRET_KEYS})=|(?:${SECRET_OR_FILE_KEYS})=${NOT_A_PATH})(.+)$`,
      'is',
    ),
    hint: KEY_HINT,
  },
  // scheme://user:password@host, scheme://TOKEN@host; RFC 3986 user info has no / ? #, so the
  // last @ before them ends it (an unencoded @ in a password stays masked)
  {
    name: 'url-credentials',
    pattern: /(?<![a-z0-9+.-])[a-z][a-z0-9+.-]*:\/\/([^\s/?#'"]*)@/i,
    pick: userAndPassword(':'),
    hint: /:\/\//,
  },
  // Authorization: Bearer x, Proxy-Authorization: Basic x (the scheme is kept)
  {
    name: 'authorization header',
    pattern:
      /(?:^|[\s=>"'{,;])(?:proxy-)?authorization\s*:\s*(?:(?:bearer|basic|token|apikey|api-key|key|sso-key|negotiate|ntlm)\s+)?([^\s"'\\]+)/i,
    hint: KEY_HINT,
  },
  // Cookie: a=1; b=2 (the whole list)
  {
    name: 'cookie header',
    pattern: /(?:^|[\s=>"'{,;])(?:set-)?cookie\s*:\s*([^\s"'\\;]+(?:;\s*[^\s"'\\;]+)*)/i,
    hint: KEY_HINT,
  },
  // X-Api-Key: x, X-Auth-Token: x, Private-Token: x, X-Vault-Token: x, Api-Key: x
  {
    name: 'key header',
    pattern:
      /(?:^|[\s=>"'{,;])(?:[a-z0-9]+-)*(?:api-?key|[a-z]*token|auth|secret|password|passwd)\s*:\s*([^\s"'\\,;]+)/i,
    hint: KEY_HINT,
  },
  // a bearer token anywhere else (--header=Bearer x in a config line, a log of the header)
  { name: 'bearer', pattern: /(?<![a-z0-9])bearer\s+([a-z0-9._~+/-]{8,}=*)/i, hint: /bearer/i },
  // JSON bodies: {"password": "x"}, {"access_token":"x"}, {"Authorization":"Bearer x"}
  {
    name: 'json',
    pattern: new RegExp(
      `"[a-z0-9_.-]*(?:${SECRET_KEYS}|${SECRET_OR_FILE_KEYS}|authorization|cookie)"\\s*:\\s*"((?:[^"\\\\]|\\\\.)*)`,
      'i',
    ),
    hint: KEY_HINT,
  },
  // the same with single quotes, as Python and PHP literals write it
  {
    name: 'quoted key',
    pattern: new RegExp(
      `'[a-z0-9_.-]*(?:${SECRET_KEYS}|${SECRET_OR_FILE_KEYS}|authorization|cookie)'\\s*(?::|=>)\\s*'([^']*)`,
      'i',
    ),
    hint: KEY_HINT,
  },
  // SQL: ALTER USER app PASSWORD 'x', IDENTIFIED BY 'x', SET PASSWORD = 'x'
  {
    name: 'sql password',
    pattern: /\b(?:password|identified\s+by)(?:\s+|\s*=\s*)'((?:[^']|'')*)/i,
    hint: KEY_HINT,
  },
  // PEM private keys: the base64 body (to the end of the word when the END line was cut off)
  {
    name: 'private key block',
    pattern:
      /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----([\s\S]*?)(?=-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/,
    hint: /PRIVATE KEY/,
  },
  // Well-known token formats, anywhere. The type prefix is kept so a reader knows what to rotate.
  // fleettrace API and bootstrap tokens (services/controller/src/auth/tokens.service.ts):
  // ftapi.<12 hex id>.<secret>, ftboot.<12 hex id>.<secret>.sha256-<CA hash>; the id and the
  // CA hash are not secret (the audit log shows the id).
  {
    name: 'fleettrace token',
    pattern: /\bft(?:api|boot)\.[0-9a-f]{12}\.([A-Za-z0-9_-]{20,100})/,
    hint: /ft(?:api|boot)\./,
  },
  {
    name: 'github token',
    pattern: /(?<![A-Za-z0-9_])gh[pousr]_([A-Za-z0-9]{20,})/,
    hint: /gh[pousr]_/,
  },
  {
    name: 'github fine-grained token',
    pattern: /\bgithub_pat_([A-Za-z0-9_]{20,})/,
    hint: /github_pat_/,
  },
  { name: 'gitlab token', pattern: /\bglpat-([A-Za-z0-9_-]{20,})/, hint: /glpat-/ },
  { name: 'slack token', pattern: /\bxox[abposr]-([A-Za-z0-9-]{10,})/, hint: /xox/ },
  {
    name: 'stripe key',
    pattern: /\b[sr]k_(?:live|test)_([A-Za-z0-9]{10,})/,
    hint: /k_(?:live|test)_/,
  },
  { name: 'npm token', pattern: /\bnpm_([A-Za-z0-9]{30,})/, hint: /npm_/ },
  { name: 'google api key', pattern: /\bAIza([0-9A-Za-z_-]{30,})/, hint: /AIza/ },
  {
    name: 'aws access key id',
    pattern: /(?<![A-Z0-9])(?:AKIA|ASIA)([A-Z0-9]{16})(?![A-Z0-9])/,
    hint: /A[KS]IA/,
  },
  {
    name: 'jwt',
    pattern: /(?<![A-Za-z0-9_-])(eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*)/,
    hint: /eyJ/,
  },
];

/**
 * Options of any program whose next word is a secret: --password, --db-password, --api-key,
 * and Go or Java style -token, -db-password. A single dash with anything else in front is
 * short options with a value attached (`-pMySecret`), not a name.
 */
const SECRET_OPTION = new RegExp(
  `^(?:--[a-z0-9_.-]*|-(?:[a-z0-9]+[_.-])*)(?:${SECRET_KEYS}|${SECRET_OR_FILE_KEYS})$`,
  'i',
);
/** ...unless they only switch something (--no-password, --ask-become-pass, --skip-password). */
const SWITCH_OPTION = /^--?(?:no|skip|disable|without|ask|prompt)[-_]/i;
const FILE_OPTION = new RegExp(`(?:${SECRET_OR_FILE_KEYS})$`, 'i');
/** Bare words whose next word is a secret: `aws configure set aws_secret_access_key X`, `CONFIG SET requirepass X`. */
const SECRET_WORDS = new Set([
  'aws_secret_access_key',
  'aws_session_token',
  'requirepass',
  'masterauth',
]);

interface ProgramOptions {
  /** options whose next word is the value */
  next?: readonly string[];
  /** options that take the value attached: -pSECRET */
  attached?: readonly string[];
  /** the value is optional (`mysql -p` alone prompts): a next word that is an option is not it */
  optional?: boolean;
  /** only after this subcommand (`docker login -p`, where `docker run -p` is a port) */
  subcommand?: string;
  /** the secret parts of the value; all of it by default */
  pick?: (value: string) => Span[];
}

const whole = (value: string): Span[] => [[0, value.length]];

/**
 * Short options that mean a password only for some programs, by the base
 * name of the program (argv[0], or the command a wrapper such as sudo runs).
 * Elsewhere `-p` is a port (ssh, docker run), `-a` "all" (ls), `-u` a user.
 *
 *   program                                option(s)          value
 *   mysql, mysqldump, mariadb, ... (MySQL)  -pSECRET, -p SECRET  whole (-p alone prompts:
 *                                                             a separate word is the database
 *                                                             for mysql itself, masked anyway:
 *                                                             people who write it mean a password)
 *   sshpass                                 -pSECRET, -p SECRET  whole
 *   redis-cli, valkey-cli, keydb-cli        -a SECRET            whole
 *   mongo, mongosh, mongodump, ...          -p SECRET            whole (optional value)
 *   curl                                    -u, --user, -U, --proxy-user  user:password -> password
 *                                           --oauth2-bearer      whole
 *                                           -b, --cookie         whole when name=value (else a file)
 *   lftp                                    -u user,password     password
 *   smbclient                               -U user%password     password
 *   ldapsearch, ldapmodify, ldapadd, ...    -w SECRET            whole
 *   openssl                                 -passin/-passout/-pass pass:X  X (env:, file: kept)
 *                                           -k SECRET            whole
 *   zip, unzip                              -P SECRET            whole
 *   7z, 7za, 7zz                            -pSECRET             whole
 *   sqlcmd, bcp (SQL Server)                -P SECRET            whole
 *   docker, podman, nerdctl login           -p SECRET            whole
 */
const PROGRAM_OPTIONS: ReadonlyMap<string, ProgramOptions> = (() => {
  const table = new Map<string, ProgramOptions>();
  const add = (names: string[], options: ProgramOptions) => {
    for (const name of names) table.set(name, options);
  };
  add(
    [
      'mysql',
      'mysqldump',
      'mysqladmin',
      'mysqlimport',
      'mysqlcheck',
      'mysqlshow',
      'mysqlpump',
      'mysqlbinlog',
      'mysqlslap',
      'mariadb',
      'mariadb-dump',
      'mariadb-admin',
      'mariadb-import',
      'mariadb-check',
      'mariadb-show',
      'mariadb-binlog',
    ],
    { next: ['-p'], attached: ['-p'], optional: true },
  );
  add(['sshpass'], { next: ['-p'], attached: ['-p'] });
  add(['redis-cli', 'valkey-cli', 'keydb-cli'], { next: ['-a'] });
  add(['mongo', 'mongosh', 'mongodump', 'mongorestore', 'mongoexport', 'mongoimport'], {
    next: ['-p'],
    optional: true,
  });
  add(['curl'], {
    next: ['-u', '--user', '-U', '--proxy-user'],
    attached: ['-u', '-U'],
    pick: userAndPassword(':'),
  });
  add(['lftp'], { next: ['-u'], pick: userAndPassword(',') });
  add(['smbclient'], { next: ['-U', '--user'], attached: ['-U'], pick: userAndPassword('%') });
  add(['ldapsearch', 'ldapmodify', 'ldapadd', 'ldapdelete', 'ldappasswd', 'ldapwhoami'], {
    next: ['-w'],
  });
  add(['zip', 'unzip'], { next: ['-P'] });
  add(['7z', '7za', '7zz'], { attached: ['-p'] });
  add(['sqlcmd', 'bcp'], { next: ['-P'] });
  add(['docker', 'podman', 'nerdctl'], { next: ['-p'], subcommand: 'login' });
  return table;
})();

/** curl and openssl have options with different value shapes: checked apart from the table. */
const CURL_WHOLE = new Set(['--oauth2-bearer']);
const CURL_COOKIE = new Set(['-b', '--cookie']);
const OPENSSL_PASS = new Set(['-passin', '-passout', '-pass']);

function opensslPass(value: string): Span[] {
  // pass:SECRET is the password itself; env:VAR, file:PATH, fd:N and stdin say where it is
  if (value.startsWith('pass:')) return [[5, value.length]];
  return [];
}

interface Wrapper {
  /** options that take the next word as their value */
  withValue: ReadonlySet<string>;
  /** operands before the command (timeout's duration, flock's lock file) */
  operands?: number;
}
const wrapper = (withValue: string[], operands = 0): Wrapper => ({
  withValue: new Set(withValue),
  operands,
});

/** Commands that run the command after their own options: the program is the one they run. */
const WRAPPERS: ReadonlyMap<string, Wrapper> = new Map([
  [
    'sudo',
    wrapper(['-u', '-g', '-C', '-h', '-p', '-U', '-r', '-t', '-D', '-T', '--user', '--group']),
  ],
  ['doas', wrapper(['-u', '-C'])],
  ['env', wrapper(['-u', '-C', '-S', '--unset', '--chdir'])],
  ['nice', wrapper(['-n', '--adjustment'])],
  ['nohup', wrapper([])],
  ['exec', wrapper(['-a'])],
  ['time', wrapper(['-f', '-o', '--format', '--output'])],
  ['command', wrapper([])],
  ['builtin', wrapper([])],
  ['setsid', wrapper([])],
  ['chronic', wrapper([])],
  ['unbuffer', wrapper([])],
  ['timeout', wrapper(['-s', '-k', '--signal', '--kill-after'], 1)],
  ['ionice', wrapper(['-c', '-n', '--class', '--classdata'])],
  ['stdbuf', wrapper(['-i', '-o', '-e'])],
  ['flock', wrapper(['-w', '-E', '--timeout', '--conflict-exit-code'], 1)],
  ['sshpass', wrapper(['-p', '-f', '-d', '-P'])],
  // Running as another user or with other limits, as root's cron and control panels do.
  [
    'setpriv',
    wrapper([
      '--reuid',
      '--regid',
      '--ruid',
      '--rgid',
      '--euid',
      '--egid',
      '--groups',
      '--inh-caps',
      '--ambient-caps',
      '--bounding-set',
      '--securebits',
      '--pdeathsig',
      '--selinux-label',
      '--apparmor-profile',
    ]),
  ],
  ['runuser', wrapper(['-u', '-g', '-G', '--user', '--group', '--supp-group', '-w'])],
  ['chroot', wrapper(['--userspec', '--groups'], 1)],
  ['taskset', wrapper([], 1)],
  ['chrt', wrapper([], 1)],
  ['prlimit', wrapper(['-p', '--pid'])],
  ['nsenter', wrapper(['-t', '--target', '-S', '--setuid', '-G', '--setgid'])],
  ['unshare', wrapper([])],
  ['xargs', wrapper(['-I', '-i', '-n', '-P', '-d', '-E', '-s', '-L', '-a', '--arg-file'])],
]);
/** Reserved words that may come before a command's name. */
const RESERVED = new Set(['!', '{', '}', 'if', 'then', 'else', 'elif', 'do', 'while', 'until']);
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;
const ASSIGNED_SECRET = new RegExp(`^[A-Za-z0-9_]*(?:${SECRET_KEYS}|${SECRET_OR_FILE_KEYS})=`, 'i');
/** How deep command strings inside command strings are read (`sh -c "su -c '…'"` is 2). */
const MAX_DEPTH = 4;

/** A word of an argument: its text, and where each character is in argv[arg]. */
interface Word {
  arg: number;
  text: string;
  at: (i: number) => number;
  depth: number;
}
/** A simple command: words, with `undefined` where a redirection stood (`-p < dump.sql`). */
type Command = Array<Word | undefined>;

const identity = (i: number) => i;
const basename = (path: string) => path.slice(path.lastIndexOf('/') + 1);

/** The spans to mask, per argument. */
class Masks {
  private readonly spans: Span[][];
  constructor(count: number) {
    this.spans = Array.from({ length: count }, () => []);
  }

  /** Marks text[start, end) of a word as secret. */
  add(word: Word, start: number, end: number): void {
    if (end <= start) return;
    (this.spans[word.arg] as Span[]).push([word.at(start), word.at(end - 1) + 1]);
  }

  apply(argv: string[]): { argv: string[]; masked: number } {
    let masked = 0;
    const out = argv.map((arg, i) => {
      const spans = (this.spans[i] as Span[]).sort((a, b) => a[0] - b[0]);
      let result = '';
      let done = 0;
      let k = 0;
      while (k < spans.length) {
        let [start, end] = spans[k++] as Span;
        // overlapping or touching spans are one secret
        while (k < spans.length && (spans[k] as Span)[0] <= end)
          end = Math.max(end, (spans[k++] as Span)[1]);
        start = Math.max(start, done);
        if (end <= start) continue;
        const secret = arg.slice(start, end);
        result += arg.slice(done, start) + MASK;
        done = end;
        // an already masked value (rows redacted twice) is not counted again
        if (secret !== MASK) masked++;
      }
      return result + arg.slice(done);
    });
    return { argv: out, masked };
  }
}

/** The commands of a command string: words split at separators, redirections kept as gaps. */
function commandsOf(word: Word): Command[] {
  const commands: Command[] = [];
  let current: Command = [];
  const tokens: ShellToken[] = shellTokens(word.text);
  for (const token of tokens) {
    if (token.kind === 'operator') {
      if (token.separates) {
        if (current.length) commands.push(current);
        current = [];
      } else {
        current.push(undefined);
      }
      continue;
    }
    const at = token.at;
    current.push({
      arg: word.arg,
      text: token.text,
      at: (i) => word.at(at[i] as number),
      depth: word.depth + 1,
    });
  }
  if (current.length) commands.push(current);
  return commands;
}

interface Segment {
  program: string;
  /** index of the program's word, and the end (exclusive) of its arguments */
  from: number;
  to: number;
}

/**
 * Who reads which words: `sudo -u www sshpass -p X ssh -p 2222 host` is three
 * segments (sudo, sshpass, ssh), so sshpass's -p is a password and ssh's a port.
 * Assignment words in front of a command (or given to env) are returned apart.
 */
function segmentsOf(command: Command): { segments: Segment[]; assignments: Word[] } {
  const segments: Segment[] = [];
  const assignments: Word[] = [];
  let i = 0;
  for (;;) {
    while (i < command.length) {
      const w = command[i];
      if (w === undefined) {
        i += 2; // a redirection and its target
      } else if (ASSIGNMENT.test(w.text)) {
        assignments.push(w);
        i++;
      } else if (RESERVED.has(w.text)) {
        i++;
      } else {
        break;
      }
    }
    const word = command[i];
    if (word === undefined) return { segments, assignments };
    const program = basename(word.text);
    const wrap = WRAPPERS.get(program);
    if (!wrap) {
      segments.push({ program, from: i, to: command.length });
      return { segments, assignments };
    }
    let j = i + 1;
    while (j < command.length) {
      const text = command[j]?.text;
      if (text === undefined) break;
      if (text === '--') {
        j++;
        break;
      }
      if (program === 'env' && ASSIGNMENT.test(text)) {
        assignments.push(command[j] as Word);
        j++;
      } else if (text.startsWith('-') && text !== '-') {
        j += wrap.withValue.has(text) ? 2 : 1;
      } else {
        break;
      }
    }
    j = Math.min(command.length, j + (wrap.operands ?? 0));
    segments.push({ program, from: i, to: j });
    i = j;
  }
}

/** What a command's first word looks like: a name or path, `[`, `:`, `"$APP"`, `{`. */
const PROGRAM_NAME = /^(?:(?!-)[\w./+$[\]{}~%@-]+|:)$/;
const looksLikeOption = (text: string) => /^-[A-Za-z-]/.test(text);

export class Redactor {
  private readonly rules: RedactionRule[];
  /** any rule's hint: a word matching none is searched by the rules without a hint only */
  private readonly anyHint: RegExp;

  constructor(rules: RedactionRule[] = DEFAULT_RULES) {
    // Every occurrence, with the capture group's offsets (flag d).
    this.rules = rules.map((rule) => ({
      ...rule,
      pattern: new RegExp(
        rule.pattern.source,
        [...new Set([...rule.pattern.flags, 'g', 'd'])].join(''),
      ),
    }));
    const hints = rules.flatMap((rule) => (rule.hint ? [rule.hint] : []));
    // Case-insensitive is wider than each hint: a true test only means "look closer".
    this.anyHint = new RegExp(hints.map((h) => `(?:${h.source})`).join('|') || '(?!)', 'i');
  }

  /** A redactor with extra rules given as regular-expression strings (first group = secret). */
  static withExtra(extra: string[], field = 'redact'): Redactor {
    const rules = [...DEFAULT_RULES];
    extra.forEach((source, i) => {
      let pattern: RegExp;
      try {
        pattern = new RegExp(source, 'i');
      } catch (err) {
        throw new Error(`${field}[${i}]: not a regular expression: ${(err as Error).message}`);
      }
      if (!/\((?!\?)/.test(source))
        throw new Error(`${field}[${i}]: needs a capture group around the secret`);
      rules.push({ name: `custom ${i}`, pattern });
    });
    return new Redactor(rules);
  }

  /**
   * Redacts an argv; returns a new array and how many secrets were masked.
   * Runs on the agent's event thread, once per exec event.
   */
  redactArgv(argv: string[]): { argv: string[]; masked: number } {
    const masks = new Masks(argv.length);
    this.command(
      argv.map((text, arg) => ({ arg, text, at: identity, depth: 0 })),
      masks,
    );
    return masks.apply(argv);
  }

  private command(command: Command, masks: Masks): void {
    const { segments, assignments } = segmentsOf(command);
    // Text with whitespace that is not a command (a JSON body, a header, a
    // PEM block, PHP code) was already searched as one word: its "words" mean
    // nothing, but a quoted string in it may be a command (`system("mysql -pX")`).
    const first = segments[0];
    const name = first && command[first.from];
    if (name && name.depth > 0 && !PROGRAM_NAME.test(name.text)) {
      for (const w of command)
        if (w && w.depth < MAX_DEPTH && /\s/.test(w.text))
          for (const inner of commandsOf(w)) this.command(inner, masks);
      return;
    }
    for (const w of assignments) {
      const key = ASSIGNED_SECRET.exec(w.text);
      if (key) masks.add(w, key[0].length, w.text.length);
    }
    for (const segment of segments) this.programOptions(command, segment, masks);
    command.forEach((w, i) => {
      if (w === undefined) return;
      const next = command[i + 1];
      if (next !== undefined && this.isSecretOption(w.text, next.text))
        masks.add(next, 0, next.text.length);
      this.word(w, masks);
    });
  }

  private isSecretOption(option: string, value: string): boolean {
    if (SECRET_WORDS.has(option.toLowerCase())) return true;
    if (!SECRET_OPTION.test(option) || SWITCH_OPTION.test(option)) return false;
    // `--password --host x`: the password was left out (mysql prompts)
    if (/^--[a-z]/i.test(value)) return false;
    if (FILE_OPTION.test(option) && /^(?:~|\.{1,2})?\//.test(value)) return false;
    return true;
  }

  private programOptions(command: Command, segment: Segment, masks: Masks): void {
    const { program, from, to } = segment;
    const options = PROGRAM_OPTIONS.get(program);
    let start = from + 1;
    if (options?.subcommand !== undefined) {
      const sub = command.findIndex(
        (w, i) => i > from && i < to && w !== undefined && !w.text.startsWith('-'),
      );
      if (sub < 0 || command[sub]?.text !== options.subcommand) return;
      start = sub + 1;
    }
    const mark = (w: Word, offset: number, pick: (value: string) => Span[]) => {
      for (const [s, e] of pick(w.text.slice(offset))) masks.add(w, offset + s, offset + e);
    };
    for (let i = start; i < to; i++) {
      const w = command[i];
      if (w === undefined) continue;
      const next = i + 1 < to ? command[i + 1] : undefined;
      if (program === 'curl' && next !== undefined) {
        if (CURL_WHOLE.has(w.text)) mark(next, 0, whole);
        if (CURL_COOKIE.has(w.text) && next.text.includes('=')) mark(next, 0, whole);
      }
      if (program === 'openssl' && next !== undefined) {
        if (OPENSSL_PASS.has(w.text)) mark(next, 0, opensslPass);
        if (w.text === '-k') mark(next, 0, whole);
      }
      if (!options) continue;
      const pick = options.pick ?? whole;
      if (options.next?.includes(w.text) && next !== undefined) {
        if (!(options.optional && looksLikeOption(next.text))) mark(next, 0, pick);
        continue;
      }
      for (const prefix of options.attached ?? [])
        if (w.text.length > prefix.length && w.text.startsWith(prefix) && w.text[1] !== '-')
          mark(w, prefix.length, pick);
    }
  }

  /** Rules on one word, then the commands inside it when it holds whitespace. */
  private word(w: Word, masks: Masks): void {
    const hinted = this.anyHint.test(w.text);
    for (const rule of this.rules) {
      if (rule.hint && !(hinted && rule.hint.test(w.text))) continue;
      for (const m of w.text.matchAll(rule.pattern)) {
        const group = m.indices?.[1];
        if (!group) continue;
        const [start, end] = group;
        if (!rule.pick) {
          masks.add(w, start, end);
          continue;
        }
        for (const [s, e] of rule.pick(w.text.slice(start, end)))
          masks.add(w, start + s, start + e);
      }
    }
    if (w.depth < MAX_DEPTH && /\s/.test(w.text))
      for (const command of commandsOf(w)) this.command(command, masks);
  }
}
