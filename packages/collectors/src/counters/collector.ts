// SPDX-License-Identifier: Apache-2.0
/**
 * counters: perf counters per process or cgroup (bpf/counters/counters.bpf.c),
 * like `perf stat -a` split by process and user. Software events (page
 * faults, context switches, CPU migrations, task clock) run everywhere;
 * hardware events (cycles, instructions, cache misses) need a PMU, and a host
 * without one says so and still counts the software events.
 */
import { BpfObject, constant, PERF_TYPE_HARDWARE, PERF_TYPE_SOFTWARE } from '@fleettrace/native';
import { parseParamsWith } from '@fleettrace/collector-spec';
import type { CollectorDefinition, HostContext, SummaryTable } from '../runtime/definition';
import { AggregateSession, mergeRows } from '../runtime/aggregate-session';
import { applyKernelFilter, kernelFilterFor } from '../runtime/filters';
import { readChars, readU32, readU64, readU64Number } from '../runtime/layout';
import { enums, layouts } from './layout.gen';
import { HARDWARE_EVENTS, manifest, type CounterEvent } from './manifest';

export interface CountersRow {
  ts_ns: bigint;
  pid: number;
  uid: number;
  user: string;
  comm: string;
  cgroup: string;
  event: CounterEvent;
  value: number;
  samples: number;
  period: number;
}

type Params = ReturnType<typeof parseParams>;

function parseParams(raw: Record<string, unknown>, field: string) {
  return parseParamsWith(manifest.params, manifest.name, raw, field);
}

/** perf_event_attr type and config of each event (include/uapi/linux/perf_event.h). */
const PERF: Record<CounterEvent, { type: number; config: number }> = {
  task_clock: { type: PERF_TYPE_SOFTWARE, config: 1 /* PERF_COUNT_SW_TASK_CLOCK */ },
  page_faults: { type: PERF_TYPE_SOFTWARE, config: 2 /* PERF_COUNT_SW_PAGE_FAULTS */ },
  context_switches: { type: PERF_TYPE_SOFTWARE, config: 3 /* PERF_COUNT_SW_CONTEXT_SWITCHES */ },
  cpu_migrations: { type: PERF_TYPE_SOFTWARE, config: 4 /* PERF_COUNT_SW_CPU_MIGRATIONS */ },
  cycles: { type: PERF_TYPE_HARDWARE, config: 0 /* PERF_COUNT_HW_CPU_CYCLES */ },
  instructions: { type: PERF_TYPE_HARDWARE, config: 1 /* PERF_COUNT_HW_INSTRUCTIONS */ },
  cache_misses: { type: PERF_TYPE_HARDWARE, config: 3 /* PERF_COUNT_HW_CACHE_MISSES */ },
};

/** The slot of each event in ct_value.samples, from the C enum. */
const SLOT: Record<CounterEvent, number> = {
  page_faults: enums.ct_event.CT_PAGE_FAULTS,
  context_switches: enums.ct_event.CT_CONTEXT_SWITCHES,
  cpu_migrations: enums.ct_event.CT_CPU_MIGRATIONS,
  task_clock: enums.ct_event.CT_TASK_CLOCK,
  cycles: enums.ct_event.CT_CYCLES,
  instructions: enums.ct_event.CT_INSTRUCTIONS,
  cache_misses: enums.ct_event.CT_CACHE_MISSES,
};

const KEY = layouts.ct_key.fields;
const VALUE = layouts.ct_value.fields;

function periodOf(event: CounterEvent, params: Params): number {
  if (event === 'task_clock') return params.task_clock_period * 1_000_000;
  if ((HARDWARE_EVENTS as readonly string[]).includes(event)) return params.hardware_period;
  return 1;
}

class CountersSession extends AggregateSession<CountersRow> {
  constructor(
    obj: BpfObject,
    private readonly host: HostContext,
    /** the events attached, with their periods */
    private readonly counted: Array<{ event: CounterEvent; period: number }>,
    /** what could not be counted here, and why */
    readonly notes: string[],
  ) {
    super(obj, {
      counts: 'ft_ct_counts',
      ctl: 'ft_ct_ctl',
      lost: 'ft_ct_lost',
      valueSize: layouts.ct_value.size,
    });
  }

