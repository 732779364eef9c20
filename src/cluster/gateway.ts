// `pareto gateway`: the tenant front door of the serving core (keys, quotas, fair share, the
// planner) with remote workers as its executors. Workers come from Redis membership or a static
// list; tenant rate limits are shared through Redis when it is given.
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import client from 'prom-client';
import { z } from 'zod';
import { InvalidRequestError, NoWorkerError } from '../errors.js';
import { frontDoor, FrontDoorOptionsSchema, sharedMemoryRegions } from '../front-door.js';
import type { AdminToken } from '../protocol/admin-token.js';
import { buildLoadReport } from '../protocol/load-report.js';
import { formatZodError } from '../repository/model-config.js';
import { watchTenants } from '../server.js';
import { BatchDispatcher } from '../serving/batch-dispatcher.js';
import { InferenceService } from '../serving/inference-service.js';
import type { Telemetry } from '../telemetry/telemetry.js';
import { readTenantsFile } from '../tenancy/tenants-config.js';
import { resolveSlo, Tenants } from '../tenancy/tenants.js';
import { Autoscaler } from './autoscaler.js';
import { ClusterModels } from './cluster-models.js';
import { GlobalRateLimit } from './global-rate-limit.js';
import { announce, liveMembers, redisMembership, staticMembership } from './membership.js';
import { connectRedis } from './redis.js';
import { WorkerSet } from './worker-set.js';

export const GatewayOptionsSchema = FrontDoorOptionsSchema.extend({
  /** redis://host:port: worker membership and cluster-wide rate limits. */
  redis: z.string().url().optional(),
  /** Static workers, instead of or beside Redis membership: host:port (gRPC) or http://host:port (REST). */
  workers: z.array(z.string().regex(/^(https?:\/\/)?[^\s:/]+:\d+\/?$/, 'a worker address is host:port (gRPC) or http://host:port (REST)')).default([]),
  /** How batches travel to workers that offer both protocols. */
  workerProtocol: z.enum(['rest', 'grpc']).default('rest'),
  /** API key sent to workers, for workers that run with tenants of their own. */
  workerKey: z.string().min(1).optional(),
  /**
   * How long a new REST connection to a worker may take before the worker counts as unreachable
   * (the batch is retried elsewhere if its deadline allows). gRPC calls are bounded by their deadline.
   */
  workerConnectTimeoutMs: z.number().int().positive().default(500),
  gatewayId: z.string().min(1).default(() => `${hostname()}-${process.pid}`),
  /** Target executor utilisation the autoscaler sizes workers for. */
  targetUtilization: z.number().gt(0).max(1).default(0.6),
  /** Seconds over which the autoscaler smooths arrival rates. */
  autoscaleWindowS: z.number().positive().default(10),
}).refine((o) => o.redis !== undefined || o.workers.length > 0, 'give --redis (membership) or --workers (a static list), or both');

export type GatewayOptions = z.input<typeof GatewayOptionsSchema>;

export interface RunningGateway {
  httpPort: number;
  grpcPort: number;
  admin: AdminToken;
  telemetry: Telemetry;
  service: InferenceService;
  workers: WorkerSet;
  autoscaler: Autoscaler;
  rateLimit?: GlobalRateLimit;
  close(): Promise<void>;
}

