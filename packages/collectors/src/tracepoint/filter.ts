// SPDX-License-Identifier: Apache-2.0
/**
 * The `tracepoint` collector's filter: a small grammar the prebuilt BPF
 * program interprets (hosts have no compiler), kernel-free so that the
 * controller checks a job's filter before any agent sees it.
 *
 *   filter    := clause ( '||' clause )*
 *   clause    := predicate ( '&&' predicate )*
 *   predicate := FIELD OP VALUE
 *   OP        := '==' | '!=' | '<' | '<=' | '>' | '>='
 *   VALUE     := integer (decimal, 0x hex, optionally negative) | "string"
 *
 * `&&` binds tighter than `||` and there are no parentheses, so a filter is a
 * disjunction of conjunctions, which is what the program evaluates. FIELD is
 * one of the tracepoint's fields (its tracefs `format` file): an integer of 1,
 * 2, 4 or 8 bytes, or a string (a char array, or a __data_loc / __rel_loc
 * char[]; only `==` and `!=` against a string of at most 15 bytes, and a longer
 * field string is never equal to one). At most MAX_PREDICATES predicates.
 */

export const MAX_PREDICATES = 8;
export const MAX_STRING_BYTES = 15;

export type Op = '==' | '!=' | '<' | '<=' | '>' | '>=';
export const OPS: readonly Op[] = ['==', '!=', '<', '<=', '>', '>='];

export interface Predicate {
  field: string;
  op: Op;
  value: bigint | string;
  /** the predicate closes a `&&` clause (the next one starts after `||`, or none follows) */
  endsClause: boolean;
  /** where the predicate starts in the filter text (0-based) */
  at: number;
}

/** A filter that does not parse, with the position (0-based character) of the fault. */
export class FilterSyntaxError extends Error {
  constructor(
    readonly position: number,
    reason: string,
  ) {
    super(`at position ${position}: ${reason}`);
    this.name = 'FilterSyntaxError';
  }
}

interface Token {
  kind: 'ident' | 'int' | 'string' | 'op' | 'and' | 'or';
  text: string;
  at: number;
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t') {
      i++;
      continue;
    }
    const at = i;
    const two = src.slice(i, i + 2);
    if (two === '&&' || two === '||') {
      out.push({ kind: two === '&&' ? 'and' : 'or', text: two, at });
      i += 2;
    } else if (['==', '!=', '<=', '>='].includes(two)) {
      out.push({ kind: 'op', text: two, at });
      i += 2;
    } else if (c === '<' || c === '>') {
      out.push({ kind: 'op', text: c, at });
      i++;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))!;
      out.push({ kind: 'ident', text: m[0], at });
      i += m[0].length;
    } else if (/[-0-9]/.test(c)) {
      const m = /^-?(0x[0-9a-fA-F]+|[0-9]+)/.exec(src.slice(i));
      if (!m) throw new FilterSyntaxError(at, `expected a number after "-"`);
      out.push({ kind: 'int', text: m[0], at });
      i += m[0].length;
    } else if (c === '"') {
      const end = src.indexOf('"', i + 1);
      if (end < 0) throw new FilterSyntaxError(at, 'unterminated string');
      out.push({ kind: 'string', text: src.slice(i + 1, end), at });
      i = end + 1;
    } else {
      throw new FilterSyntaxError(at, `unexpected character ${JSON.stringify(c)}`);
    }
  }
  return out;
}

const INT64_MIN = -(1n << 63n);
const UINT64_MAX = (1n << 64n) - 1n;

/** Parses a filter ('' is no filter). Throws FilterSyntaxError naming the position. */
export function parseFilter(src: string): Predicate[] {
  const tokens = tokenize(src);
  const preds: Predicate[] = [];
  let i = 0;
  const next = (what: string): Token => {
    const t = tokens[i];
    if (!t) throw new FilterSyntaxError(src.length, `expected ${what}, got the end of the filter`);
    i++;
    return t;
  };
  while (i < tokens.length) {
    const field = next('a field name');
    if (field.kind !== 'ident')
      throw new FilterSyntaxError(
        field.at,
        `expected a field name, got ${JSON.stringify(field.text)}`,
      );
    const op = next('a comparison (==, !=, <, <=, >, >=)');
    if (op.kind !== 'op')
      throw new FilterSyntaxError(
        op.at,
        `expected a comparison (==, !=, <, <=, >, >=), got ${JSON.stringify(op.text)}`,
      );
    const value = next('a number or a "string"');
    let v: bigint | string;
    if (value.kind === 'int') {
      v = BigInt(value.text);
      if (v < INT64_MIN || v > UINT64_MAX)
        throw new FilterSyntaxError(value.at, `${value.text} does not fit in 64 bits`);
    } else if (value.kind === 'string') {
      if (Buffer.byteLength(value.text) > MAX_STRING_BYTES)
        throw new FilterSyntaxError(value.at, `strings are at most ${MAX_STRING_BYTES} bytes`);
      if (op.text !== '==' && op.text !== '!=')
        throw new FilterSyntaxError(op.at, 'strings compare with == or != only');
      v = value.text;
    } else {
      throw new FilterSyntaxError(
        value.at,
        `expected a number or a "string", got ${JSON.stringify(value.text)}`,
      );
    }
    const joiner = tokens[i];
    if (joiner && joiner.kind !== 'and' && joiner.kind !== 'or')
      throw new FilterSyntaxError(
        joiner.at,
        `expected && or ||, got ${JSON.stringify(joiner.text)}`,
      );
    if (joiner) {
      i++;
      if (i >= tokens.length)
        throw new FilterSyntaxError(src.length, 'expected a predicate after ' + joiner.text);
    }
    preds.push({
      field: field.text,
      op: op.text as Op,
      value: v,
      endsClause: !joiner || joiner.kind === 'or',
      at: field.at,
    });
    if (preds.length > MAX_PREDICATES)
      throw new FilterSyntaxError(field.at, `at most ${MAX_PREDICATES} comparisons`);
  }
  return preds;
}

