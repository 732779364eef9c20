// The protocol front ends every Pareto role opens over its inference service: REST and gRPC on
// their ports, telemetry, readiness, and an orderly close. `pareto serve`/`worker` put executor
// threads behind it; `pareto gateway` puts remote workers behind it.
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import type * as grpc from '@grpc/grpc-js';
import type { FastifyInstance } from 'fastify';
import { AdminToken } from './protocol/admin-token.js';
import { bindGrpc, buildGrpcServer, grpcThreadOf, shutdownGrpc } from './protocol/grpc/grpc-server.js';
import { DEFAULT_GC_EVERY_STREAMS, MarkCompactPacer } from './runtime/mark-compact-pacer.js';
import { buildRestServer } from './protocol/rest/rest-server.js';
import type { LoadReport } from './protocol/load-report.js';
import type { BatchDispatcher } from './serving/batch-dispatcher.js';
import type { InferenceService } from './serving/inference-service.js';
import type { Tenants } from './tenancy/tenants.js';
import { LOG_LEVELS, Telemetry } from './telemetry/telemetry.js';
import { BodyBudget } from './protocol/rest/body-budget.js';
import { DecoderPool } from './protocol/rest/decoder-pool.js';
import { SlowBodies } from './protocol/rest/slow-bodies.js';
import { RefusalTarpit } from './protocol/refusal-tarpit.js';
import { DoorTurns } from './protocol/door-turns.js';
import { DoorLedger } from './protocol/door-ledger.js';
import { BodySink } from './protocol/rest/body-sink.js';
import { ConnectionDrain } from './protocol/rest/connection-drain.js';
import { SharedMemoryRegions } from './serving/shared-memory.js';
import { DEFAULT_YIELD_HOLD_MS } from './scheduler/executor-commitments.js';

/** The door's work for lower-priority tenants runs in slices of this long per event-loop turn (door-turns.ts). */
const DOOR_SLICE_MS = 1;
/** Decoder threads run at this niceness: decoding bulk bodies yields the core to the event loop and the executors. */
const DECODER_NICENESS = 5;

/** What every front door (server, worker, gateway) takes: where it listens, its limits, its logs. */
export const FrontDoorOptionsSchema = z.strictObject({
  host: z.string().min(1).default('0.0.0.0'),
  /** Triton's defaults; 0 picks a free port. */
  httpPort: z.number().int().min(0).max(65535).default(8000),
  grpcPort: z.number().int().min(0).max(65535).default(8001),
  maxBodyBytes: z.number().int().min(1024).default(64 * 1024 * 1024),
  /** The JSON of a REST request (a whole JSON body, or a binary body's JSON header): large tensors travel as binary. */
  maxJsonBytes: z.number().int().min(1024).default(16 * 1024 * 1024),
  /** Bytes of REST request bodies held at once, all together and per tenant (503 / 429 past them). */
  maxInflightBodyBytes: z.number().int().min(1024).default(512 * 1024 * 1024),
  maxTenantBodyBytes: z.number().int().min(1024).default(256 * 1024 * 1024),
  /** A REST request's headers, and its whole body, must arrive within these (408 past them). */
  headersTimeoutMs: z.number().int().min(100).default(10_000),
  requestTimeoutMs: z.number().int().min(100).default(60_000),
  /**
   * How long an idle REST connection is kept open (Node's default is 5 s). Longer than a load
   * balancer's idle timeout (60 s on the common ones), so the balancer, not Pareto, closes it: a
   * connection closed under a request in flight is a failed request. A new connection costs the
   * server ~0.4 ms of CPU (bench:front-door's 100 KB requests with Connection: close, 0.90 against
   * 0.51 ms), and a bursty client whose connections were closed between bursts reopens them all
   * at the next one.
   */
  keepAliveTimeoutMs: z.number().int().min(0).default(65_000),
  /** A body still arriving must gain at least this many bytes/s, checked each second; 3 s in a row below it: 408. 0: no floor. */
  minBodyBytesPerSecond: z.number().int().min(0).default(64 * 1024),
  /** Decoder threads for large REST bodies; 0 decodes every body on the event loop. */
  decoders: z.number().int().min(0).max(64).default(() => Math.max(1, Math.floor(availableParallelism() / 4))),
  /** REST bodies that cost as much to decode as this many bytes of JSON (binary data counts 1/16) go to a decoder thread, in tenant-fair order. */
  decodeOffloadBytes: z.number().int().min(0).default(32 * 1024),
  /** Refusals per second (401, 403, 429, 503 at the door) answered at once per tenant, and for callers without a key together. */
  refusalsPerSecond: z.number().int().min(1).default(100),
  /** The least a refusal beyond that waits, its body unread; those waiting are answered at refusalsPerSecond. 0: no waiting. */
  refusalDelayMs: z.number().int().min(0).max(10_000).default(250),
  /** Refusals one caller may have waiting; past it, a refusal is answered at once and its connection closed. */
  maxHeldRefusals: z.number().int().min(1).default(1024),
  /** The longest a refusal waits (never under refusalDelayMs); past it, answered at once with its connection closed. */
  maxRefusalWaitMs: z.number().int().min(0).default(2000),
  /** On shutdown, how long requests already read may take to be answered before every connection is closed. */
  drainTimeoutMs: z.number().int().min(0).default(10_000),
  /** Samples queued server-wide beyond which new requests get 503. */
  maxQueuedSamples: z.number().int().min(1).default(65_536),
  /** Within a priority, the event loop is shared by weight, each tenant's door time counted (door-ledger.ts); off only to measure what that does. */
  doorShare: z.boolean().default(true),
  /** gRPC ModelInfer on the raw HTTP/2 stream (grpc/unary-infer-stream.ts); off: through grpc-js, as every other call. */
  grpcRawInfer: z.boolean().default(true),
  /** The gRPC port's HTTP/2 on a thread of its own (grpc/grpc-thread.ts), with grpcRawInfer; off: on the event loop. */
  grpcThread: z.boolean().default(true),
  /** A mark-compact is started every this many gRPC (HTTP/2) streams, while their header strings are few (runtime/mark-compact-pacer.ts); 0: V8's own schedule alone. */
  gcEveryStreams: z.number().int().min(0).default(DEFAULT_GC_EVERY_STREAMS),
  /** While a higher priority class is about, a lower class's batches wait up to this long to fill, on the fastest variant meeting their floor (scheduler/executor-commitments.ts); 0: they do not make way. */
  yieldHoldMs: z.number().min(0).max(1000).default(DEFAULT_YIELD_HOLD_MS),
  adminToken: z.string().min(8, 'the admin token must have at least 8 characters').optional(),
  /** Token for GET /metrics (the admin token works too); `openMetrics` serves it to anyone (local use). */
  metricsToken: z.string().min(8, 'the metrics token must have at least 8 characters').optional(),
  openMetrics: z.boolean().default(false),
  /** Triton's system shared memory for clients on this host; off by default, as in Triton (--allow-client-shm). */
  allowClientShm: z.boolean().default(false),
  logLevel: z.enum(LOG_LEVELS).default('info'),
  /** Metrics, dashboard data and request logs; off only to measure what they cost. */
  telemetry: z.boolean().default(true),
  /** tenants.yaml; absent: an open server with no keys or quotas. Reloaded on change and SIGHUP. */
  tenants: z.string().min(1).optional(),
});

