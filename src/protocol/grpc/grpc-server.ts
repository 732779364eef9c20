// The Open Inference Protocol over gRPC (inference.GRPCInferenceService) on @grpc/grpc-js, with
// ModelInfer served on the raw HTTP/2 stream in front of it (unary-infer-stream.ts).
import * as grpc from '@grpc/grpc-js';
import { InvalidRequestError, isParetoError, ModelNotFoundError, RateLimitedError, type ParetoError } from '../../errors.js';
import type { AdminToken } from '../admin-token.js';
import type { InferenceService } from '../../serving/inference-service.js';
import { modelMetadata, serverMetadata } from '../metadata.js';
import { inferenceService, loadReporterService } from './proto.js';
import type { LoadReport } from '../load-report.js';
import { performance } from 'node:perf_hooks';
import type { Telemetry } from '../../telemetry/telemetry.js';
import type { DoorPass, Tenant } from '../../tenancy/tenants.js';
import { requestRecord } from '../request-record.js';
import { decodeGrpcInfer, encodeGrpcInfer, peekModelName, rawContentsPad, type GrpcInferRequest } from './infer-codec.js';
import { tensorBuffers } from '../../tensor/buffer-pool.js';
import { requestRows, type InferenceResponse } from '../types.js';
import type { DoorTurns } from '../door-turns.js';
import { UNAUTHENTICATED, type RefusalTarpit } from '../refusal-tarpit.js';
import { useStreamTables } from './stream-table.js';
import { serveUnaryInfer, type GoneWatch, type UnaryInferHandlers } from './unary-infer-stream.js';
import { writeGrpcInfer } from './infer-response-writer.js';
import type http2 from 'node:http2';
import type { MarkCompactPacer } from '../../runtime/mark-compact-pacer.js';
import { GrpcThread } from './grpc-thread-host.js';

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
  /** ModelInfer on the raw HTTP/2 stream (unary-infer-stream.ts); false: through grpc-js. Default true. */
  rawInfer?: boolean;
  /** Starts a mark-compact every so many HTTP/2 streams (mark-compact-pacer.ts), where they come to the event loop; absent: none. */
  pacer?: MarkCompactPacer;
  /**
   * The gRPC port's HTTP/2 on a thread of its own (grpc-thread.ts), ModelInfer served there and
   * every other call relayed to grpc-js; its pacer's count for that thread's heap. Only with rawInfer.
   */
  thread?: { gcEveryStreams: number };
}

/** A unary inference call let through at its metadata: its tenant, and its place in the tenant's concurrency. */
interface HeldCall {
  tenant: Tenant;
  pass: DoorPass;
}

type Handler<Req, Res> = (call: grpc.ServerUnaryCall<Req, Res>, callback: grpc.sendUnaryData<Res>) => void;

/** Wraps an async handler: typed errors become their gRPC status, anything else INTERNAL. */
function unary<Req, Res>(fn: (req: Req, authorization: string | undefined, metadata: grpc.Metadata, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res> | Res): Handler<Req, Res> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => fn(call.request, authorizationOf(call.metadata), call.metadata, call))
      .then((res) => callback(null, res), (e: unknown) => callback(grpcStatusOf(e)));
  };
}

/** A grpc-js call (unary or stream) as a GoneWatch: it goes when grpc-js reports it cancelled (reset by its client, its connection closed). */
function cancelledWatch(call: { cancelled: boolean; once(event: 'cancelled', listener: () => void): unknown; off(event: 'cancelled', listener: () => void): unknown }): GoneWatch {
  return {
    whenGone(cancel) {
      if (call.cancelled) {
        cancel();
        return () => undefined;
      }
      call.once('cancelled', cancel);
      return () => call.off('cancelled', cancel);
    },
  };
}

function authorizationOf(metadata: grpc.Metadata): string | undefined {
  const value = metadata.get('authorization')[0];
  return typeof value === 'string' ? value : undefined;
}

