// SPDX-License-Identifier: Apache-2.0
import { escapeForTerminal, renderTable } from '@fleettrace/common';
import { ApiClient, CONNECTION_OPTIONS } from '../api-client';
import { defineCommand, printData } from '../command';
import { listed } from '../registry';
import { parseLabels } from '../job-flags';
import type {
  AgentListResponse,
  AgentResponse,
} from '@fleettrace/controller' with { 'resolution-mode': 'import' };

export function ago(iso: string | null): string {
  if (!iso) return '-';
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  return s < 60
    ? `${s.toFixed(0)}s ago`
    : s < 3600
      ? `${(s / 60).toFixed(0)}m ago`
      : `${(s / 3600).toFixed(1)}h ago`;
}

const revoke = defineCommand({
  name: 'revoke',
  summary: "refuse an agent's certificates from now on and end its runs (admin)",
  args: ['ID'],
  options: {
    reason: { type: 'string', placeholder: 'TEXT', help: 'why, for the audit log' },
    ...CONNECTION_OPTIONS,
  },
  data: true,
  async run(values, [id]) {
    const a = await ApiClient.from(values).post<AgentResponse>(
      `/api/v1/agents/${encodeURIComponent(id!)}/revoke`,
      values.reason ? { reason: values.reason } : {},
    );
    printData(values.json, a, () => `revoked ${escapeForTerminal(a.hostname)} (${a.id})`);
    return 0;
  },
});

export const hostsCommand = defineCommand({
  ...listed('hosts'),
  description: `Lists the agents the controller knows: state (connected, disconnected, lost,
revoked), labels, kernel, CPUs, collectors and last heartbeat. \`revoke\`
(admin) refuses an agent's certificates from now on and ends its runs.`,
  options: {
    state: {
      type: 'string',
      placeholder: 'S',
      help: 'only agents in this state: enrolled, connected, disconnected, lost or revoked',
    },
    label: {
      type: 'string',
      multiple: true,
      placeholder: 'K=V',
      help: 'only agents with this label (repeatable)',
    },
    ...CONNECTION_OPTIONS,
  },
  data: true,
  subcommands: [revoke],
  async run(values) {
    const labels = parseLabels('--label', values.label);
    const q = values.state ? `?state=${encodeURIComponent(values.state)}` : '';
    const { agents } = await ApiClient.from(values).get<AgentListResponse>(`/api/v1/agents${q}`);
    const shown = agents.filter((a) => Object.entries(labels).every(([k, v]) => a.labels[k] === v));
    printData(
      values.json,
      shown,
      () =>
        renderTable(
          ['HOST', 'STATE', 'LABELS', 'KERNEL', 'CPUS', 'COLLECTORS', 'HEARTBEAT', 'ID'],
          shown.map((a) => [
            a.hostname,
            a.state_reason && a.state !== 'connected' ? `${a.state} (${a.state_reason})` : a.state,
            Object.entries(a.labels)
              .map(([k, v]) => `${k}=${v}`)
              .join(',') || '-',
            a.kernel || '-',
            a.cpus,
            String(a.collectors.length),
            ago(a.last_heartbeat),
            a.id,
          ]),
        ) +
        `\n${shown.length} hosts, ${shown.filter((a) => a.state === 'connected').length} connected`,
    );
    return 0;
  },
});
