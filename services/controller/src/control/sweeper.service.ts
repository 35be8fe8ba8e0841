// SPDX-License-Identifier: Apache-2.0
/**
 * The controller's clock: every sweepIntervalMs it writes heartbeats, marks
 * silent agents lost, and ends runs and jobs whose time is over. Runs on the
 * main thread between requests; each sweep is a few indexed queries.
 */
import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { CONFIG, LOGGER, type ResolvedConfig } from '../config/controller-config.js';
import type { JsonLogger } from '@fleettrace/common';
import { AgentsService } from '../agents/agents.service.js';
import { JobsService } from '../jobs/jobs.service.js';

@Injectable()
export class SweeperService implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer?: NodeJS.Timeout;
  private readonly log: JsonLogger;

  constructor(
    private readonly agents: AgentsService,
    private readonly jobs: JobsService,
    @Inject(CONFIG) private readonly config: ResolvedConfig,
    @Inject(LOGGER) logger: JsonLogger,
  ) {
    this.log = logger.child({ component: 'sweeper' });
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => this.sweep(), this.config.sweepIntervalMs);
    this.timer.unref();
  }

  sweep(): void {
    try {
      this.agents.sweep();
      this.jobs.sweep();
    } catch (err) {
      this.log.error('sweep failed', {
        error: (err as Error).message,
        stack: (err as Error).stack,
      });
    }
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
    // Heartbeat times held in memory go to disk before the database closes.
    try {
      this.agents.sweep();
    } catch (err) {
      this.log.error('final sweep failed', { error: (err as Error).message });
    }
  }
}
