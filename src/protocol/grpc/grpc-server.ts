// The Open Inference Protocol over gRPC (inference.GRPCInferenceService) on @grpc/grpc-js.
import * as grpc from '@grpc/grpc-js';
import { isParetoError, ModelNotFoundError, RateLimitedError, type ParetoError } from '../../errors.js';
import type { AdminToken } from '../admin-token.js';
import type { InferenceService } from '../../serving/inference-service.js';
import { modelMetadata, serverMetadata } from '../metadata.js';
import { inferenceService, loadReporterService } from './proto.js';
import type { LoadReport } from '../load-report.js';
import { performance } from 'node:perf_hooks';
import type { Telemetry } from '../../telemetry/telemetry.js';
import type { DoorPass, Tenant } from '../../tenancy/tenants.js';
import { requestRecord } from '../request-record.js';
import { decodeGrpcInfer, encodeGrpcInfer, type GrpcInferRequest } from './infer-codec.js';
import { requestRows } from '../types.js';
import type { DoorTurns } from '../door-turns.js';
import { UNAUTHENTICATED, type RefusalTarpit } from '../refusal-tarpit.js';
import { useStreamTables } from './stream-table.js';

export interface GrpcServerOptions {
  service: InferenceService;
  telemetry: Telemetry;
  maxMessageBytes: number;
  isReady: () => boolean;
  report: (authorization: string | undefined) => LoadReport;
  /** Checks the admin token: repository load and unload. */
  admin: AdminToken;
  /** Orders the work around an inference by its tenant's priority (shared with REST); absent: first come. */
  turns?: DoorTurns;
  /** Holds the refusals of a caller refused too often (shared with REST); absent: answered at once. */
  tarpit?: RefusalTarpit;
}

/** A unary inference call let through at its metadata: its tenant, and its place in the tenant's concurrency. */
interface HeldCall {
  tenant: Tenant;
  pass: DoorPass;
}

type Handler<Req, Res> = (call: grpc.ServerUnaryCall<Req, Res>, callback: grpc.sendUnaryData<Res>) => void;

/** Wraps an async handler: typed errors become their gRPC status, anything else INTERNAL. */
function unary<Req, Res>(fn: (req: Req, authorization: string | undefined, metadata: grpc.Metadata) => Promise<Res> | Res): Handler<Req, Res> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => fn(call.request, authorizationOf(call.metadata), call.metadata))
      .then((res) => callback(null, res), (e: unknown) => callback(isParetoError(e) ? statusOf(e) : { code: grpc.status.INTERNAL, details: 'internal server error' }));
  };
}

function authorizationOf(metadata: grpc.Metadata): string | undefined {
  const value = metadata.get('authorization')[0];
  return typeof value === 'string' ? value : undefined;
}

/** A typed error as its gRPC status: the code in the `pareto-error-code` trailer, and when to retry a 429. */
function statusOf(e: ParetoError): grpc.StatusObject {
  const metadata = new grpc.Metadata();
  metadata.set('pareto-error-code', e.code);
  if (e instanceof RateLimitedError) metadata.set('retry-after', String(e.retryAfterSeconds));
  return { code: e.grpcStatus, details: e.message, metadata };
}

/** Calls of the inference service that need a key, besides inference (checked on its own). */
const KEYED = /\/(ModelReady|ModelMetadata|ModelConfig|ModelStatistics|RepositoryIndex|RepositoryModelLoad|RepositoryModelUnload|SystemSharedMemory(Status|Register|Unregister))$/;

/**
 * Checks the key from the call's metadata before its message is read: an unauthenticated call
 * ends at its headers, so it cannot make the server buffer a message of up to the size limit
 * (24 concurrent 60 MB messages with no key took RSS from 295 MB to 3.1 GB). The model and
 * repository calls (KEYED) are held to a key the same way; health and server metadata are open.
 */
