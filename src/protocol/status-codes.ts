// HTTP status ⇄ gRPC status for the errors the protocol defines, for clients that meet an error in
// one protocol and report it in the other (the load generator, a gateway's worker clients).
import { status as GrpcStatus } from '@grpc/grpc-js';

export const HTTP_OF_GRPC: Partial<Record<GrpcStatus, number>> = {
  [GrpcStatus.INVALID_ARGUMENT]: 400, [GrpcStatus.UNAUTHENTICATED]: 401, [GrpcStatus.PERMISSION_DENIED]: 403,
  [GrpcStatus.NOT_FOUND]: 404, [GrpcStatus.FAILED_PRECONDITION]: 422, [GrpcStatus.RESOURCE_EXHAUSTED]: 429,
  [GrpcStatus.UNAVAILABLE]: 503, [GrpcStatus.DEADLINE_EXCEEDED]: 504, [GrpcStatus.UNIMPLEMENTED]: 501,
};

export const GRPC_OF_HTTP: Record<number, GrpcStatus> = {
  400: GrpcStatus.INVALID_ARGUMENT, 401: GrpcStatus.UNAUTHENTICATED, 403: GrpcStatus.PERMISSION_DENIED,
  404: GrpcStatus.NOT_FOUND, 413: GrpcStatus.RESOURCE_EXHAUSTED, 422: GrpcStatus.FAILED_PRECONDITION,
  429: GrpcStatus.RESOURCE_EXHAUSTED, 501: GrpcStatus.UNIMPLEMENTED, 503: GrpcStatus.UNAVAILABLE, 504: GrpcStatus.DEADLINE_EXCEEDED,
};