export async function startGateway(input: GatewayOptions): Promise<RunningGateway> {
  const parsed = GatewayOptionsSchema.safeParse(input);
  if (!parsed.success) throw new InvalidRequestError(`invalid gateway options: ${formatZodError(parsed.error)}`, 'PARETO_ERR_OPTIONS');
  const opts = parsed.data;
  const now = () => performance.now();

  let log: (level: 'info' | 'warn', msg: string, fields: Record<string, unknown>) => void = () => undefined;
  const models = new ClusterModels((m) => workers.servingCount(m), () => workers.executors() > 0);
  const workers: WorkerSet = new WorkerSet({
    onModel: (sig, load) => models.add(sig, load),
    log: (level, m, f) => log(level, m, f),
    // Requests queued for a model no live worker serves would wait for ever: answer them now. A
    // worker up is a slot for the others.
    onChange: () => {
      for (const m of models.all()) if (workers.servingCount(m.name) === 0) dispatcher.cancel(m, new NoWorkerError(m.name, 'no live worker serves it'));
      dispatcher.wake();
    },
    onFree: () => dispatcher.wake(),
  }, { protocol: opts.workerProtocol, key: opts.workerKey, connectTimeoutMs: opts.workerConnectTimeoutMs });
  const dispatcher = new BatchDispatcher(workers, () => undefined, undefined, opts.yieldHoldMs);
  const redis = opts.redis ? connectRedis(opts.redis) : undefined;
  const rateLimit = redis ? new GlobalRateLimit(redis, (global) => {
    if (global) log('info', 'rate limits shared through Redis again', {});
    else log('warn', 'Redis unreachable: rate limits fall back to rate ÷ gateways on each gateway', { gateways: rateLimit?.gateways });
  }) : undefined;
  const tenants = opts.tenants ? new Tenants(readTenantsFile(opts.tenants), now, rateLimit?.buckets()) : undefined;
  const stopWatching = opts.tenants && tenants ? watchTenants(opts.tenants, tenants) : () => undefined;
  const service = new InferenceService(models, dispatcher, tenants, opts.maxQueuedSamples, sharedMemoryRegions(opts));
  const autoscaler = new Autoscaler(dispatcher, models, workers, opts.targetUtilization, (model) => {
    let ms = Infinity;
    for (const t of tenants?.list() ?? []) if (t.mayUse(model)) ms = Math.min(ms, resolveSlo(t.config, model, {}).latencyMs);
    return ms;
  }, opts.autoscaleWindowS);
  const door = frontDoor(opts, {
    service, dispatcher, tenants,
    inflightBatches: () => workers.inflightBatches(),
    busyMs: () => workers.busyMs,
    executorCount: () => workers.executors(),
    // The models its workers serve, so a gateway can itself stand as a worker for another gateway.
    report: () => buildLoadReport({ workerId: opts.gatewayId, executors: workers.executors(), pipelineDepth: 1, inflightBatches: workers.inflightBatches() }, models, dispatcher),
    ready: () => workers.executors() > 0,
    cluster: () => ({
      gateway: opts.gatewayId,
      rate_limits: rateLimit ? (rateLimit.global ? 'shared' : 'local') : 'local',
      gateways: rateLimit?.gateways ?? 1,
      retried_batches: workers.retries,
      hedged_batches: workers.hedges,
      workers: workers.list().map((w) => ({
        id: w.member.id, address: w.client.address, up: w.up, in_membership: !w.unlisted, models: [...w.models],
        executors: w.report?.executors, inflight_batches: w.inflight, batches: w.batches,
        extra_ms: +w.extraMs.toFixed(3), queued_samples: w.report?.queued_samples,
      })),
    }),
  });
  const logger = door.telemetry.log.child({ role: 'gateway', gateway: opts.gatewayId });
  log = (level, msg, fields) => logger[level](fields, msg);
  registerClusterMetrics(door.telemetry, workers, autoscaler, rateLimit);

  const sources = [
    ...(opts.workers.length ? [staticMembership(opts.workers)] : []),
    ...(redis ? [redisMembership(redis, 'worker')] : []),
  ];
  // Several sources: the union of their latest lists.
  const latest = sources.map(() => [] as Parameters<WorkerSet['setMembers']>[0]);
  sources.forEach((s, i) => s.watch((members) => {
    latest[i] = members;
    workers.setMembers(latest.flat());
  }));

  await door.open();
  const announced = redis ? announce(redis, 'gateway', { id: opts.gatewayId, grpc: `${opts.host}:${door.grpcPort}`, http: `http://${opts.host}:${door.httpPort}` }, 500, log) : undefined;
  const countGateways = setInterval(() => {
    // Counted only while Redis is trusted: a Redis just back (empty, before the gateways announce
    // themselves again) would say 1, and each gateway's local share would become the whole rate.
    if (redis && rateLimit?.global) void liveMembers(redis, 'gateway').then((g) => { if (rateLimit.global) rateLimit.gateways = Math.max(1, g.length); }, () => undefined);
  }, 1000);
  countGateways.unref();

  let closing: Promise<void> | undefined;
  return {
    httpPort: door.httpPort, grpcPort: door.grpcPort, admin: door.admin, telemetry: door.telemetry, service, workers, autoscaler, rateLimit,
    close() {
      closing ??= (async () => {
        clearInterval(countGateways);
        stopWatching();
        await announced?.stop();
        await door.close();
        for (const s of sources) s.stop();
        autoscaler.close();
        workers.close();
        rateLimit?.close();
        redis?.disconnect();
      })();
      return closing;
    },
  };
}

function registerClusterMetrics(telemetry: Telemetry, workers: WorkerSet, autoscaler: Autoscaler, rateLimit: GlobalRateLimit | undefined): void {
  const registers = [telemetry.metrics.registry];
  new client.Gauge({ name: 'pareto_cluster_workers', help: 'Workers known to this gateway, by whether batches are routed to them', labelNames: ['state'], registers, collect() {
    const list = workers.list();
    this.set({ state: 'up' }, list.filter((w) => w.up).length);
    this.set({ state: 'down' }, list.filter((w) => !w.up).length);
  } });
  new client.Gauge({ name: 'pareto_cluster_retries', help: 'Batches retried on another worker after their worker failed, since start', registers, collect() { this.set(workers.retries); } });
  new client.Gauge({ name: 'pareto_cluster_hedges', help: 'Batches also sent to a second worker because the first had not answered in time, since start', registers, collect() { this.set(workers.hedges); } });
  new client.Gauge({ name: 'pareto_rate_limit_global', help: '1 while tenant rate limits are shared through Redis; 0 while each gateway enforces rate ÷ gateways locally', registers, collect() {
    this.set(rateLimit ? (rateLimit.global ? 1 : 0) : 0);
  } });
  new client.Gauge({ name: 'pareto_rate_limit_redis_calls', help: 'Token-bucket calls to Redis since start (each fetches a chunk of ~50 ms of a tenant\'s rate, not one request\'s)', registers, collect() {
    this.set(rateLimit?.calls ?? 0);
  } });
  new client.Gauge({ name: 'pareto_autoscaler_desired_workers', help: 'Workers this gateway\'s traffic needs at its current arrival rates and SLOs, unrounded; the cluster needs the sum over gateways, rounded up (the HPA\'s metric)', registers, collect() {
    this.set(autoscaler.workerLoad());
  } });
  new client.Gauge({ name: 'pareto_autoscaler_desired_replicas', help: 'Replicas each variant needs at the current arrival rate (the planner\'s preferred variant per model)', labelNames: ['model', 'version'], registers, collect() {
    this.reset();
    for (const r of autoscaler.plan()) this.set({ model: r.model, version: r.variant }, r.replicas);
  } });
}
