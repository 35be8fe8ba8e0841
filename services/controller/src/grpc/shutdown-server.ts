// SPDX-License-Identifier: Apache-2.0
import type { Server } from '@grpc/grpc-js';

/** Stops accepting, then gives open calls `graceMs` before cutting them. */
export async function shutdownServer(server: Server | undefined, graceMs = 1000): Promise<void> {
  if (!server) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
