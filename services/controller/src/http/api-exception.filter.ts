// SPDX-License-Identifier: Apache-2.0
/**
 * One error shape for the whole API: {"error": "<field>: <reason>", "status": N},
 * plus `field` for validation errors. ValidationError is a 400; unexpected
 * errors are a 500 whose details go to the log, not to the client.
 */
import { Catch, HttpException, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { ValidationError } from '@fleettrace/common';
import type { JsonLogger } from '@fleettrace/common';

interface ResponseLike {
  status(code: number): ResponseLike;
  json(body: unknown): void;
  headersSent: boolean;
}

@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  constructor(private readonly log: JsonLogger) {}

  catch(err: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const res = http.getResponse<ResponseLike>();
    const req = http.getRequest<{ method: string; url: string }>();
    if (res.headersSent) return;
    if (err instanceof ValidationError) {
      res.status(400).json({ error: err.message, field: err.field, status: 400 });
      return;
    }
    if (err instanceof HttpException) {
      const status = err.getStatus();
      const body = err.getResponse();
      let message = err.message;
      // Nest's own errors (bad JSON, unknown route) carry their text in `message`.
      if (typeof body === 'object' && body !== null && 'message' in body) {
        const m = (body as { message: unknown }).message;
        message = Array.isArray(m) ? m.join('; ') : String(m);
      }
      if (status === 400 && /JSON/i.test(message)) {
        // Express's parser refuses it before any schema: still a 400 that names the body.
        res.status(400).json({ error: `body: not valid JSON (${message})`, field: 'body', status });
        return;
      }
      res.status(status).json({ error: message, status });
      return;
    }
    this.log.error('request failed', {
      method: req.method,
      url: req.url,
      error: (err as Error)?.message,
      stack: (err as Error)?.stack,
    });
    res
      .status(500)
      .json({ error: 'internal error (details are in the controller log)', status: 500 });
  }
}
