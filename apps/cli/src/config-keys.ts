// SPDX-License-Identifier: Apache-2.0
/**
 * The keys of one section of a config file, derived from the service's
 * command definition (command.ts): each option's name, type, repeatability,
 * default, value placeholder and help text.
 * Nothing here lists an option a second time; the file's checker
 * (config-file.ts) and docs/config.md (config-docs.ts) both read these keys.
 */
import type { OptionSpecs } from './command';

/** One service as the config file sees it. */
export interface ServiceSpec {
  /** the section name, also the command: `fleettrace <name>` */
  name: string;
  /** the command's options, as its definition has them (defineCommand) */
  options: OptionSpecs;
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

/** The keys of one service, in the order of its options. */
export function configKeys(service: ServiceSpec): ConfigKey[] {
  const keys: ConfigKey[] = [];
  for (const [name, option] of Object.entries(service.options)) {
    if (NOT_IN_FILE.has(name)) continue;
    const secret = option.type === 'string' && `${name}-file` in service.options;
    // A secret given inline is the value of its -file sibling, said of a file rather than a command line.
    const placeholder = secret ? 'SECRET' : (option.placeholder ?? '');
    const meaning = secret
      ? `the secret itself, instead of ${name}-file: every local user can read a command line, and a config file holding it should be mode 0600`
      : option.help;
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
