// The protocol front ends every Pareto role opens over its inference service: REST and gRPC on
// their ports, telemetry, readiness, and an orderly close. `pareto serve`/`worker` put executor
// threads behind it; `pareto gateway` puts remote workers behind it.
import { performance } from 'node:perf_hooks';
import type * as grpc from '@grpc/grpc-js';
import type { FastifyInstance } from 'fastify';
import { AdminToken } from './protocol/admin-token.js';
import { bindGrpc, buildGrpcServer } from './protocol/grpc/grpc-server.js';
import { buildRestServer } from './protocol/rest/rest-server.js';
import type { LoadReport } from './protocol/load-report.js';
import type { BatchDispatcher } from './serving/batch-dispatcher.js';
import type { InferenceService } from './serving/inference-service.js';
import type { Tenants } from './tenancy/tenants.js';
import { Telemetry, type LogLevel } from './telemetry/telemetry.js';
import { BodyBudget } from './protocol/rest/body-budget.js';

export interface FrontDoorOptions {
  host: string;
  httpPort: number;
  grpcPort: number;
  maxBodyBytes: number;
  maxJsonBytes: number;
  maxInflightBodyBytes: number;
  maxTenantBodyBytes: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  adminToken?: string;
  metricsToken?: string;
  openMetrics: boolean;
  logLevel: LogLevel;
  telemetry: boolean;
}

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
  const rest: FastifyInstance = buildRestServer({ service, telemetry, admin, maxBodyBytes: opts.maxBodyBytes, maxJsonBytes: opts.maxJsonBytes,
    bodies: new BodyBudget({ serverBytes: opts.maxInflightBodyBytes, tenantBytes: opts.maxTenantBodyBytes }),
    metricsAccess, isReady, report, cluster: parts.cluster, headersTimeoutMs: opts.headersTimeoutMs, requestTimeoutMs: opts.requestTimeoutMs });
  const grpcServer: grpc.Server = buildGrpcServer({ service, telemetry, maxMessageBytes: opts.maxBodyBytes, isReady, report });

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
        await Promise.all([
          rest.close(),
          new Promise<void>((resolve) => grpcServer.tryShutdown(() => resolve())),
        ]);
        dispatcher.close();
        telemetry.close();
      })();
      return closing;
    },
  };
  return door;
}
