// SPDX-License-Identifier: Apache-2.0
import { parseArgs } from 'node:util';
import { escapeForTerminal, renderTable } from '@fleettrace/common';
import { ApiClient, CONNECTION_HELP, CONNECTION_OPTIONS } from '../api-client';
import { toJson, UsageError } from '../cli-error';
import { parseLabels } from '../job-flags';
import type {
  AgentListResponse,
  AgentResponse,
} from '@fleettrace/controller' with { 'resolution-mode': 'import' };

export const HOSTS_HELP = `usage: fleettrace hosts [--state S] [--label K=V] [--json]
       fleettrace hosts revoke ID [--reason TEXT]

Lists the agents the controller knows: state (connected, disconnected, lost,
revoked), labels, kernel, CPUs, collectors and last heartbeat. \`revoke\`
(admin) refuses an agent's certificates from now on and ends its runs.

options:
  --state S           only agents in this state
  --label K=V         only agents with this label (repeatable)
  --json              print JSON
${CONNECTION_HELP}`;

export function ago(iso: string | null): string {
  if (!iso) return '-';
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  return s < 60
    ? `${s.toFixed(0)}s ago`
    : s < 3600
      ? `${(s / 60).toFixed(0)}m ago`
      : `${(s / 3600).toFixed(1)}h ago`;
}

export async function hostsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      ...CONNECTION_OPTIONS,
      state: { type: 'string' },
      label: { type: 'string', multiple: true },
      reason: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HOSTS_HELP + '\n');
    return 0;
  }
  const api = ApiClient.from(values);
  if (positionals[0] === 'revoke') {
    const id = positionals[1];
    if (!id || positionals.length > 2)
      throw new UsageError(`hosts revoke needs one agent id\n\n${HOSTS_HELP}`);
    const a = await api.post<AgentResponse>(
      `/api/v1/agents/${encodeURIComponent(id)}/revoke`,
      values.reason ? { reason: values.reason } : {},
    );
    process.stdout.write(
      values.json ? toJson(a) + '\n' : `revoked ${escapeForTerminal(a.hostname)} (${a.id})\n`,
    );
    return 0;
  }
  if (positionals.length)
    throw new UsageError(
      `unknown hosts subcommand ${JSON.stringify(positionals[0])}\n\n${HOSTS_HELP}`,
    );
  const labels = parseLabels('--label', values.label);
  const q = values.state ? `?state=${encodeURIComponent(values.state)}` : '';
  const { agents } = await api.get<AgentListResponse>(`/api/v1/agents${q}`);
  const shown = agents.filter((a) => Object.entries(labels).every(([k, v]) => a.labels[k] === v));
  if (values.json) {
    process.stdout.write(toJson(shown) + '\n');
    return 0;
  }
  process.stdout.write(
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
    ) + '\n',
  );
  process.stdout.write(
    `${shown.length} hosts, ${shown.filter((a) => a.state === 'connected').length} connected\n`,
  );
  return 0;
}
