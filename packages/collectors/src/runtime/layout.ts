// SPDX-License-Identifier: Apache-2.0
/**
 * Struct layouts generated from BPF objects' BTF (scripts/gen-layouts.mjs) and
 * readers over them. Decoders read fields by name through these, so a change
 * to a C struct changes the offsets here at the next build.
 */

export interface FieldLayout {
  offset: number;
  size: number;
  kind: 'u8' | 'u16' | 'u32' | 'u64' | 's8' | 's16' | 's32' | 's64' | 'char' | 'struct';
  /** element count for arrays */
  count?: number;
  struct?: string;
}

export interface StructLayout {
  size: number;
  fields: Record<string, FieldLayout>;
}

export function readU32(buf: Buffer, f: FieldLayout, base = 0): number {
  return buf.readUInt32LE(base + f.offset);
}

export function readS32(buf: Buffer, f: FieldLayout, base = 0): number {
  return buf.readInt32LE(base + f.offset);
}

export function readU64(buf: Buffer, f: FieldLayout, base = 0): bigint {
  return buf.readBigUInt64LE(base + f.offset);
}

/** A u64 as a number; exact below 2^53, which counters and nanosecond sums stay under. */
export function readU64Number(buf: Buffer, f: FieldLayout, base = 0): number {
  return Number(buf.readBigUInt64LE(base + f.offset));
}

/** A NUL-terminated char array. */
export function readChars(buf: Buffer, f: FieldLayout, base = 0): string {
  const start = base + f.offset;
  const raw = buf.subarray(start, start + f.size);
  const nul = raw.indexOf(0);
  return raw.subarray(0, nul < 0 ? raw.length : nul).toString('utf8');
}

/** Adds a u32 array field into `into` element by element. */
export function addU32Array(into: number[], buf: Buffer, f: FieldLayout, base = 0): void {
  const n = f.count ?? 1;
  for (let i = 0; i < n; i++) into[i] = (into[i] ?? 0) + buf.readUInt32LE(base + f.offset + i * 4);
}
