// SPDX-License-Identifier: Apache-2.0
/**
 * Masks secrets in command lines before they leave the agent: values after
 * `password=`, `token=`, `--password`, `-p<secret>` for mysql and the like.
 * The rules are regular expressions whose first capture group is the secret;
 * operators add their own.
 */

export const MASK = '***';

export interface RedactionRule {
  name: string;
  /** matched against one argument; the first capture group is replaced by MASK */
  pattern: RegExp;
}

const KEYS =
  'pass(?:word|wd)?|pwd|secret|token|api[_-]?key|access[_-]?key|secret[_-]?key|auth|credentials?|private[_-]?key';

export const DEFAULT_RULES: RedactionRule[] = [
  // key=value anywhere in an argument: password=hunter2, --db-password=x, DB_TOKEN=x, ?token=x&
  {
    name: 'key=value',
    pattern: new RegExp(`(?:^|[^a-z0-9])(?:[a-z0-9_.-]*(?:${KEYS}))=([^&\\s]+)`, 'i'),
  },
  // user:password@host in URLs
  { name: 'url-credentials', pattern: /[a-z][a-z0-9+.-]*:\/\/[^:/@\s]+:([^@\s]+)@/i },
  // mysql -pSECRET
  { name: 'mysql -p', pattern: /^-p(.+)$/ },
];

/** Flags whose *next* argument is a secret: --password hunter2, -P x is not included (a port). */
const SECRET_FLAGS = new RegExp(`^--?(?:[a-z0-9_-]*(?:${KEYS}))$`, 'i');

export class Redactor {
  constructor(private readonly rules: RedactionRule[] = DEFAULT_RULES) {}

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

  /** Redacts an argv; returns a new array and how many values were masked. */
  redactArgv(argv: string[]): { argv: string[]; masked: number } {
    let masked = 0;
    const out = argv.map((arg, i) => {
      const previous = argv[i - 1];
      if (i > 0 && previous !== undefined && SECRET_FLAGS.test(previous)) {
        masked++;
        return MASK;
      }
      let result = arg;
      for (const rule of this.rules) {
        const m = rule.pattern.exec(result);
        const secret = m?.[1];
        if (m && secret !== undefined && secret !== MASK) {
          const at = m.index + m[0].lastIndexOf(secret);
          result = result.slice(0, at) + MASK + result.slice(at + secret.length);
          masked++;
        }
      }
      return result;
    });
    return { argv: out, masked };
  }
}
