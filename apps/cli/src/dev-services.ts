// SPDX-License-Identifier: Apache-2.0
/**
 * The processes `fleettrace dev-fleet` runs: a child service (own process
 * group, output to a log file, stopped by signal with a grace period), the
 * reaper that ends them if dev-fleet itself is killed, and the two external
 * services of fleet mode on loopback ports: an Apache Kafka 3.9 broker in
 * KRaft mode (the jars `scripts/test-services.mjs` caches) and the ClickHouse
 * 18.16 server (Debian's clickhouse-server), each configured in its own
 * directory by @fleettrace/local-services (which the test harness uses too).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, openSync, closeSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { delimiter, join, resolve } from 'node:path';
import {
  clickHouseBinary,
  freePort,
  KAFKA_VERSION,
  kafkaBrokerArgs,
  kafkaFormatArgs,
  kafkaJar,
  kafkaLibs,
  serviceCache,
  ServiceExited,
  tailOf,
  waitFor,
  waitForClickHouse,
  writeClickHouseConfig,
  writeKafkaConfig,
} from '@fleettrace/local-services';

export { KAFKA_VERSION, serviceCache, waitFor };

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

/** The installer in this checkout (the CLI runs from apps/cli/dist/src). */
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

/** What is missing to run the services, each with why; empty when all is there. */
export function missingServices(): string[] {
  const missing: string[] = [];
  const jar = kafkaJar();
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
  const libs = kafkaLibs();
  const [port, controllerPort] = [await freePort(), await freePort()];
  const config = writeKafkaConfig(dir, { port, controllerPort });
  const format = ChildService.start(
    reaper,
    'kafka storage format',
    log,
    'java',
    kafkaFormatArgs(config, libs),
  );
  const formatted = await format.exited;
  if (formatted.code !== 0)
    throw new Error(
      `formatting the Kafka log directory failed (${formatted.signal ?? formatted.code}); the end of ${log}:\n${tailOf(log, 2000)}`,
    );
  const service = ChildService.start(reaper, 'kafka', log, 'java', kafkaBrokerArgs(config, libs));
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
  return { service, port, controllerPort, brokers, brokerLog: config.brokerLog };
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
  const config = writeClickHouseConfig(dir, { httpPort, tcpPort });
  const passwordFiles = {
    viewer: join(dir, 'viewer-password'),
    admin: join(dir, 'admin-password'),
  };
  const { queryUsersXml } = await import('@fleettrace/store');
  writeFileSync(
    join(config.usersDir, 'fleettrace-query-users.xml'),
    queryUsersXml({
      viewer: { password: secretFile(passwordFiles.viewer) },
      admin: { password: secretFile(passwordFiles.admin) },
    }),
  );
  const service = ChildService.start(reaper, 'clickhouse', log, binary, [
    `--config-file=${config.configFile}`,
  ]);
  await waitForClickHouse(config.url, () => service.assertRunning(), timeoutMs);
  return {
    service,
    httpPort,
    tcpPort,
    url: config.url,
    passwordFiles,
    serverLog: config.serverLog,
  };
}
