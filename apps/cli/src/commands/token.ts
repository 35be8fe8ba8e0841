// SPDX-License-Identifier: Apache-2.0
import { escapeForTerminal, parseInteger, renderTable } from '@fleettrace/common';
import { ApiClient, CONNECTION_OPTIONS } from '../api-client';
import { toJson, UsageError } from '../cli-error';
import { defineCommand, printData } from '../command';
import { listed } from '../registry';
import type {
  CreatedTokenResponse,
  TokenListResponse,
  TokenResponse,
} from '@fleettrace/controller' with { 'resolution-mode': 'import' };

const create = defineCommand({
  name: 'create',
  summary: 'an API token with a role, or a bootstrap token for agents; its secret is printed once',
  usage: [
    '--role viewer|operator|admin [--name N] [--ttl D]',
    '--bootstrap [--uses N] [--ttl D] [--name N]',
  ],
  options: {
    role: {
      type: 'string',
      placeholder: 'viewer|operator|admin',
      help: 'role of an API token',
    },
    bootstrap: { type: 'boolean', default: false, help: 'create a bootstrap token for agents' },
    uses: {
      type: 'string',
      placeholder: 'N',
      help: 'how many agents may enroll with it (default 1)',
    },
    ttl: {
      type: 'string',
      placeholder: 'D',
      help: 'lifetime, e.g. 1h, 90d written as 2160h (API tokens: none by default, bootstrap tokens: 24h)',
    },
    name: { type: 'string', placeholder: 'N', help: 'a name for people (shown in the audit log)' },
    ...CONNECTION_OPTIONS,
  },
  data: true,
  async run(values) {
    let body: Record<string, unknown>;
    if (values.bootstrap) {
      if (values.role)
        throw new UsageError('--role: bootstrap tokens have no role (they only enroll agents)');
      body = {
        kind: 'bootstrap',
        ...(values.uses ? { max_uses: parseInteger('--uses', values.uses, 1, 1_000_000) } : {}),
        ...(values.ttl ? { ttl: values.ttl } : {}),
        ...(values.name ? { name: values.name } : {}),
      };
    } else {
      if (!values.role)
        throw new UsageError('--role is required (viewer, operator or admin), or --bootstrap');
      if (values.uses) throw new UsageError('--uses: only bootstrap tokens have uses');
      body = {
        kind: 'api',
        role: values.role,
        ...(values.ttl ? { ttl: values.ttl } : {}),
        ...(values.name ? { name: values.name } : {}),
      };
    }
    const res = await ApiClient.from(values).post<CreatedTokenResponse>('/api/v1/tokens', body);
    if (values.json) process.stdout.write(toJson(res) + '\n');
    else {
      process.stderr.write(
        `created ${res.info.kind} token ${res.info.id} (${res.info.kind === 'api' ? `role ${res.info.role}` : `${res.info.max_uses} use(s), expires ${res.info.expires}`}); the secret is shown once:\n`,
      );
      process.stdout.write(res.token + '\n');
    }
    return 0;
  },
});

const list = defineCommand({
  name: 'list',
  summary: 'the tokens, with their state (never their secrets)',
  options: CONNECTION_OPTIONS,
  data: true,
  async run(values) {
    const { tokens } = await ApiClient.from(values).get<TokenListResponse>('/api/v1/tokens');
    printData(values.json, tokens, () =>
      renderTable(
        ['ID', 'KIND', 'NAME', 'ROLE/USES', 'CREATED', 'EXPIRES', 'STATE'],
        tokens.map((t) => [
          t.id,
          t.kind,
          t.name,
          t.kind === 'api' ? (t.role as string) : `${t.uses}/${t.max_uses}`,
          t.created.slice(0, 19).replace('T', ' '),
          t.expires ? t.expires.slice(0, 19).replace('T', ' ') : 'never',
          t.revoked
            ? 'revoked'
            : t.expires && Date.parse(t.expires) < Date.now()
              ? 'expired'
              : 'active',
        ]),
      ),
    );
    return 0;
  },
});

const revoke = defineCommand({
  name: 'revoke',
  summary: 'refuse a token from now on',
  args: ['ID'],
  options: CONNECTION_OPTIONS,
  data: true,
  async run(values, [id]) {
    const t = await ApiClient.from(values).delete<TokenResponse>(
      `/api/v1/tokens/${encodeURIComponent(id!)}`,
    );
    printData(
      values.json,
      t,
      () => `revoked ${t.kind} token ${t.id} (${escapeForTerminal(t.name)})`,
    );
    return 0;
  },
});

export const tokenCommand = defineCommand({
  ...listed('token'),
  description: `API tokens carry a role: viewer (read), operator (run standard collectors),
admin (sensitive collectors, tokens, revocation, audit). Bootstrap tokens
enroll agents: one use unless --uses says more (simulators), expiring
(default 24h); they carry the hash of the controller's CA, so agents check
whom they enroll with. A secret is printed once. Needs an admin token.`,
  subcommands: [create, list, revoke],
});