function keyBeforeMessage(service: InferenceService, telemetry: Telemetry, admin: AdminToken, passes: WeakMap<grpc.Metadata, HeldCall>, tarpit: RefusalTarpit | undefined): grpc.ServerInterceptor {
  return (method, call) => {
    let pass: DoorPass | undefined;
    return new grpc.ServerInterceptingCall(call, {
      start: (next) => next({
        onReceiveMetadata: (metadata, proceed) => {
          const infer = method.path.endsWith('/ModelInfer'), stream = method.path.endsWith('/ModelStreamInfer');
          const keyed = KEYED.test(method.path);
          const auth = authorizationOf(metadata);
          // The admin's token opens the model and repository calls; anything else needs a tenant's key.
          if ((infer || stream || keyed) && !(keyed && admin.matches(auth))) {
            let tenant: Tenant | undefined;
            try {
              tenant = service.identify(auth);
              // Inference counts against the tenant's concurrency from here, before its message is
              // read: a tenant's concurrent messages, each up to the size limit, are what it can make
              // the server hold. The handler finds the pass (and the tenant, so that the key is hashed
              // once per call) by the metadata object, which a client
              // cannot forge. A stream's messages are admitted one by one (streamInfer).
              if (infer && tenant) {
                pass = service.tenants!.hold(tenant);
                passes.set(metadata, { pass, tenant });
              }
            } catch (e) {
              const error = e as ParetoError;
              // Counted like any refusal, to its tenant where the key named one (a 429 over its
              // concurrency is that tenant's), under model 'unknown': the model is in the unread message.
              if (infer || stream) telemetry.request(requestRecord(service, '', tenant?.id, undefined, error.httpStatus, 0, 0, undefined, error.message));
              // A caller refused too often waits its turn, as over REST: a client with N calls in
              // flight then sends no faster than its refusals come back.
              if (tarpit) tarpit.refuse(tenant?.id ?? UNAUTHENTICATED, () => call.sendStatus(statusOf(error)));
              else call.sendStatus(statusOf(error));
              return;
            }
          }
          proceed(metadata);
        },
        onCancel: () => pass?.release(),
      }),
      sendStatus: (status, next) => {
        pass?.release();
        next(status);
      },
    });
  };
}

export function buildGrpcServer(opts: GrpcServerOptions): grpc.Server {
  const { service } = opts;
  const passes = new WeakMap<grpc.Metadata, HeldCall>();
  const server = new grpc.Server({
    'grpc.max_receive_message_length': opts.maxMessageBytes,
    'grpc.max_send_message_length': opts.maxMessageBytes,
    // Only where there are keys to check: an open server's calls skip the interceptor's cost.
    interceptors: service.tenants ? [keyBeforeMessage(service, opts.telemetry, opts.admin, passes, opts.tarpit)] : [],
  });
  const models = service.models;
  /** One inference, as ModelInfer and each message of ModelStreamInfer run it. */
  const inferOne = async (req: GrpcInferRequest, auth: string | undefined, held: HeldCall | undefined) => {
    const start = performance.now();
    let tenant: string | undefined;
    let caller: Tenant | undefined;
    let samples = 0;
    let counted = false;
    try {
      // The key is hashed and checked once: identify (at the metadata, for a unary call), then
      // access and quota, as REST does.
      const pass = held?.pass;
      const t = held ? held.tenant : service.identify(auth);
      caller = t;
      tenant = t?.id;
      // Counted from the metadata on (keyBeforeMessage), the message already read: admission checks the rest.
      if (!pass) service.precheck(t, req.model_name);
      const turns = opts.turns;
      const who = turns && service.doorOrder(t, req.model_name, start);
      if (who) await turns.turn(who, true);
      // Each piece of door work is timed and charged to its tenant (door-ledger.ts).
      let at = performance.now();
      const decoded = decodeGrpcInfer(req);
      samples = requestRows(decoded);
      const admitted = service.infer({ ...decoded, authorization: auth, caller: { tenant: t, pass } });
      if (who) turns.charge(who, performance.now() - at, true);
      counted = true;
      const res = await admitted;
      if (who) await turns.turn(who);
      at = performance.now();
      opts.telemetry.request(requestRecord(service, req.model_name, tenant, res.serving, 200, samples, performance.now() - start, res.id));
      const encoded = encodeGrpcInfer(res);
      if (who) turns.charge(who, performance.now() - at);
      return encoded;
    } catch (e) {
      const status = isParetoError(e) ? e.httpStatus : 500;
      // A failed call cost the loop its framing too: its tenant's share of that.
      if (opts.turns && caller && !counted) opts.turns.charge(service.doorOrder(caller, req.model_name, start), 0, true);
      service.malformed(caller, status);
      opts.telemetry.request(requestRecord(service, req.model_name, tenant, undefined, status, samples, performance.now() - start, undefined, (e as Error).message));
      // Over its rate once its message is read (it carries more samples than the metadata's check
      // expected): held like a refusal at the metadata. A 32-row flood whose tenant also sent 1-row
      // calls to another model drew 1,370 such refusals a second, 0.75 cores of the event loop.
      if (e instanceof RateLimitedError && opts.tarpit) await new Promise<void>((resolve) => opts.tarpit!.refuse(tenant ?? UNAUTHENTICATED, () => resolve()));
      throw e;
    }
  };
  server.addService(inferenceService(String).service, {
    ServerLive: unary(() => ({ live: true })),
    ServerReady: unary(() => ({ ready: opts.isReady() })),
    ModelReady: unary((req: { name: string; version: string }, auth) => {
      try {
        service.modelFor(auth, req.name, req.version || undefined);
        return { ready: true };
      } catch (e) {
        // Not ready, or unknown: Triton answers false for both, and clients expect that.
        if (isParetoError(e) && (e.httpStatus === 503 || e.httpStatus === 404)) return { ready: false };
        throw e;
      }
    }),
    ServerMetadata: unary(() => serverMetadata(service.sharedMemory !== undefined)),
    ModelMetadata: unary((req: { name: string; version: string }, auth) => {
      const { name, versions, platform, inputs, outputs } = modelMetadata(service.modelFor(auth, req.name, req.version || undefined));
      return { name, versions, platform, inputs, outputs };
    }),
    ModelConfig: unary((req: { name: string; version: string }, auth) => ({ config: service.modelConfig(auth, req.name, req.version || undefined) })),
    ModelStatistics: unary((req: { name: string; version: string }, auth) =>
      opts.telemetry.statistics.view(service.statisticsScope(auth, opts.admin.matches(auth), req.name || undefined, req.version || undefined))),
    RepositoryIndex: unary((req: { ready: boolean }, auth) => ({
      // One entry per version, as Triton lists them; a model not loaded has one without a version.
      models: service.repositoryIndex(auth, opts.admin.matches(auth), req.ready).flatMap((m) => {
        const reason = m.state === 'READY' ? '' : m.reason ?? '';
        return m.versions.length ? m.versions.map((version) => ({ name: m.name, version, state: m.state, reason })) : [{ name: m.name, version: '', state: m.state, reason }];
      }),
    })),
    RepositoryModelLoad: unary(async (req: { model_name: string }, auth) => {
      opts.admin.check(auth);
      if (!models.has(req.model_name)) throw new ModelNotFoundError(req.model_name);
      await models.load(req.model_name);
      return {};
    }),
    RepositoryModelUnload: unary(async (req: { model_name: string }, auth) => {
      opts.admin.check(auth);
      await models.unload(req.model_name);
      return {};
    }),
    // Triton's system shared-memory extension: each caller its own regions.
    SystemSharedMemoryStatus: unary((req: { name: string }, auth) => {
      const { regions, owner } = service.sharedMemoryOf(auth);
      return { regions: Object.fromEntries(regions.status(owner, req.name || undefined).map((r) => [r.name, r])) };
    }),
    SystemSharedMemoryRegister: unary((req: { name: string; key: string; offset: number; byte_size: number }, auth) => {
      const { regions, owner } = service.sharedMemoryOf(auth);
      regions.register(owner, req.name, req.key, Number(req.offset), Number(req.byte_size));
      return {};
    }),
    SystemSharedMemoryUnregister: unary((req: { name: string }, auth) => {
      const { regions, owner } = service.sharedMemoryOf(auth);
      regions.unregister(owner, req.name || undefined);
      return {};
    }),
    ModelInfer: unary((req: GrpcInferRequest, auth, metadata) => inferOne(req, auth, passes.get(metadata))),
    ModelStreamInfer: (call: grpc.ServerDuplexStream<GrpcInferRequest, unknown>) => streamInfer(call, inferOne),
  });
  server.addService(loadReporterService().service, { Report: unary((_req, authorization) => opts.report(authorization)) });
  return server;
}

