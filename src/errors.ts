// Every error a client can see is created here, with a stable code, an HTTP status and a gRPC
// status. Edges map them once; tests refer to codes, never to message text.
import { status as GrpcStatus } from '@grpc/grpc-js';

/**
 * A message a client sees stops here: it may quote what the client sent (a name, a datatype), and
 * a 10 MB string in a request once came back whole in a 10 MB error.
 */
const MAX_MESSAGE_CHARS = 1000;

export class ParetoError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly httpStatus: number,
    readonly grpcStatus: GrpcStatus,
  ) {
    if (message.length > MAX_MESSAGE_CHARS) message = `${message.slice(0, MAX_MESSAGE_CHARS)}… (cut at ${MAX_MESSAGE_CHARS} characters)`;
    // Only a server fault (500) keeps its stack. Everything else is an answer (a refusal, a
    // missing model, a deadline), not something to debug: its stack would only say which check
    // said no, and capturing one costs ~5.6 µs at a handler's depth (measured), more than all the
    // checks of an early refusal together. A flood of refusals would spend that server time.
    const limit = Error.stackTraceLimit;
    if (httpStatus !== 500) Error.stackTraceLimit = 0;
    try {
      super(message);
    } finally {
      Error.stackTraceLimit = limit;
    }
    this.name = new.target.name;
  }
}

/** The request is malformed or does not match the model's signature (400). */
export class InvalidRequestError extends ParetoError {
  constructor(message: string, code = 'PARETO_ERR_INVALID_REQUEST') {
    super(code, message, 400, GrpcStatus.INVALID_ARGUMENT);
  }
}

export class ModelNotFoundError extends ParetoError {
  constructor(model: string) {
    super('PARETO_ERR_MODEL_NOT_FOUND', `model '${model}' is not in the repository; GET /v2/repository/index lists the models`, 404, GrpcStatus.NOT_FOUND);
  }
}

export class VersionNotFoundError extends ParetoError {
  constructor(model: string, version: string, available: string[]) {
    super('PARETO_ERR_VERSION_NOT_FOUND', `model '${model}' has no version '${version}'; its versions are: ${available.join(', ')}`, 404, GrpcStatus.NOT_FOUND);
  }
}

export class ModelNotReadyError extends ParetoError {
  constructor(model: string, why: string) {
    super('PARETO_ERR_MODEL_NOT_READY', `model '${model}' is not ready: ${why}`, 503, GrpcStatus.UNAVAILABLE);
  }
}

export class PayloadTooLargeError extends ParetoError {
  constructor(size: number, limit: number, what = 'body', flag = '--max-body-bytes') {
    super('PARETO_ERR_PAYLOAD_TOO_LARGE', `request ${what} of ${size} bytes is over the limit of ${limit} bytes (${flag})`, 413, GrpcStatus.RESOURCE_EXHAUSTED);
  }
}

export class UnsupportedEncodingError extends ParetoError {
  constructor(coding: string) {
    super('PARETO_ERR_UNSUPPORTED_ENCODING', `Content-Encoding '${coding.slice(0, 40)}' is not supported; send gzip, deflate or identity`, 415, GrpcStatus.INVALID_ARGUMENT);
  }
}

export class MalformedEncodingError extends ParetoError {
  constructor(coding: string, why: string) {
    super('PARETO_ERR_MALFORMED_ENCODING', `the body is not valid ${coding}: ${why.slice(0, 80)}`, 400, GrpcStatus.INVALID_ARGUMENT);
  }
}

export class UnauthorizedError extends ParetoError {
  constructor(message: string) {
    super('PARETO_ERR_UNAUTHORIZED', message, 401, GrpcStatus.UNAUTHENTICATED);
  }
}

export class ServerShuttingDownError extends ParetoError {
  constructor() {
    super('PARETO_ERR_SHUTTING_DOWN', 'the server is shutting down and takes no new requests', 503, GrpcStatus.UNAVAILABLE);
  }
}

/** A model config or model file is invalid; names the file and the field. */
export class ModelConfigError extends ParetoError {
  constructor(readonly file: string, message: string) {
    super('PARETO_ERR_MODEL_CONFIG', `${file}: ${message}`, 400, GrpcStatus.FAILED_PRECONDITION);
  }
}

/** Loading a variant into ONNX Runtime failed (bad file, missing execution provider, ...). */
export class ModelLoadError extends ParetoError {
  constructor(model: string, variant: string, why: string) {
    super('PARETO_ERR_MODEL_LOAD', `model '${model}' variant '${variant}' failed to load: ${why}`, 400, GrpcStatus.FAILED_PRECONDITION);
  }
}

