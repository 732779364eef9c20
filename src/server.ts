// Wires the parts of a one-node Pareto server: repository → executors → dispatcher → service →
// REST and gRPC front ends. Everything below the codecs is shared by both protocols.
import { unwatchFile, watchFile, type Stats } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { hostname } from 'node:os';
import { z } from 'zod';
import { InvalidRequestError, ModelUnloadedError } from './errors.js';
import { formatZodError } from './repository/model-config.js';
import { ModelRepository } from './repository/model-repository.js';
import { ExecutorPool, defaultExecutorCount } from './runtime/executor-pool.js';
import { frontDoor, FrontDoorOptionsSchema, sharedMemoryRegions } from './front-door.js';
import type { AdminToken } from './protocol/admin-token.js';
import { buildLoadReport } from './protocol/load-report.js';
import { BatchDispatcher } from './serving/batch-dispatcher.js';
import { localExecutors } from './serving/executors.js';
import { InferenceService } from './serving/inference-service.js';
import { ModelHost, type ModelStatus } from './serving/model-host.js';
import { readTenantsFile } from './tenancy/tenants-config.js';
import type { Telemetry } from './telemetry/telemetry.js';
import { Tenants } from './tenancy/tenants.js';

export const ServerOptionsSchema = FrontDoorOptionsSchema.extend({
  repository: z.string().min(1).default('models'),
  /** Executor threads; by default one per core, each with one intra-op thread. */
  executors: z.number().int().min(1).max(256).default(defaultExecutorCount),
  /** Batches queued per executor (see ExecutorPoolOptions.pipelineDepth). */
  pipelineDepth: z.number().int().min(1).max(8).default(2),
  /** This server's name in load reports (and in cluster membership when it runs as a worker). */
  workerId: z.string().min(1).default(() => `${hostname()}-${process.pid}`),
});

export type ServerOptions = z.input<typeof ServerOptionsSchema>;

export interface RunningServer {
  telemetry: Telemetry;
  httpPort: number;
  grpcPort: number;
  admin: AdminToken;
  models: ModelStatus[];
  service: InferenceService;
  /** Its name in load reports (and in cluster membership when it runs as a worker). */
  workerId: string;
  /** Stops intake, finishes queued and running requests, then frees the executors. */
  close(): Promise<void>;
}

/**
 * Reloads the tenants file when it changes or on SIGHUP, without dropping requests. A bad file is
 * reported and the tenants in force stay.
 */
export function watchTenants(file: string, tenants: Tenants): () => void {
  const reload = () => {
    try {
      tenants.load(readTenantsFile(file));
      console.log(`pareto: reloaded ${file} (${tenants.list().length} tenants)`);
    } catch (e) {
      console.error(`pareto: kept the tenants in force; ${(e as Error).message}`);
    }
  };
  const onChange = (cur: Stats, prev: Stats) => { if (cur.mtimeMs !== prev.mtimeMs) reload(); };
  watchFile(file, { interval: 500 }, onChange);
  process.on('SIGHUP', reload);
  return () => {
    unwatchFile(file, onChange);
    process.off('SIGHUP', reload);
  };
}

export async function startServer(input: ServerOptions = {}): Promise<RunningServer> {
  const parsed = ServerOptionsSchema.safeParse(input);
  if (!parsed.success) throw new InvalidRequestError(`invalid server options: ${formatZodError(parsed.error)}`, 'PARETO_ERR_OPTIONS');
  const opts = parsed.data;

  const pool = new ExecutorPool({ executors: opts.executors, pipelineDepth: opts.pipelineDepth });
  const host = new ModelHost(new ModelRepository(opts.repository), pool);
  const dispatcher = new BatchDispatcher(localExecutors(pool), (m) => host.notifyDrained(m), undefined, opts.yieldHoldMs);
  host.on('unloading', (m) => dispatcher.cancel(m, new ModelUnloadedError(m.name)));
  host.on('retired', (m) => dispatcher.forget(m));
  const tenants = opts.tenants ? new Tenants(readTenantsFile(opts.tenants), () => performance.now()) : undefined;
  const stopWatching = opts.tenants && tenants ? watchTenants(opts.tenants, tenants) : () => undefined;
  const service = new InferenceService(host, dispatcher, tenants, opts.maxQueuedSamples, sharedMemoryRegions(opts));
  const door = frontDoor(opts, {
    service, dispatcher, tenants,
    inflightBatches: () => pool.inflightBatches(),
    busyMs: () => pool.busyMs,
    executorCount: () => pool.size,
    report: () => buildLoadReport({ workerId: opts.workerId, executors: pool.size, pipelineDepth: opts.pipelineDepth, inflightBatches: pool.inflightBatches() }, host, dispatcher),
  });

  const models = await host.loadAll();
  try {
    await door.open();
  } catch (e) {
    // A port taken: what did start (the other listener, the executors) stops, and the caller hears why.
    stopWatching();
    await door.close();
    await pool.close();
    throw e;
  }

  let closing: Promise<void> | undefined;
  return {
    httpPort: door.httpPort, grpcPort: door.grpcPort, admin: door.admin, models, service, telemetry: door.telemetry, workerId: opts.workerId,
    close() {
      closing ??= (async () => {
        stopWatching();
        await door.close();
        await pool.close();
      })();
      return closing;
    },
  };
}
