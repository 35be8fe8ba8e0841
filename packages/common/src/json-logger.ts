// SPDX-License-Identifier: Apache-2.0
/**
 * Structured logs: one JSON object per line on stderr, so a log shipper can
 * parse them without guessing. Shaped like the NestJS LoggerService (log,
 * verbose, ...), so framework messages come out in the same form.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

/** Where lines go; tests capture them. Must not throw. */
export type LogSink = (line: string) => void;

export class JsonLogger {
  constructor(
    private readonly level: LogLevel = 'info',
    private readonly base: LogFields = {},
    private readonly sink: LogSink = (line) => process.stderr.write(line),
  ) {}

  /** A logger that adds `fields` (e.g. a component name) to every line. */
  child(fields: LogFields): JsonLogger {
    return new JsonLogger(this.level, { ...this.base, ...fields }, this.sink);
  }

  enabled(level: LogLevel): boolean {
    return ORDER[level] >= ORDER[this.level];
  }

  write(level: LogLevel, msg: string, fields: LogFields = {}): void {
    if (!this.enabled(level)) return;
    const line: LogFields = { ts: new Date().toISOString(), level, msg, ...this.base };
    for (const [k, v] of Object.entries(fields)) {
      line[k] = v instanceof Error ? { message: v.message, name: v.name } : v;
    }
    this.sink(JSON.stringify(line, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)) + '\n');
  }

  debug(msg: unknown, ...rest: unknown[]): void {
    this.write('debug', String(msg), fieldsOf(rest));
  }
  info(msg: string, fields?: LogFields): void {
    this.write('info', msg, fields);
  }
  warn(msg: unknown, ...rest: unknown[]): void {
    this.write('warn', String(msg), fieldsOf(rest));
  }
  error(msg: unknown, ...rest: unknown[]): void {
    this.write('error', String(msg), fieldsOf(rest));
  }

  // LoggerService: Nest calls log(message, context) and verbose(message, context).
  log(msg: unknown, ...rest: unknown[]): void {
    this.write('info', String(msg), fieldsOf(rest));
  }
  verbose(msg: unknown, ...rest: unknown[]): void {
    this.write('debug', String(msg), fieldsOf(rest));
  }
}

/** Nest passes (context) or (stack, context); our own calls pass one fields object. */
function fieldsOf(rest: unknown[]): LogFields {
  if (rest.length === 1 && typeof rest[0] === 'object' && rest[0] !== null)
    return rest[0] as LogFields;
  const out: LogFields = {};
  const strings = rest.filter((r) => typeof r === 'string') as string[];
  if (strings.length === 1) out.context = strings[0];
  if (strings.length >= 2) {
    out.stack = strings[0];
    out.context = strings[strings.length - 1];
  }
  return out;
}

export function parseLogLevel(raw: string | undefined, field = 'log level'): LogLevel {
  const level = (raw ?? 'info') as LogLevel;
  if (!(level in ORDER)) throw new Error(`${field}: must be debug, info, warn or error`);
  return level;
}
