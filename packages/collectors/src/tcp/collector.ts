// SPDX-License-Identifier: Apache-2.0
/**
 * tcp: connection lifecycle and retransmits with the owning process
 * (bpf/tcp/tcp.bpf.c), like BCC's `tcplife` and `tcpretrans` together. The
 * owner is the process that connected, or the one whose accept() returned
 * the connection; pid 0 when none is known.
 */
import { BpfObject } from '@fleettrace/native';
import { parseParamsWith } from '@fleettrace/collector-spec';
import type { CollectorDefinition, HostContext, SummaryTable } from '../runtime/definition';
import { decodeHeader, RingSession, type EventIdentity } from '../runtime/events';
import { applyKernelFilter, kernelFilterFor } from '../runtime/filters';
import { readU64Number } from '../runtime/layout';
import { enums, layouts } from './layout.gen';
import { manifest } from './manifest';

export interface TcpRow extends EventIdentity {
  event: 'close' | 'retransmit';
  family: 'ipv4' | 'ipv6';
  saddr: string;
  sport: number;
  daddr: string;
  dport: number;
  role: 'active' | 'passive' | 'unknown';
  state: string;
  duration_ns: number;
  connect_ns: number;
  bytes_in: number;
  bytes_out: number;
}

type Params = ReturnType<typeof parseParams>;

function parseParams(raw: Record<string, unknown>, field: string) {
  return parseParamsWith(manifest.params, manifest.name, raw, field);
}

/** include/net/tcp_states.h */
const TCP_STATES = [
  '',
  'ESTABLISHED',
  'SYN_SENT',
  'SYN_RECV',
  'FIN_WAIT1',
  'FIN_WAIT2',
  'TIME_WAIT',
  'CLOSE',
  'CLOSE_WAIT',
  'LAST_ACK',
  'LISTEN',
  'CLOSING',
  'NEW_SYN_RECV',
];
const ROLES: Record<number, TcpRow['role']> = {
  [enums.tc_role.TC_UNKNOWN]: 'unknown',
  [enums.tc_role.TC_ACTIVE]: 'active',
  [enums.tc_role.TC_PASSIVE]: 'passive',
};
const E = layouts.tc_event.fields;
const AF_INET6 = 10;

/** An address as text: dotted IPv4, or IPv6 with the longest run of zero groups as `::`. */
export function addressText(bytes: Buffer, family: number): string {
  if (family !== AF_INET6) return [...bytes.subarray(0, 4)].join('.');
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff)
    return `::ffff:${[...bytes.subarray(12, 16)].join('.')}`;
  const groups = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(i * 2));
  let best = { at: -1, len: 0 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.len && j - i > 1) best = { at: i, len: j - i };
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.at < 0) return hex.join(':');
  return `${hex.slice(0, best.at).join(':')}::${hex.slice(best.at + best.len).join(':')}`;
}

/** ::ffff:a.b.c.d: an IPv4 peer of a dual-stack (IPv6) socket. */
const v4Mapped = (b: Buffer) =>
  b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;

function decoder(host: HostContext) {
  return (r: Buffer, offsetNs: bigint): TcpRow => {
    const id = decodeHeader(layouts.ft_event_header, r, host, offsetNs);
    let family = r.readUInt16LE(E.family.offset);
    let saddr = r.subarray(E.saddr.offset, E.saddr.offset + 16);
    let daddr = r.subarray(E.daddr.offset, E.daddr.offset + 16);
    // A dual-stack server's IPv4 connections are IPv4 connections: shown as such.
    if (family === AF_INET6 && v4Mapped(saddr) && v4Mapped(daddr)) {
      family = 2;
      saddr = saddr.subarray(12);
      daddr = daddr.subarray(12);
    }
    const kind = r.readUInt32LE(layouts.ft_event_header.fields.kind.offset);
    // Object.assign, not a spread: `{ ...id, x }` costs microseconds a row in V8 (see proc's decoder)
    return Object.assign(id, {
      event: kind === enums.tc_kind.TC_RETRANSMIT ? ('retransmit' as const) : ('close' as const),
      family: family === AF_INET6 ? ('ipv6' as const) : ('ipv4' as const),
      saddr: addressText(saddr, family),
      sport: r.readUInt16LE(E.sport.offset),
      daddr: addressText(daddr, family),
      dport: r.readUInt16LE(E.dport.offset),
      role: ROLES[r.readUInt8(E.role.offset)] ?? 'unknown',
      state: TCP_STATES[r.readUInt8(E.state.offset)] ?? String(r.readUInt8(E.state.offset)),
      duration_ns: readU64Number(r, E.duration_ns),
      connect_ns: readU64Number(r, E.connect_ns),
      bytes_in: readU64Number(r, E.bytes_in),
      bytes_out: readU64Number(r, E.bytes_out),
    });
  };
}

function summarize(rows: TcpRow[], opts: { top: number }): SummaryTable {
  const shown = rows.slice(-opts.top);
  const at = (a: string, p: number) => (a.includes(':') ? `[${a}]:${p}` : `${a}:${p}`);
  return {
    headers: ['EVENT', 'PID', 'COMM', 'UID', 'LOCAL', 'REMOTE', 'ROLE', 'MS', 'IN', 'OUT'],
    rows: shown.map((r) => [
      r.event,
      r.pid,
      r.comm,
      r.uid,
      at(r.saddr, r.sport),
      at(r.daddr, r.dport),
      r.role,
      (r.duration_ns / 1e6).toFixed(1),
      r.bytes_in,
      r.bytes_out,
    ]),
    omitted: rows.length - shown.length,
  };
}

export const collector: CollectorDefinition<Params, TcpRow> = {
  name: 'tcp',
  description: manifest.description,
  requires: manifest.requires,
  parseParams,
  summarize,

  async start({ params, filters, host, mapEntries }) {
    const obj = BpfObject.fromFile(host.bpfObjectPath('tcp'), 'tcp');
    try {
      obj.setMaxEntries('ft_tc_events', params.ring_kb * 1024);
      obj.setMaxEntries('ft_tc_socks', params.max_connections);
      for (const [map, n] of Object.entries(mapEntries ?? {})) obj.setMaxEntries(map, n);
      await obj.load();
      applyKernelFilter(obj, kernelFilterFor([filters]));
      obj.attachAll();
      return new RingSession<TcpRow>({
        obj,
        ringMap: 'ft_tc_events',
        lost: { 'ring buffer full': ['ft_tc_lost', 0], 'connection table full': ['ft_tc_lost', 1] },
        decode: decoder(host),
      });
    } catch (err) {
      obj.closeNow();
      throw err;
    }
  },
};
