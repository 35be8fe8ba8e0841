// SPDX-License-Identifier: Apache-2.0
/**
 * `fleettrace dev-fleet`: fleet mode on one machine in one command. Every
 * part is its own process, as in a real fleet: a Kafka broker, a ClickHouse
 * server, `fleettrace ingest`, `fleettrace controller` and N agents, each
 * with its own host name and state directory, following the controller's
 * Kafka bus. Ctrl-C stops them in order; a part that exits on its own stops
 * the rest.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  describeSecuredDataDir,
  ownerOnlyUmask,
  parseInteger,
  renderTable,
  secureDataDir,
} from '@fleettrace/common';
import { defineCommand, type OptionSpecs, type Values } from '../command';
import { listed } from '../registry';
import { ApiClient } from '../api-client';
import { toJson, UsageError } from '../cli-error';
import {
  ChildService,
  INSTALLER,
  KAFKA_VERSION,
  missingServices,
  Reaper,
  serviceCache,
  startClickHouse,
  startKafka,
  waitFor,
  type ClickHouseServer,
  type KafkaBroker,
} from '../dev-services';
import { serveUntilSignal } from '../signals';

/** Each part's grace after SIGTERM before SIGKILL (the services promise 5 s). */
const SERVICE_GRACE_MS = 5000;
/** Kafka and ClickHouse flush and close their logs; they stop together. */
const STORE_GRACE_MS = 10_000;
/** dev-fleet's own deadline: the sum of the stages above, and a margin. */
const STOP_DEADLINE_MS = 3 * SERVICE_GRACE_MS + STORE_GRACE_MS + 2000;

interface AgentInfo {
  hostname: string;
  id: string;
  service: ChildService;
  state: string;
  metricsPort: number;
}

const DEV_FLEET_OPTIONS = {
  agents: { type: 'string', default: '2', placeholder: 'N', help: 'agents to run, 1 to 8' },
  data: {
    type: 'string',
    placeholder: 'DIR',
    help: 'where every part keeps its config, data and log; must be new or empty (default: a new fleettrace-dev-fleet-* directory in $TMPDIR or /tmp)',
  },
  keep: { type: 'boolean', default: false, help: 'keep the data directory on exit' },
} as const satisfies OptionSpecs;

export const devFleetCommand = defineCommand({
  ...listed('dev-fleet'),
  usage: '[--agents N] [--data DIR] [--keep] [--json]',
  description: `Runs a fleet on this machine, each part its own process: an Apache Kafka
${KAFKA_VERSION} broker (KRaft, one node), a ClickHouse server, \`fleettrace ingest\`
(Kafka into ClickHouse), \`fleettrace controller\` and N agents enrolled as
dev-1 ... dev-N, each with its own state directory, publishing to the Kafka
bus the controller names. Everything listens on free loopback ports. Once
ready it prints each part's address, pid and log, and how to point the CLI
at the controller (source DATA/cli.env).

Ctrl-C (or SIGTERM) stops the agents first (they detach their BPF programs),
then the controller, ingest, and ClickHouse and Kafka together, within
${STOP_DEADLINE_MS / 1000} s (SIGKILL for a part past its grace), then removes the data directory
unless --keep. If a part exits on its own, dev-fleet names it and its log,
stops the rest and exits 1, keeping the data directory for the logs. If
dev-fleet itself is killed, a small reaper process it started stops the
parts (SIGTERM, SIGKILL 5 s later).

Needs root (the agents load BPF programs), Java, the Kafka ${KAFKA_VERSION} jars in
$FLEETTRACE_CACHE (default /var/cache/fleettrace) and clickhouse-server:
\`node scripts/test-services.mjs\` installs what is missing.`,
  options: DEV_FLEET_OPTIONS,
  data: true,
  jsonHelp:
    'once ready, print addresses, pids, tokens and files as one JSON object on stdout (progress stays on stderr)',
  run: devFleet,
});

