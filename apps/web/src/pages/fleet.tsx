// SPDX-License-Identifier: Apache-2.0
import { request, type Agent, type AgentListResponse } from '../api';
import { usePoll } from '../components/use-poll';
import { ago, percent } from '../format';

/** Hosts: state, labels, kernel features, the agent's overhead, the last heartbeat. */
export function FleetPage() {
  const agents = usePoll(
    () => request<AgentListResponse>('GET', '/api/v1/agents').then((r) => r.agents),
    5_000,
  );
  const list = agents.data ?? [];
  const counts = list.reduce<Record<string, number>>((acc, a) => {
    acc[a.state] = (acc[a.state] ?? 0) + 1;
    return acc;
  }, {});
  return (
    <section>
      <h2>Fleet</h2>
      {agents.error && <p class="error">{agents.error}</p>}
      <p class="muted" data-testid="fleet-summary">
        {list.length} host{list.length === 1 ? '' : 's'}
        {Object.entries(counts).map(([state, n]) => ` · ${n} ${state}`)}
      </p>
      <table class="grid" data-testid="hosts">
        <thead>
          <tr>
            <th>host</th>
            <th>state</th>
            <th>labels</th>
            <th>kernel</th>
            <th>features</th>
            <th>collectors</th>
            <th class="num">agent overhead</th>
            <th>last heartbeat</th>
          </tr>
        </thead>
        <tbody>
          {list.map((a) => (
            <HostRow key={a.id} agent={a} />
          ))}
          {agents.data && list.length === 0 && (
            <tr>
              <td colSpan={8} class="muted">
                No agent has enrolled yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}

function HostRow({ agent: a }: { agent: Agent }) {
  const missing = Object.entries(a.missing_features);
  return (
    <tr>
      <td title={a.id}>
        {a.hostname}
        <div class="muted small">
          {a.cpus} CPUs · agent {a.agent_version}
        </div>
      </td>
      <td>
        <span class={`state state-${a.state}`}>{a.state}</span>
        {a.state_reason && <div class="muted small">{a.state_reason}</div>}
      </td>
      <td>
        {Object.entries(a.labels).map(([k, v]) => (
          <span key={k} class="tag">
            {k}={v}
          </span>
        ))}
      </td>
      <td class="small">{a.kernel}</td>
      <td class="small">
        {a.features.map((f) => (
          <span key={f} class="tag ok">
            {f}
          </span>
        ))}
        {missing.map(([f, why]) => (
          <span key={f} class="tag missing" title={why}>
            no {f}
          </span>
        ))}
      </td>
      <td class="small">{a.collectors.join(', ')}</td>
      <td class="num">{percent(a.overhead_share, 3)}</td>
      <td title={a.last_heartbeat ?? ''}>{ago(a.last_heartbeat)}</td>
    </tr>
  );
}
