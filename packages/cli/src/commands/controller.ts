// SPDX-License-Identifier: Apache-2.0
import { parseArgs } from 'node:util';
import { ownerOnlyUmask, parseDuration } from '@fleettrace/common';
import { UsageError } from '../cli-error';
import { untilSignal } from '../signals';

export const CONTROLLER_HELP = `usage: fleettrace controller [options]

Runs the control plane: the REST API (with /metrics, /healthz, /readyz and
/api/v1/openapi.json), the agents' Enrollment listener (TLS) and their
AgentControl listener (mutual TLS). State lives in SQLite in the data
directory, with the CA it generates on first start. On the first start it
prints an admin API token, also written (0600) to <data>/admin-token.
Logs are JSON lines on stderr. Stops on SIGINT or SIGTERM.

options:
  --data DIR            data directory (default /var/lib/fleettrace/controller)
  --listen H:P          REST API (default 127.0.0.1:7780)
  --enroll-listen H:P   agent enrollment, TLS (default 127.0.0.1:7781)
  --control-listen H:P  agent streams, mutual TLS (default 127.0.0.1:7782)
  --control-advertise H:P
                        control address given to agents (default: the listen
                        address; 0.0.0.0 means "the host the agent enrolled through")
  --server-name NAME    extra DNS name or IP for the listeners' certificate (repeatable)
  --ca-cert FILE, --ca-key FILE
                        use this CA instead of generating one
  --cert-lifetime D     lifetime of agent certificates (default 7d written as 168h)
  --heartbeat D         agent heartbeat interval (default 5s)
  --lost-after D        mark an agent lost after this long without heartbeat (default 3 heartbeats)
  -h, --help            this help`;

export async function controllerCommand(argv: string[]): Promise<number> {
  // Before anything is created (startController then tightens what an older start left).
  ownerOnlyUmask();
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      data: { type: 'string', default: '/var/lib/fleettrace/controller' },
      listen: { type: 'string' },
      'enroll-listen': { type: 'string' },
      'control-listen': { type: 'string' },
      'control-advertise': { type: 'string' },
      'server-name': { type: 'string', multiple: true },
      'ca-cert': { type: 'string' },
      'ca-key': { type: 'string' },
      'cert-lifetime': { type: 'string' },
      heartbeat: { type: 'string' },
      'lost-after': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(CONTROLLER_HELP + '\n');
    return 0;
  }
  if (positionals.length)
    throw new UsageError(`controller takes no arguments, got ${positionals.join(' ')}`);
  const ms = (flag: string, raw: string | undefined, minMs: number) =>
    raw === undefined
      ? undefined
      : parseDuration(flag, raw, { minMs, maxMs: 10 * 365 * 86_400_000 });
  const { startController } = await import('@fleettrace/controller');
  const c = await startController({
    dataDir: values.data,
    ...(values.listen ? { listen: values.listen } : {}),
    ...(values['enroll-listen'] ? { enrollListen: values['enroll-listen'] } : {}),
    ...(values['control-listen'] ? { controlListen: values['control-listen'] } : {}),
    ...(values['control-advertise'] ? { controlAdvertise: values['control-advertise'] } : {}),
    ...(values['server-name'] ? { serverNames: values['server-name'] } : {}),
    ...(values['ca-cert'] ? { caCertFile: values['ca-cert'] } : {}),
    ...(values['ca-key'] ? { caKeyFile: values['ca-key'] } : {}),
    ...(values['cert-lifetime']
      ? { clientCertLifetimeMs: ms('--cert-lifetime', values['cert-lifetime'], 1000) }
      : {}),
    ...(values.heartbeat ? { heartbeatIntervalMs: ms('--heartbeat', values.heartbeat, 100) } : {}),
    ...(values['lost-after'] ? { lostAfterMs: ms('--lost-after', values['lost-after'], 200) } : {}),
  });
  process.stdout.write(
    `fleettrace controller\n  api      ${c.url}\n  enroll   ${c.enrollAddress} (TLS)\n  control  ${c.controlAddress} (mutual TLS)\n  ca       ${c.caHash}\n`,
  );
  if (c.firstAdminToken)
    process.stdout.write(
      `\nfirst start: admin API token (also in ${c.adminTokenFile}, mode 0600):\n  ${c.firstAdminToken}\n`,
    );
  const signal = await untilSignal();
  process.stderr.write(`fleettrace: ${signal}, stopping the controller\n`);
  await c.close();
  return 0;
}
