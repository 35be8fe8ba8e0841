// SPDX-License-Identifier: Apache-2.0
/**
 * speedscope's file format (https://www.speedscope.app/file-format-schema.json),
 * one "sampled" profile: the shared frame table (function name, module as
 * `file`), each distinct stack once as root-first frame indices, its value as
 * the weight. Units speedscope knows are time units and bytes; counts
 * (samples, blocks, millisamples) are `none`.
 */
import { parseFrame } from './frames';
import { canonicalProfile, totalOf, type StackProfile } from './profile';

export const SPEEDSCOPE_SCHEMA = 'https://www.speedscope.app/file-format-schema.json';

type SpeedscopeUnit =
  | 'none'
  | 'nanoseconds'
  | 'microseconds'
  | 'milliseconds'
  | 'seconds'
  | 'bytes';

export interface SpeedscopeFile {
  $schema: typeof SPEEDSCOPE_SCHEMA;
  shared: { frames: Array<{ name: string; file?: string }> };
  profiles: Array<{
    type: 'sampled';
    name: string;
    unit: SpeedscopeUnit;
    startValue: number;
    endValue: number;
    samples: number[][];
    weights: number[];
  }>;
  name: string;
  activeProfileIndex: number;
  exporter: string;
}

const UNITS: Record<string, SpeedscopeUnit> = {
  nanoseconds: 'nanoseconds',
  microseconds: 'microseconds',
  milliseconds: 'milliseconds',
  seconds: 'seconds',
  bytes: 'bytes',
};

export function speedscopeDocument(profile: StackProfile): SpeedscopeFile {
  const canonical = canonicalProfile(profile);
  const frames: SpeedscopeFile['shared']['frames'] = [];
  const frameIds = new Map<string, number>();
  const frameOf = (text: string): number => {
    const f = parseFrame(text);
    const key = `${f.function}\u0000${f.module}`;
    let id = frameIds.get(key);
    if (id === undefined) {
      id = frames.length;
      frames.push(f.module ? { name: f.function, file: f.module } : { name: f.function });
      frameIds.set(key, id);
    }
    return id;
  };
  const { type, unit } = canonical.sampleType;
  const name = profile.name ?? `${type} (${unit})`;
  return {
    $schema: SPEEDSCOPE_SCHEMA,
    shared: { frames },
    profiles: [
      {
        type: 'sampled',
        name,
        unit: UNITS[unit] ?? 'none',
        startValue: 0,
        endValue: totalOf(canonical),
        samples: canonical.stacks.map((s) => s.frames.map(frameOf)),
        weights: canonical.stacks.map((s) => s.value),
      },
    ],
    name,
    activeProfileIndex: 0,
    exporter: 'fleettrace',
  };
}

export function toSpeedscope(profile: StackProfile): string {
  return JSON.stringify(speedscopeDocument(profile));
}
