// SPDX-License-Identifier: Apache-2.0
/**
 * The processes `fleettrace dev-fleet` runs: a child service (own process
 * group, output to a log file, stopped by signal with a grace period), the
 * reaper that ends them if dev-fleet itself is killed, and the two external
 * services of fleet mode on loopback ports: an Apache Kafka 3.9 broker in
 * KRaft mode (the jars `scripts/test-services.mjs` caches) and the ClickHouse
 * 18.16 server (Debian's clickhouse-server), each configured in its own
 * directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { accessSync, constants, existsSync, mkdirSync, openSync, closeSync } from 'node:fs';
import { readFileSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { delimiter, join, resolve } from 'node:path';

export const KAFKA_VERSION = '3.9.1';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  server.close();
  await once(server, 'close');
  return port;
}

/** A service ended while something waited for it: waiting longer cannot help. */
export class ServiceExited extends Error {
  override name = 'ServiceExited';
}

/**
 * Polls `check` until it returns a value other than undefined/false; fails
 * after `timeoutMs`, or at once when `check` throws ServiceExited.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs: number,
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      if (err instanceof ServiceExited) throw err;
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`,
      );
    await sleep(everyMs);
  }
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((r) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      r(true);
    });
    socket.once('error', () => r(false));
  });
}

/** The last `bytes` of a file ('' if it cannot be read). */
export function tailOf(file: string, bytes = 4000): string {
  try {
    return readFileSync(file, 'utf8').slice(-bytes);
  } catch {
    return '';
  }
}

/**
 * Ends dev-fleet's children if dev-fleet dies without stopping them (SIGKILL,
 * a crash): Node has no prctl(PR_SET_PDEATHSIG), and the children run in
 * their own process groups (so that a terminal's Ctrl-C reaches dev-fleet
 * only, which then stops them in order). The reaper is a small detached
 * Node process whose stdin is a pipe from dev-fleet: it is told each child's
 * process group as it starts ("+PGID") and ends ("-PGID"); when the pipe
 * closes — dev-fleet exited, however — it sends SIGTERM to the groups still
 * listed, SIGKILL 5 s later, and exits. After a clean stop the list is empty
 * and it exits at once.
 */
const REAPER_SOURCE = `
process.on('SIGINT', () => {});
process.on('SIGHUP', () => {});
const groups = new Set();
let buffer = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  buffer += d;
  const lines = buffer.split('\\n');
  buffer = lines.pop();
  for (const l of lines) {
    const pgid = Number(l.slice(1));
    if (!(pgid > 1)) continue;
    if (l[0] === '+') groups.add(pgid); else groups.delete(pgid);
  }
});
const signal = (s) => { for (const g of groups) { try { process.kill(-g, s); } catch {} } };
process.stdin.on('end', () => {
  if (groups.size === 0) process.exit(0);
  signal('SIGTERM');
  setTimeout(() => { signal('SIGKILL'); process.exit(0); }, 5000);
});
`;

export class Reaper {
  /** the children started with this reaper that have not exited yet */
  readonly running = new Set<ChildService>();

  private constructor(private readonly child: ChildProcess) {}

  get pid(): number {
    return this.child.pid as number;
  }

