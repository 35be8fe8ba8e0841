// SPDX-License-Identifier: Apache-2.0
import { ownerOnlyUmask, parseInteger, parseListenAddress } from '@fleettrace/common';
import { UsageError } from '../cli-error';
import { defineCommand, type OptionSpecs, type Values } from '../command';
import { configFileParser, configOption } from '../config-file';
import { parseLabels } from '../job-flags';
import { readSecret, secretOptions } from '../secret-flags';
import { listed } from '../registry';
import { serveUntilSignal } from '../signals';

export const AGENT_OPTIONS = {
  config: configOption('agent'),
  controller: {
    type: 'string',
    placeholder: 'H:P',
    help: "the controller's enrollment address (e.g. ctl.example:7781)",
  },
  ...secretOptions(
    'token',
    'file holding the bootstrap token (ftboot....), needed on the first start (default $FLEETTRACE_BOOTSTRAP_TOKEN)',
  ),
  state: {
    type: 'string',
    default: '/var/lib/fleettrace/agent',
    placeholder: 'DIR',
    help: 'state directory',
  },
  label: {
    type: 'string',
    multiple: true,
    placeholder: 'K=V',
    help: 'a label of this host (repeatable), e.g. --label role=web',
  },
  hostname: {
    type: 'string',
    placeholder: 'NAME',
    help: "the name to enroll under (default: this host's name); with --simulate, the prefix of the simulated names",
  },
  simulate: {
    type: 'string',
    placeholder: 'N',
    help: 'run N simulated agents in this process, each enrolled with its own key and mutual-TLS stream, with synthetic collectors (the token must allow N uses)',
  },
  bus: {
    type: 'string',
    choices: ['local', 'kafka'],
    placeholder: 'local|kafka',
    help: 'publish rows to the local bus of `fleettrace up` / an ingest (--bus-address H:P) or to Kafka (--brokers H:P,...); without it, to the bus the controller names at enrollment and on every reconnect (`fleettrace controller --brokers`). With neither, a job\'s rows are counted as lost, with the reason "no event bus: ...", never as sent',
  },
  'bus-address': {
    type: 'string',
    default: '127.0.0.1:7420',
    placeholder: 'ADDR',
    help: 'local bus address: a unix socket path or H:P; its publisher token from $FLEETTRACE_BUS_TOKEN',
  },
  brokers: { type: 'string', placeholder: 'LIST', help: 'Kafka brokers for --bus kafka' },
  'charge-pid': {
    type: 'string',
    multiple: true,
    placeholder: 'PID',
    help: "count this process's CPU time (all its threads) into every job's overhead (repeatable): `fleettrace up` passes its own, whose ingest and embedded store work on every row sent",
  },
  'memory-limit': {
    type: 'string',
    placeholder: 'MIB',
    help: "the resident memory the agent keeps under (default 256): above 80% of it the C heap is trimmed and V8 collects, and if that is not enough every cache is shrunk to half (at most every 30 s); /metrics shows each cache's size, bound and evictions",
  },
  metrics: {
    type: 'string',
    placeholder: 'H:P',
    help: "serve Prometheus /metrics and /healthz there (port 0 picks one). /metrics (events, loss by stage, spool, the controller link, bus state, each run's overhead) needs the bearer token in <state>/metrics-token (made 0600 on first use); /healthz answers 200 ok or 503 unavailable to anyone, the reasons with the token",
  },
} as const satisfies OptionSpecs;

export const agentCommand = defineCommand({
  ...listed('agent'),
  usage: '--controller H:P [--token-file FILE] [options]',
  description: `Runs the per-host agent: enrolls with the controller (first start, with a
bootstrap token), keeps its identity, key and certificate in the state
directory, holds a mutual-TLS stream to the controller, runs assigned jobs
through the collectors and reports their state. One agent per host: a second
one on the same state directory is refused. Logs are JSON lines on stderr.
Stops on SIGINT or SIGTERM within 5 s (a second signal forces): collectors
detached, rows the bus has not taken by then spooled for the next start.`,
  options: AGENT_OPTIONS,
  parse: configFileParser({ name: 'agent', options: AGENT_OPTIONS }),
  run: agent,
});