export type FrontDoorOptions = z.output<typeof FrontDoorOptionsSchema>;

/** The shared-memory regions callers may register, where the options allow them (one request reads at most a body's worth). */
export function sharedMemoryRegions(opts: FrontDoorOptions): SharedMemoryRegions | undefined {
  return opts.allowClientShm ? new SharedMemoryRegions({ maxRequestBytes: opts.maxBodyBytes }) : undefined;
}
export type FrontDoorInput = z.input<typeof FrontDoorOptionsSchema>;

export interface FrontDoorParts {
  service: InferenceService;
  dispatcher: BatchDispatcher;
  tenants?: Tenants;
  /** Batches sent to executors and not yet answered. */
  inflightBatches(): number;
  /** Executor time spent running batches, ms, since start (for utilisation). */
  busyMs(): number;
  executorCount(): number;
  /** What a gateway reads to route here (every role serves one). */
  report(): LoadReport;
  /** Beyond listening, what readiness needs (a gateway: a worker to send batches to). */
  ready?(): boolean;
  /** A gateway's view of its cluster (GET /v2/pareto/cluster). */
  cluster?(): unknown;
}

export interface FrontDoor {
  telemetry: Telemetry;
  admin: AdminToken;
  httpPort: number;
  grpcPort: number;
  /** Listening; health/ready answers true until close() begins. */
  open(): Promise<void>;
  close(): Promise<void>;
}