  static start(): Reaper {
    const child = spawn(process.execPath, ['-e', REAPER_SOURCE], {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    child.unref();
    // The pipe must not keep dev-fleet's event loop alive, nor end it with EPIPE.
    child.stdin?.on('error', () => undefined);
    (child.stdin as unknown as { unref?: () => void }).unref?.();
    return new Reaper(child);
  }

  watch(pgid: number): void {
    this.child.stdin?.write(`+${pgid}\n`);
  }

  forget(pgid: number): void {
    this.child.stdin?.write(`-${pgid}\n`);
  }

  /** After a clean stop: nothing is left to end, the reaper exits. */
  close(): void {
    this.closed = true;
    this.child.stdin?.end();
  }

  /** set by close(): no child may start any more (a stop came during the start) */
  closed = false;
}

/**
 * A child process in its own process group (so signals to the group reach
 * whatever it starts, and a terminal's Ctrl-C does not), stdout and stderr
 * appended to `log`.
 */
export class ChildService {
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** set once stop() was called: an exit after it is expected */
  stopping = false;

  private constructor(
    readonly name: string,
    readonly log: string,
    readonly child: ChildProcess,
    private readonly reaper: Reaper,
  ) {
    reaper.watch(this.pid);
    reaper.running.add(this);
    this.exited = new Promise((r) =>
      child.once('exit', (code, signal) => {
        reaper.forget(this.pid);
        reaper.running.delete(this);
        r({ code, signal });
      }),
    );
  }

  static start(
    reaper: Reaper,
    name: string,
    log: string,
    command: string,
    args: string[],
    env: NodeJS.ProcessEnv = process.env,
  ): ChildService {
    if (reaper.closed) throw new ServiceExited(`${name}: not started, dev-fleet is stopping`);
    const fd = openSync(log, 'a');
    try {
      const child = spawn(command, args, { detached: true, stdio: ['ignore', fd, fd], env });
      if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
      return new ChildService(name, log, child, reaper);
    } finally {
      closeSync(fd);
    }
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Fails with the log's tail if the process has exited. */
  assertRunning(): void {
    if (!this.running)
      throw new ServiceExited(
        `${this.name} exited (${this.child.signalCode ?? this.child.exitCode}); the end of ${this.log}:\n${tailOf(this.log, 2000)}`,
      );
  }

  /** Resolves with the first match of `re` in the log (or in `file`). */
  waitForLog(re: RegExp, timeoutMs: number, file = this.log): Promise<RegExpMatchArray> {
    return waitFor(
      `${this.name} to log ${re}`,
      () => {
        const m = re.exec(tailOf(file, 1 << 20));
        if (!m) this.assertRunning();
        return m ?? undefined;
      },
      timeoutMs,
      100,
    );
  }

  /**
   * `signal` to its process group, SIGKILL to the group after `graceMs`;
   * resolves with how it ended ('killed' if SIGKILL was needed).
   */
  async stop(graceMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<'stopped' | 'killed'> {
    this.stopping = true;
    if (!this.running) return 'stopped';
    const group = (s: NodeJS.Signals) => {
      try {
        process.kill(-this.pid, s);
      } catch {
        // the group is gone
      }
    };
    group(signal);
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      group('SIGKILL');
    }, graceMs);
    await this.exited;
    clearTimeout(timer);
    // Whatever it started in its group goes with it.
    group('SIGKILL');
    return killed ? 'killed' : 'stopped';
  }
}

/** Where `scripts/test-services.mjs` caches the Kafka jars: $FLEETTRACE_CACHE or /var/cache/fleettrace. */
export function serviceCache(): string {
  return process.env.FLEETTRACE_CACHE ?? '/var/cache/fleettrace';
}

/** The installer in this checkout (the CLI runs from packages/cli/dist/src). */
export const INSTALLER = resolve(__dirname, '../../../../scripts/test-services.mjs');

function onPath(tool: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, tool);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return undefined;
}

function clickHouseBinary(): string | undefined {
  for (const p of ['/usr/bin/clickhouse-server', '/usr/sbin/clickhouse-server']) {
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return undefined;
}

/** What is missing to run the services, each with why; empty when all is there. */
export function missingServices(): string[] {
  const missing: string[] = [];
  const jar = join(
    serviceCache(),
    `kafka-${KAFKA_VERSION}`,
    'libs',
    `kafka_2.13-${KAFKA_VERSION}.jar`,
  );
  if (!existsSync(jar)) missing.push(`the Kafka ${KAFKA_VERSION} jars (no ${jar})`);
  if (!onPath('java')) missing.push('a Java runtime (no java on PATH)');
  if (!clickHouseBinary()) missing.push('the ClickHouse server (no /usr/bin/clickhouse-server)');
  return missing;
}

export interface KafkaBroker {
  service: ChildService;
  port: number;
  controllerPort: number;
  brokers: string[];
  /** the broker's own log (log4j), besides the process's output */
  brokerLog: string;
}

/**
 * An Apache Kafka broker in KRaft mode (broker and controller roles in one
 * JVM, one node) in `dir`, listening on two free loopback ports; resolves
 * once it answers metadata requests (and has the fleet's topics).
 */
export async function startKafka(
  reaper: Reaper,
  dir: string,
  log: string,
  topics: string[],
  timeoutMs = 120_000,
): Promise<KafkaBroker> {
  const libs = join(serviceCache(), `kafka-${KAFKA_VERSION}`, 'libs');
  const [port, controllerPort] = [await freePort(), await freePort()];
  mkdirSync(join(dir, 'data'), { recursive: true });
  const brokerLog = join(dir, 'broker.log');
  writeFileSync(
    join(dir, 'server.properties'),
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
      'controller.listener.names=CONTROLLER',
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      `log.dirs=${dir}/data`,
      // One node: every internal topic has one replica.
      'num.partitions=1',
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      'auto.create.topics.enable=true',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'log4j.properties'),
    [
      'log4j.rootLogger=WARN, file',
      'log4j.appender.file=org.apache.log4j.FileAppender',
      `log4j.appender.file.File=${brokerLog}`,
      'log4j.appender.file.layout=org.apache.log4j.PatternLayout',
      'log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n',
      'log4j.logger.kafka.server.KafkaRaftServer=INFO',
      '',
    ].join('\n'),
  );
  const java = ['-cp', `${libs}/*`, `-Dlog4j.configuration=file:${dir}/log4j.properties`];
  // A KRaft cluster id is 16 random bytes in unpadded base64url (what
  // `kafka-storage.sh random-uuid` prints); making it here saves a JVM start.
  const clusterId = randomBytes(16).toString('base64url');
  const format = ChildService.start(reaper, 'kafka storage format', log, 'java', [
    ...java,
    'kafka.tools.StorageTool',
    'format',
    '-t',
    clusterId,
    '-c',
    join(dir, 'server.properties'),
  ]);
  const formatted = await format.exited;
  if (formatted.code !== 0)
    throw new Error(
      `formatting the Kafka log directory failed (${formatted.signal ?? formatted.code}); the end of ${log}:\n${tailOf(log, 2000)}`,
    );
  const service = ChildService.start(reaper, 'kafka', log, 'java', [
    '-Xms256m',
    '-Xmx768m',
    '-XX:+UseG1GC',
    // C1 only: the broker is up seconds sooner, and a dev fleet's load is small.
    '-XX:TieredStopAtLevel=1',
    ...java,
    'kafka.Kafka',
    join(dir, 'server.properties'),
  ]);
  const brokers = [`127.0.0.1:${port}`];
  const deadline = Date.now() + timeoutMs;
  await waitFor(
    `the Kafka broker to listen on 127.0.0.1:${port}`,
    async () => {
      service.assertRunning();
      return accepts(port);
    },
    timeoutMs,
    200,
  );
  const { KafkaBus } = await import('@fleettrace/bus');
  await waitFor(
    'the Kafka broker to answer metadata requests',
    async () => {
      service.assertRunning();
      const bus = new KafkaBus({ brokers, clientId: 'fleettrace-dev-fleet', log: () => undefined });
      try {
        await bus.ensureTopics(topics, 1);
        return true;
      } finally {
        await bus.close().catch(() => undefined);
      }
    },
    Math.max(1000, deadline - Date.now()),
    500,
  );
  return { service, port, controllerPort, brokers, brokerLog };
}

export interface ClickHouseServer {
  service: ChildService;
  httpPort: number;
  tcpPort: number;
  url: string;
  /** 0600 files holding the generated passwords of the two query users */
  passwordFiles: { viewer: string; admin: string };
  serverLog: string;
}

function secretFile(path: string): string {
  const secret = randomBytes(24).toString('base64url');
  writeFileSync(path, secret + '\n', { mode: 0o600 });
  return secret;
}

/**
 * A ClickHouse server with its config, data and logs in `dir`, HTTP and
 * native ports on loopback; users: `default` (the owner, for ingest; no
 * password, loopback only) and the readonly query users of @fleettrace/store's queryUsersXml, each with a
 * generated password in a 0600 file in `dir`. Resolves once /ping answers.
 */
export async function startClickHouse(
  reaper: Reaper,
  dir: string,
  log: string,
  timeoutMs = 60_000,
): Promise<ClickHouseServer> {
  const binary = clickHouseBinary();
  if (!binary) throw new Error('clickhouse-server is not installed');
  const [httpPort, tcpPort] = [await freePort(), await freePort()];
  for (const d of ['data', 'tmp', 'user_files', 'format_schemas', 'log', 'users.d'])
    mkdirSync(join(dir, d), { recursive: true });
  const serverLog = join(dir, 'log', 'server.log');
  writeFileSync(
    join(dir, 'config.xml'),
    `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>${serverLog}</log><errorlog>${dir}/log/error.log</errorlog></logger>
  <http_port>${httpPort}</http_port>
  <tcp_port>${tcpPort}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <users_config>${dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>268435456</mark_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
</yandex>
`,
  );
  const passwordFiles = {
    viewer: join(dir, 'viewer-password'),
    admin: join(dir, 'admin-password'),
  };
  // The owner ("default", for ingest) has no password, loopback only, as in the
  // README's fleet setup: `fleettrace controller` also connects as the owner
  // (the server's version, killing a query past its limit) and takes no
  // password for it.
  writeFileSync(
    join(dir, 'users.xml'),
    `<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`,
  );
  const { queryUsersXml } = await import('@fleettrace/store');
  writeFileSync(
    join(dir, 'users.d', 'fleettrace-query-users.xml'),
    queryUsersXml({
      viewer: { password: secretFile(passwordFiles.viewer) },
      admin: { password: secretFile(passwordFiles.admin) },
    }),
  );
  const service = ChildService.start(reaper, 'clickhouse', log, binary, [
    `--config-file=${join(dir, 'config.xml')}`,
  ]);
  const url = `http://127.0.0.1:${httpPort}`;
  await waitFor(
    'the ClickHouse server to answer /ping',
    async () => {
      service.assertRunning();
      return (await fetch(`${url}/ping`)).ok;
    },
    timeoutMs,
    200,
  );
  return { service, httpPort, tcpPort, url, passwordFiles, serverLog };
}