/** ONNX Runtime failed while running a batch: a real server fault. */
export class InferenceFailedError extends ParetoError {
  constructor(model: string, variant: string, why: string) {
    super('PARETO_ERR_INFERENCE_FAILED', `model '${model}' variant '${variant}' failed to run: ${why}`, 500, GrpcStatus.INTERNAL);
  }
}

/** A request still queued or running when its model is unloaded. */
export class ModelUnloadedError extends ParetoError {
  constructor(model: string) {
    super('PARETO_ERR_MODEL_UNLOADED', `model '${model}' was unloaded before this request could run`, 503, GrpcStatus.UNAVAILABLE);
  }
}

export function isParetoError(e: unknown): e is ParetoError {
  return e instanceof ParetoError;
}

/** The key is valid but may not use this model; says nothing about whether the model exists. */
export class ForbiddenError extends ParetoError {
  constructor(tenant: string, model: string) {
    super('PARETO_ERR_FORBIDDEN', `tenant '${tenant}' may not use model '${model}'`, 403, GrpcStatus.PERMISSION_DENIED);
  }
}

/** Over the tenant's rate limit or concurrency cap (429, with Retry-After). */
export class RateLimitedError extends ParetoError {
  readonly retryAfterSeconds: number;

  constructor(message: string, retryAfterSeconds: number) {
    super('PARETO_ERR_RATE_LIMITED', message, 429, GrpcStatus.RESOURCE_EXHAUSTED);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The tenant's queue, or the server, is full (503). */
export class OverloadedError extends ParetoError {
  constructor(message: string) {
    super('PARETO_ERR_OVERLOADED', message, 503, GrpcStatus.UNAVAILABLE);
  }
}

/** No variant can answer before the request's deadline: refused at once, not after the deadline passes. */
export class DeadlineError extends ParetoError {
  constructor(message: string) {
    super('PARETO_ERR_DEADLINE', message, 504, GrpcStatus.DEADLINE_EXCEEDED);
  }
}

/** The request's accuracy floor is above every variant's measured accuracy. */
export class AccuracyUnavailableError extends ParetoError {
  /** `best` undefined: no variant that could serve it has a measured accuracy. */
  constructor(model: string, floor: number, best: number | undefined) {
    const why = best === undefined
      ? 'no variant that serves this request has a measured accuracy (measure them with pareto profile, or send no min_accuracy)'
      : `its most accurate variant measured ${best}`;
    super('PARETO_ERR_ACCURACY_UNAVAILABLE', `model '${model}' cannot meet min_accuracy ${floor}: ${why}`, 422, GrpcStatus.FAILED_PRECONDITION);
  }
}

/** An error a worker answered with, passed on to the client with its code and status. */
export class UpstreamError extends ParetoError {
  constructor(code: string, message: string, httpStatus: number, grpcStatus: GrpcStatus) {
    super(code, message, httpStatus, grpcStatus);
  }
}

/** A gateway has no reachable worker that serves the model (503). */
export class NoWorkerError extends ParetoError {
  constructor(model: string, why: string) {
    super('PARETO_ERR_NO_WORKER', `no worker can run model '${model}' now: ${why}`, 503, GrpcStatus.UNAVAILABLE);
  }
}

/** A request the role does not support (a gateway asked to load a model, say). */
export class UnsupportedError extends ParetoError {
  constructor(message: string) {
    super('PARETO_ERR_UNSUPPORTED', message, 400, GrpcStatus.UNIMPLEMENTED);
  }
}

/** Triton's system shared-memory extension: a region that is not there, not allowed, or not big enough. */
export class SharedMemoryError extends ParetoError {
  static disabled(): SharedMemoryError {
    return new SharedMemoryError('PARETO_ERR_SHM_DISABLED', 'client shared memory is off on this server; start it with --allow-client-shm to use it (clients on the same host only)', 403, GrpcStatus.PERMISSION_DENIED);
  }

  static notFound(name: string): SharedMemoryError {
    return new SharedMemoryError('PARETO_ERR_SHM_NOT_FOUND', `no system shared memory region '${name}' is registered for this caller`, 404, GrpcStatus.NOT_FOUND);
  }

  static exists(name: string): SharedMemoryError {
    return new SharedMemoryError('PARETO_ERR_SHM_EXISTS', `system shared memory region '${name}' is already registered; unregister it first`, 409, GrpcStatus.ALREADY_EXISTS);
  }

  static invalid(message: string): SharedMemoryError {
    return new SharedMemoryError('PARETO_ERR_SHM_INVALID', message, 400, GrpcStatus.INVALID_ARGUMENT);
  }

  private constructor(code: string, message: string, httpStatus: number, grpcStatus: GrpcStatus) {
    super(code, message, httpStatus, grpcStatus);
  }
}
