// SPDX-License-Identifier: Apache-2.0
/**
 * `fleettrace up`: the whole product on one machine with no external
 * service. This process runs the controller and ingest (local bus, embedded
 * chDB store) and starts the local agent as its own child process, so the
 * agent's overhead accounting covers tracing only, not the store's or the
 * controller's work. A default always-on job traces this host.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { join, resolve } from 'node:path';
import {
  describeSecuredDataDir,
  ownerOnlyUmask,
  parseDuration,
  parseInteger,
  parseListenAddress,
  secureDataDir,
  ValidationError,
} from '@fleettrace/common';
import { alwaysOnCollectors } from '@fleettrace/collector-spec';
import { manifests } from '@fleettrace/collectors/manifests';
import type { JobResponse } from '@fleettrace/controller' with { 'resolution-mode': 'import' };
import { ApiClient } from '../api-client';
import { defineCommand, type OptionSpecs, type Values } from '../command';
import { listed } from '../registry';
import { defaultDataDir, writeLocalConfig } from '../local-config';
import { serveUntilSignal } from '../signals';
import { builtWebUi } from '../web-ui';

const DEFAULT_JOB_DURATION = '168h'; // the controller's longest job: renewed before it ends
/** Renew the always-on job when less than this is left of it. */
const RENEW_BEFORE_MS = 24 * 3_600_000;
/**
 * A throttled always-on job is started again --retry-throttled after it
 * stopped, doubling with each throttle in a row up to THROTTLED_RETRY_MAX_MS:
 * a storm that made it too costly is usually over by then, and "always on"
 * must not end with the first one.
 */
const THROTTLED_RETRY_MAX_MS = 60 * 60_000;
/** How often up looks at its always-on job (at most). */
const DEFAULT_JOB_CHECK_MS = 60_000;

function parseBudget(raw: string): number {
  const m = /^(\d+(?:\.\d+)?)%$/.exec(raw.trim());
  const share = m ? Number(m[1]) / 100 : NaN;
  if (!(share > 0 && share <= 1))
    throw new ValidationError(
      '--budget',
      `must be a percentage such as 2%, got ${JSON.stringify(raw)}`,
    );
  return share;
}

interface UpState {
  defaultJobId?: string;
}

const UP_OPTIONS = {
  data: {
    type: 'string',
    placeholder: 'DIR',
    help: 'data directory (default $XDG_DATA_HOME/fleettrace or ~/.local/share/fleettrace)',
  },
  listen: {
    type: 'string',
    default: '127.0.0.1:7780',
    placeholder: 'H:P',
    help: 'REST API, /metrics',
  },
  'enroll-listen': {
    type: 'string',
    default: '127.0.0.1:7781',
    placeholder: 'H:P',
    help: 'agent enrollment',
  },
  'control-listen': {
    type: 'string',
    default: '127.0.0.1:7782',
    placeholder: 'H:P',
    help: 'agent mutual-TLS stream',
  },
  'bus-listen': {
    type: 'string',
    placeholder: 'ADDR',
    help: 'local bus the agent publishes to: a unix socket path (default DATA/run/bus.sock, in a 0700 directory) or H:P; either way only the agent and the controller hold its per-start publisher tokens',
  },
  'agent-metrics': {
    type: 'string',
    default: '127.0.0.1:7423',
    placeholder: 'H:P',
    help: "the agent's Prometheus /metrics, behind the bearer token in DATA/agent/metrics-token (off: none)",
  },
  'agent-memory': {
    type: 'string',
    default: '256',
    placeholder: 'MIB',
    help: 'resident memory the agent keeps under',
  },
  budget: {
    type: 'string',
    default: '2%',
    placeholder: 'PCT',
    help: 'overhead budget of the default job',
  },
  'retry-throttled': {
    type: 'string',
    default: '5m',
    placeholder: 'D',
    help: 'start the always-on job again this long after it was throttled, doubling for each throttle in a row up to 1h',
  },
  'no-default-job': {
    type: 'boolean',
    default: false,
    help: 'start without the always-on job',
  },
} as const satisfies OptionSpecs;

