// SPDX-License-Identifier: Apache-2.0
/**
 * Wiring of an agent: state directory (locked: one agent per host), identity
 * (enrolled on first start with a bootstrap token; re-enrolled when the
 * certificate expired and a token is given), the executor (the real
 * JobRunner, or a synthetic one for simulated agents), and the connection.
 *
 * `runAgent({simulate: N})` runs N simulated agents in this process, each
 * with its own host name, key, certificate and mutual-TLS stream, under one
 * state directory lock (sub-directory per simulated host).
 */
import { hostname as osHostname } from 'node:os';
import {
  describeSecuredDataDir,
  JsonLogger,
  parseInteger,
  parseLogLevel,
  secureDataDir,
  ValidationError,
} from '@fleettrace/common';
import type { HostFacts } from '@fleettrace/proto';
import { AgentConnection, type ConnectionOptions } from './connection';
import { enroll } from './enroll';
import { hostFacts, simulatedHostFacts } from './host-facts';
import { ChargedProcesses } from './jobs/charged-cpu';
import type { MemoryGovernor } from './memory/memory-governor';
import type { JobExecutor, JobExecutorEvents, RowBatch } from './jobs/job-executor';
import { StateDir, type AgentIdentity } from './state-dir';
import { SyntheticExecutor, type SyntheticExecutorOptions } from './synthetic-executor';

/** Connection settings tests and simulations may tune. */
export type ConnectionTuning = Pick<
  ConnectionOptions,
  'backoffInitialMs' | 'backoffMaxMs' | 'renewFraction' | 'heartbeatMs'
>;

export interface AgentOptions {
  /** host:port of the controller's Enrollment listener */
  controller: string;
  /** bootstrap token; needed for the first start (and after the certificate expired) */
  token?: string;
  stateDir: string;
  labels?: Record<string, string>;
  hostname?: string;
  /** run this many simulated agents instead of the real one */
  simulate?: number;
  logger?: JsonLogger;
  connection?: ConnectionTuning;
  synthetic?: SyntheticExecutorOptions;
  /** rows from the executor, for the event bus */
  onRows?: (batch: RowBatch) => void;
  /** why rows cannot be published now (see JobExecutorEvents.undeliverable); real agent only */
  undeliverable?: () => string | undefined;
  /**
   * Processes on this host whose CPU time counts toward every job's overhead
   * (the ingest and embedded store of `fleettrace up`): see ChargedProcesses.
   */
  chargePids?: number[];
  /** the RSS the agent keeps under (MiB, default 256; see MemoryGovernor); real agent only */
  memoryLimitMiB?: number;
}

export interface AgentInstance {
  agentId: string;
  hostname: string;
  connection: AgentConnection;
  executor: JobExecutor;
  close(): Promise<void>;
}

export interface RunningAgent {
  agents: AgentInstance[];
  /** the real agent's memory governor (none for simulated agents) */
  memory?: MemoryGovernor;
  close(): Promise<void>;
}

interface InstanceOptions {
  controller: string;
  token?: string;
  state: StateDir;
  hostname: string;
  labels: Record<string, string>;
  logger: JsonLogger;
  facts: () => HostFacts;
  executor: (events: JobExecutorEvents) => JobExecutor;
  connection?: ConnectionTuning;
  onRows?: (batch: RowBatch) => void;
  undeliverable?: () => string | undefined;
}

/** The identity in `state`, enrolling first when there is none or its certificate expired. */
async function ensureIdentity(o: InstanceOptions): Promise<AgentIdentity> {
  if (o.state.hasIdentity()) {
    const identity = o.state.readIdentity();
    const notAfter = o.state.certificateNotAfterMs();
    if (notAfter > Date.now()) {
      if (o.token)
        o.logger.info('already enrolled; --token is not needed', { agent_id: identity.agent_id });
      return identity;
    }
    if (!o.token)
      throw new ValidationError(
        '--token',
        `the client certificate in ${o.state.dir} expired at ${new Date(notAfter).toISOString()}: enroll again with a new bootstrap token`,
      );
    o.logger.warn('client certificate expired; enrolling again', {
      expired: new Date(notAfter).toISOString(),
    });
  } else if (!o.token) {
    throw new ValidationError(
      '--token',
      `is required: ${o.state.dir} holds no identity yet (first start)`,
    );
  }
  const identity = await enroll({
    address: o.controller,
    token: o.token as string,
    hostname: o.hostname,
    labels: o.labels,
    state: o.state,
  });
  o.logger.info('enrolled', { agent_id: identity.agent_id, control: identity.control_address });
  return identity;
}

async function startInstance(o: InstanceOptions): Promise<AgentInstance> {
  const identity = await ensureIdentity(o);
  const logger = o.logger.child({ host: o.hostname });
  // The executor reports through the connection, which needs the executor: tie the knot late.
  const link: { connection?: AgentConnection } = {};
  const executor = o.executor({
    onStatus: (s) => link.connection?.sendStatus(s),
    ...(o.onRows ? { onRows: o.onRows } : {}),
    ...(o.undeliverable ? { undeliverable: o.undeliverable } : {}),
  });
  const connection = new AgentConnection({
    state: o.state,
    identity,
    executor,
    facts: o.facts,
    logger,
    ...o.connection,
  });
  link.connection = connection;
  connection.start();
  return {
    agentId: identity.agent_id,
    hostname: o.hostname,
    connection,
    executor,
    async close() {
      await connection.stop();
      await executor.close();
    },
  };
}

