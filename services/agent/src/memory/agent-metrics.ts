// SPDX-License-Identifier: Apache-2.0
/**
 * The agent's /metrics: the publisher's counters, the memory governor's
 * figures and every registered cache (size, bound, evictions), in the
 * Prometheus text format, on an address of the operator's choice. Every
 * customer of a shared host can reach a loopback port, so nothing answers
 * without `Authorization: Bearer <token>`; the token is in
 * <state>/metrics-token (mode 0600, made on first use), for Prometheus's
 * `bearer_token_file` / `authorization.credentials_file`.
 */
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { bearerMatches, memoryCaches, ownerTokenFile } from '@fleettrace/common';
import { Counter, Gauge, Registry } from 'prom-client';
import type { AgentHealth } from '../agent-status';
import type { MemoryGovernor } from './memory-governor';

/** The token in `stateDir`/metrics-token, made (0600) when there is none. */
export function metricsToken(stateDir: string): string {
  return ownerTokenFile(join(stateDir, 'metrics-token'));
}

/** Gauges and counters read at scrape time from the governor and memoryCaches. */
export function memoryRegistry(governor: MemoryGovernor | undefined): Registry {
  const registry = new Registry();
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  if (governor) {
    let f = governor.figures();
    gauge(
      'fleettrace_agent_resident_bytes',
      'Resident set of the agent process (as last checked)',
      () => {
        f = governor.figures(); // first gauge of a scrape: one reading for all
        return f.rssBytes;
      },
    );
    gauge(
      'fleettrace_agent_memory_limit_bytes',
      'The agent memory cap (--memory-limit)',
      () => f.limitBytes,
    );
    gauge('fleettrace_agent_heap_used_bytes', 'V8 heap in use', () => f.heapUsedBytes);
    gauge('fleettrace_agent_heap_total_bytes', 'V8 heap reserved', () => f.heapTotalBytes);
    gauge(
      'fleettrace_agent_external_bytes',
      'Memory of JS objects held outside the V8 heap (buffers)',
      () => f.externalBytes,
    );
    gauge(
      'fleettrace_agent_malloc_in_use_bytes',
      'C heap in use (libbpf, the addon, buffers, V8 zones)',
      () => f.malloc.inUseBytes,
    );
    gauge(
      'fleettrace_agent_malloc_free_bytes',
      'C heap free but held by the process',
      () => f.malloc.freeBytes,
    );
    gauge(
      'fleettrace_agent_memory_pressure_events',
      'Checks that found the agent above 80% of its cap (it trims, collects and, at most every 30 s, shrinks its caches)',
      () => f.pressureEvents,
    );
    gauge(
      'fleettrace_agent_memory_over_limit_events',
      'Checks that found the agent above its cap after giving memory back',
      () => f.overLimitEvents,
    );
  }
  const labels = ['cache'];
  const byName = () => memoryCaches.figures();
  new Gauge({
    name: 'fleettrace_agent_cache_bytes',
    help: 'Estimated bytes held by each agent cache',
    labelNames: labels,
    registers: [registry],
    collect() {
      this.reset();
      for (const c of byName()) this.set({ cache: c.name }, c.bytes);
    },
  });
  new Gauge({
    name: 'fleettrace_agent_cache_limit_bytes',
    help: 'The byte bound of each agent cache (+Inf: bounded by entries only)',
    labelNames: labels,
    registers: [registry],
    collect() {
      this.reset();
      for (const c of byName()) this.set({ cache: c.name }, c.maxBytes);
    },
  });
  new Gauge({
    name: 'fleettrace_agent_cache_entries',
    help: 'Entries in each agent cache',
    labelNames: labels,
    registers: [registry],
    collect() {
      this.reset();
      for (const c of byName()) this.set({ cache: c.name }, c.entries);
    },
  });
  // A counter's value is what the caches counted; prom-client counters only go up by inc().
  const evicted = new Map<string, number>();
  new Counter({
    name: 'fleettrace_agent_cache_evictions_total',
    help: 'Entries each agent cache dropped to stay within its bound or under memory pressure',
    labelNames: labels,
    registers: [registry],
    collect() {
      for (const c of byName()) {
        const seen = evicted.get(c.name) ?? 0;
        if (c.evictions > seen) this.inc({ cache: c.name }, c.evictions - seen);
        else if (!evicted.has(c.name)) this.inc({ cache: c.name }, 0);
        evicted.set(c.name, Math.max(seen, c.evictions));
      }
    },
  });
  return registry;
}

/** Serves GET /metrics of `registries` (merged at each scrape) on `listen`, behind the token. */
export async function serveAgentMetrics(
  listen: { host: string; port: number },
  token: string,
  registries: () => Registry[],
  health?: () => AgentHealth,
): Promise<Server> {
  // Every local user can connect to it: a connection that sends nothing is closed
  // after 5 s (Node checks the deadline every second), an idle one after 5 s, at most
  // 16 at once.
  const server = createServer({ connectionsCheckingInterval: 1000 }, (req, res) => {
    const authorized = bearerMatches(req.headers.authorization, token);
    if (req.method === 'GET' && req.url === '/healthz' && health) {
      // Without the token: ok or unavailable only (what the links are is the owner's to read).
      const h = health();
      res.writeHead(h.ok ? 200 : 503, {
        'content-type': authorized ? 'application/json' : 'text/plain',
      });
      res.end(authorized ? JSON.stringify(h) + '\n' : h.ok ? 'ok\n' : 'unavailable\n');
      return;
    }
    if (!authorized) {
      res
        .writeHead(401, {
          'content-type': 'text/plain',
          'www-authenticate': 'Bearer realm="fleettrace-agent"',
        })
        .end('a bearer token is needed: see <agent state>/metrics-token\n');
      return;
    }
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res
        .writeHead(404, { 'content-type': 'text/plain' })
        .end('not found: GET /metrics or /healthz\n');
      return;
    }
    const merged = Registry.merge(registries());
    merged.metrics().then(
      (text) => res.writeHead(200, { 'content-type': merged.contentType }).end(text),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(err.message),
    );
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 5_000;
  server.timeout = 30_000;
  server.maxConnections = 16;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, resolve);
  });
  return server;
}