async function devFleet(
  values: Values<typeof DEV_FLEET_OPTIONS> & { json: boolean },
): Promise<number> {
  ownerOnlyUmask();
  const agentCount = parseInteger('--agents', values.agents, 1, 8);
  if (values.data !== undefined) {
    if (values.data === '') throw new UsageError('--data: expected a directory, got ""');
    let entries: string[] = [];
    try {
      entries = readdirSync(values.data);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR') throw new UsageError(`--data: ${values.data} is not a directory`);
      if (code !== 'ENOENT') throw new UsageError(`--data: ${(err as Error).message}`);
    }
    if (entries.length)
      throw new UsageError(
        `--data: ${values.data} is not empty (dev-fleet starts a fresh fleet, and removes the directory on exit unless --keep)`,
      );
  }
  const missing = missingServices();
  if (missing.length)
    throw new Error(
      `dev-fleet needs ${missing.join(', ')}; install them (as root) with:\n  node ${INSTALLER}\n` +
        `(Kafka jars are cached in ${serviceCache()}; set FLEETTRACE_CACHE for another directory)`,
    );

  const t0 = Date.now();
  const say = (m: string) => process.stderr.write(`fleettrace dev-fleet: ${m}\n`);
  const since = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  const data =
    values.data !== undefined
      ? resolve(values.data)
      : mkdtempSync(join(process.env.TMPDIR ?? tmpdir(), 'fleettrace-dev-fleet-'));
  say(`data in ${data}`);
  say(describeSecuredDataDir(secureDataDir(data)));
  const logs = join(data, 'logs');
  mkdirSync(logs);
  const logOf = (name: string) => join(logs, `${name}.log`);

  const reaper = Reaper.start();
  // The parts, for teardown: agents first, then controller, ingest, then the two stores.
  const agents: AgentInfo[] = [];
  const parts: { controller?: ChildService; ingest?: ChildService; stores: ChildService[] } = {
    stores: [],
  };
  let stopping = false;
  let failed: ChildService | undefined;
  const stopAll = async (step: (s: string) => void = () => undefined) => {
    stopping = true;
    const report = (name: string, how: 'stopped' | 'killed') => {
      if (how === 'killed') say(`${name} did not stop in time: killed`);
    };
    step('stopping the agents');
    await Promise.all(
      agents.map(async (a) => report(a.hostname, await a.service.stop(SERVICE_GRACE_MS))),
    );
    for (const s of [parts.controller, parts.ingest]) {
      if (!s) continue;
      step(`stopping ${s.name}`);
      report(s.name, await s.stop(SERVICE_GRACE_MS));
    }
    step('stopping ClickHouse and Kafka');
    // ClickHouse and Kafka, and whatever a stop during the start left (a broker not ready yet).
    await Promise.all(
      [...reaper.running].map(async (s) => report(s.name, await s.stop(STORE_GRACE_MS))),
    );
    reaper.close();
  };
  /** A part that exits while the fleet runs stops the fleet (through the signal path). */
  const watch = (s: ChildService) => {
    void s.exited.then(({ code, signal }) => {
      if (s.stopping || stopping) return;
      failed ??= s;
      say(`${s.name} exited on its own (${signal ?? `status ${code}`}); its log: ${s.log}`);
      say('stopping the rest of the fleet');
      process.kill(process.pid, 'SIGTERM');
    });
    return s;
  };
  const served = serveUntilSignal(
    'dev-fleet',
    async (step) => {
      const t = Date.now();
      await stopAll(step);
      say(`stopped in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    },
    STOP_DEADLINE_MS,
  );

  const node = (name: string, args: string[], env: NodeJS.ProcessEnv = childEnv()) => {
    if (stopping) throw new Error('stopping');
    return watch(
      ChildService.start(
        reaper,
        name,
        logOf(name),
        process.execPath,
        [process.argv[1] as string, ...args],
        env,
      ),
    );
  };

  let ready: Record<string, unknown> | undefined;
  try {
    ready = await startFleet();
  } catch (err) {
    if (!stopping) {
      say(`failed: ${(err as Error).message}`);
      await stopAll();
      removeData(true);
      throw err;
    }
    // A signal or a part's exit is stopping the fleet: the failure says so already.
  }
  if (ready) {
    if (values.json) process.stdout.write(toJson(ready) + '\n');
    else process.stdout.write(describe(ready));
  }
  await served;
  removeData();
  if (failed) return 1;
  return 0;

  /** Unless --keep, or a part failed: its log is the one place that says why. */
  function removeData(failure = failed !== undefined): void {
    if (values.keep) say(`kept ${data}`);
    else if (failure) say(`kept ${data} for its logs`);
    else rmSync(data, { recursive: true, force: true });
  }

  async function startFleet(): Promise<Record<string, unknown>> {
    const { TOPICS } = await import('@fleettrace/bus');
    say(`starting Kafka ${KAFKA_VERSION} (KRaft) and ClickHouse; Kafka takes 5-20 s`);
    const kafkaStart = startKafka(reaper, join(data, 'kafka'), logOf('kafka'), [
      TOPICS.events,
      TOPICS.control,
    ]);
    const clickhouseStart = startClickHouse(reaper, join(data, 'clickhouse'), logOf('clickhouse'));
    // Both are tracked as soon as they exist, whichever fails first.
    const [kafkaResult, clickhouseResult] = await Promise.allSettled([
      kafkaStart.then((k) => {
        watch(k.service);
        say(`Kafka answers on ${k.brokers.join(',')} (${since()})`);
        return k;
      }),
      clickhouseStart.then((c) => {
        watch(c.service);
        say(`ClickHouse answers on ${c.url} (${since()})`);
        return c;
      }),
    ]);
    if (kafkaResult.status === 'rejected') throw kafkaResult.reason;
    if (clickhouseResult.status === 'rejected') throw clickhouseResult.reason;
    const kafka: KafkaBroker = kafkaResult.value;
    const clickhouse: ClickHouseServer = clickhouseResult.value;
    const brokers = kafka.brokers.join(',');

    const ingestData = join(data, 'ingest');
    parts.ingest = node('ingest', [
      'ingest',
      '--bus',
      'kafka',
      '--brokers',
      brokers,
      '--store',
      'server',
      '--clickhouse-url',
      clickhouse.url,
      '--data',
      ingestData,
      '--http',
      '127.0.0.1:0',
    ]);
    const controllerData = join(data, 'controller');
    parts.controller = node('controller', [
      'controller',
      '--data',
      controllerData,
      '--listen',
      '127.0.0.1:0',
      '--enroll-listen',
      '127.0.0.1:0',
      '--control-listen',
      '127.0.0.1:0',
      '--clickhouse-url',
      clickhouse.url,
      '--clickhouse-viewer-password-file',
      clickhouse.passwordFiles.viewer,
      '--clickhouse-admin-password-file',
      clickhouse.passwordFiles.admin,
      '--brokers',
      brokers,
    ]);
    const [ingestHttp, controllerAddresses] = await Promise.all([
      parts.ingest.waitForLog(/http on ([\d.]+:\d+) .*bearer token in (\S+)\)/, 90_000),
      parts.controller.waitForLog(
        /^\s+api\s+(http\S+)\n\s+enroll\s+(\S+) \(TLS\)\n\s+control\s+(\S+) \(mutual TLS\)/m,
        60_000,
      ),
    ]);
    say(`ingest and the controller are up (${since()})`);
    const api = controllerAddresses[1] as string;
    const enroll = controllerAddresses[2] as string;
    const adminTokenFile = join(controllerData, 'admin-token');
    const adminToken = readFileSync(adminTokenFile, 'utf8').trim();
    const client = new ApiClient(api, adminToken);

    for (let i = 1; i <= agentCount; i++) {
      const hostname = `dev-${i}`;
      const { token } = await client.post<{ token: string }>('/api/v1/tokens', {
        kind: 'bootstrap',
        name: `dev-fleet ${hostname}`,
        ttl: '10m',
      });
      const state = join(data, 'agents', hostname);
      // The token in the environment, never in argv (every local user reads command lines).
      const service = node(
        hostname,
        [
          'agent',
          '--controller',
          enroll,
          '--state',
          state,
          '--hostname',
          hostname,
          '--metrics',
          '127.0.0.1:0',
        ],
        { ...childEnv(), FLEETTRACE_BOOTSTRAP_TOKEN: token },
      );
      agents.push({ hostname, id: '', service, state, metricsPort: 0 });
    }
    for (const a of agents) {
      a.id = (await a.service.waitForLog(/ is agent (\S+),/, 60_000))[1] as string;
      a.metricsPort = Number((await a.service.waitForLog(/\/metrics on [\d.]+:(\d+)/, 30_000))[1]);
    }
    await waitFor(
      `${agentCount} agents connected`,
      async () => {
        const { agents: known } = await client.get<{
          agents: Array<{ id: string; state: string }>;
        }>('/api/v1/agents');
        const connected = new Set(known.filter((k) => k.state === 'connected').map((k) => k.id));
        return agents.every((a) => connected.has(a.id));
      },
      60_000,
      200,
    );
    say(`${agentCount} agent${agentCount > 1 ? 's' : ''} enrolled and connected (${since()})`);

    const envFile = join(data, 'cli.env');
    writeFileSync(
      envFile,
      `# source ${envFile}: fleettrace commands then talk to this dev fleet\n` +
        `export FLEETTRACE_SERVER=${api}\n` +
        `export FLEETTRACE_TOKEN="$(cat '${adminTokenFile}')"\n`,
      { mode: 0o600 },
    );
    const ports = [
      kafka.port,
      kafka.controllerPort,
      clickhouse.httpPort,
      clickhouse.tcpPort,
      Number(ingestHttp[1]?.split(':')[1]),
      ...[api, enroll, controllerAddresses[3] as string].map((a) => Number(a.split(':').pop())),
      ...agents.map((a) => a.metricsPort),
    ];
    return {
      ready_ms: Date.now() - t0,
      pid: process.pid,
      reaper_pid: reaper.pid,
      data,
      keep: values.keep,
      server: api,
      token: adminToken,
      token_file: adminTokenFile,
      env_file: envFile,
      kafka: {
        pid: kafka.service.pid,
        brokers: kafka.brokers,
        controller_listener: `127.0.0.1:${kafka.controllerPort}`,
        log: kafka.service.log,
        broker_log: kafka.brokerLog,
      },
      clickhouse: {
        pid: clickhouse.service.pid,
        url: clickhouse.url,
        native: `127.0.0.1:${clickhouse.tcpPort}`,
        log: clickhouse.service.log,
        server_log: clickhouse.serverLog,
        password_files: clickhouse.passwordFiles,
      },
      ingest: {
        pid: parts.ingest.pid,
        http: `http://${ingestHttp[1]}`,
        http_token_file: ingestHttp[2],
        log: parts.ingest.log,
      },
      controller: {
        pid: parts.controller.pid,
        api,
        enroll,
        control: controllerAddresses[3],
        log: parts.controller.log,
      },
      agents: agents.map((a) => ({
        hostname: a.hostname,
        id: a.id,
        pid: a.service.pid,
        state: a.state,
        metrics: `http://127.0.0.1:${a.metricsPort}`,
        metrics_token_file: join(a.state, 'metrics-token'),
        log: a.service.log,
      })),
      ports,
    };
  }
}

/** This environment without the secrets a part would take from it instead of dev-fleet's files. */
function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env))
    if (/^FLEETTRACE_(TOKEN|BOOTSTRAP_TOKEN|BUS_TOKEN|CLICKHOUSE_|KAFKA_SASL_|CONFIG)/.test(k))
      delete env[k];
  return env;
}

