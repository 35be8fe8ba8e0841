// SPDX-License-Identifier: Apache-2.0
import { parseArgs } from 'node:util';
import { escapeForTerminal, parseInteger, renderTable } from '@fleettrace/common';
import { ApiClient, CONNECTION_HELP, CONNECTION_OPTIONS } from '../api-client';
import { toJson, UsageError } from '../cli-error';
import type {
  CreatedTokenResponse,
  TokenListResponse,
  TokenResponse,
} from '@fleettrace/controller' with { 'resolution-mode': 'import' };

export const TOKEN_HELP = `usage: fleettrace token create --role viewer|operator|admin [--name N] [--ttl D]
       fleettrace token create --bootstrap [--uses N] [--ttl D] [--name N]
       fleettrace token list [--json]
       fleettrace token revoke ID

API tokens carry a role: viewer (read), operator (run standard collectors),
admin (sensitive collectors, tokens, revocation, audit). Bootstrap tokens
enroll agents: one use unless --uses says more (simulators), expiring
(default 24h); they carry the hash of the controller's CA, so agents check
whom they enroll with. A secret is printed once. Needs an admin token.

options:
  --role R            role of an API token
  --bootstrap         create a bootstrap token for agents
  --uses N            how many agents may enroll with it (default 1)
  --ttl D             lifetime, e.g. 1h, 90d written as 2160h (API tokens: none by default)
  --name N            a name for people (shown in the audit log)
  --json              print JSON
${CONNECTION_HELP}`;

export async function tokenCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      ...CONNECTION_OPTIONS,
      role: { type: 'string' },
      bootstrap: { type: 'boolean', default: false },
      uses: { type: 'string' },
      ttl: { type: 'string' },
      name: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(TOKEN_HELP + '\n');
    return 0;
  }
  const [sub, id, ...extra] = positionals;
  const api = ApiClient.from(values);
  switch (sub) {
    case 'create': {
      if (id) throw new UsageError('token create takes no arguments');
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
      const res = await api.post<CreatedTokenResponse>('/api/v1/tokens', body);
      if (values.json) process.stdout.write(toJson(res) + '\n');
      else {
        process.stderr.write(
          `created ${res.info.kind} token ${res.info.id} (${res.info.kind === 'api' ? `role ${res.info.role}` : `${res.info.max_uses} use(s), expires ${res.info.expires}`}); the secret is shown once:\n`,
        );
        process.stdout.write(res.token + '\n');
      }
      return 0;
    }
    case 'list': {
      const { tokens } = await api.get<TokenListResponse>('/api/v1/tokens');
      if (values.json) process.stdout.write(toJson(tokens) + '\n');
      else
        process.stdout.write(
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
          ) + '\n',
        );
      return 0;
    }
    case 'revoke': {
      if (!id || extra.length) throw new UsageError('token revoke needs one token id');
      const t = await api.delete<TokenResponse>(`/api/v1/tokens/${encodeURIComponent(id)}`);
      process.stdout.write(
        values.json
          ? toJson(t) + '\n'
          : `revoked ${t.kind} token ${t.id} (${escapeForTerminal(t.name)})\n`,
      );
      return 0;
    }
    default:
      throw new UsageError(`token needs create, list or revoke\n\n${TOKEN_HELP}`);
  }
}
