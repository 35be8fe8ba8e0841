// SPDX-License-Identifier: Apache-2.0
/**
 * Ingest's own HTTP endpoint (`fleettrace ingest --http`; `up` runs none: its
 * controller serves queries, with roles and an audit): GET /metrics
 * (Prometheus), GET /healthz (200 while subscribed and the store takes
 * inserts, 503 otherwise), and POST /v1/query ({"sql": "..."} → {columns,
 * rows}) through QueryService with the viewer role.
 *
 * Every customer of a shared host can reach a loopback port: /metrics and
 * /v1/query answer only with `Authorization: Bearer <token>` (the token in
 * ingest's data directory, `http-token`, 0600); /healthz answers without it
 * with the status code and "ok"/"unavailable" alone, the details only with
 * it. Bodies are capped, connections are capped and idle ones are closed.
 */
import { createServer, type Server } from 'node:http';
import { bearerMatches } from '@fleettrace/common';
import { QueryFailedError, QueryRefusedError, type QueryService } from '@fleettrace/store';
import type { IngestService } from './ingest-service';

/** The largest query body accepted: a statement, not data. */
export const MAX_QUERY_BODY_BYTES = 64 << 10;

export async function serveIngestHttp(
  ingest: IngestService,
  queries: QueryService,
  listen: { host: string; port: number; token: string },
): Promise<Server> {
  const server = createServer((req, res) => {
    const send = (status: number, type: string, body: string) => {
      if (!res.headersSent) res.writeHead(status, { 'content-type': type }).end(body);
    };
    const authorized = bearerMatches(req.headers.authorization, listen.token);
    if (req.method === 'GET' && req.url === '/healthz') {
      const h = ingest.health();
      if (authorized) send(h.ok ? 200 : 503, 'application/json', JSON.stringify(h) + '\n');
      else send(h.ok ? 200 : 503, 'text/plain', h.ok ? 'ok\n' : 'unavailable\n');
      return;
    }
    if (!authorized) {
      res.setHeader('www-authenticate', 'Bearer realm="fleettrace-ingest"');
      res.setHeader('connection', 'close');
      send(401, 'text/plain', 'a bearer token is needed: see <ingest data>/http-token\n');
      return;
    }
    if (req.method === 'GET' && req.url === '/metrics') {
      ingest.metrics.registry.metrics().then(
        (text) => send(200, ingest.metrics.registry.contentType, text),
        (err: Error) => send(500, 'text/plain', err.message),
      );
    } else if (req.method === 'POST' && req.url === '/v1/query') {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_QUERY_BODY_BYTES) {
          res.setHeader('connection', 'close');
          send(
            413,
            'application/json',
            JSON.stringify({ error: `body: larger than ${MAX_QUERY_BODY_BYTES} bytes` }),
          );
          req.destroy();
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => {
        let sql: unknown;
        try {
          sql = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { sql?: unknown }).sql;
        } catch {
          send(
            400,
            'application/json',
            JSON.stringify({ error: 'body: expected JSON {"sql": "..."}' }),
          );
          return;
        }
        if (typeof sql !== 'string') {
          send(400, 'application/json', JSON.stringify({ error: 'sql: expected a string' }));
          return;
        }
        queries.query(sql, 'viewer').then(
          (r) => send(200, 'application/json', JSON.stringify(r)),
          (err: Error) => {
            const status =
              err instanceof QueryRefusedError ? 400 : err instanceof QueryFailedError ? 422 : 500;
            send(
              status,
              'application/json',
              JSON.stringify({ error: err.message, code: (err as { code?: string }).code }),
            );
          },
        );
      });
    } else {
      send(404, 'text/plain', 'not found\n');
    }
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 120_000;
  server.keepAliveTimeout = 10_000;
  server.timeout = 120_000;
  server.maxConnections = 64;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, resolve);
  });
  return server;
}