/** Messages of one stream in flight at once; reading pauses beyond it (a stream's share of memory). */
const STREAM_IN_FLIGHT = 16;

/**
 * ModelStreamInfer: each message is admitted and run like a unary call; responses go back in
 * completion order with their request's id, an error as that message's `error_message` (the
 * stream survives it), and the stream ends once the client has ended and every answer is written.
 */
function streamInfer(call: grpc.ServerDuplexStream<GrpcInferRequest, unknown>, infer: (req: GrpcInferRequest, auth: string | undefined, pass: undefined) => Promise<unknown>): void {
  const auth = authorizationOf(call.metadata);
  let inFlight = 0;
  let ended = false;
  const settle = () => {
    inFlight--;
    if (inFlight < STREAM_IN_FLIGHT) call.resume();
    if (ended && inFlight === 0) call.end();
  };
  call.on('data', (req: GrpcInferRequest) => {
    if (++inFlight >= STREAM_IN_FLIGHT) call.pause();
    infer(req, auth, undefined).then(
      (res) => { call.write({ infer_response: res }); },
      (e: unknown) => {
        const message = isParetoError(e) ? `${e.code}: ${e.message}` : 'internal server error';
        call.write({ error_message: message, infer_response: { id: req.id ?? '', model_name: req.model_name ?? '' } });
      },
    ).finally(settle);
  });
  call.on('end', () => {
    ended = true;
    if (inFlight === 0) call.end();
  });
  call.on('error', () => undefined); // a client gone mid-stream has nothing left to be told
}

export function bindGrpc(server: grpc.Server, host: string, port: number): Promise<number> {
  useStreamTables();
  return new Promise((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
  });
}