async function agent(values: Values<typeof AGENT_OPTIONS>): Promise<number> {
  // Before anything is created (runAgent then tightens what an older start left).
  ownerOnlyUmask();
  if (!values.controller)
    throw new UsageError(`--controller is required\n\n${agentCommand.help()}`);
  const token = readSecret(values, { flag: 'token', env: 'FLEETTRACE_BOOTSTRAP_TOKEN' });
  const simulate =
    values.simulate === undefined
      ? undefined
      : parseInteger('--simulate', values.simulate, 1, 100_000);
  if (values.bus === 'kafka' && !values.brokers)
    throw new UsageError('--brokers: needed with --bus kafka');
  if (values.bus && simulate !== undefined)
    throw new UsageError('--bus: simulated agents publish nothing');
  // Rows arrive once jobs run; the publisher needs the agent id, known after enrollment.
  // Its bus: --bus if given, else the one the controller names in every Welcome.
  const { EventPublisher } = await import('@fleettrace/agent');
  const { busFromSettings, KafkaBus, LocalBus } = await import('@fleettrace/bus');
  type Publisher = import('@fleettrace/agent').EventPublisher;
  type RowBatch = import('@fleettrace/agent').RowBatch;
  let publisher: Publisher | undefined;
  /** the bus of `publisher` (an EventPublisher does not close its bus) */
  let publisherBus: import('@fleettrace/bus').Bus | undefined;
  /** rows waiting for the first publisher (--bus) or for the next one (a bus change) */
  const early: RowBatch[] = [];
  const followController = !values.bus && simulate === undefined;
  /** with followController: why there is no publisher, or undefined while one is (being) made */
  let noBus: string | undefined =
    'no event bus: the controller named none yet and this agent has no --bus';
  const onRows =
    values.bus || followController
      ? (batch: RowBatch) => {
          if (publisher) publisher.publish(batch);
          else if (!followController || !noBus) early.push(batch);
          // else: undeliverable() already counted the rows as lost
        }
      : undefined;
  const undeliverable = followController ? () => noBus : undefined;
  const chargePids = (values['charge-pid'] ?? []).map((raw) =>
    parseInteger('--charge-pid', raw, 1, 4_194_304),
  );
  if (chargePids.length > 3)
    throw new UsageError(
      '--charge-pid: at most 3 processes (the kernel filter skips the agent and them in 4 slots)',
    );
  if (chargePids.length && simulate !== undefined)
    throw new UsageError('--charge-pid: simulated agents have no overhead to charge it to');
  const memoryLimitMiB =
    values['memory-limit'] === undefined
      ? undefined
      : parseInteger('--memory-limit', values['memory-limit'], 64, 1 << 20);
  const metricsListen =
    values.metrics === undefined ? undefined : parseListenAddress('--metrics', values.metrics);
  if (simulate !== undefined && (memoryLimitMiB !== undefined || metricsListen))
    throw new UsageError('--memory-limit, --metrics: for the real agent only, not with --simulate');
  const { runAgent } = await import('@fleettrace/agent');
  const agent = await runAgent({
    ...(onRows ? { onRows } : {}),
    ...(undeliverable ? { undeliverable } : {}),
    controller: values.controller,
    ...(token ? { token } : {}),
    stateDir: values.state,
    labels: parseLabels('--label', values.label),
    ...(values.hostname ? { hostname: values.hostname } : {}),
    ...(simulate !== undefined ? { simulate } : {}),
    ...(chargePids.length ? { chargePids } : {}),
    ...(memoryLimitMiB !== undefined ? { memoryLimitMiB } : {}),
  });
  const first = agent.agents[0];
  /** where the rows go, for /healthz */
  let busName = '';
  const publishTo = (bus: import('@fleettrace/bus').Bus, name: string, topic?: string) => {
    if (!first) return;
    publisherBus = bus;
    busName = name;
    publisher = new EventPublisher({
      agentId: first.agentId,
      host: first.hostname,
      bus,
      stateDir: values.state,
      ...(topic ? { topic } : {}),
      log: (m) => process.stderr.write(`agent publish: ${m}\n`),
      onAcknowledged: (jobId, runId, rows) => first.executor.acknowledged?.(jobId, runId, rows),
    });
    for (const b of early.splice(0)) publisher.publish(b);
  };
  if (values.bus && first) {
    publishTo(
      values.bus === 'kafka'
        ? new KafkaBus({
            brokers: (values.brokers ?? '').split(',').filter(Boolean),
            clientId: `fleettrace-agent-${first.hostname}`,
          })
        : new LocalBus({
            address: values['bus-address'],
            // The local bus's publisher token: from the environment (fleettrace up sets it;
            // /proc/<pid>/environ is readable by the owner only), never argv.
            token: process.env.FLEETTRACE_BUS_TOKEN,
          }),
      values.bus === 'kafka'
        ? `kafka ${values.brokers ?? ''}`
        : `the local bus ${values['bus-address']}`,
    );
  } else if (followController && first) {
    // The settings in use, to tell a reconnect's unchanged settings from a new bus.
    let current = '';
    let switching = Promise.resolve();
    const follow = (settings: import('@fleettrace/proto').BusSettings | undefined) => {
      const key = settings?.kind ? JSON.stringify(settings) : '';
      if (key === current) return;
      current = key;
      const old = publisher;
      const oldBus = publisherBus;
      publisher = undefined;
      publisherBus = undefined;
      const closeOld = async () => {
        await old?.close();
        await oldBus?.close().catch(() => undefined);
      };
      if (!settings?.kind) {
        noBus = 'no event bus: the controller names none and this agent has no --bus';
        process.stderr.write(`fleettrace agent: ${noBus}; rows are counted as lost\n`);
        switching = switching.then(closeOld);
        return;
      }
      let bus: import('@fleettrace/bus').Bus;
      try {
        bus = busFromSettings(settings, `fleettrace-agent-${first.hostname}`);
      } catch (err) {
        noBus = `no event bus: the controller's bus settings are unusable: ${(err as Error).message}`;
        process.stderr.write(`fleettrace agent: ${noBus}; rows are counted as lost\n`);
        switching = switching.then(closeOld);
        return;
      }
      // Rows of the switch wait in `early` for the new publisher (one spool directory: one publisher at a time).
      noBus = undefined;
      const name = `${settings.kind} ${settings.kind === 'kafka' ? settings.brokers.join(',') : settings.localAddress}`;
      process.stderr.write(`fleettrace agent: publishing to the controller's bus: ${name}\n`);
      switching = switching.then(closeOld).then(() => {
        if (current === key) publishTo(bus, name, settings.topic);
        else void bus.close();
      });
    };
    first.connection.on('message', (m) => {
      if (m.body?.$case === 'welcome') follow(m.body.value.bus);
    });
  }
  let metricsServer: import('node:http').Server | undefined;
  if (metricsListen && first) {
    const { agentHealth, agentStatusRegistry, memoryRegistry, metricsToken, serveAgentMetrics } =
      await import('@fleettrace/agent');
    const source: import('@fleettrace/agent').AgentStatusSource = {
      controllerConnected: () => first.connection.connected,
      bus: () => {
        if (publisher) {
          const spool = publisher.spoolState();
          return spool.batches > 0
            ? {
                state: 'spooling',
                detail: `${spool.batches} batches (${spool.bytes} bytes) wait for ${busName}`,
              }
            : { state: 'ok', detail: busName };
        }
        return followController && noBus
          ? { state: 'none', detail: noBus }
          : { state: 'spooling', detail: `rows wait in memory for ${busName || 'the bus'}` };
      },
      runs: () => first.executor.runs(),
    };
    const memory = memoryRegistry(agent.memory);
    const status = agentStatusRegistry(source);
    metricsServer = await serveAgentMetrics(
      metricsListen,
      metricsToken(values.state),
      () => [memory, status, ...(publisher ? [publisher.metrics.registry] : [])],
      () => agentHealth(source),
    );
    const address = metricsServer.address();
    const port = typeof address === 'object' && address ? address.port : metricsListen.port;
    process.stderr.write(
      `fleettrace agent: /metrics on ${metricsListen.host}:${port} (token in ${values.state}/metrics-token)\n`,
    );
  }
  process.stdout.write(
    simulate
      ? `fleettrace agent: ${agent.agents.length} simulated agents (${first?.hostname} ...) connected to ${values.controller}\n`
      : `fleettrace agent: ${first?.hostname} is agent ${first?.agentId}, controller ${values.controller}\n`,
  );
  return serveUntilSignal('agent', async (step) => {
    metricsServer?.close();
    step('detaching the collectors and reporting the runs');
    await agent.close();
    // What the bus has not taken 2 s from now waits in the spool for the next start.
    step('handing the last batches to the bus');
    await publisher?.close(2000);
    step('closing the bus connection');
    // A hung broker does not answer a disconnect either; what it holds is spooled by now.
    await Promise.race([
      publisherBus?.close().catch(() => undefined),
      new Promise((r) => setTimeout(r, 500).unref()),
    ]);
  });
}
