// SPDX-License-Identifier: Apache-2.0
import { Controller, Get, Header } from '@nestjs/common';
import { Public } from '../auth/roles.js';
import { MetricsService } from './metrics.service.js';

@Controller()
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  /** Prometheus text exposition. Public, like /healthz: it carries no secrets. */
  @Get('metrics')
  @Public()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
