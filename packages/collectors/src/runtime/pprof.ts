// SPDX-License-Identifier: Apache-2.0
/**
 * pprof export of stack rows (profile.proto of github.com/google/pprof, the
 * format `go tool pprof`, Parca, Pyroscope and speedscope read), gzipped.
 * The message code is ts-proto's, generated from proto/perftools/profiles.
 */
import { gzipSync } from 'node:zlib';
import { pprof } from '@fleettrace/proto';

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

  const sampleType = profile.sampleTypes.map(([type, unit]) => ({
    type: BigInt(str(type)),
    unit: BigInt(str(unit)),
  }));
  const sample = profile.samples.map((s) => ({
    locationId: s.frames.map((f) => BigInt(location(f))),
    value: s.values.map((v) => BigInt(v)),
    label: Object.entries(s.labels).map(([k, v]) =>
      typeof v === 'number'
        ? { key: BigInt(str(k)), str: 0n, num: BigInt(v), numUnit: 0n }
        : { key: BigInt(str(k)), str: BigInt(str(v)), num: 0n, numUnit: 0n },
    ),
  }));
  const periodType = profile.periodType
    ? { type: BigInt(str(profile.periodType[0])), unit: BigInt(str(profile.periodType[1])) }
    : undefined;
  const message: pprof.Profile = {
    sampleType,
    sample,
    mapping: [],
    location: [...locations.values()].map((loc) => ({
      id: BigInt(loc.id),
      mappingId: 0n,
      address: 0n,
      line: [{ functionId: BigInt(loc.functionId), line: 0n, column: 0n }],
      isFolded: false,
    })),
    function: [...functions.values()].map((fn) => ({
      id: BigInt(fn.id),
      name: BigInt(str(fn.name)),
      systemName: BigInt(str(fn.name)),
      filename: BigInt(str(fn.module)),
      startLine: 0n,
    })),
    // Every string is interned above, so the table is complete here.
    stringTable: strings,
    dropFrames: 0n,
    keepFrames: 0n,
    timeNanos: profile.timeNanos ?? BigInt(Date.now()) * 1_000_000n,
    durationNanos: BigInt(profile.durationNanos ?? 0),
    periodType,
    period: BigInt(profile.period ?? 0),
    comment: [],
    defaultSampleType: 0n,
    docUrl: 0n,
  };
  return gzipSync(pprof.Profile.encode(message).finish());
}
