// SPDX-License-Identifier: Apache-2.0
import { Controller, Get, Header } from '@nestjs/common';
import { MetricsService } from './metrics.service.js';

@Controller()
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  /**
   * Prometheus text exposition, for any valid API token (Prometheus's
   * `authorization.credentials_file`): every customer of a shared host can
   * reach a loopback port, and host, job and agent figures are not theirs.
   */
  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
