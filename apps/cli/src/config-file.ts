// SPDX-License-Identifier: Apache-2.0
/**
 * The --config file of `fleettrace controller`, `agent` and `ingest`: one YAML
 * format for all three, one top-level section per service, whose keys are the
 * service's long flag names (docs/config.md). A service reads its own section;
 * the others' are checked by `fleettrace config check`. Flags on the command
 * line override the file.
 *
 * Every problem names the file and the key: `fleettrace.yaml:
 * controller.heartbeat: expected a string such as "5s", got a number`. A value
 * that passes this structural check still goes through the command's own
 * validation; an error there about a value from the file is reported with the
 * file and key too (attributeToConfigFile).
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseDuration, ValidationError } from '@fleettrace/common';
import { isMap, isSeq, parseDocument } from 'yaml';
import { UsageError } from './cli-error';
import { nearest, type OptionSpec, type ParseArgsOptions } from './command';
import { configKeys, NOT_IN_FILE, type ConfigKey, type ServiceSpec } from './config-keys';
import { SERVICES, type ServiceEntry } from './config-services';

export type OptionValue = string | boolean | string[];

export interface ConfigCheck {
  /** each checked section's values, as parseArgs would give them for the same flags */
  sections: Record<string, Record<string, OptionValue>>;
  /** `FILE: section.key: problem` lines; empty when the file is usable */
  errors: string[];
  /** the file may be used, but should not be as it is (a secret others can read) */
  warnings: string[];
}

/** What a YAML value is, as an error message says it. */
function describe(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  if (typeof value === 'boolean') return 'a boolean';
  return `a ${typeof value}`;
}

/** What a key's value should be, for "expected ..., got ...". */
function expectation(key: ConfigKey): string {
  if (key.kind === 'boolean') return 'true or false';
  const one = key.duration
    ? 'a string such as "5s"'
    : key.numeric
      ? `an integer (${key.placeholder})`
      : key.placeholder
        ? `a string (${key.placeholder})`
        : 'a string';
  return key.kind === 'list' ? `a list of ${one.replace(/^an? (string|integer)/, '$1s')}` : one;
}

/**
 * One scalar of a string or list key as the command line would give it, or
 * undefined when it is the wrong type. Relative paths are taken from the
 * file's directory, as a service may run with any working directory.
 */
function scalar(key: ConfigKey, value: unknown, fileDir: string): string | undefined {
  let text: string | undefined;
  if (typeof value === 'string') text = value;
  else if (key.numeric && typeof value === 'number') text = String(value);
  if (text !== undefined && key.path && text !== '' && !isAbsolute(text))
    text = resolve(fileDir, text);
  return text;
}

/** The YAML document's top-level value, or the syntax errors with their line and column. */
function parseYaml(file: string, text: string): { root: unknown; errors: string[] } {
  const doc = parseDocument(text);
  if (doc.errors.length)
    return {
      root: undefined,
      errors: doc.errors.map((e) => {
        const at = e.linePos?.[0];
        const message = e.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '');
        return at ? `${file}:${at.line}:${at.col}: ${message}` : `${file}: ${message}`;
      }),
    };
  const root = doc.contents;
  if (root !== null && !isMap(root))
    return {
      root: undefined,
      errors: [
        `${file}: expected sections such as controller:, agent:, ingest:, got ${isSeq(root) ? 'a list' : 'a single value'}`,
      ],
    };
  return { root: doc.toJS(), errors: [] };
}

/** The service that has an option `name`, other than `except`; only for a hint, so never fails. */
function serviceWithOption(name: string, except: string): string | undefined {
  for (const entry of SERVICES) {
    if (entry.name === except) continue;
    try {
      if (configKeys(entry.spec()).some((k) => k.name === name)) return entry.name;
    } catch {
      // Its command does not load on this host (e.g. ingest's chDB): no hint.
    }
  }
  return undefined;
}

/**
 * Checks `file` and gives the values of the sections present in it (or only
 * of `only`). Every top-level key must be the name of one of `services`.
 */