/** The text shown once the fleet is ready. */
function describe(r: Record<string, unknown>): string {
  const o = r as unknown as {
    ready_ms: number;
    data: string;
    keep: boolean;
    server: string;
    env_file: string;
    token_file: string;
    kafka: { pid: number; brokers: string[]; controller_listener: string; log: string };
    clickhouse: { pid: number; url: string; native: string; log: string };
    ingest: { pid: number; http: string; log: string };
    controller: { pid: number; api: string; enroll: string; control: string; log: string };
    agents: Array<{ hostname: string; pid: number; metrics: string; log: string }>;
  };
  const rows: Array<Array<string | number>> = [
    [
      'kafka',
      `${o.kafka.brokers.join(',')} (KRaft ${o.kafka.controller_listener})`,
      o.kafka.pid,
      o.kafka.log,
    ],
    [
      'clickhouse',
      `${o.clickhouse.url} (native ${o.clickhouse.native})`,
      o.clickhouse.pid,
      o.clickhouse.log,
    ],
    ['ingest', `${o.ingest.http}/metrics`, o.ingest.pid, o.ingest.log],
    [
      'controller',
      `${o.controller.api}/api/v1 (enroll ${o.controller.enroll}, control ${o.controller.control})`,
      o.controller.pid,
      o.controller.log,
    ],
    ...o.agents.map((a) => [`agent ${a.hostname}`, `${a.metrics}/metrics`, a.pid, a.log]),
  ];
  return [
    `fleettrace dev-fleet is up: ${o.agents.length} agents (ready in ${(o.ready_ms / 1000).toFixed(1)} s)`,
    '',
    renderTable(['SERVICE', 'ADDRESS', 'PID', 'LOG'], rows).trimEnd(),
    '',
    `point the CLI at it:  source ${o.env_file}`,
    `                      (FLEETTRACE_SERVER=${o.server}, FLEETTRACE_TOKEN from ${o.token_file})`,
    `then:                 fleettrace hosts; fleettrace run --collect proc --hosts 'dev-*' --duration 30s --wait`,
    `data:                 ${o.data}${o.keep ? '' : ' (removed on exit; --keep keeps it)'}`,
    `stop:                 Ctrl-C`,
    '',
  ].join('\n');
}