/** A field of a tracepoint record, from its tracefs format file. */
export interface TracepointField {
  name: string;
  offset: number;
  size: number;
  signed: boolean;
  /** a fixed char array (char comm[16]) */
  chars: boolean;
  /** a dynamic field (__data_loc, __rel_loc) and whether it is a string (char[]) */
  dynamic: 'data_loc' | 'rel_loc' | undefined;
  dynamicChars: boolean;
}

/** Parses a tracefs `format` file into its fields (the common_ ones included). */
export function parseFormat(text: string): TracepointField[] {
  const fields: TracepointField[] = [];
  for (const line of text.split('\n')) {
    const m = /field:([^;]+);\s*offset:(\d+);\s*size:(\d+);\s*signed:(\d);/.exec(line);
    if (!m) continue;
    const decl = m[1]!.trim();
    const name = /([A-Za-z_][A-Za-z0-9_]*)\s*(\[[^\]]*\])?\s*$/.exec(decl)?.[1];
    if (!name) continue;
    fields.push({
      name,
      offset: Number(m[2]),
      size: Number(m[3]),
      signed: m[4] === '1',
      chars: /\bchar\b[^[]*\[/.test(decl) && !/__data_loc|__rel_loc/.test(decl),
      dynamic: /__data_loc/.test(decl)
        ? 'data_loc'
        : /__rel_loc/.test(decl)
          ? 'rel_loc'
          : undefined,
      dynamicChars: /__(data|rel)_loc\s+(const\s+)?char\s*\[\]/.test(decl),
    });
  }
  return fields;
}

/** A predicate bound to its field, ready for the kernel program. */
export interface BoundPredicate extends Predicate {
  offset: number;
  size: number;
  kind: 'unsigned' | 'signed' | 'chars' | 'data_loc' | 'rel_loc';
}

/**
 * Binds predicates to the tracepoint's fields, refusing what the program
 * cannot compare: unknown fields (the known ones are listed), dynamic
 * fields, strings against integers and the reverse.
 */
export function bindFilter(
  preds: Predicate[],
  fields: TracepointField[],
  tracepoint: string,
): BoundPredicate[] {
  return preds.map((p) => {
    const f = fields.find((x) => x.name === p.field);
    if (!f)
      throw new FilterSyntaxError(
        p.at,
        `${tracepoint} has no field ${JSON.stringify(p.field)}; its fields: ${fields
          .filter((x) => !x.name.startsWith('common_'))
          .map((x) => x.name)
          .join(', ')}`,
      );
    if (f.dynamic && !f.dynamicChars)
      throw new FilterSyntaxError(
        p.at,
        `${p.field} is a dynamic array: it cannot be compared here`,
      );
    if (f.dynamic) {
      if (typeof p.value !== 'string')
        throw new FilterSyntaxError(p.at, `${p.field} is a string: compare it with "..."`);
      return { ...p, offset: f.offset, size: 4, kind: f.dynamic };
    }
    if (f.chars) {
      if (typeof p.value !== 'string')
        throw new FilterSyntaxError(p.at, `${p.field} is a string: compare it with "..."`);
      return { ...p, offset: f.offset, size: Math.min(f.size, 16), kind: 'chars' };
    }
    if (typeof p.value === 'string')
      throw new FilterSyntaxError(p.at, `${p.field} is a number: compare it with a number`);
    if (![1, 2, 4, 8].includes(f.size))
      throw new FilterSyntaxError(p.at, `${p.field} has ${f.size} bytes: not an integer field`);
    return { ...p, offset: f.offset, size: f.size, kind: f.signed ? 'signed' : 'unsigned' };
  });
}
