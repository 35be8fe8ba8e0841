// SPDX-License-Identifier: Apache-2.0
/**
 * The UI's REST client. The token is kept in sessionStorage (gone with the
 * tab, never in a cookie, so no other site can make the browser send it) and
 * sent as the CLI sends it: `Authorization: Bearer <token>`. Errors carry
 * the API's own message, `field: reason` for a 400, and the field.
 */
import type {
  AgentListResponse,
  JobListResponse,
  JobResponse,
  QueryAnswerResponse,
  WhoamiResponse,
} from '@fleettrace/controller';

export type {
  AgentListResponse,
  JobListResponse,
  JobResponse,
  QueryAnswerResponse,
  WhoamiResponse,
};
export type Agent = AgentListResponse['agents'][number];
export type Run = NonNullable<JobResponse['runs']>[number];
export type Role = WhoamiResponse['role'];

const TOKEN_KEY = 'fleettrace.token';

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    message: string,
    readonly status: number,
    readonly field?: string,
  ) {
    super(message);
  }
}

export function storedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function storeToken(token: string | null): void {
  if (token === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

/** Called when the API says the token is no longer good (401): the app signs out. */
let onUnauthorized: () => void = () => undefined;
export function whenUnauthorized(handler: () => void): void {
  onUnauthorized = handler;
}

/** The API's answer to a request with the token; an answer that is not 2xx becomes an ApiError. */
async function send(
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body: unknown,
  token: string | null,
): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (err) {
    throw new ApiError(`cannot reach the controller: ${(err as Error).message}`, 0);
  }
  if (res.ok) return res;
  let json: unknown;
  try {
    json = JSON.parse(await res.text());
  } catch {
    json = undefined;
  }
  const e = (json ?? {}) as { error?: unknown; field?: unknown; retry_after_s?: unknown };
  const message = typeof e.error === 'string' ? e.error : `${res.status} ${res.statusText}`;
  if (res.status === 401 && token === storedToken()) onUnauthorized();
  throw new ApiError(
    typeof e.retry_after_s === 'number' ? `${message} (retry in ${e.retry_after_s} s)` : message,
    res.status,
    typeof e.field === 'string' ? e.field : undefined,
  );
}

export async function request<T>(
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
  token: string | null = storedToken(),
): Promise<T> {
  const text = await (await send(method, path, body, token)).text();
  try {
    return (text ? JSON.parse(text) : undefined) as T;
  } catch {
    return undefined as T;
  }
}

/**
 * A file the API answers with (GET, with the token: a plain link could not
 * send it), and the name its Content-Disposition gives, if any.
 */
export async function fetchFile(path: string): Promise<{ blob: Blob; filename?: string }> {
  const res = await send('GET', path, undefined, storedToken());
  const filename = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1];
  return { blob: await res.blob(), ...(filename ? { filename } : {}) };
}

/** One statement through POST /api/v1/query. */
export function query(sql: string): Promise<QueryAnswerResponse> {
  return request<QueryAnswerResponse>('POST', '/api/v1/query', { sql });
}

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };
export function roleAtLeast(have: Role, need: Role): boolean {
  return RANK[have] >= RANK[need];
}