  protected rowsOf(key: Buffer, slots: Buffer[], ts: bigint): CountersRow[] {
    const samples = new Array<number>(VALUE.samples.count).fill(0);
    // Per process the key holds no cgroup: the slot of the CPU that created the key does.
    let cgroup = readU64(key, KEY.cgroup);
    for (const slot of slots) {
      for (let s = 0; s < samples.length; s++)
        samples[s]! += readU64Number(slot, VALUE.samples, s * 8);
      if (cgroup === 0n) cgroup = readU64(slot, VALUE.cgroup);
    }
    const uid = readU32(key, KEY.uid);
    const base = {
      ts_ns: ts,
      pid: readU32(key, KEY.pid),
      uid,
      user: this.host.users.name(uid),
      comm: readChars(key, KEY.comm),
      cgroup: this.host.cgroups.path(cgroup),
    };
    const rows: CountersRow[] = [];
    for (const { event, period } of this.counted) {
      const n = samples[SLOT[event]]!;
      if (n > 0) rows.push({ ...base, event, value: n * period, samples: n, period });
    }
    return rows;
  }
}

/** Sums rows of several intervals per (pid, uid, comm, cgroup, event). */
function summarize(rows: CountersRow[], opts: { top: number }): SummaryTable {
  const merged = mergeRows(
    rows,
    (r) => `${r.pid}/${r.uid}/${r.comm}/${r.cgroup}/${r.event}`,
    (m, r) => {
      m.value += r.value;
      m.samples += r.samples;
    },
  );
  const sorted = merged.sort((a, b) => b.value - a.value);
  const shown = sorted.slice(0, opts.top);
  return {
    headers: ['EVENT', 'PID', 'COMM', 'USER', 'UID', 'CGROUP', 'VALUE', 'PERIOD'],
    rows: shown.map((r) => [
      r.event,
      r.pid,
      r.comm,
      r.user,
      r.uid,
      r.cgroup || '/',
      r.value,
      r.period,
    ]),
    omitted: sorted.length - shown.length,
  };
}

export const collector: CollectorDefinition<Params, CountersRow> = {
  name: 'counters',
  description: manifest.description,
  requires: manifest.requires,
  parseParams,
  summarize,

  async start({ params, filters, host, mapEntries }) {
    const obj = BpfObject.fromFile(host.bpfObjectPath('counters'), 'counters');
    try {
      obj.setConstant('ct_per_cgroup', constant.u8(params.per_cgroup ? 1 : 0));
      for (const map of ['ft_ct_counts_a', 'ft_ct_counts_b'])
        obj.setMaxEntries(map, mapEntries?.[map] ?? params.max_entries);
      for (const event of Object.keys(PERF) as CounterEvent[])
        if (!params.events.includes(event)) obj.setAutoload(`ft_ct_${event}`, false);
      await obj.load();
      applyKernelFilter(obj, kernelFilterFor([filters]));
      const counted: Array<{ event: CounterEvent; period: number }> = [];
      const unsupported: string[] = [];
      for (const event of params.events) {
        const period = periodOf(event, params);
        try {
          obj.attachPerfEvent(`ft_ct_${event}`, { ...PERF[event], period });
          counted.push({ event, period });
        } catch (err) {
          if (PERF[event].type !== PERF_TYPE_HARDWARE) throw err;
          // No PMU (virtual machines, these hosts): perf_event_open says ENOENT or EOPNOTSUPP.
          unsupported.push(`${event}: ${(err as Error).message}`);
        }
      }
      if (counted.length === 0)
        throw new Error(
          `counters: hardware counters unsupported on this host (${unsupported.join('; ')}), and no software event asked for`,
        );
      const notes =
        unsupported.length > 0
          ? [
              `hardware counters unsupported on this host (${unsupported.join('; ')}); counting ${counted.map((c) => c.event).join(', ')}`,
            ]
          : [];
      return new CountersSession(obj, host, counted, notes);
    } catch (err) {
      obj.closeNow();
      throw err;
    }
  },
};
