// SPDX-License-Identifier: Apache-2.0
/**
 * One definition per command: its options (with their help, defaults and
 * choices), its arguments, its subcommands and what it runs. The parser
 * (node:util parseArgs, strict), `--help`, `--json` for the commands that
 * print data, the choice checks and the usage errors all come from the
 * definition, so a command's help cannot list an option it does not take or
 * miss one it does, and every usage error names the flag (exit status 2).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { toJson, UsageError } from './cli-error';

/** One option: what parseArgs needs, and what --help and docs/config.md say of it. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  default?: string | boolean | string[];
  /** what it does, one sentence or a few; --help wraps it and adds the default */
  help: string;
  /** the only values taken, checked before the command runs */
  choices?: readonly string[];
  /** the value's name in --help: D (a duration), N, FILE, DIR, H:P...; the choices by default */
  placeholder?: string;
  /** the heading it is listed under in --help (default "options") */
  section?: string;
}

export type OptionSpecs = Record<string, OptionSpec>;

type One<O> = O extends { type: 'boolean' }
  ? boolean
  : O extends { choices: readonly (infer C)[] }
    ? C
    : string;
type Slot<O> = O extends { multiple: true } ? One<O>[] : One<O>;

/** The parsed values of `T`, typed as parseArgs types them (an option with a default is always set). */
export type Values<T extends OptionSpecs> = {
  -readonly [K in keyof T]: T[K] extends { default: unknown } ? Slot<T[K]> : Slot<T[K]> | undefined;
};

/** The options every command has. */
const HELP_OPTION = {
  help: { type: 'boolean', short: 'h', default: false, help: 'this help' },
} as const satisfies OptionSpecs;

/** Added to the commands that print data. */
const JSON_OPTION = {
  json: { type: 'boolean', default: false, help: 'print JSON' },
} as const satisfies OptionSpecs;

export interface CommandDefinition<T extends OptionSpecs, D extends boolean> {
  /** the word that runs it: `fleettrace <name>`, or `fleettrace <parent> <name>` for a subcommand */
  name: string;
  /** one line, for the list of commands or subcommands */
  summary: string;
  /** the heading the top-level help lists it under (top-level commands) */
  group?: string;
  /** the arguments it takes, each exactly once, e.g. ['ID'] */
  args?: readonly string[];
  /** what follows `fleettrace <name>` on the usage line(s); by default the args and `[options]` */
  usage?: string | readonly string[];
  /** the paragraph(s) under the usage line */
  description?: string;
  /** text after the options: more on them, examples */
  epilog?: string | (() => string);
  options?: T;
  /** it prints data: --json is added (unless `options` has its own) */
  data?: D;
  /** the --json help, when "print JSON" does not say enough */
  jsonHelp?: string;
  subcommands?: readonly Command[];
  /**
   * Parses argv into values instead of parseArgs, e.g. with a --config file
   * (parseServiceArgs). Gets the parseArgs options of the definition.
   */
  parse?: (argv: string[], options: ParseArgsOptions) => { values: object; positionals: string[] };
  /** the command itself: its exit status. A command with subcommands may have none. */
  run?: (
    values: Values<T> & (D extends true ? { json: boolean } : object),
    positionals: string[],
  ) => Promise<number>;
}

export type ParseArgsOptions = NonNullable<ParseArgsConfig['options']>;

/** A defined command: what main.ts, --help and the docs generator use. */
export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly group: string | undefined;
  readonly data: boolean;
  /** every option, --help and (for data commands) --json included */
  readonly options: Readonly<OptionSpecs>;
  readonly subcommands: readonly Command[];
  /** its usage lines (`fleettrace <path> ...`), its subcommands' included */
  usage(path: string): string[];
  /** the --help text; `path` is the command's words after `fleettrace` */
  help(path?: string): string;
  /** runs the command on argv (the words after its name); its exit status */
  invoke(argv: string[], path?: string): Promise<number>;
}

/**
 * What a data command prints: its JSON with --json (one document, nothing
 * else on stdout), else `text()` for people.
 */
export function printData(json: boolean, value: unknown, text: () => string): void {
  process.stdout.write(json ? toJson(value) + '\n' : text() + '\n');
}