/** Any error as its gRPC status: a typed one as statusOf, anything else INTERNAL. */
function grpcStatusOf(e: unknown): grpc.StatusObject {
  return isParetoError(e) ? statusOf(e) : { code: grpc.status.INTERNAL, details: 'internal server error', metadata: new grpc.Metadata() };
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
 * Checks an inference call's key at its metadata, before its message is read: an unauthenticated
 * call ends at its headers, so it cannot make the server buffer a message of up to the size limit
 * (24 concurrent 60 MB messages with no key took RSS from 295 MB to 3.1 GB). A unary inference
 * call counts against its tenant's concurrency from here: a tenant's concurrent messages, each up
 * to the size limit, are what it can make the server hold. Returns the held call, or once `send` has
 * the refusal (or the tarpit holds it), `refused`: what cancels a held refusal when its call goes.
 * A refused model or repository call ('keyed') is not counted as an inference.
 */
type AtMetadata = (auth: string | undefined, call: 'infer' | 'stream' | 'keyed', send: (status: grpc.StatusObject) => void) => { held?: HeldCall } | { refused: () => void };

function atMetadata(service: InferenceService, telemetry: Telemetry, tarpit: RefusalTarpit | undefined): AtMetadata {
  return (auth, call, send) => {
    let tenant: Tenant | undefined;
    try {
      tenant = service.identify(auth);
      return call === 'infer' && tenant ? { held: { tenant, pass: service.tenants!.hold(tenant) } } : {};
    } catch (e) {
      const error = e as ParetoError;
      // Counted like any refusal, to its tenant where the key named one (a 429 over its
      // concurrency is that tenant's), under model 'unknown': the model is in the unread message.
      if (call !== 'keyed') telemetry.request(requestRecord(service, '', tenant?.id, undefined, error.httpStatus, 0, 0, undefined, error.message));
      // A caller refused too often waits its turn, as over REST: a client with N calls in
      // flight then sends no faster than its refusals come back.
      if (tarpit) return { refused: tarpit.refuse(tenant?.id ?? UNAUTHENTICATED, () => send(statusOf(error))) };
      send(statusOf(error));
      return { refused: () => undefined };
    }
  };
}

/**
 * The key before the message, for the calls grpc-js serves: inference (ModelStreamInfer, and
 * ModelInfer where serveUnaryInfer did not take it) through `check`; the model and repository
 * calls (KEYED) are held to a key the same way, or the admin's token; health and server metadata
 * are open. The handler finds a unary call's pass (and its tenant, so that the key is hashed once
 * per call) by the metadata object, which a client cannot forge.
 */
function keyBeforeMessage(check: AtMetadata, admin: AdminToken, passes: WeakMap<grpc.Metadata, HeldCall>): grpc.ServerInterceptor {
  return (method, call) => {
    let pass: DoorPass | undefined;
    let cancelRefusal: (() => void) | undefined;
    return new grpc.ServerInterceptingCall(call, {
      start: (next) => next({
        onReceiveMetadata: (metadata, proceed) => {
          const auth = authorizationOf(metadata);
          // A stream's messages are admitted one by one (streamInfer).
          const kind = method.path.endsWith('/ModelInfer') ? 'infer' : method.path.endsWith('/ModelStreamInfer') ? 'stream'
            : KEYED.test(method.path) && !admin.matches(auth) ? 'keyed' : undefined;
          if (kind) {
            const verdict = check(auth, kind, (status) => call.sendStatus(status));
            if ('refused' in verdict) {
              cancelRefusal = verdict.refused;
              return;
            }
            if (verdict.held) passes.set(metadata, verdict.held);
            pass = verdict.held?.pass;
          }
          proceed(metadata);
        },
        onCancel: () => {
          pass?.release();
          cancelRefusal?.();
        },
      }),
      sendStatus: (status, next) => {
        pass?.release();
        next(status);
      },
    });
  };
}

/** An inference call's message: its model (read first, to order the call), and the whole of it. */
interface InferMessage {
  /** undefined: the message is malformed. */
  model: string | undefined;
  read(): GrpcInferRequest;
  /** Framed on the gRPC thread: its tenant is charged a share of that thread's time too (door-ledger.ts). */
  offLoop?: boolean;
}

/** A decoded message, as grpc-js hands it over. */
const decodedMessage = (req: GrpcInferRequest): InferMessage => ({ model: req.model_name, read: () => req });

export function buildGrpcServer(opts: GrpcServerOptions): grpc.Server {
  const { service } = opts;
  const passes = new WeakMap<grpc.Metadata, HeldCall>();
  const check = atMetadata(service, opts.telemetry, opts.tarpit);
  const server = new grpc.Server({
    'grpc.max_receive_message_length': opts.maxMessageBytes,
    'grpc.max_send_message_length': opts.maxMessageBytes,
    // Only where there are keys to check: an open server's calls skip the interceptor's cost.
    interceptors: service.tenants ? [keyBeforeMessage(check, opts.admin, passes)] : [],
  });
  const models = service.models;
  const definition = inferenceService(String).service;
  /**
   * One inference, as ModelInfer and each message of ModelStreamInfer run it; `encode` makes the
   * answer (timed and charged with the rest of the call's door work).
   */
  const inferOne = async <R>(msg: InferMessage, auth: string | undefined, held: HeldCall | undefined, encode: (res: InferenceResponse) => R, call: GoneWatch): Promise<R> => {
    const start = performance.now();
    const model = msg.model ?? '';
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
      if (msg.model === undefined) throw new InvalidRequestError('the ModelInferRequest message is malformed');
      // Counted from the metadata on (atMetadata), the message already read: admission checks the rest.
      if (!pass) service.precheck(t, model);
      const turns = opts.turns;
      const who = turns && service.doorOrder(t, model, start);
      if (who) await turns.turn(who, true);
      // Each piece of door work is timed and charged to its tenant (door-ledger.ts).
      let at = performance.now();
      const decoded = decodeGrpcInfer(msg.read());
      samples = requestRows(decoded);
      // Set on the decoded request, as REST does, not spread into a copy: with the copy, a 1-row
      // call at 1,600 calls/s promoted ~460 B to the old generation (22 MB in 30 s, 1-2
      // mark-compacts); with this, 4.7 MB and none (bench/RESULTS.md, twentieth session).
      decoded.authorization = auth;
      decoded.caller = { tenant: t, pass };
      const admitted = service.infer(decoded);
      if (who) turns.charge(who, performance.now() - at, true, msg.offLoop);
      counted = true;
      const res = await admitted;
      if (who) await turns.turn(who);
      at = performance.now();
      opts.telemetry.request(requestRecord(service, model, tenant, res.serving, 200, samples, performance.now() - start, res.id));
      const encoded = encode(res);
      if (who) turns.charge(who, performance.now() - at);
      return encoded;
    } catch (e) {
      const status = isParetoError(e) ? e.httpStatus : 500;
      // A failed call cost the loop its framing too: its tenant's share of that.
      if (opts.turns && caller && !counted) opts.turns.charge(service.doorOrder(caller, model, start), 0, true, msg.offLoop);
      service.malformed(caller, status);
      opts.telemetry.request(requestRecord(service, model, tenant, undefined, status, samples, performance.now() - start, undefined, (e as Error).message));
      // Over its rate once its message is read (it carries more samples than the metadata's check
      // expected): held like a refusal at the metadata. A 32-row flood whose tenant also sent 1-row
      // calls to another model drew 1,370 such refusals a second, 0.75 cores of the event loop.
      // A call that goes meanwhile (reset, past its deadline) leaves the line at once, as one
      // refused at its metadata does, instead of holding a place there until its turn.
      if (e instanceof RateLimitedError && opts.tarpit) {
        await new Promise<void>((resolve) => {
          let answered = false;
          let unwatch: (() => void) | undefined;
          const cancel = opts.tarpit!.refuse(tenant ?? UNAUTHENTICATED, () => {
            answered = true;
            unwatch?.();
            resolve();
          });
          if (!answered) unwatch = call.whenGone(() => { cancel(); resolve(); });
        });
      }
      throw e;
    }
  };
  // ModelInfer on the raw stream (unary-infer-stream.ts): decoded once its turn comes, answered as
  // bytes. `offLoop`: for the streams of the gRPC thread.
  const { requestDeserialize } = definition.ModelInfer;
  const rawInfer = (offLoop: boolean): UnaryInferHandlers<HeldCall> => ({
    maxMessageBytes: opts.maxMessageBytes,
    admit: (auth, refuse) => check(auth, 'infer', refuse),
    release: (held) => held.pass.release(),
    // Reused memory, placed so that the first input's raw contents fall on an 8-byte boundary: its
    // tensor is a view of the message, and a batch of this call alone hands it to its executor whole.
    place: (head, length) => {
      const pad = rawContentsPad(head);
      return Buffer.from(tensorBuffers.take(length + pad), pad, length);
    },
    infer: (message, auth, held, call) => {
      const model = peekModelName(message);
      return inferOne({
        model,
        offLoop,
        read: () => {
          let req: GrpcInferRequest;
          try {
            req = requestDeserialize(message) as GrpcInferRequest;
          } catch {
            throw new InvalidRequestError('the ModelInferRequest message is malformed');
          }
          // The call was checked and ordered by the name read first; it runs only as that model.
          if (req.model_name !== model) throw new InvalidRequestError('the ModelInferRequest message is malformed (its model_name reads two ways)');
          return req;
        },
      }, auth, held, writeGrpcInfer, call);
    },
    statusOf: grpcStatusOf,
  });
  // With the thread, the event loop sees no public stream: its handlers are the thread's alone.
  const raw = opts.rawInfer !== false;
  const thread = raw && opts.thread ? { ...opts.thread, handlers: rawInfer(true) } : undefined;
  fronts.set(server, { handlers: raw && !thread ? rawInfer(false) : undefined, pacer: opts.pacer, thread });
  server.addService(definition, {
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
    ModelInfer: unary((req: GrpcInferRequest, auth, metadata, call) => inferOne(decodedMessage(req), auth, passes.get(metadata), encodeGrpcInfer, cancelledWatch(call))),
    ModelStreamInfer: (call: grpc.ServerDuplexStream<GrpcInferRequest, unknown>) => {
      const gone = cancelledWatch(call);
      streamInfer(call, (req, auth) => inferOne(decodedMessage(req), auth, undefined, encodeGrpcInfer, gone));
    },
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
function streamInfer(call: grpc.ServerDuplexStream<GrpcInferRequest, unknown>, infer: (req: GrpcInferRequest, auth: string | undefined) => Promise<unknown>): void {
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
    infer(req, auth).then(
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

/** What bindGrpc puts in front of grpc-js on each of a server's HTTP/2 servers. */
interface Front {
  /** ModelInfer on the raw stream. */
  handlers?: UnaryInferHandlers<HeldCall>;
  /** Told of every stream. */
  pacer?: MarkCompactPacer;
  /** ModelInfer on the gRPC thread's streams. */
  thread?: { gcEveryStreams: number; handlers: UnaryInferHandlers<HeldCall> };
}

const fronts = new WeakMap<grpc.Server, Front>();
const threads = new WeakMap<grpc.Server, GrpcThread<HeldCall>>();

/** Listens on host:port; resolves to the port. */
export async function bindGrpc(server: grpc.Server, host: string, port: number): Promise<number> {
  useStreamTables();
  const front = fronts.get(server);
  const bind = (address: string) => new Promise<number>((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  if (front?.thread) {
    // grpc-js on loopback, for the thread alone to reach: what it relays (grpc-thread.ts).
    const relayPort = await bind('127.0.0.1:0');
    try {
      const { handlers, gcEveryStreams } = front.thread;
      const thread = await GrpcThread.start({ host, port, relayPort, maxMessageBytes: handlers.maxMessageBytes, gcEveryStreams }, handlers);
      threads.set(server, thread);
      return thread.port;
    } catch (e) {
      server.forceShutdown();
      throw e;
    }
  }
  const bound = await bind(`${host}:${port}`);
  if (front?.handlers || front?.pacer) frontStreams(server, front);
  return bound;
}

/** The server's gRPC thread, once bound with one. */
export const grpcThreadOf = (server: grpc.Server): GrpcThread<unknown> | undefined => threads.get(server);

/** Stops the server (and its thread): calls in flight finish, or with `force` end now. */
export function shutdownGrpc(server: grpc.Server, force: boolean): Promise<void> {
  const thread = threads.get(server)?.close(force);
  if (force) {
    server.forceShutdown();
    return thread ?? Promise.resolve();
  }
  return Promise.all([thread, new Promise<void>((resolve) => server.tryShutdown(() => resolve()))]).then(() => undefined);
}

/**
 * Sees each stream of the server's HTTP/2 servers before grpc-js: serveUnaryInfer takes the
 * ModelInfer calls it serves, and every other stream goes on to grpc-js's own listener. grpc-js
 * keeps its HTTP/2 servers in a private map; where that is not there (another grpc-js), every call
 * stays with grpc-js and the pacer hears of none (test/protocol/grpc-unary-stream.test.ts and
 * test/runtime/mark-compact-pacer.test.ts then fail).
 */
function frontStreams(server: grpc.Server, front: Front): void {
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(servers instanceof Map)) return;
  const { handlers, pacer } = front;
  for (const h2 of servers.keys() as Iterable<http2.Http2Server>) {
    if (typeof h2?.listeners !== 'function' || fronted.has(h2)) continue;
    const grpcListeners = h2.listeners('stream') as Array<(...args: unknown[]) => void>;
    h2.removeAllListeners('stream');
    h2.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, ...rest: unknown[]) => {
      pacer?.noteStream();
      if (handlers && serveUnaryInfer(stream, headers, handlers)) return;
      for (const listener of grpcListeners) listener.call(h2, stream, headers, ...rest);
    });
    fronted.add(h2);
  }
}

/** HTTP/2 servers already fronted (a server bound to a second port lists the first again). */
const fronted = new WeakSet<http2.Http2Server>();
