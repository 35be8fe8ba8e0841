// SPDX-License-Identifier: Apache-2.0
/**
 * What an operator asks of a running agent before anything else: is it
 * connected to its controller, do its rows reach a bus, and what does each
 * run cost. One reading serves /healthz (ok only when both links work) and
 * the gauges of /metrics (controller link, bus state, per-run overhead and
 * counts).
 */
import { Gauge, Registry } from 'prom-client';
import { RunState, type JobStatus } from '@fleettrace/proto';

/** How the agent's rows leave it: `ok` (the bus acknowledges), `spooling` (they wait on disk), `none` (nowhere: counted as lost). */
export type BusState = 'ok' | 'spooling' | 'none';

export interface AgentStatusSource {
  controllerConnected(): boolean;
  bus(): { state: BusState; detail: string };
  runs(): JobStatus[];
}

export interface AgentHealth {
  ok: boolean;
  controller: 'connected' | 'disconnected';
  bus: BusState;
  bus_detail: string;
  running_runs: number;
  problems: string[];
}

export function agentHealth(source: AgentStatusSource): AgentHealth {
  const connected = source.controllerConnected();
  const bus = source.bus();
  const problems: string[] = [];
  if (!connected) problems.push('not connected to the controller (runs go on; reports wait)');
  if (bus.state === 'none') problems.push(`rows are lost: ${bus.detail}`);
  if (bus.state === 'spooling') problems.push(`rows wait in the spool: ${bus.detail}`);
  return {
    ok: problems.length === 0,
    controller: connected ? 'connected' : 'disconnected',
    bus: bus.state,
    bus_detail: bus.detail,
    running_runs: source.runs().filter((r) => r.state === RunState.RUN_STATE_RUNNING).length,
    problems,
  };
}

/** Gauges read at scrape time: the two links and every known run's overhead and counts. */
export function agentStatusRegistry(source: AgentStatusSource): Registry {
  const registry = new Registry();
  new Gauge({
    name: 'fleettrace_agent_controller_connected',
    help: '1 while the agent has a welcomed stream to its controller',
    registers: [registry],
    collect() {
      this.set(source.controllerConnected() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'fleettrace_agent_bus_state',
    help: 'How rows leave the agent: 1 for the current state (ok: the bus acknowledges; spooling: they wait on disk; none: no bus, rows are counted as lost)',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const now = source.bus().state;
      for (const s of ['ok', 'spooling', 'none'] as BusState[])
        this.set({ state: s }, +(s === now));
    },
  });
  const perRun = (name: string, help: string, read: (r: JobStatus) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['job_id', 'run_id'],
      registers: [registry],
      collect() {
        this.reset();
        for (const r of source.runs()) this.set({ job_id: r.jobId, run_id: r.runId }, read(r));
      },
    });
  perRun(
    'fleettrace_agent_run_overhead_share',
    'Share of host CPU a run costs (BPF run time, hook cost, agent CPU), as last measured',
    (r) => r.overheadShare,
  );
  perRun('fleettrace_agent_run_events_sent', 'Rows a run handed to the publisher', (r) =>
    Number(r.eventsSent),
  );
  perRun(
    'fleettrace_agent_run_events_lost',
    'Events a run lost (kernel side, limits, no bus)',
    (r) => Number(r.eventsLost),
  );
  return registry;
}
