// SPDX-License-Identifier: Apache-2.0
/**
 * The keys of one section of a config file, derived from what the service's
 * command already has: its parseArgs option table (name, type, repeatable,
 * default) and its --help text (the value's placeholder and the meaning).
 * Nothing here lists an option a second time; the file's checker
 * (config-file.ts) and docs/config.md (config-docs.ts) both read these keys.
 */
import type { ParseArgsConfig } from 'node:util';

export type OptionTable = NonNullable<ParseArgsConfig['options']>;

/** One service as the config file sees it. */
export interface ServiceSpec {
  /** the section name, also the command: `fleettrace <name>` */
  name: string;
  options: OptionTable;
  help: string;
}

export interface ConfigKey {
  /** the long flag name without the dashes, e.g. "clickhouse-url" */
  name: string;
  kind: 'string' | 'boolean' | 'list';
  /** the value's placeholder in --help ("D", "H:P", "FILE"); "" for booleans */
  placeholder: string;
  /** the option table's default, as the command line would spell it */
  default?: string;
  /** the --help text that explains the option, on one line; "" when --help has no entry for it */
  meaning: string;
  /** an integer (N, MIB, PID): a YAML number is taken as well as a string */
  numeric: boolean;
  /** a duration such as "5s" */
  duration: boolean;
  /** a file or directory: relative paths are taken from the config file's directory */
  path: boolean;
  /** the secret itself (there is a `<name>-file` option beside it) */
  secret: boolean;
}

/** Options that mean nothing in a file: --help, and --config itself. */
export const NOT_IN_FILE = new Set(['help', 'config']);

const NUMERIC = new Set(['N', 'MIB', 'PID']);
const PATHS = new Set(['FILE', 'DIR']);

interface HelpEntry {
  flags: Map<string, string>;
  text: string;
}

/**
 * The option entries of a --help text: a line indented by two spaces that
 * starts with a flag (`  --ca-cert FILE, --ca-key FILE`), optionally followed
 * by its description, and the more deeply indented lines under it.
 */
function helpEntries(help: string): HelpEntry[] {
  const entries: HelpEntry[] = [];
  let current: HelpEntry | undefined;
  for (const line of help.split('\n')) {
    const head =
      /^ {2}(?:-\w, )?(--[a-z][a-z0-9-]*(?: (?:[^\s,]|,(?! ))+)?(?:, --[a-z][a-z0-9-]*(?: (?:[^\s,]|,(?! ))+)?)*)(?: {2,}(.*))?$/.exec(
        line,
      );
    if (head) {
      const flags = new Map<string, string>();
      for (const part of (head[1] as string).split(', ')) {
        const [flag, placeholder = ''] = part.split(' ');
        flags.set((flag as string).slice(2), placeholder);
      }
      current = { flags, text: head[2] ?? '' };
      entries.push(current);
    } else if (current && /^ {4,}\S/.test(line)) {
      current.text = `${current.text} ${line.trim()}`.trim();
    } else {
      current = undefined;
    }
  }
  return entries;
}

/** The keys of one service, in the order of its option table. */
export function configKeys(service: ServiceSpec): ConfigKey[] {
  const entries = helpEntries(service.help);
  const keys: ConfigKey[] = [];
  for (const [name, option] of Object.entries(service.options)) {
    if (NOT_IN_FILE.has(name)) continue;
    const own = entries.find((e) => e.flags.has(name));
    const secret = option.type === 'string' && `${name}-file` in service.options;
    // A secret given inline needs no entry of its own: it is the value of its -file sibling.
    const sibling = entries.find((e) => e.flags.has(`${name}-file`));
    let placeholder = own?.flags.get(name) ?? '';
    let meaning = own?.text ?? '';
    if (!own && secret) {
      placeholder = 'SECRET';
      meaning =
        `the secret itself, instead of ${sibling ? `${name}-file` : 'its file'}: every local user ` +
        'can read a command line, and a config file holding it should be mode 0600';
    }
    const kind = option.type === 'boolean' ? 'boolean' : option.multiple ? 'list' : 'string';
    const dflt = option.default;
    keys.push({
      name,
      kind,
      placeholder,
      ...(dflt !== undefined ? { default: String(dflt) } : {}),
      meaning,
      numeric: NUMERIC.has(placeholder),
      duration: placeholder === 'D',
      path: PATHS.has(placeholder),
      secret,
    });
  }
  return keys;
}