/** "a", "a or b", "a, b or c". */
function oneOf(items: readonly string[]): string {
  return items.length < 2
    ? (items[0] ?? '')
    : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

/** The parseArgs form of option specs (without what only --help reads). */
export function parseArgsOptions(specs: OptionSpecs): ParseArgsOptions {
  const out: ParseArgsOptions = {};
  for (const [name, o] of Object.entries(specs))
    out[name] = {
      type: o.type,
      ...(o.short !== undefined ? { short: o.short } : {}),
      ...(o.multiple ? { multiple: true } : {}),
      ...(o.default !== undefined ? { default: o.default } : {}),
    } as ParseArgsOptions[string];
  return out;
}

const WIDTH = 80;
/** where option texts start: two spaces, the flag, at least two spaces */
export const TEXT_COLUMN = 22;

/** `text` as lines of at most WIDTH columns, the first after `first` and the rest indented by `indent`. */
export function wrap(first: string, text: string, indent: number): string[] {
  const lines: string[] = [];
  let line = first;
  const pad = ' '.repeat(indent);
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const sep = line.trimEnd() === '' || line.length === indent ? '' : ' ';
    if (line.length + sep.length + word.length > WIDTH && line.trim() !== '') {
      lines.push(line.trimEnd());
      line = pad + word;
    } else line += sep + word;
  }
  lines.push(line.trimEnd());
  return lines;
}

/** The flag as --help shows it: `-h, --help`, `--limit N`. */
function flagText(name: string, o: OptionSpec): string {
  const value = o.type === 'string' ? (o.placeholder ?? o.choices?.join('|') ?? 'VALUE') : '';
  return `${o.short ? `-${o.short}, ` : ''}--${name}${value ? ` ${value}` : ''}`;
}

/** The option's help with its default, as --help shows it. */
function optionText(o: OptionSpec): string {
  const d = o.default;
  const shown = Array.isArray(d) ? d.join(', ') : d;
  return shown === undefined || shown === false || shown === ''
    ? o.help
    : `${o.help} (default ${shown})`;
}

function optionLines(name: string, o: OptionSpec): string[] {
  const flag = `  ${flagText(name, o)}`;
  const head =
    flag.length <= TEXT_COLUMN - 2
      ? flag.padEnd(TEXT_COLUMN)
      : `${flag}\n${' '.repeat(TEXT_COLUMN)}`;
  const [first, ...rest] = head.split('\n');
  return rest.length
    ? [first!, ...wrap(rest[0]!, optionText(o), TEXT_COLUMN)]
    : wrap(first!, optionText(o), TEXT_COLUMN);
}

/** The options grouped under their headings, in the order of their first option. */
function optionSections(options: OptionSpecs): string[] {
  // Under "options" first: the command's own options and --help.
  const sections = new Map<string, string[]>([['options', []]]);
  for (const [name, o] of Object.entries(options)) {
    const heading = o.section ?? 'options';
    const lines = sections.get(heading) ?? [];
    lines.push(...optionLines(name, o));
    sections.set(heading, lines);
  }
  return [...sections]
    .filter(([, lines]) => lines.length)
    .map(([heading, lines]) => [...wrap('', `${heading}:`, 0), ...lines].join('\n'));
}

/**
 * The first word of argv that is not an option or an option's value, given
 * every option any of the commands takes; -1 when there is none before `--`.
 */
function firstWord(argv: string[], options: ParseArgsOptions): number {
  const { tokens } = parseArgs({
    args: argv,
    options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  for (const t of tokens ?? []) {
    if (t.kind === 'option-terminator') return -1;
    if (t.kind === 'positional') return t.index;
  }
  return -1;
}

/** parseArgs' own errors as usage errors that name the flag and the command. */
function parseError(err: unknown, path: string, options: OptionSpecs): unknown {
  const e = err as Error & { code?: string };
  if (typeof e?.code !== 'string' || !e.code.startsWith('ERR_PARSE_ARGS')) return err;
  const flag = /'(-[^' ]*)/.exec(e.message)?.[1] ?? '';
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const name = flag.replace(/^--?/, '').split('=')[0] ?? '';
    const near = flag.startsWith('--') ? nearest(name, Object.keys(options)) : undefined;
    return new UsageError(
      `${flag}: unknown option of fleettrace ${path}` +
        (near ? `; did you mean --${near}?` : `; fleettrace ${path} --help lists them`),
    );
  }
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const long = /--[a-z0-9-]+/.exec(e.message)?.[0] ?? flag;
    return new UsageError(
      /does not take an argument/.test(e.message)
        ? `${long}: takes no value`
        : `${long}: expected a value`,
    );
  }
  return new UsageError(e.message);
}

/** Edit distance, for "did you mean". */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++)
      next[j] = Math.min(
        (row[j] as number) + 1,
        (next[j - 1] as number) + 1,
        (row[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    row = next;
  }
  return row[b.length] as number;
}

/** The closest of `names` to a misspelt `name`, when it is close enough to be the one meant. */
export function nearest(name: string, names: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of names) {
    const d = distance(name, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 4)) ? best : undefined;
}

/** Every value of an option with choices is one of them. */
function checkChoices(values: Record<string, unknown>, options: OptionSpecs): void {
  for (const [name, o] of Object.entries(options)) {
    if (!o.choices) continue;
    const given = values[name];
    for (const v of Array.isArray(given) ? given : given === undefined ? [] : [given])
      if (!o.choices.includes(v as string))
        throw new UsageError(`--${name}: expected ${oneOf(o.choices)}, got ${JSON.stringify(v)}`);
  }
}