export async function runAgent(opts: AgentOptions): Promise<RunningAgent> {
  const logger =
    opts.logger ??
    new JsonLogger(parseLogLevel(process.env.FLEETTRACE_LOG_LEVEL, 'FLEETTRACE_LOG_LEVEL'), {
      service: 'agent',
    });
  const state = StateDir.open(opts.stateDir);
  try {
    // Key, certificate, identity, sequence files: owner-only, whatever an older start left.
    const secured = secureDataDir(opts.stateDir);
    (secured.failed.length ? logger.warn : logger.info).call(
      logger,
      describeSecuredDataDir(secured),
      { fixed: secured.fixed, checked: secured.checked },
    );
    if (opts.simulate !== undefined) return await startSimulatedFleet(opts, state, logger);
    const hostname = opts.hostname ?? osHostname();
    const labels = opts.labels ?? {};
    // The kernel side is loaded only by a real agent: simulated ones never touch BPF.
    const { bpfObjectPath, collectors, probeKernelFeatures, requireAgentCapabilities } =
      await import('@fleettrace/collectors');
    // Before anything loads: a missing capability is named, not reported as a kernel without BPF.
    const caps = requireAgentCapabilities();
    if (caps.unknownToKernel.length)
      logger.info('capabilities this kernel predates (CAP_SYS_ADMIN covers them)', {
        capabilities: caps.unknownToKernel,
      });
    const { JobRunner } = await import('./jobs/job-runner.js');
    const { DEFAULT_MEMORY_LIMIT_MIB, MemoryGovernor } = await import(
      './memory/memory-governor.js'
    );
    const limitMiB = parseInteger(
      '--memory-limit',
      opts.memoryLimitMiB ?? DEFAULT_MEMORY_LIMIT_MIB,
      64,
      1 << 20,
    );
    const memory = new MemoryGovernor({
      limitBytes: limitMiB * 1024 * 1024,
      log: (message, fields) => logger.warn(message, fields),
    });
    const charged = opts.chargePids?.length
      ? new ChargedProcesses(opts.chargePids, '--charge-pid')
      : undefined;
    const report = await probeKernelFeatures(bpfObjectPath('features'));
    const facts = hostFacts(hostname, labels, report, [...collectors().values()]);
    const missing = Object.keys(facts.missingFeatures);
    logger.info('kernel features probed', {
      kernel: report.kernel,
      collectors: facts.collectors,
      missing_features: missing,
    });
    const instance = await startInstance({
      controller: opts.controller,
      ...(opts.token ? { token: opts.token } : {}),
      state,
      hostname,
      labels,
      logger,
      facts: () => facts,
      executor: (events) =>
        new JobRunner(events, {
          features: report,
          // fleettrace's own processes are not traced: what they cost is each run's overhead.
          skipPids: [process.pid, ...(opts.chargePids ?? [])],
          ...(charged ? { chargedCpuUs: () => charged.cpuUs() } : {}),
        }),
      ...(opts.connection ? { connection: opts.connection } : {}),
      ...(opts.onRows ? { onRows: opts.onRows } : {}),
      ...(opts.undeliverable ? { undeliverable: opts.undeliverable } : {}),
    });
    memory.start();
    return {
      agents: [instance],
      memory,
      async close() {
        memory.stop();
        await instance.close();
        state.close();
      },
    };
  } catch (err) {
    state.close();
    throw err;
  }
}

/** Enrollments in flight at once when a simulated fleet starts. */
const ENROLL_CONCURRENCY = 16;

async function startSimulatedFleet(
  opts: AgentOptions,
  state: StateDir,
  logger: JsonLogger,
): Promise<RunningAgent> {
  const count = opts.simulate as number;
  if (!Number.isInteger(count) || count < 1 || count > 100_000)
    throw new ValidationError(
      '--simulate',
      `must be an integer between 1 and 100000, got ${count}`,
    );
  const prefix = opts.hostname ?? `sim-${osHostname()}`;
  const width = String(count).length;
  const labels = opts.labels ?? {};
  const { collectors } = await import('@fleettrace/collectors');
  const collectorNames = [...collectors().keys()];
  const agents: AgentInstance[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const hostname = `${prefix}-${String(i + 1).padStart(width, '0')}`;
      const facts = simulatedHostFacts(hostname, labels, collectorNames);
      agents.push(
        await startInstance({
          controller: opts.controller,
          ...(opts.token ? { token: opts.token } : {}),
          state: state.sub(`simulated/${hostname}`),
          hostname,
          labels,
          logger,
          facts: () => facts,
          executor: (events) => new SyntheticExecutor(events, opts.synthetic),
          ...(opts.connection ? { connection: opts.connection } : {}),
        }),
      );
    }
  };
  const close = async () => {
    await Promise.all(agents.map((a) => a.close()));
    state.close();
  };
  try {
    await Promise.all(Array.from({ length: Math.min(ENROLL_CONCURRENCY, count) }, worker));
  } catch (err) {
    await close();
    throw err;
  }
  logger.info('simulated agents started', {
    count,
    first: agents[0]?.hostname,
    controller: opts.controller,
  });
  return { agents, close };
}
