// SPDX-License-Identifier: Apache-2.0
import { ownerOnlyUmask, parseDuration } from '@fleettrace/common';
import type { BusSettings, ControlEvent } from '@fleettrace/proto';
import type { QueryService, cannedQueries } from '@fleettrace/store';
import { UsageError } from '../cli-error';
import { parseServiceArgs } from '../config-file';
import type { OptionTable } from '../config-keys';
import { kafkaSettings } from '../kafka-flags';
import { readSecret } from '../secret-flags';
import { serveUntilSignal } from '../signals';

export const CONTROLLER_HELP = `usage: fleettrace controller [options]

Runs the control plane: the REST API (with /metrics, /healthz, /readyz and
/api/v1/openapi.json), the agents' Enrollment listener (TLS) and their
AgentControl listener (mutual TLS). State lives in SQLite in the data
directory, with the CA it generates on first start. On the first start it
prints an admin API token, also written (0600) to <data>/admin-token.
Logs are JSON lines on stderr. Stops on SIGINT or SIGTERM within 5 s (a second
signal forces).

options:
  --config FILE         take options from FILE's controller: section (YAML, see
                        docs/config.md); flags given here override it
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
  --ui-dir DIR          serve the web UI built in DIR (apps/web/dist) at /; the
                        pages need no token, their API calls do

fleet store (the ClickHouse server \`fleettrace ingest\` writes; without it
query, top and crashes answer 503):
  --clickhouse-url URL  e.g. http://ch.example:8123
  --clickhouse-viewer-user NAME, --clickhouse-admin-user NAME
                        the readonly users queries of the viewer and admin roles
                        run as (default fleettrace_viewer, fleettrace_admin)
  --clickhouse-password-file FILE
                        their password (default $FLEETTRACE_CLICKHOUSE_PASSWORD;
                        --clickhouse-password works too, but every local user
                        can read a command line)
  --clickhouse-viewer-password-file FILE, --clickhouse-admin-password-file FILE
                        one user's own password, instead of the one above
                        (default $FLEETTRACE_CLICKHOUSE_VIEWER_PASSWORD,
                        $FLEETTRACE_CLICKHOUSE_ADMIN_PASSWORD)
  --clickhouse-owner-user NAME
                        the user that reads the server's version and stops a query
                        past its time limit (KILL QUERY) (default default)
  --clickhouse-owner-password-file FILE
                        its password (default $FLEETTRACE_CLICKHOUSE_OWNER_PASSWORD;
                        none by default)

fleet bus (Kafka; the controller publishes job, run and agent changes there for
ingest, and hands these settings to agents at enrollment and on every reconnect):
  --brokers H:P,...     Kafka brokers
  --kafka-tls           connect to them over TLS
  --kafka-sasl-mechanism plain|scram-sha-256|scram-sha-512
                        authenticate to the brokers with SASL
  --kafka-sasl-user NAME
                        the SASL user name
  --kafka-sasl-password-file FILE
                        the SASL password (default $FLEETTRACE_KAFKA_SASL_PASSWORD)
  -h, --help            this help`;

