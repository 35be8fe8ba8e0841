// SPDX-License-Identifier: Apache-2.0
/** Resolves with the name of the first SIGINT or SIGTERM; long-running commands stop then. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (s: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(s);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

/** How long a service may take to stop after its first SIGINT or SIGTERM. */
export const STOP_DEADLINE_MS = 4500;

/**
 * A long-running service's end: waits for the first SIGINT or SIGTERM, then
 * runs `stop` (flush and close, in order) with a deadline. A second signal, or
 * the deadline, ends the process at once with status 1 and says what it
 * abandoned; what is not flushed then is what each component's own
 * guarantees cover (the agent's spool, the bus's uncommitted offsets), and
 * BPF programs go with the process's descriptors. Resolves with 0 once `stop`
 * finished in time.
 */
export async function serveUntilSignal(
  service: string,
  stop: (progress: (step: string) => void) => Promise<void>,
  deadlineMs = STOP_DEADLINE_MS,
): Promise<number> {
  const signal = await untilSignal();
  let step = 'starting to stop';
  const forced = (why: string) => {
    process.stderr.write(`fleettrace ${service}: ${why} while ${step}: exiting now\n`);
    process.exit(1);
  };
  const again = (s: NodeJS.Signals) => forced(`second ${s}`);
  process.once('SIGINT', again);
  process.once('SIGTERM', again);
  const timer = setTimeout(
    () => forced(`not stopped ${(deadlineMs / 1000).toFixed(1)} s after ${signal}`),
    deadlineMs,
  );
  process.stderr.write(
    `fleettrace ${service}: ${signal}, stopping (a second signal forces; ${(deadlineMs / 1000).toFixed(1)} s at most)\n`,
  );
  try {
    await stop((s) => {
      step = s;
    });
  } finally {
    clearTimeout(timer);
    process.off('SIGINT', again);
    process.off('SIGTERM', again);
  }
  // Stopped. A client that did not close (a hung broker's socket) must not keep the
  // process alive: the timer holds nothing itself, so without such a leftover it never fires.
  setTimeout(() => process.exit(process.exitCode ?? 0), 300).unref();
  return 0;
}

/**
 * Node's process warnings as JSON log lines, for the services whose stderr is
 * JSON. TLS to an IP address (gRPC over loopback) draws DEP0123, which says
 * nothing actionable: it is dropped.
 */
export function warningsAsJsonLines(service: string): void {
  process.removeAllListeners('warning');
  process.on('warning', (w: Error & { code?: string }) => {
    if (w.code === 'DEP0123') return;
    process.stderr.write(
      JSON.stringify({
        ts: new Date().toISOString(),
        level: 'warn',
        msg: w.message,
        service,
        warning: w.name,
        code: w.code,
      }) + '\n',
    );
  });
}
