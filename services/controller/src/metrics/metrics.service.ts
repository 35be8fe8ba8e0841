// SPDX-License-Identifier: Apache-2.0
/**
 * Prometheus metrics of one controller, on its own registry (several
 * controllers may live in one test process). State gauges (agents, jobs,
 * runs by state) are counted from SQLite when scraped, so they cannot drift
 * from the source of truth.
 */
import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { StoreService } from '../store/store.service.js';

@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route'>;
  readonly grpcStreams: Gauge;
  readonly grpcMessages: Counter<'direction' | 'type'>;
  readonly enrollments: Counter<'result'>;
  readonly dispatchLatency: Histogram;

  constructor(store: StoreService) {
    const registers = [this.registry];
    // The event-loop lag histogram samples on a repeating libuv timer: at
    // prom-client's default of 10 ms it woke an idle `fleettrace up` 100 times
    // a second (found with a uprobe on uv_timer_start). Once a second still
    // catches stalls worth alerting on.
    collectDefaultMetrics({
      register: this.registry,
      prefix: 'fleettrace_controller_',
      eventLoopMonitoringPrecision: 1000,
    });
    this.httpRequests = new Counter({
      name: 'fleettrace_http_requests_total',
      help: 'REST requests by method, route and status',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'fleettrace_http_request_duration_seconds',
      help: 'REST request latency',
      labelNames: ['method', 'route'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    });
    this.grpcStreams = new Gauge({
      name: 'fleettrace_grpc_agent_streams',
      help: 'open AgentControl streams',
      registers,
    });
    this.grpcMessages = new Counter({
      name: 'fleettrace_grpc_messages_total',
      help: 'AgentControl messages by direction (in, out) and type',
      labelNames: ['direction', 'type'],
      registers,
    });
    this.enrollments = new Counter({
      name: 'fleettrace_enrollments_total',
      help: 'enrollment attempts by result',
      labelNames: ['result'],
      registers,
    });
    this.dispatchLatency = new Histogram({
      name: 'fleettrace_run_ack_seconds',
      help: 'time from dispatching a run to the agent acknowledging it',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
      registers,
    });
    const byState = (name: string, help: string, sql: string) =>
      new Gauge({
        name,
        help,
        labelNames: ['state'],
        registers,
        collect() {
          this.reset();
          for (const r of store.stmt(sql).all() as Array<{ state: string; n: number }>)
            this.set({ state: r.state }, r.n);
        },
      });
    byState(
      'fleettrace_agents',
      'agents by state',
      'SELECT state, COUNT(*) AS n FROM agents GROUP BY state',
    );
    byState(
      'fleettrace_jobs',
      'jobs by state',
      'SELECT state, COUNT(*) AS n FROM jobs GROUP BY state',
    );
    byState(
      'fleettrace_runs',
      'job runs by state',
      'SELECT state, COUNT(*) AS n FROM runs GROUP BY state',
    );
  }
}
