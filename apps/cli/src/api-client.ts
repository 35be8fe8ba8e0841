// SPDX-License-Identifier: Apache-2.0
/**
 * The user commands' REST client. Server and token come from --server and
 * --token-file (or --token, with a warning: argv is public), or
 * FLEETTRACE_SERVER and FLEETTRACE_TOKEN; errors carry the controller's
 * message (which names the field for a 400).
 */
import { UsageError } from './cli-error';
import type { OptionSpecs } from './command';
import { readLocalConfig } from './local-config';
import { readSecret, secretOptions } from './secret-flags';

/** How the user commands reach the controller's API. */
export const CONNECTION_OPTIONS = {
  server: {
    type: 'string',
    placeholder: 'URL',
    section: 'connection',
    help: 'controller API (default $FLEETTRACE_SERVER, else the local `fleettrace up`, else http://127.0.0.1:7780)',
  },
  ...secretOptions(
    'token',
    "file holding the API token (default $FLEETTRACE_TOKEN, else the local `up`'s)",
    'connection',
  ),
} as const satisfies OptionSpecs;

/** An error response of the API: exit status 2 for 4xx (the request was wrong), 1 otherwise. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export class ApiClient {
  constructor(
    readonly server: string,
    private readonly token: string | undefined,
  ) {}

  static from(values: { server?: string; token?: string; 'token-file'?: string }): ApiClient {
    // Flags, then the environment, then what a local `fleettrace up` recorded.
    const explicit = values.server ?? process.env.FLEETTRACE_SERVER;
    const local = explicit === undefined ? readLocalConfig() : undefined;
    const server = (explicit ?? local?.server ?? 'http://127.0.0.1:7780').replace(/\/+$/, '');
    if (!/^https?:\/\/[^/]+$/.test(server))
      throw new UsageError(
        `--server: must be a URL such as http://127.0.0.1:7780, got ${JSON.stringify(server)}`,
      );
    const token = readSecret(values, { flag: 'token', env: 'FLEETTRACE_TOKEN' }) ?? local?.token;
    return new ApiClient(server, token || undefined);
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    if (!this.token)
      throw new UsageError(
        '--token-file: an API token is needed (or set FLEETTRACE_TOKEN); `fleettrace controller` printed the first one',
      );
    let res: Response;
    try {
      res = await fetch(this.server + path, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new ApiError(
        `cannot reach the controller at ${this.server}: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
        0,
      );
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      throw new ApiError(
        `${method} ${path}: ${res.status}, not JSON: ${text.slice(0, 200)}`,
        res.status,
      );
    }
    if (!res.ok) {
      const message = (json as { error?: string } | undefined)?.error ?? `HTTP ${res.status}`;
      throw new ApiError(message, res.status);
    }
    return json as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }
  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.request<T>('POST', path, body);
  }
  delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }
}