export function checkConfigFile(
  file: string,
  services: readonly ServiceEntry[] = SERVICES,
  only?: string,
): ConfigCheck {
  const result: ConfigCheck = { sections: {}, errors: [], warnings: [] };
  let text: string;
  let mode: number;
  try {
    text = readFileSync(file, 'utf8');
    mode = statSync(file).mode & 0o777;
  } catch (err) {
    result.errors.push(`${file}: ${(err as Error).message}`);
    return result;
  }
  const { root, errors } = parseYaml(file, text);
  result.errors.push(...errors);
  if (errors.length || root === null || root === undefined) return result;
  const names = services.map((s) => s.name);
  const secrets: string[] = [];
  for (const [sectionName, section] of Object.entries(root as Record<string, unknown>)) {
    const entry = services.find((s) => s.name === sectionName);
    if (!entry) {
      const near = nearest(sectionName, names);
      result.errors.push(
        `${file}: ${sectionName}: unknown section (expected ${names.join(', ')})${near ? `; did you mean ${near}?` : ''}`,
      );
      continue;
    }
    if (only !== undefined && sectionName !== only) continue;
    if (section !== null && (typeof section !== 'object' || Array.isArray(section))) {
      result.errors.push(
        `${file}: ${sectionName}: expected a map of options, got ${describe(section)}`,
      );
      continue;
    }
    const keys = configKeys(entry.spec());
    const values: Record<string, OptionValue> = {};
    for (const [name, value] of Object.entries((section ?? {}) as Record<string, unknown>)) {
      const at = `${file}: ${sectionName}.${name}`;
      const key = keys.find((k) => k.name === name);
      if (!key) {
        if (NOT_IN_FILE.has(name)) {
          result.errors.push(`${at}: not allowed in a file (a command-line flag only)`);
          continue;
        }
        const near = nearest(
          name,
          keys.map((k) => k.name),
        );
        const elsewhere = near ? undefined : serviceWithOption(name, sectionName);
        result.errors.push(
          `${at}: unknown key` +
            (near
              ? `; did you mean ${near}?`
              : elsewhere
                ? ` (an option of ${elsewhere}: put it under ${elsewhere}:)`
                : ''),
        );
        continue;
      }
      const wrong = () =>
        result.errors.push(`${at}: expected ${expectation(key)}, got ${describe(value)}`);
      if (key.kind === 'boolean') {
        if (typeof value === 'boolean') values[name] = value;
        else wrong();
      } else if (key.kind === 'list') {
        if (!Array.isArray(value)) {
          wrong();
          continue;
        }
        const items: string[] = [];
        value.forEach((item, i) => {
          const text = scalar(key, item, dirname(file));
          if (text === undefined)
            result.errors.push(
              `${at}[${i}]: expected ${expectation({ ...key, kind: 'string' })}, got ${describe(item)}`,
            );
          else items.push(text);
        });
        values[name] = items;
      } else {
        const text = scalar(key, value, dirname(file));
        if (text === undefined) {
          wrong();
          continue;
        }
        // The syntax only: the command knows the bounds and checks them at start.
        if (key.duration)
          try {
            parseDuration(at, text);
          } catch (err) {
            result.errors.push((err as Error).message);
            continue;
          }
        values[name] = text;
      }
      if (key.secret) secrets.push(`${sectionName}.${name}`);
    }
    result.sections[sectionName] = values;
  }
  // As for a secret's -file (secret-flags.ts): taken, with a warning that says how to fix it.
  if (secrets.length && mode & 0o077)
    result.warnings.push(
      `${file} can be read by other local users (mode 0${mode.toString(8)}) and holds ${secrets.join(', ')}: chmod 600 ${file}, or give the secret in its -file key`,
    );
  return result;
}

/** `--config FILE` of a service: its options from FILE's section, under the flags given. */
export function configOption(service: string): OptionSpec {
  return {
    type: 'string',
    placeholder: 'FILE',
    help: `take options from FILE's ${service}: section (YAML, see docs/config.md); flags given here override it`,
  };
}

/** flag name → where its value came from, for the options the last parseServiceArgs took from a file. */
const fromFile = new Map<string, { file: string; key: string }>();

/** Where the value of `--<flag>` came from: `FILE: section.flag`, or undefined for the command line. */
export function configOrigin(flag: string): string | undefined {
  const origin = fromFile.get(flag);
  return origin && `${origin.file}: ${origin.key}`;
}

/**
 * parseArgs for a service command, with `--config FILE`: the options of the
 * file's section for `service`, then the command line's over them, then the
 * table's defaults for what neither gave. The file's problems are one
 * UsageError listing them all; its warnings go to stderr.
 */
export function parseServiceArgs<T extends ParseArgsConfig & { options: ParseArgsOptions }>(
  service: ServiceSpec,
  config: T,
): ReturnType<typeof parseArgs<T>> {
  const withoutDefaults: ParseArgsOptions = {};
  for (const [name, option] of Object.entries(config.options)) {
    const { default: _default, ...rest } = option;
    withoutDefaults[name] = rest;
  }
  const parsed = parseArgs({
    ...config,
    options: { ...withoutDefaults, config: { type: 'string' } },
  });
  const given = { ...parsed.values } as Record<string, unknown>;
  const file = given.config as string | undefined;
  delete given.config;
  const values: Record<string, unknown> = {};
  for (const [name, option] of Object.entries(config.options))
    if (option.default !== undefined) values[name] = option.default;
  fromFile.clear();
  if (file !== undefined && !given.help) {
    // This service's own options are the ones given (its module may still be loading).
    const services = SERVICES.map((s) =>
      s.name === service.name ? { ...s, spec: () => service } : s,
    );
    const check = checkConfigFile(file, services, service.name);
    if (check.errors.length) throw new UsageError(check.errors.join('\n'));
    for (const w of check.warnings) process.stderr.write(`fleettrace: warning: ${w}\n`);
    for (const [name, value] of Object.entries(check.sections[service.name] ?? {})) {
      values[name] = value;
      if (given[name] === undefined) fromFile.set(name, { file, key: `${service.name}.${name}` });
    }
  }
  Object.assign(values, given);
  return { ...parsed, values } as unknown as ReturnType<typeof parseArgs<T>>;
}

/** defineCommand's `parse` for a service: its flags over its --config file's section. */
export function configFileParser(service: ServiceSpec) {
  return (args: string[], options: ParseArgsOptions) =>
    parseServiceArgs(service, { args, strict: true, allowPositionals: true, options });
}

/**
 * An error of a command's own validation (`--clickhouse-url: expected http:
 * or https:, got ftp:`) about a value that came from the config file, said of
 * the file and key instead: `fleettrace.yaml: controller.clickhouse-url: ...`.
 * Other errors are returned as they are.
 */
export function attributeToConfigFile(err: unknown): unknown {
  if (!(err instanceof UsageError || err instanceof ValidationError) || !fromFile.size) return err;
  const head = /^(--[a-z][a-z0-9-]*(?:, --[a-z][a-z0-9-]*)*): /.exec(err.message);
  if (!head) return err;
  const flags = (head[1] as string).split(', ').map((f) => f.slice(2));
  const origins = flags.map((f) => fromFile.get(f));
  const file = origins.find((o) => o !== undefined)?.file;
  if (file === undefined) return err;
  const named = flags.map((f, i) => origins[i]?.key ?? `--${f}`).join(', ');
  return new UsageError(`${file}: ${named}: ${err.message.slice(head[0].length)}`);
}
