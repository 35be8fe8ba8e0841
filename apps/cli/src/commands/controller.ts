// SPDX-License-Identifier: Apache-2.0
import { ownerOnlyUmask, parseDuration } from '@fleettrace/common';
import type { BusSettings, ControlEvent } from '@fleettrace/proto';
import type { QueryService, cannedQueries } from '@fleettrace/store';
import { UsageError } from '../cli-error';
import { defineCommand, type OptionSpecs, type Values } from '../command';
import { configFileParser, configOption } from '../config-file';
import { kafkaConnectionOptions, kafkaSettings } from '../kafka-flags';
import { readSecret, secretOptions } from '../secret-flags';
import { listed } from '../registry';
import { serveUntilSignal } from '../signals';

const STORE_SECTION =
  'fleet store (the ClickHouse server `fleettrace ingest` writes; without it query, top and crashes answer 503)';
const BUS_SECTION =
  'fleet bus (Kafka; the controller publishes job, run and agent changes there for ingest, and hands these settings to agents at enrollment and on every reconnect)';

export const CONTROLLER_OPTIONS = {
  config: configOption('controller'),
  data: {
    type: 'string',
    default: '/var/lib/fleettrace/controller',
    placeholder: 'DIR',
    help: 'data directory',
  },
  listen: { type: 'string', placeholder: 'H:P', help: 'REST API (default 127.0.0.1:7780)' },
  'enroll-listen': {
    type: 'string',
    placeholder: 'H:P',
    help: 'agent enrollment, TLS (default 127.0.0.1:7781)',
  },
  'control-listen': {
    type: 'string',
    placeholder: 'H:P',
    help: 'agent streams, mutual TLS (default 127.0.0.1:7782)',
  },
  'control-advertise': {
    type: 'string',
    placeholder: 'H:P',
    help: 'control address given to agents (default: the listen address; 0.0.0.0 means "the host the agent enrolled through")',
  },
  'server-name': {
    type: 'string',
    multiple: true,
    placeholder: 'NAME',
    help: "extra DNS name or IP for the listeners' certificate (repeatable)",
  },
  'ca-cert': { type: 'string', placeholder: 'FILE', help: 'use this CA instead of generating one' },
  'ca-key': { type: 'string', placeholder: 'FILE', help: 'use this CA instead of generating one' },
  'cert-lifetime': {
    type: 'string',
    placeholder: 'D',
    help: 'lifetime of agent certificates (default 7d written as 168h)',
  },
  heartbeat: { type: 'string', placeholder: 'D', help: 'agent heartbeat interval (default 5s)' },
  'lost-after': {
    type: 'string',
    placeholder: 'D',
    help: 'mark an agent lost after this long without heartbeat (default 3 heartbeats)',
  },
  'ui-dir': {
    type: 'string',
    placeholder: 'DIR',
    help: 'serve the web UI built in DIR (apps/web/dist) at /; the pages need no token, their API calls do',
  },
  'clickhouse-url': {
    type: 'string',
    placeholder: 'URL',
    section: STORE_SECTION,
    help: 'e.g. http://ch.example:8123',
  },
  'clickhouse-viewer-user': {
    type: 'string',
    placeholder: 'NAME',
    section: STORE_SECTION,
    help: 'the readonly users queries of the viewer and admin roles run as (default fleettrace_viewer, fleettrace_admin)',
  },
  'clickhouse-admin-user': {
    type: 'string',
    placeholder: 'NAME',
    section: STORE_SECTION,
    help: 'the readonly users queries of the viewer and admin roles run as (default fleettrace_viewer, fleettrace_admin)',
  },
  ...secretOptions(
    'clickhouse-password',
    'their password (default $FLEETTRACE_CLICKHOUSE_PASSWORD)',
    STORE_SECTION,
  ),
  ...secretOptions(
    'clickhouse-viewer-password',
    "the viewer user's own password, instead of the one above (default $FLEETTRACE_CLICKHOUSE_VIEWER_PASSWORD)",
    STORE_SECTION,
  ),
  ...secretOptions(
    'clickhouse-admin-password',
    "the admin user's own password, instead of the one above (default $FLEETTRACE_CLICKHOUSE_ADMIN_PASSWORD)",
    STORE_SECTION,
  ),
  'clickhouse-owner-user': {
    type: 'string',
    placeholder: 'NAME',
    section: STORE_SECTION,
    help: "the user that reads the server's version and stops a query past its time limit (KILL QUERY) (default default)",
  },
  ...secretOptions(
    'clickhouse-owner-password',
    'its password (default $FLEETTRACE_CLICKHOUSE_OWNER_PASSWORD; none by default)',
    STORE_SECTION,
  ),
  brokers: { type: 'string', placeholder: 'H:P,...', section: BUS_SECTION, help: 'Kafka brokers' },
  ...kafkaConnectionOptions(BUS_SECTION),
} as const satisfies OptionSpecs;

export const controllerCommand = defineCommand({
  ...listed('controller'),
  description: `Runs the control plane: the REST API (with /metrics, /healthz, /readyz and
/api/v1/openapi.json), the agents' Enrollment listener (TLS) and their
AgentControl listener (mutual TLS). State lives in SQLite in the data
directory, with the CA it generates on first start. On the first start it
prints an admin API token, also written (0600) to <data>/admin-token.
Logs are JSON lines on stderr. Stops on SIGINT or SIGTERM within 5 s (a second
signal forces).`,
  options: CONTROLLER_OPTIONS,
  parse: configFileParser({ name: 'controller', options: CONTROLLER_OPTIONS }),
  run: controller,
});

async function controller(values: Values<typeof CONTROLLER_OPTIONS>): Promise<number> {
  // Before anything is created (startController then tightens what an older start left).
  ownerOnlyUmask();
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
