// SPDX-License-Identifier: Apache-2.0
/**
 * Ports and waiting, for services started as local processes: a free
 * loopback port, polling until a service answers, and the error that ends a
 * wait early because the service has exited.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

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
 * Polls `check` every `everyMs` until it returns a value other than
 * undefined/false, and resolves with it. An error `check` throws counts as
 * "not yet" (its message goes into the timeout's), except ServiceExited,
 * which fails the wait at once. Fails after `timeoutMs`.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
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

/** The last `bytes` of a file ('' if it cannot be read): a service's log for an error message. */
export function tailOf(file: string, bytes = 4000): string {
  try {
    return readFileSync(file, 'utf8').slice(-bytes);
  } catch {
    return '';
  }
}
