// SPDX-License-Identifier: Apache-2.0
/**
 * pprof's profile.proto (github.com/google/pprof, proto/perftools/profiles),
 * gzipped, as `go tool pprof`, Pyroscope, Parca and speedscope read it. The
 * message code is ts-proto's, generated into @fleettrace/proto.
 *
 * Tables: a function per (name, module), a location per distinct frame text
 * (its offset tells call sites apart), a mapping per module (named by the
 * module, `has_functions` set: the frames are symbolized already, so no
 * reader tries to symbolize them again). Profile.proto wants integer values;
 * fractional fleet weights come scaled (`weighted_samples` in
 * `millisamples`: 1000 stand for one sample), see selection.ts.
 */
import { gzipSync } from 'node:zlib';
import { pprof } from '@fleettrace/proto';
import { parseFrame } from './frames';
import { canonicalProfile, type StackProfile } from './profile';

export interface PprofOptions {
  /** when the profile starts, Unix nanoseconds (default: now) */
  timeNanos?: bigint;
  durationNanos?: bigint;
  /** free text kept in the file (`go tool pprof -comments`), e.g. what the unit means */
  comments?: string[];
}

export function toPprof(profile: StackProfile, options: PprofOptions = {}): Buffer {
  const strings = [''];
  const stringIds = new Map<string, number>([['', 0]]);
  const str = (s: string): bigint => {
    let i = stringIds.get(s);
    if (i === undefined) {
      i = strings.length;
      strings.push(s);
      stringIds.set(s, i);
    }
    return BigInt(i);
  };
  const mappings = new Map<string, pprof.Mapping>();
  const functions = new Map<string, pprof.FunctionMessage>();
  const locations = new Map<string, pprof.Location>();
  const mappingOf = (module: string): bigint => {
    let m = mappings.get(module);
    if (!m) {
      m = {
        id: BigInt(mappings.size + 1),
        memoryStart: 0n,
        memoryLimit: 0n,
        fileOffset: 0n,
        filename: str(module),
        buildId: 0n,
        hasFunctions: true,
        hasFilenames: false,
        hasLineNumbers: false,
        hasInlineFrames: false,
      };
      mappings.set(module, m);
    }
    return m.id;
  };
  const locationOf = (text: string): bigint => {
    let loc = locations.get(text);
    if (!loc) {
      const frame = parseFrame(text);
      const key = `${frame.function}\u0000${frame.module}`;
      let fn = functions.get(key);
      if (!fn) {
        fn = {
          id: BigInt(functions.size + 1),
          name: str(frame.function),
          systemName: str(frame.function),
          filename: str(frame.module),
          startLine: 0n,
        };
        functions.set(key, fn);
      }
      loc = {
        id: BigInt(locations.size + 1),
        mappingId: frame.module ? mappingOf(frame.module) : 0n,
        // An unresolved frame's offset is an address in its module's file.
        address: !frame.resolved && frame.offset !== undefined ? BigInt(frame.offset) : 0n,
        line: [{ functionId: fn.id, line: 0n, column: 0n }],
        isFolded: false,
      };
      locations.set(text, loc);
    }
    return loc.id;
  };

  const sampleType = [{ type: str(profile.sampleType.type), unit: str(profile.sampleType.unit) }];
  const sample = canonicalProfile(profile).stacks.map((s) => ({
    // profile.proto: "The leaf is at location_id[0]".
    locationId: s.frames.map(locationOf).reverse(),
    value: [BigInt(s.value)],
    label: [],
  }));
  const comment = [profile.name, ...(options.comments ?? [])]
    .filter((c): c is string => !!c)
    .map(str);
  const message: pprof.Profile = {
    sampleType,
    sample,
    mapping: [...mappings.values()],
    location: [...locations.values()],
    function: [...functions.values()],
    stringTable: strings,
    dropFrames: 0n,
    keepFrames: 0n,
    timeNanos: options.timeNanos ?? BigInt(Date.now()) * 1_000_000n,
    durationNanos: options.durationNanos ?? 0n,
    periodType: sampleType[0],
    period: 1n,
    comment,
    defaultSampleType: sampleType[0]!.type,
    docUrl: 0n,
  };
  return gzipSync(pprof.Profile.encode(message).finish());
}
