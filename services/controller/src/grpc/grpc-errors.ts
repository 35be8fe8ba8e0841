// SPDX-License-Identifier: Apache-2.0
/** gRPC status errors with a message for people, for unary callbacks and stream `error` events. */
import { status, type ServiceError, Metadata } from '@grpc/grpc-js';
import { ValidationError } from '@fleettrace/common';
import { HttpException } from '@nestjs/common';
import { BootstrapTokenError } from '../auth/tokens.service.js';
import { CsrError } from '../pki/certificate-authority.js';

export function grpcError(code: status, details: string): Partial<ServiceError> {
  return { code, details, message: details, metadata: new Metadata() };
}

/** Maps what services throw to a gRPC status; unknown errors become INTERNAL. */
export function toGrpcError(err: unknown): Partial<ServiceError> {
  if (err instanceof ValidationError || err instanceof CsrError)
    return grpcError(status.INVALID_ARGUMENT, err.message);
  if (err instanceof BootstrapTokenError) return grpcError(status.UNAUTHENTICATED, err.message);
  if (err instanceof HttpException) {
    const code =
      err.getStatus() === 409
        ? status.ALREADY_EXISTS
        : err.getStatus() === 404
          ? status.NOT_FOUND
          : err.getStatus() === 403
            ? status.PERMISSION_DENIED
            : status.INVALID_ARGUMENT;
    return grpcError(code, err.message);
  }
  return grpcError(status.INTERNAL, `internal error: ${(err as Error).message}`);
}