export const upCommand = defineCommand({
  ...listed('up'),
  usage: '[--data DIR] [options]',
  description: `Runs fleettrace on this machine with no external service: the controller,
ingest with an embedded ClickHouse (chDB) in the data directory, and the local
agent as a child process, with a default always-on job on this host (proc,
syscalls, cpu_profile at 19 Hz, offcpu for uninterruptible waits >= 1 ms,
runqlat) within an overhead budget. Ctrl-C stops everything cleanly; data
survives a restart. Every fleettrace command on this machine then works
against it with no flags (address and admin token in ~/.config/fleettrace).`,
  options: UP_OPTIONS,
  run: up,
});

async function up(values: Values<typeof UP_OPTIONS>): Promise<number> {
  // Before anything is created: chDB, SQLite and the agent (its child) make owner-only files.
  ownerOnlyUmask();
  const budget = parseBudget(values.budget);
  parseInteger('--agent-memory', values['agent-memory'], 64, 1 << 20);
  if (values['agent-metrics'] !== 'off') {
    try {
      parseListenAddress('--agent-metrics', values['agent-metrics']);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      throw new ValidationError(err.field, `${err.reason}, or off`);
    }
  }
  const retryThrottledMs = parseDuration('--retry-throttled', values['retry-throttled'], {
    minMs: 1000,
    maxMs: THROTTLED_RETRY_MAX_MS,
  });
  const data = resolve(values.data ?? defaultDataDir());
  const host = osHostname();
  const say = (m: string) => process.stderr.write(`fleettrace up: ${m}\n`);

  say(`data in ${data}`);
  say(describeSecuredDataDir(secureDataDir(data)));
  const agentState = join(data, 'agent');
  // The local bus: a unix socket in a 0700 directory, and tokens made for
  // this start that only the agent (in its environment) and this process
  // hold. Ingest takes the agent's batches only for the agent id it enrolled as.
  const busAddress = values['bus-listen'] ?? join(data, 'run', 'bus.sock');
  const busTokens = {
    agent: randomBytes(32).toString('base64url'),
    controller: randomBytes(32).toString('base64url'),
  };
  let enrolledAgentId: string | undefined;
  const agentOfPublisher = (publisher: string): string | undefined => {
    if (publisher !== 'agent') return undefined;
    if (!enrolledAgentId) {
      try {
        const identity = JSON.parse(readFileSync(join(agentState, 'identity.json'), 'utf8')) as {
          agent_id?: unknown;
        };
        if (typeof identity.agent_id === 'string') enrolledAgentId = identity.agent_id;
      } catch {
        // not enrolled yet: it has no batches to send
      }
    }
    return enrolledAgentId;
  };
  const { startIngestProcess } = await import('@fleettrace/ingest');
  const { TOPICS } = await import('@fleettrace/bus');
  const ingest = await startIngestProcess({
    bus: 'local',
    brokers: [],
    localAddress: busAddress,
    localPublishers: [
      { name: 'agent', token: busTokens.agent, topics: [TOPICS.events] },
      { name: 'controller', token: busTokens.controller, topics: [TOPICS.control] },
    ],
    agentOfPublisher,
    store: 'embedded',
    clickhouseUrl: '',
    clickhouseUser: '',
    clickhousePassword: '',
    dataDir: join(data, 'ingest'),
    // Queries go through the controller (roles, limits, audit): no second port.
    httpAddress: 'off',
    groupId: 'fleettrace-up',
    retentionDays: 30,
    maxBytes: 10 * 1024 ** 3,
    partitions: 1,
  });
  const { QueryService, cannedQueries } = await import('@fleettrace/store');
  const { LocalBus, ControlEventSender } = await import('@fleettrace/bus');
  const controlBus = new LocalBus({ address: busAddress, token: busTokens.controller });
  const controlSender = new ControlEventSender(controlBus);
  const { startController } = await import('@fleettrace/controller');
  // A listener that cannot bind (a port in use) must end `up`, not leave ingest running without a controller.
  const stopIngest = async () => {
    await controlSender.close().catch(() => undefined);
    await controlBus.close().catch(() => undefined);
    await ingest.stop().catch(() => undefined);
  };
  const controller = await startController({
    dataDir: join(data, 'controller'),
    listen: values.listen,
    uiDir: builtWebUi(),
    enrollListen: values['enroll-listen'],
    controlListen: values['control-listen'],
    query: { backend: new QueryService(ingest.store), canned: cannedQueries },
    bus: {
      kind: 'local',
      brokers: [],
      topic: '',
      tls: false,
      saslMechanism: '',
      saslUsername: '',
      saslPassword: '',
      localAddress: busAddress,
    },
    publisher: {
      publish: (event) => controlSender.send(event),
      close: () => controlSender.close(),
    },
  }).catch(async (err: unknown) => {
    await stopIngest();
    throw err;
  });
  const adminToken =
    controller.firstAdminToken ?? readFileSync(controller.adminTokenFile, 'utf8').trim();
  const configPath = writeLocalConfig({
    server: controller.url,
    token: adminToken,
    data,
    pid: process.pid,
  });
  const api = new ApiClient(controller.url, adminToken);

  // The local agent: enrolled once (its identity stays in data/agent), restarted if it dies.
  const enrolled = existsSync(join(agentState, 'identity.json'));
  let bootstrap: string | undefined;
  if (!enrolled) {
    const created = await api.request<{ token: string }>('POST', '/api/v1/tokens', {
      kind: 'bootstrap',
      name: `fleettrace up on ${host}`,
      ttl: '1h',
    });
    bootstrap = created.token;
  }
  const agentLog = join(data, 'agent.log');
  let agent: ChildProcess | undefined;
  let stopping = false;
  const startAgent = () => {
    const args = [
      // A young generation of at most 3 x 2 MiB instead of 3 x 16: the agent's garbage is
      // short-lived rows and frames, and the default lets V8 hold ~40 MiB more under churn.
      '--max-semi-space-size=2',
      process.argv[1] as string,
      'agent',
      '--controller',
      controller.enrollAddress,
      '--state',
      agentState,
      '--hostname',
      host,
      '--bus',
      'local',
      '--bus-address',
      busAddress,
      // Ingest and the embedded store run in this process and work on every row the job sends.
      '--charge-pid',
      String(process.pid),
      '--memory-limit',
      values['agent-memory'],
      ...(values['agent-metrics'] === 'off' ? [] : ['--metrics', values['agent-metrics']]),
    ];
    const env = {
      ...process.env,
      FLEETTRACE_BUS_TOKEN: busTokens.agent,
      ...(bootstrap ? { FLEETTRACE_BOOTSTRAP_TOKEN: bootstrap } : {}),
    };
    const log = openSync(agentLog, 'a');
    agent = spawn(process.execPath, args, { stdio: ['ignore', log, log], env });
    agent.on('exit', (code, signal) => {
      if (stopping) return;
      say(`the agent exited (${signal ?? code}); restarting it in 2 s (log: ${agentLog})`);
      setTimeout(() => !stopping && startAgent(), 2000);
    });
  };
  startAgent();

  const shutdown = async (step: (s: string) => void = () => undefined) => {
    stopping = true;
    if (agent && agent.exitCode === null && agent.signalCode === null) {
      step('stopping the agent');
      const exited = new Promise((r) => agent?.once('exit', r));
      agent.kill('SIGTERM');
      // Within up's own deadline: the agent's probes go with its process either way.
      const timer = setTimeout(() => agent?.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    step('stopping the controller');
    await controller.close();
    await controlSender.close();
    await controlBus.close();
    step('writing what ingest holds');
    await ingest.stop();
    writeLocalConfig({ server: controller.url, token: adminToken, data, pid: 0 });
  };

  try {
    return await serve();
  } catch (err) {
    say(`failed: ${(err as Error).message}; stopping`);
    await shutdown();
    throw err;
  }

  async function serve(): Promise<number> {
    // The always-on job: kept across restarts, renewed before it ends.
    const statePath = join(data, 'up-state.json');
    const state: UpState = existsSync(statePath)
      ? (JSON.parse(readFileSync(statePath, 'utf8')) as UpState)
      : {};
    let throttledInARow = 0;
    const ensureDefaultJob = async () => {
      if (values['no-default-job']) return;
      if (state.defaultJobId) {
        let job: JobResponse | undefined;
        try {
          job = await api.request<JobResponse>('GET', `/api/v1/jobs/${state.defaultJobId}`);
        } catch {
          // gone: create a new one
        }
        if (job) {
          const run = job.runs?.find((r) => r.host === host);
          const ended = run?.ended ? Date.parse(run.ended) : NaN;
          const retryIn = Math.min(
            THROTTLED_RETRY_MAX_MS,
            retryThrottledMs * 2 ** Math.min(throttledInARow, 12),
          );
          if (job.state === 'running' && run?.state === 'throttled') {
            if (!(Date.now() - ended >= retryIn)) return;
            throttledInARow++;
            say(
              `the always-on job ${state.defaultJobId} was throttled (${run.reason ?? ''}); starting it again`,
            );
            await api
              .request('POST', `/api/v1/jobs/${state.defaultJobId}/cancel`, {
                reason: 'throttled: replaced by a new always-on job',
              })
              .catch(() => undefined);
          } else {
            if (run?.state === 'running' && Date.now() - Date.parse(run.dispatched ?? '') > retryIn)
              throttledInARow = 0;
            if (job.state === 'running' && Date.parse(job.end) - Date.now() > RENEW_BEFORE_MS)
              return;
          }
        }
      }
      const alwaysOn = alwaysOnCollectors(manifests().values());
      const job = await api.request<{ id: string }>('POST', '/api/v1/jobs', {
        targets: { hosts: [host] },
        // The collectors whose manifests say they belong in it, with their parameters.
        collectors: alwaysOn.map(({ name, params }) => ({ name, params })),
        duration: DEFAULT_JOB_DURATION,
        // Fewer drains, batches and inserts: an idle host pays for every wakeup.
        interval: '5s',
        limits: { overhead_budget: budget },
      });
      state.defaultJobId = job.id;
      writeFileSync(statePath, JSON.stringify(state, null, 2) + '\n');
      say(
        `always-on job ${job.id} on ${host} (${alwaysOn.map((c) => c.summary).join(', ')}; budget ${values.budget})`,
      );
    };
    await ensureDefaultJob();
    const renew = setInterval(
      () => void ensureDefaultJob().catch((e: Error) => say(`renewing the job: ${e.message}`)),
      Math.min(DEFAULT_JOB_CHECK_MS, Math.max(1000, retryThrottledMs / 2)),
    );

    process.stdout.write(
      [
        `fleettrace is up on ${host}`,
        `  API and metrics  ${controller.url}/api/v1  ${controller.url}/metrics  (OpenAPI: ${controller.url}/api/v1/openapi.json)`,
        ...(controller.uiUrl
          ? [`  ui               ${controller.uiUrl}  (sign in with the token in ${configPath})`]
          : []),
        `  ask              fleettrace top | fleettrace crashes | fleettrace query "SELECT ..."`,
        `  data             ${data}  (agent log: ${agentLog})`,
        `  local access     ${configPath}`,
        `  stop             Ctrl-C`,
        '',
      ].join('\n'),
    );

    const status = async () => {
      try {
        const job = state.defaultJobId
          ? await api.request<{
              runs?: Array<{
                state: string;
                events_sent?: number;
                events_acked?: number;
                events_lost?: number;
                overhead_share?: number;
              }>;
            }>('GET', `/api/v1/jobs/${state.defaultJobId}`)
          : undefined;
        const run = job?.runs?.[0];
        const h = ingest.service.health();
        const line =
          `agent ${agent?.exitCode === null ? 'running' : 'down'} | job ${run?.state ?? 'none'}` +
          (run
            ? ` | sent ${run.events_sent ?? 0} acked ${run.events_acked ?? 0} lost ${run.events_lost ?? 0} | overhead ${((run.overhead_share ?? 0) * 100).toFixed(2)}%`
            : '') +
          ` | store ${h.ok ? 'ok' : `error: ${h.storeError ?? 'not subscribed'}`}`;
        if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${line}`);
      } catch {
        // the status line is best effort
      }
    };
    // The status line is for a terminal; without one it would only cost a request every 2 s.
    const statusTimer = setInterval(() => {
      if (process.stderr.isTTY) void status();
    }, 2000);

    await serveUntilSignal('up', async (step) => {
      if (process.stderr.isTTY) process.stderr.write('\n');
      clearInterval(renew);
      clearInterval(statusTimer);
      await shutdown(step);
    });
    say('stopped');
    return 0;
  }
}