export const CONTROLLER_OPTIONS = {
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
  'ui-dir': { type: 'string' },
  'clickhouse-url': { type: 'string' },
  'clickhouse-viewer-user': { type: 'string' },
  'clickhouse-admin-user': { type: 'string' },
  'clickhouse-password': { type: 'string' },
  'clickhouse-password-file': { type: 'string' },
  'clickhouse-viewer-password': { type: 'string' },
  'clickhouse-viewer-password-file': { type: 'string' },
  'clickhouse-admin-password': { type: 'string' },
  'clickhouse-admin-password-file': { type: 'string' },
  'clickhouse-owner-user': { type: 'string' },
  'clickhouse-owner-password': { type: 'string' },
  'clickhouse-owner-password-file': { type: 'string' },
  brokers: { type: 'string' },
  'kafka-tls': { type: 'boolean' },
  'kafka-sasl-mechanism': { type: 'string' },
  'kafka-sasl-user': { type: 'string' },
  'kafka-sasl-password': { type: 'string' },
  'kafka-sasl-password-file': { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} satisfies OptionTable;

export async function controllerCommand(argv: string[]): Promise<number> {
  // Before anything is created (startController then tightens what an older start left).
  ownerOnlyUmask();
  const { values, positionals } = parseServiceArgs(
    { name: 'controller', help: CONTROLLER_HELP },
    {
      args: argv,
      strict: true,
      allowPositionals: true,
      options: CONTROLLER_OPTIONS,
    },
  );
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
  const store = storeOptions(values);
  const bus = kafkaSettings(values);
  const { startController } = await import('@fleettrace/controller');
  const fleet = await connectFleet(store, bus);
  const c = await startController({
    ...fleet.options,
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
    ...(values['ui-dir'] ? { uiDir: values['ui-dir'] } : {}),
  }).catch(async (err: unknown) => {
    await fleet.close();
    throw err;
  });
  process.stdout.write(
    `fleettrace controller\n  api      ${c.url}\n  enroll   ${c.enrollAddress} (TLS)\n  control  ${c.controlAddress} (mutual TLS)\n  ca       ${c.caHash}\n${c.uiUrl ? `  ui       ${c.uiUrl}\n` : ''}`,
  );
  if (c.firstAdminToken)
    process.stdout.write(
      `\nfirst start: admin API token (also in ${c.adminTokenFile}, mode 0600):\n  ${c.firstAdminToken}\n`,
    );
  return serveUntilSignal('controller', async (step) => {
    step("closing the API and the agents' streams");
    await c.close();
    step('sending the last control events to the bus');
    await fleet.close();
  });
}

interface StoreFlags {
  url: string;
  viewer: { username: string; password: string };
  admin: { username: string; password: string };
  owner: { username: string; password: string };
}

/** The --clickhouse-* flags, checked; undefined without --clickhouse-url. */
function storeOptions(values: Record<string, unknown>): StoreFlags | undefined {
  const raw = values['clickhouse-url'] as string | undefined;
  if (raw === undefined) {
    for (const flag of [
      'clickhouse-viewer-user',
      'clickhouse-admin-user',
      'clickhouse-password',
      'clickhouse-password-file',
      'clickhouse-viewer-password',
      'clickhouse-viewer-password-file',
      'clickhouse-admin-password',
      'clickhouse-admin-password-file',
      'clickhouse-owner-user',
      'clickhouse-owner-password',
      'clickhouse-owner-password-file',
    ])
      if (values[flag] !== undefined) throw new UsageError(`--${flag}: needs --clickhouse-url`);
    return undefined;
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(
      `--clickhouse-url: expected a URL such as http://127.0.0.1:8123, got ${JSON.stringify(raw)}`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError(`--clickhouse-url: expected http: or https:, got ${url.protocol}`);
  if (url.username || url.password)
    throw new UsageError(
      '--clickhouse-url: no credentials in the URL (every local user can read a command line); use the --clickhouse-*-user flags and --clickhouse-password-file',
    );
  const user = (flag: string, dflt: string) => {
    const name = (values[flag] as string | undefined) ?? dflt;
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name))
      throw new UsageError(`--${flag}: not a ClickHouse user name: ${JSON.stringify(name)}`);
    return name;
  };
  const shared =
    readSecret(values, { flag: 'clickhouse-password', env: 'FLEETTRACE_CLICKHOUSE_PASSWORD' }) ??
    '';
  const password = (role: 'viewer' | 'admin') =>
    readSecret(values, {
      flag: `clickhouse-${role}-password`,
      env: `FLEETTRACE_CLICKHOUSE_${role.toUpperCase()}_PASSWORD`,
    }) ?? shared;
  return {
    url: raw,
    viewer: {
      username: user('clickhouse-viewer-user', 'fleettrace_viewer'),
      password: password('viewer'),
    },
    admin: {
      username: user('clickhouse-admin-user', 'fleettrace_admin'),
      password: password('admin'),
    },
    owner: {
      username: user('clickhouse-owner-user', 'default'),
      password:
        readSecret(values, {
          flag: 'clickhouse-owner-password',
          env: 'FLEETTRACE_CLICKHOUSE_OWNER_PASSWORD',
        }) ?? '',
    },
  };
}

/**
 * The store behind the query API and the Kafka publisher of control events,
 * as startController options, and how to close them after the controller.
 */
interface FleetOptions {
  query?: { backend: QueryService; canned: typeof cannedQueries };
  bus?: BusSettings;
  publisher?: { publish(event: ControlEvent): void; close(): Promise<void> };
}

async function connectFleet(
  store: StoreFlags | undefined,
  bus: BusSettings | undefined,
): Promise<{ options: FleetOptions; close(): Promise<void> }> {
  const options: FleetOptions = {};
  const closers: Array<() => Promise<void>> = [];
  if (store) {
    const { ServerStore, QueryService, cannedQueries } = await import('@fleettrace/store');
    const server = new ServerStore({
      url: store.url,
      viewer: store.viewer,
      admin: store.admin,
      owner: store.owner,
    });
    options.query = { backend: new QueryService(server), canned: cannedQueries };
    closers.push(() => server.close());
  }
  if (bus) {
    const { busFromSettings, ControlEventSender } = await import('@fleettrace/bus');
    const kafka = busFromSettings(bus, 'fleettrace-controller');
    const sender = new ControlEventSender(kafka, {
      log: (m) => process.stderr.write(`fleettrace controller: control events: ${m}\n`),
    });
    options.bus = bus;
    options.publisher = { publish: (event) => sender.send(event), close: () => sender.close() };
    // The controller closes its publisher (the sender) first; the Kafka client after it.
    closers.push(() => kafka.close());
  }
  return {
    options,
    async close() {
      for (const close of closers) await close().catch(() => undefined);
    },
  };
}