/** A command from its definition. */
export function defineCommand<
  const T extends OptionSpecs = Record<never, OptionSpec>,
  const D extends boolean = false,
>(def: CommandDefinition<T, D>): Command {
  const own: OptionSpecs = { ...(def.options ?? {}) };
  if (def.data && !('json' in own))
    own.json = def.jsonHelp ? { ...JSON_OPTION.json, help: def.jsonHelp } : JSON_OPTION.json;
  const options: OptionSpecs = { ...own, ...HELP_OPTION };
  const subcommands = def.subcommands ?? [];
  const args = def.args ?? [];
  if (!def.run && !subcommands.length)
    throw new Error(`command ${def.name}: a definition needs run or subcommands`);

  const usageLines = (path: string): string[] => {
    const own = def.usage ?? (def.run ? [[...args, '[options]'].join(' ')] : []);
    const lines = (typeof own === 'string' ? [own] : [...own]).map(
      (u) => `fleettrace ${path} ${u}`,
    );
    for (const sub of subcommands) lines.push(...sub.usage(`${path} ${sub.name}`));
    return lines;
  };

  const help = (path = def.name): string => {
    const [first, ...more] = usageLines(path);
    const parts = [['usage: ' + first, ...more.map((l) => `       ${l}`)].join('\n')];
    // A subcommand may say all in its summary.
    parts.push(def.description?.trim() ?? wrap('', def.summary, 0).join('\n'));
    if (subcommands.length)
      parts.push(
        'subcommands:\n' +
          subcommands
            .map((s) => wrap(`  ${s.name}`.padEnd(TEXT_COLUMN), s.summary, TEXT_COLUMN).join('\n'))
            .join('\n'),
      );
    parts.push(...optionSections(options));
    const epilog = typeof def.epilog === 'function' ? def.epilog() : def.epilog;
    if (epilog) parts.push(epilog.trim());
    return parts.join('\n\n');
  };

  const subcommandError = (path: string, word: string | undefined): UsageError => {
    const names = oneOf(subcommands.map((s) => s.name));
    const near =
      word === undefined
        ? undefined
        : nearest(
            word,
            subcommands.map((s) => s.name),
          );
    return new UsageError(
      word === undefined
        ? `${path} needs a subcommand: ${names}\n\n${help(path)}`
        : `${path}: unknown subcommand ${JSON.stringify(word)} (expected ${names})${near ? `; did you mean ${near}?` : ''}\n\n${help(path)}`,
    );
  };

  const invoke = async (argv: string[], path = def.name): Promise<number> => {
    if (subcommands.length) {
      const all: OptionSpecs = { ...options };
      for (const s of subcommands) Object.assign(all, s.options);
      const at = firstWord(argv, parseArgsOptions(all));
      const sub = at < 0 ? undefined : subcommands.find((s) => s.name === argv[at]);
      if (sub)
        return sub.invoke([...argv.slice(0, at), ...argv.slice(at + 1)], `${path} ${sub.name}`);
      if (!def.run) {
        // --help (or nothing) on a command that is only its subcommands.
        const { values } = parse(argv, path);
        if (values.help) {
          process.stdout.write(help(path) + '\n');
          return 0;
        }
        throw subcommandError(path, at < 0 ? undefined : argv[at]);
      }
    }
    const { values, positionals } = parse(argv, path);
    if (values.help) {
      process.stdout.write(help(path) + '\n');
      return 0;
    }
    checkChoices(values, options);
    if (subcommands.length && positionals.length) throw subcommandError(path, positionals[0]);
    if (positionals.length !== args.length) {
      const extra = positionals
        .slice(args.length)
        .map((p) => JSON.stringify(p))
        .join(' ');
      throw new UsageError(
        positionals.length < args.length
          ? `${path}: expected ${args.slice(positionals.length).join(' ')}\n\n${help(path)}`
          : args.length === 0
            ? `${path} takes no arguments, got ${extra}`
            : `${path} takes ${args.join(' ')} only, got also ${extra}`,
      );
    }
    return def.run!(values as Parameters<NonNullable<typeof def.run>>[0], positionals);
  };

  const parse = (argv: string[], path: string) => {
    const table = parseArgsOptions(options);
    try {
      const parsed = def.parse
        ? def.parse(argv, table)
        : parseArgs({ args: argv, options: table, strict: true, allowPositionals: true });
      return parsed as { values: Record<string, unknown>; positionals: string[] };
    } catch (err) {
      throw parseError(err, path, options);
    }
  };

  return {
    name: def.name,
    summary: def.summary,
    group: def.group,
    data: def.data === true,
    options,
    subcommands,
    usage: usageLines,
    help,
    invoke,
  };
}
