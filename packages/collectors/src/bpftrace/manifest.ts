// SPDX-License-Identifier: Apache-2.0
import { defineCollector, p, z } from '@fleettrace/collector-spec';

/** A script's text is at most this long (bpftrace's own programs are far shorter). */
export const MAX_SCRIPT_BYTES = 64 * 1024;

export const manifest = defineCollector({
  name: 'bpftrace',
  description:
    "a bpftrace script run by the agent (time and output limits, its programs charged to the job): the fleet's custom probes",
  role: 'admin',
  sensitiveBecause: 'a custom program can read any kernel or user memory',
  params: z.strictObject({
    script: p.string({
      doc: 'the bpftrace program text (as for bpftrace -e)',
      check: (s) => {
        if (s.trim() === '') throw new Error('must not be empty');
        if (Buffer.byteLength(s) > MAX_SCRIPT_BYTES)
          throw new Error(`at most ${MAX_SCRIPT_BYTES} bytes`);
      },
    }),
    timeout: p.duration({
      maxMs: 24 * 3_600_000,
      default: 60_000,
      doc: 'stop the script after this long (it prints its maps then)',
    }),
    max_output: p.integer({
      min: 1024,
      max: 64 << 20,
      default: 1 << 20,
      doc: 'bytes of output kept; past them the script is stopped and the rest counted lost',
    }),
  }),
  requires: ['btf'],
  minKernel: { version: '4.9', why: "bpftrace's own minimum; each probe type needs its own" },
  table: {
    identity: false,
    columns: [
      { name: 'script_hash', type: 'String', doc: 'SHA-256 of the script (16 hex digits)' },
      {
        name: 'kind',
        type: 'LowCardinality(String)',
        doc: 'printf (a printed line), map (one key of a map), hist (one bucket), stats',
      },
      { name: 'map', type: 'String', doc: 'the map (@name), empty for printed lines' },
    ],
    sortKey: ['script_hash', 'host', 'ts_ns'],
  },
  sensitive: {
    table: 'bpftrace_output',
    identity: false,
    columns: [
      { name: 'script_hash', type: 'String', doc: 'SHA-256 of the script (16 hex digits)' },
      { name: 'kind', type: 'LowCardinality(String)', doc: 'printf, map, hist or stats' },
      { name: 'map', type: 'String', doc: 'the map (@name), empty for printed lines' },
      {
        name: 'key',
        type: 'String',
        doc: 'the map key (JSON for tuples), or the bucket [min, max]',
      },
      { name: 'value', type: 'String', doc: 'the value (a number, or JSON), or the printed line' },
    ],
    sortKey: ['script_hash', 'host', 'ts_ns'],
  },
  consumes: ['key', 'value'],
});
