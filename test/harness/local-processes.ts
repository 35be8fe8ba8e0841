// SPDX-License-Identifier: Apache-2.0
/**
 * Helpers for services the tests run as local processes: free loopback
 * ports, waiting for a condition, and a child process whose output is kept
 * for the failure message.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { ServiceExited, waitFor } from '@fleettrace/local-services';

// The same port and polling helpers `fleettrace dev-fleet` uses.
export { freePort, ServiceExited, sleep, waitFor } from '@fleettrace/local-services';

/**
 * Children still running when this process exits (a failed test file, an
 * uncaught error) are killed, so no broker or server outlives its test.
 */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

/** A child process; the tail of its output is kept for error messages. */
export class LocalProcess {
  private output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    const keep = (d: Buffer) => {
      this.output = (this.output + d.toString('utf8')).slice(-20_000);
      if (process.env.FLEETTRACE_TEST_VERBOSE)
        process.stderr.write(`[${name}] ${d.toString('utf8')}`);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    running.add(child);
    child.once('exit', () => running.delete(child));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
  }

  static start(
    name: string,
    command: string,
    args: string[],
    options: SpawnOptions = {},
  ): LocalProcess {
    return new LocalProcess(
      name,
      spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options }),
    );
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get log(): string {
    return this.output;
  }

  /** Resolves with the first match of `re` in the output. */
  async waitForOutput(re: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    return waitFor(
      `${this.name} to print ${re}`,
      () => {
        if (!this.running && !this.output.match(re))
          throw new ServiceExited(`${this.name} exited: ${this.output.slice(-3000)}`);
        return this.output.match(re) ?? undefined;
      },
      timeoutMs,
      50,
    );
  }

  /** Sends `signal` (default SIGTERM) and waits for the exit; SIGKILL after `graceMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
