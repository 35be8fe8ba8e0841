// SPDX-License-Identifier: Apache-2.0
/**
 * Counts and times every REST request, including those a guard refused, by
 * its route pattern (not its URL: ids in URLs would explode the label set).
 */
import type { MetricsService } from './metrics.service.js';

interface RequestLike {
  method: string;
  route?: { path?: string };
  baseUrl?: string;
}
interface ResponseLike {
  statusCode: number;
  on(event: 'finish', listener: () => void): void;
}

export function httpMetricsMiddleware(metrics: MetricsService) {
  return (req: RequestLike, res: ResponseLike, next: () => void): void => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const route = req.route?.path ? `${req.baseUrl ?? ''}${req.route.path}` : 'unmatched';
      metrics.httpRequests.inc({ method: req.method, route, status: String(res.statusCode) });
      metrics.httpDuration.observe(
        { method: req.method, route },
        Number(process.hrtime.bigint() - started) / 1e9,
      );
    });
    next();
  };
}
