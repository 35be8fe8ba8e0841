// SPDX-License-Identifier: Apache-2.0
/**
 * NestJS's own messages through our JSON logger. Its start-up chatter (one
 * line per module and route) goes to debug, so an info log shows what an
 * operator needs; warnings and errors keep their level.
 */
import type { LoggerService } from '@nestjs/common';
import type { JsonLogger } from '@fleettrace/common';

const CHATTY = new Set([
  'InstanceLoader',
  'RoutesResolver',
  'RouterExplorer',
  'NestFactory',
  'NestApplication',
]);

export class NestLogger implements LoggerService {
  constructor(private readonly out: JsonLogger) {}

  emit(level: 'debug' | 'info' | 'warn' | 'error', message: unknown, rest: unknown[]): void {
    const context = rest.filter((r) => typeof r === 'string').pop() as string | undefined;
    const stack = rest.length >= 2 && typeof rest[0] === 'string' ? rest[0] : undefined;
    const effective = level === 'info' && context && CHATTY.has(context) ? 'debug' : level;
    this.out.write(effective, String(message), {
      ...(context ? { context } : {}),
      ...(stack ? { stack } : {}),
    });
  }

  log(message: unknown, ...rest: unknown[]): void {
    this.emit('info', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.emit('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.emit('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.emit('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.emit('debug', message, rest);
  }
}