export function frontDoor(opts: FrontDoorOptions, parts: FrontDoorParts): FrontDoor {
  const { service, dispatcher, tenants } = parts;
  const admin = new AdminToken(opts.adminToken);
  let busyAt = { t: performance.now(), busy: 0 };
  const now = () => performance.now();
  /** The gRPC port's HTTP/2 on a thread of its own (it frames ModelInfer, so only with the raw stream). */
  const grpcOnThread = opts.grpcThread && opts.grpcRawInfer;
  const ledger = new DoorLedger({ now, busyMs: () => performance.eventLoopUtilization().active, offLoopBusyMs: () => grpcThreadOf(grpcServer)?.busyMs() ?? 0 });
  const telemetry = new Telemetry({
    logLevel: opts.logLevel,
    enabled: opts.telemetry,
    tenantSlo: (id) => tenants?.list().find((t) => t.id === id)?.config.slo.default.latency_ms,
    gauges: {
      queuedSamples: () => dispatcher.queuedSamplesByModel(),
      inflightBatches: () => parts.inflightBatches(),
      utilization: () => {
        const now = { t: performance.now(), busy: parts.busyMs() };
        const u = (now.busy - busyAt.busy) / Math.max(1e-9, (now.t - busyAt.t) * Math.max(1, parts.executorCount()));
        busyAt = now;
        return Math.min(1, u);
      },
      preferredVariants: () => dispatcher.preferredVariants(),
      models: () => service.models.index(),
      doorCpuMs: () => ledger.totals(),
      refusalsWaiting: () => tarpit?.waiting ?? 0,
      grpcThread: grpcOnThread ? () => grpcThreadOf(grpcServer) : undefined,
      modelGauges: () => ({ queued: dispatcher.queuedSamplesByModel(), preferred: dispatcher.preferredVariants() }),
    },
  });
  dispatcher.onBatch = (b) => telemetry.batch(b);

  let ready = false;
  const isReady = () => ready && (parts.ready?.() ?? true);
  const metricsAccess = opts.openMetrics ? 'open' as const : opts.metricsToken ? new AdminToken(opts.metricsToken) : undefined;
  // The load report lists every model, variant and profile: the admin or metrics token, or on a
  // server with tenants any tenant's key (a gateway sends its --worker-key); an open server is open.
  const report = (authorization: string | undefined) => {
    if (metricsAccess === 'open' || admin.matches(authorization) || metricsAccess?.matches(authorization)) return parts.report();
    service.identify(authorization);
    return parts.report();
  };
  const decoders = opts.decoders > 0 ? new DecoderPool({ threads: opts.decoders, maxJsonBytes: opts.maxJsonBytes, niceness: DECODER_NICENESS, now: () => performance.now() }) : undefined;
  const slowBodies = new SlowBodies(opts.minBodyBytesPerSecond, () => performance.now());
  const sink = new BodySink(DECODER_NICENESS);
  const drain = new ConnectionDrain();
  const turns = new DoorTurns(DOOR_SLICE_MS, now, ledger, opts.doorShare);
  const tarpit = opts.refusalDelayMs > 0 ? new RefusalTarpit({ perSecond: opts.refusalsPerSecond, delayMs: opts.refusalDelayMs, maxHeld: opts.maxHeldRefusals, maxWaitMs: opts.maxRefusalWaitMs, now: () => performance.now() }) : undefined;
  const rest: FastifyInstance = buildRestServer({ service, telemetry, admin, maxBodyBytes: opts.maxBodyBytes, maxJsonBytes: opts.maxJsonBytes,
    bodies: new BodyBudget({ serverBytes: opts.maxInflightBodyBytes, tenantBytes: opts.maxTenantBodyBytes }),
    slowBodies, decoders, sink, decodeOffloadBytes: opts.decodeOffloadBytes, drain,
    turns,
    tarpit,
    metricsAccess, isReady, report, cluster: parts.cluster, headersTimeoutMs: opts.headersTimeoutMs, requestTimeoutMs: opts.requestTimeoutMs, keepAliveTimeoutMs: opts.keepAliveTimeoutMs });
  const grpcServer: grpc.Server = buildGrpcServer({ service, telemetry, maxMessageBytes: opts.maxBodyBytes, isReady, report, admin, turns, tarpit, rawInfer: opts.grpcRawInfer,
    // HTTP/2 on the gRPC thread is paced there, in that thread's heap; on the event loop, here.
    pacer: grpcOnThread ? undefined : new MarkCompactPacer(opts.gcEveryStreams), thread: grpcOnThread ? { gcEveryStreams: opts.gcEveryStreams } : undefined });

  let closing: Promise<void> | undefined;
  const door: FrontDoor = {
    telemetry, admin, httpPort: -1, grpcPort: -1,
    async open() {
      await rest.listen({ host: opts.host, port: opts.httpPort });
      door.httpPort = (rest.server.address() as { port: number }).port;
      door.grpcPort = await bindGrpc(grpcServer, opts.host, opts.grpcPort);
      ready = true;
    },
    /** Stops intake, lets queued and running requests finish, then closes the listeners. */
    close() {
      closing ??= (async () => {
        ready = false;
        service.stopAccepting();
        await drain.begin();
        // Requests already read are answered; past the deadline, whatever is left is closed.
        let deadline: NodeJS.Timeout | undefined;
        const drained = Promise.all([
          rest.close(),
          shutdownGrpc(grpcServer, false),
        ]);
        const late = await Promise.race([drained.then(() => false), new Promise<boolean>((resolve) => { deadline = setTimeout(() => resolve(true), opts.drainTimeoutMs); })]);
        clearTimeout(deadline);
        if (late) {
          drain.end();
          void shutdownGrpc(grpcServer, true);
          await drained;
        }
        dispatcher.close();
        slowBodies.close();
        await decoders?.close();
        await sink.close();
        telemetry.close();
        service.sharedMemory?.close();
      })();
      return closing;
    },
  };
  return door;
}
