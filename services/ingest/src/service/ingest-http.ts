// SPDX-License-Identifier: Apache-2.0
/**
 * Ingest's own HTTP endpoint, on loopback by default: GET /metrics
 * (Prometheus), GET /healthz (200 while subscribed and the store takes
 * inserts, 503 with the reason otherwise), and POST /v1/query
 * ({"sql": "..."} → {columns, rows}) through QueryService with the viewer
 * role: the way to query an embedded store, which only this process can
 * open (chDB binds its data directory to one process).
 */
import { createServer, type Server } from 'node:http';
import { QueryFailedError, QueryRefusedError, type QueryService } from '@fleettrace/store';
import type { IngestService } from './ingest-service';

export async function serveIngestHttp(
  ingest: IngestService,
  queries: QueryService,
  listen: { host: string; port: number },
): Promise<Server> {
  const server = createServer((req, res) => {
    const send = (status: number, type: string, body: string) =>
      res.writeHead(status, { 'content-type': type }).end(body);
    if (req.method === 'GET' && req.url === '/metrics') {
      ingest.metrics.registry.metrics().then(
        (text) => send(200, ingest.metrics.registry.contentType, text),
        (err: Error) => send(500, 'text/plain', err.message),
      );
    } else if (req.method === 'GET' && req.url === '/healthz') {
      const h = ingest.health();
      send(h.ok ? 200 : 503, 'application/json', JSON.stringify(h) + '\n');
    } else if (req.method === 'POST' && req.url === '/v1/query') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
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
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, resolve);
  });
  return server;
}
