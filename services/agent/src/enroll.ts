// SPDX-License-Identifier: Apache-2.0
/**
 * Enrollment, from the agent's side:
 *  1. GetCa over TLS without trusting the server yet (nothing is sent but the request);
 *  2. the CA's SHA-256 must equal the hash in the bootstrap token, else stop;
 *  3. a new key and CSR; Enroll over TLS verified against that CA;
 *  4. identity, key, certificate and CA go to the state directory.
 */
import { credentials, Metadata, status, type CallOptions, type ServiceError } from '@grpc/grpc-js';
import {
  EnrollmentClient,
  type EnrollRequest,
  type EnrollResponse,
  type GetCaRequest,
  type GetCaResponse,
} from '@fleettrace/proto';
import { parseBootstrapToken, caHashOf } from './bootstrap-token';
import { newKeyAndRequest } from './client-key';
import type { AgentIdentity, StateDir } from './state-dir';

export interface EnrollOptions {
  /** host:port of the controller's Enrollment listener */
  address: string;
  token: string;
  hostname: string;
  labels: Record<string, string>;
  state: StateDir;
  /** per-call deadline */
  timeoutMs?: number;
}

/** Enrollment refused or impossible; the message says why and what to do. */
export class EnrollError extends Error {
  override name = 'EnrollError';
  constructor(
    message: string,
    readonly code?: status,
  ) {
    super(message);
  }
}

type UnaryMethod<Req, Res> = (
  req: Req,
  metadata: Metadata,
  opts: Partial<CallOptions>,
  cb: (err: ServiceError | null, res: Res) => void,
) => unknown;

/** One unary call with a deadline, as a Promise. */
export function unary<Req, Res>(
  call: UnaryMethod<Req, Res>,
  req: Req,
  timeoutMs: number,
): Promise<Res> {
  return new Promise((resolve, reject) =>
    call(req, new Metadata(), { deadline: new Date(Date.now() + timeoutMs) }, (err, res) =>
      err ? reject(err) : resolve(res),
    ),
  );
}

/** Fetches the controller's CA and checks it against the token's hash. */
export async function fetchVerifiedCa(
  address: string,
  caHash: string,
  timeoutMs = 10_000,
): Promise<string> {
  // Not verifying the server here is safe: the only thing taken from this
  // connection is the CA, and it is used only if it hashes to the token's value.
  const client = new EnrollmentClient(
    address,
    credentials.createSsl(null, null, null, { rejectUnauthorized: false }),
  );
  try {
    const res = await unary<GetCaRequest, GetCaResponse>(client.getCa.bind(client), {}, timeoutMs);
    const got = caHashOf(res.caPem);
    if (got !== caHash)
      throw new EnrollError(
        `the controller at ${address} presents a CA whose hash is ${got}, but the token expects ${caHash}: ` +
          'refusing to enroll (a token for another controller, or someone in between)',
      );
    return res.caPem;
  } catch (err) {
    if (err instanceof EnrollError) throw err;
    throw new EnrollError(
      `cannot fetch the CA from ${address}: ${(err as ServiceError).details ?? (err as Error).message}`,
      (err as ServiceError).code,
    );
  } finally {
    client.close();
  }
}

export async function enroll(opts: EnrollOptions): Promise<AgentIdentity> {
  const token = parseBootstrapToken(opts.token);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const caPem = await fetchVerifiedCa(opts.address, token.caHash, timeoutMs);
  const { keyPem, csrPem } = await newKeyAndRequest(opts.hostname);
  const client = new EnrollmentClient(opts.address, credentials.createSsl(Buffer.from(caPem)));
  let res: EnrollResponse;
  try {
    res = await unary<EnrollRequest, EnrollResponse>(
      client.enroll.bind(client),
      { token: token.redeemable, hostname: opts.hostname, csrPem, labels: opts.labels },
      timeoutMs,
    );
  } catch (err) {
    const e = err as ServiceError;
    // UNAUTHENTICATED is the token (unknown, expired, revoked, used up); the rest says itself.
    const hint =
      e.code === status.UNAUTHENTICATED
        ? ' (a new one: `fleettrace token create --bootstrap` on the controller)'
        : '';
    throw new EnrollError(
      `enrollment refused by the controller at ${opts.address}: ${e.details || e.message}${hint}`,
      e.code,
    );
  } finally {
    client.close();
  }
  const identity: AgentIdentity = {
    agent_id: res.agentId,
    hostname: opts.hostname,
    labels: opts.labels,
    enroll_address: opts.address,
    control_address: controlAddressFor(res.controlAddress, opts.address),
    enrolled_at: new Date().toISOString(),
    cert_received_ms: Date.now(),
  };
  opts.state.writeCa(caPem);
  opts.state.writeCredentials({ keyPem, certPem: res.certificatePem });
  opts.state.writeIdentity(identity);
  return identity;
}

/**
 * The controller may advertise its control listener with an unspecified host
 * (0.0.0.0 / ::) or none: then the host the agent enrolled through is used.
 */
export function controlAddressFor(advertised: string, enrollAddress: string): string {
  const enrollHost = enrollAddress.replace(/:\d+$/, '');
  if (!advertised)
    throw new EnrollError('the controller did not say where its control listener is');
  const m = /^(.*):(\d+)$/.exec(advertised);
  if (!m) return advertised;
  const host = m[1] as string;
  if (host === '' || host === '0.0.0.0' || host === '[::]' || host === '::')
    return `${enrollHost}:${m[2]}`;
  return advertised;
}
