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
