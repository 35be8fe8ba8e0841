// SPDX-License-Identifier: Apache-2.0
/**
 * counters: perf counters per process or cgroup (bpf/counters/counters.bpf.c),
 * like `perf stat -a` split by process and user. The events count on every
 * CPU in counting mode (no sampling, no program per event); a program at each
 * context switch gives what the CPU's counters gained to the task switching
 * out, and a 4 Hz timer does the same for the task on the CPU. Counts are
 * exact. Software events (page faults, CPU migrations) run everywhere, as do
 * context switches and task clock, which need no perf event; hardware events
 * (cycles, instructions, cache misses) need a PMU, and a host without one says
 * so and still counts the software events.
 */
import { BpfObject, constant, PERF_TYPE_HARDWARE, PERF_TYPE_SOFTWARE } from '@fleettrace/native';
import { parseParamsWith } from '@fleettrace/collector-spec';
import type { CollectorDefinition, HostContext, SummaryTable } from '../runtime/definition';
import { AggregateSession, keyCacheLayout, mergeRows } from '../runtime/aggregate-session';
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

/**
 * perf_event_attr type and config of the events counted by a perf event
 * (include/uapi/linux/perf_event.h); context switches and task clock are
 * counted by the switch program itself.
 */
const PERF: Partial<Record<CounterEvent, { type: number; config: number }>> = {
  page_faults: { type: PERF_TYPE_SOFTWARE, config: 2 /* PERF_COUNT_SW_PAGE_FAULTS */ },
  cpu_migrations: { type: PERF_TYPE_SOFTWARE, config: 4 /* PERF_COUNT_SW_CPU_MIGRATIONS */ },
  cycles: { type: PERF_TYPE_HARDWARE, config: 0 /* PERF_COUNT_HW_CPU_CYCLES */ },
  instructions: { type: PERF_TYPE_HARDWARE, config: 1 /* PERF_COUNT_HW_INSTRUCTIONS */ },
  cache_misses: { type: PERF_TYPE_HARDWARE, config: 3 /* PERF_COUNT_HW_CACHE_MISSES */ },
};

/** The timer that gives a CPU's counts to a task that does not switch out: cpu-clock, 4 Hz. */
const TICK = {
  type: PERF_TYPE_SOFTWARE,
  config: 0 /* PERF_COUNT_SW_CPU_CLOCK */,
  period: 250_000_000,
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

class CountersSession extends AggregateSession<CountersRow> {
  constructor(
    obj: BpfObject,
    private readonly host: HostContext,
    /** the events counted */
    private readonly counted: CounterEvent[],
    /** what could not be counted here, and why */
    readonly notes: string[],
  ) {
    super(obj, {
      counts: 'ft_ct_counts',
      ctl: 'ft_ct_ctl',
      lost: 'ft_ct_lost',
      valueSize: layouts.ct_value.size,
      cache: keyCacheLayout('ft_ct_cache', layouts.ct_cache, layouts.ct_cache_slot),
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
    for (const event of this.counted) {
      const n = samples[SLOT[event]]!;
      if (n > 0) rows.push({ ...base, event, value: n, samples: n, period: 1 });
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
      obj.setConstant(
        'ct_enabled',
        constant.u32(params.events.reduce((bits, e) => bits | (1 << SLOT[e]), 0)),
      );
      for (const map of ['ft_ct_counts_a', 'ft_ct_counts_b'])
        obj.setMaxEntries(map, mapEntries?.[map] ?? params.max_entries);
      await obj.load();
      applyKernelFilter(obj, kernelFilterFor([filters]));
      const counted: CounterEvent[] = [];
      const unsupported: string[] = [];
      for (const event of params.events) {
        const perf = PERF[event];
        if (!perf) {
          counted.push(event); // context switches and task clock: the switch program counts them
          continue;
        }
        try {
          obj.countPerfEvent(`ft_ct_ev_${event}`, perf);
          counted.push(event);
        } catch (err) {
          if (!(HARDWARE_EVENTS as readonly string[]).includes(event)) throw err;
          // No PMU (virtual machines, these hosts): perf_event_open says ENOENT or EOPNOTSUPP.
          unsupported.push(`${event}: ${(err as Error).message}`);
        }
      }
      if (counted.length === 0)
        throw new Error(
          `counters: hardware counters unsupported on this host (${unsupported.join('; ')}), and no software event asked for`,
        );
      obj.attachPerfEvent('ft_ct_tick', TICK);
      obj.attach('ft_ct_switch');
      const notes =
        unsupported.length > 0
          ? [
              `hardware counters unsupported on this host (${unsupported.join('; ')}); counting ${counted.join(', ')}`,
            ]
          : [];
      return new CountersSession(obj, host, counted, notes);
    } catch (err) {
      obj.closeNow();
      throw err;
    }
  },
};
