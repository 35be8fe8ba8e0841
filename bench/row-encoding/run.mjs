// SPDX-License-Identifier: Apache-2.0
// bench/row-encoding: what encoding rows costs the agent, per row, in both
// rows encodings: JSON lines (rowLine) and the typed tsv-tables encoding of
// the collector's manifest (tableEncoder: derived columns, the sensitive
// split and TabSeparated lines). Rows are built as the collectors build them
// (the header object extended with Object.assign), kept until an envelope's
// worth (3,000 rows) as the publisher keeps them, both collectors in one
// process (their encoders share code, as in the agent). Best of 5 rounds,
// interleaved.
//
// usage: node bench/row-encoding/run.mjs [--rows 300000]
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { machine, recordSection } from '../lib.mjs';

const require = createRequire(import.meta.url);
const { rowLine } = require('@fleettrace/bus');
const { tableEncoder } = require('@fleettrace/collector-spec');
const { manifest } = require('@fleettrace/collectors/manifests');

const { values } = parseArgs({ options: { rows: { type: 'string', default: '300000' } } });
const N = Number(values.rows);
const ENVELOPE = 3000;

function header(i) {
  return {
    ts_ns: 1_700_000_000_000_000_000n + BigInt(i),
    pid: 1000 + (i % 5000),
    tid: 1000 + (i % 5000),
    uid: 1000 + (i % 50),
    user: `u${i % 50}`,
    comm: 'php-fpm',
    cgroup: '/user.slice/user-1000.slice',
  };
}

const rows = {
  // fork, exec and exit in equal shares, as processes make them
  proc: Array.from({ length: N }, (_, i) =>
    i % 3 === 0
      ? Object.assign(header(i), { event: 'fork', child_pid: 7 })
      : i % 3 === 1
        ? Object.assign(header(i), {
            event: 'exec',
            ppid: 1,
            filename: '/usr/bin/php',
            argv: ['php', '-f', '/home/u1/public_html/index.php'],
            args_truncated: false,
            redacted: 0,
          })
        : Object.assign(header(i), {
            event: 'exit',
            ppid: 1,
            exit_code: 0,
            signal: 0,
            signal_name: '',
            core_dumped: false,
            lifetime_ns: 5_000_000,
          }),
  ),
  syscalls: Array.from({ length: N }, (_, i) => {
    const { tid: _tid, ...h } = header(i);
    return Object.assign(h, {
      nr: i % 300,
      syscall: 'read',
      count: 10,
      total_ns: 12_345,
      hist: Array.from({ length: 36 }, (_, k) => (k === 12 ? 10 : 0)),
      errors: i % 2,
      errnos: i % 2 ? { EAGAIN: 1 } : {},
    });
  }),
};

function json(list) {
  let keep = [];
  const t = process.hrtime.bigint();
  for (const r of list) {
    keep.push(rowLine(r));
    if (keep.length === ENVELOPE) keep = [];
  }
  return Number(process.hrtime.bigint() - t) / list.length / 1000;
}

function typed(encoder, list) {
  let segments = new Map();
  const t = process.hrtime.bigint();
  for (let i = 0; i < list.length; i++) {
    encoder.encode([list[i]], i % ENVELOPE, segments);
    if (i % ENVELOPE === ENVELOPE - 1) segments = new Map();
  }
  return Number(process.hrtime.bigint() - t) / list.length / 1000;
}

const best = {};
for (let round = 0; round < 5; round++)
  for (const name of Object.keys(rows)) {
    const encoder = tableEncoder(manifest(name));
    const order = round % 2 ? ['typed', 'json'] : ['json', 'typed'];
    for (const kind of order) {
      const us = kind === 'json' ? json(rows[name]) : typed(encoder, rows[name]);
      const key = `${name} ${kind}`;
      best[key] = Math.min(best[key] ?? Infinity, us);
    }
  }

const lines = Object.keys(rows).map((name) => {
  const j = best[`${name} json`];
  const t = best[`${name} typed`];
  return `| ${name} | ${j.toFixed(2)} µs | ${t.toFixed(2)} µs | ${(t / j).toFixed(2)} |`;
});
const body = `
Command: \`node bench/row-encoding/run.mjs --rows ${N}\` (after \`pnpm build\`)

Machine: ${machine()}. Date: ${new Date().toISOString()}.

What encoding a row costs the agent's publisher (CPU on the traced host, charged to the job's budget as pipeline cost), best of 5 interleaved rounds of ${N.toLocaleString('en-US')} rows per collector: JSON lines (\`rowLine\`) against the typed \`tsv-tables\` encoding of the collector's manifest, which also does on the agent what ingest did before (derived columns, the sensitive split). Rows are built as the collectors build them (\`Object.assign\` on the header object) and kept an envelope's worth at a time.

| collector | JSON line | typed (tsv-tables) | typed / JSON |
|---|---:|---:|---:|
${lines.join('\n')}
`;
recordSection('row-encoding', body);
console.log(body);
