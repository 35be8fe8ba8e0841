// SPDX-License-Identifier: Apache-2.0
/**
 * pprof export of stack rows (profile.proto of github.com/google/pprof, the
 * format `go tool pprof`, Parca, Pyroscope and speedscope read), gzipped.
 * Written by hand: the message is small and stable, and a protobuf runtime
 * for one file is not worth a dependency.
 */
import { gzipSync } from 'node:zlib';

/** One stack with its weights; frames leaf first, kernel frames before user frames. */
export interface PprofSample {
  frames: string[];
  values: number[];
  labels: Record<string, string | number>;
}

export interface PprofProfile {
  /** e.g. [["samples", "count"], ["cpu", "nanoseconds"]] */
  sampleTypes: Array<[type: string, unit: string]>;
  samples: PprofSample[];
  /** [type, unit] of the sampling period, e.g. ["cpu", "nanoseconds"] */
  periodType?: [string, string];
  period?: number;
  timeNanos?: bigint;
  durationNanos?: number;
}

/** Minimal protobuf writer: varints and length-delimited fields. */
class Writer {
  private chunks: Buffer[] = [];

  varint(v: number | bigint): this {
    let x = BigInt(v);
    if (x < 0n) x += 1n << 64n; // int64 two's complement
    const bytes: number[] = [];
    do {
      let b = Number(x & 0x7fn);
      x >>= 7n;
      if (x > 0n) b |= 0x80;
      bytes.push(b);
    } while (x > 0n);
    this.chunks.push(Buffer.from(bytes));
    return this;
  }

  /** field with wire type 0 (varint) */
  uint(field: number, v: number | bigint): this {
    if (v === 0 || v === 0n) return this;
    return this.varint((field << 3) | 0).varint(v);
  }

  /** field with wire type 2 (bytes / embedded message / string) */
  bytes(field: number, b: Buffer): this {
    this.varint((field << 3) | 2).varint(b.length);
    this.chunks.push(b);
    return this;
  }

  /** packed repeated varints */
  packed(field: number, values: Array<number | bigint>): this {
    if (values.length === 0) return this;
    const inner = new Writer();
    for (const v of values) inner.varint(v);
    return this.bytes(field, inner.finish());
  }

  message(field: number, build: (w: Writer) => void): this {
    const inner = new Writer();
    build(inner);
    return this.bytes(field, inner.finish());
  }

  finish(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** Splits "function+0x1a (module)" into function and module; unresolved "module+0x..." keeps its text. */
function splitFrame(text: string): { name: string; module: string } {
  const m = /^(.*)\+0x[0-9a-f]+ \((.*)\)$/.exec(text);
  if (m) return { name: m[1] as string, module: m[2] as string };
  const u = /^(.*)\+0x[0-9a-f]+$/.exec(text);
  return { name: text, module: u ? (u[1] as string) : '' };
}

export function encodePprof(profile: PprofProfile): Buffer {
  const strings = [''];
  const index = new Map<string, number>([['', 0]]);
  const str = (s: string) => {
    let i = index.get(s);
    if (i === undefined) {
      i = strings.length;
      strings.push(s);
      index.set(s, i);
    }
    return i;
  };
  // Functions by name, locations by frame text (the offset distinguishes call sites).
  const functions = new Map<string, { id: number; name: string; module: string }>();
  const locations = new Map<string, { id: number; functionId: number }>();
  const location = (text: string) => {
    let loc = locations.get(text);
    if (!loc) {
      const { name, module } = splitFrame(text);
      const key = `${name}\u0000${module}`;
      let fn = functions.get(key);
      if (!fn) {
        fn = { id: functions.size + 1, name, module };
        functions.set(key, fn);
      }
      loc = { id: locations.size + 1, functionId: fn.id };
      locations.set(text, loc);
    }
    return loc.id;
  };

  const w = new Writer();
  for (const [type, unit] of profile.sampleTypes) {
    w.message(1, (m) => m.uint(1, str(type)).uint(2, str(unit)));
  }
  for (const s of profile.samples) {
    const ids = s.frames.map(location);
    w.message(2, (m) => {
      m.packed(1, ids).packed(2, s.values);
      for (const [k, v] of Object.entries(s.labels)) {
        m.message(3, (l) => {
          l.uint(1, str(k));
          if (typeof v === 'number') l.uint(3, v);
          else l.uint(2, str(v));
        });
      }
    });
  }
  for (const loc of locations.values()) {
    w.message(4, (m) => m.uint(1, loc.id).message(4, (line) => line.uint(1, loc.functionId)));
  }
  for (const fn of functions.values()) {
    w.message(5, (m) =>
      m.uint(1, fn.id).uint(2, str(fn.name)).uint(3, str(fn.name)).uint(4, str(fn.module)),
    );
  }
  const periodType = profile.periodType;
  const time = profile.timeNanos ?? BigInt(Date.now()) * 1_000_000n;
  // string_table (field 6) must hold every string: intern everything first.
  if (periodType) {
    str(periodType[0]);
    str(periodType[1]);
  }
  for (const s of strings) w.bytes(6, Buffer.from(s, 'utf8'));
  w.uint(9, time);
  w.uint(10, profile.durationNanos ?? 0);
  if (periodType) w.message(11, (m) => m.uint(1, str(periodType[0])).uint(2, str(periodType[1])));
  w.uint(12, profile.period ?? 0);
  return gzipSync(w.finish());
}
