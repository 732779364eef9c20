// The Open Inference Protocol over HTTP/REST (KServe v2 paths, Triton's repository extension).
// Inference goes straight to node:http (infer-route.ts); every other route is fastify's, with
// errors mapped once, in the error handler.
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { isParetoError, InvalidRequestError, PayloadTooLargeError, RateLimitedError, UnauthorizedError } from '../../errors.js';
import type { InferenceService } from '../../serving/inference-service.js';
import type { AdminToken } from '../admin-token.js';
import { serverMetadata, modelMetadata } from '../metadata.js';
import type { Telemetry } from '../../telemetry/telemetry.js';
import { registerDashboard } from './dashboard-routes.js';
import { registerSharedMemory } from './shared-memory-routes.js';
import { inferRoute } from './infer-route.js';
import { createServer } from 'node:http';
import type { BodyBudget } from './body-budget.js';
import type { DecoderPool } from './decoder-pool.js';
import type { SlowBodies } from './slow-bodies.js';
import type { RefusalTarpit } from '../refusal-tarpit.js';
import type { DoorTurns } from '../door-turns.js';
import type { BodySink } from './body-sink.js';
import type { ConnectionDrain } from './connection-drain.js';
import type { LoadReport } from '../load-report.js';

export interface RestServerOptions {
  service: InferenceService;
  telemetry: Telemetry;
  admin: AdminToken;
  maxBodyBytes: number;
  maxJsonBytes: number;
  bodies: BodyBudget;
  slowBodies: SlowBodies;
  decoders?: DecoderPool;
  /** Gathers bodies too large for the buffer pool off the event loop. */
  sink?: BodySink;
  decodeOffloadBytes: number;
  tarpit?: RefusalTarpit;
  turns?: DoorTurns;
  /** Tracks connections, for a shutdown that answers what it read. */
  drain: ConnectionDrain;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** Who may read /metrics besides the admin: anyone ('open'), a metrics token, or nobody else. */
  metricsAccess?: 'open' | AdminToken;
  isReady: () => boolean;
  /** The load report for a caller (its Authorization), or a 401. */
  report: (authorization: string | undefined) => LoadReport;
  /** A gateway's view of its cluster, served at GET /v2/pareto/cluster. */
  cluster?: () => unknown;
}

type ModelParams = { model: string; version?: string };

export function buildRestServer(opts: RestServerOptions): FastifyInstance {
  const { service, admin } = opts;
  const drain = opts.drain;
  const infer = inferRoute({ service, telemetry: opts.telemetry, maxBodyBytes: opts.maxBodyBytes, maxJsonBytes: opts.maxJsonBytes, bodies: opts.bodies,
    slowBodies: opts.slowBodies, decoders: opts.decoders, sink: opts.sink, offloadBytes: opts.decodeOffloadBytes, tarpit: opts.tarpit, turns: opts.turns, draining: () => drain.isDraining });
  const app = Fastify({
    bodyLimit: opts.maxBodyBytes,
    logger: false,
    return503OnClosing: true,
    // A client that sends its headers or body too slowly (or stops half way) gets 408 and its
    // connection closed, rather than holding a socket (and a body's memory) until Node's 300 s
    // default; checked every second, not Node's default 30 s.
    serverFactory: (handler) => createServer({
      headersTimeout: Math.min(opts.headersTimeoutMs, opts.requestTimeoutMs),
      requestTimeout: opts.requestTimeoutMs,
      keepAliveTimeout: opts.keepAliveTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, Math.max(100, opts.headersTimeoutMs / 4)),
    }, (req, res) => {
      drain.request(req, res);
      if (!infer(req, res)) handler(req, res);
    }),
  });

  drain.attach(app.server);

  // Every body arrives as a Buffer, parsed by the route that wants it (one parse, our messages).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (isParetoError(error)) {
      if (error instanceof RateLimitedError) reply.header('retry-after', error.retryAfterSeconds);
      return reply.code(error.httpStatus).send({ error: error.message, code: error.code });
    }
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      const e = new PayloadTooLargeError(Number(req.headers['content-length'] ?? NaN), opts.maxBodyBytes);
      return reply.code(413).send({ error: e.message, code: e.code });
    }
    if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      return reply.code(error.statusCode).send({ error: error.message, code: error.code ?? 'PARETO_ERR_BAD_REQUEST' });
    }
    req.log.error(error);
    return reply.code(500).send({ error: 'internal server error', code: 'PARETO_ERR_INTERNAL' });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: `no route ${req.method} ${req.url}`, code: 'PARETO_ERR_NO_ROUTE' }));

  app.get('/v2/health/live', async () => ({ live: true }));
  app.get('/v2/pareto/load', async (req) => opts.report(req.headers.authorization));
  const cluster = opts.cluster;
  // Worker addresses are for operators: behind the admin token, like the repository API.
  if (cluster) app.get('/v2/pareto/cluster', async (req) => { admin.check(req.headers.authorization); return cluster(); });
  app.get('/v2/health/ready', async (_req, reply) => {
    const ready = opts.isReady();
    return reply.code(ready ? 200 : 503).send({ ready });
  });
  app.get('/v2', async () => serverMetadata(service.sharedMemory !== undefined));

  const metadata = async (req: FastifyRequest<{ Params: ModelParams }>) => modelMetadata(service.modelFor(req.headers.authorization, req.params.model, req.params.version));
  app.get('/v2/models/:model', metadata);
  app.get('/v2/models/:model/versions/:version', metadata);

  const ready = async (req: FastifyRequest<{ Params: ModelParams }>) => ({ name: service.modelFor(req.headers.authorization, req.params.model, req.params.version).name, ready: true });
  const config = async (req: FastifyRequest<{ Params: ModelParams }>) => service.modelConfig(req.headers.authorization, req.params.model, req.params.version);
  app.get('/v2/models/:model/config', config);
  app.get('/v2/models/:model/versions/:version/config', config);
  // Triton's statistics extension: every model the caller may use, or one (and one version).
  const stats = async (req: FastifyRequest<{ Params: Partial<ModelParams> }>) => {
    const auth = req.headers.authorization;
    return opts.telemetry.statistics.view(service.statisticsScope(auth, admin.matches(auth), req.params.model, req.params.version));
  };
  app.get('/v2/models/stats', stats);
  app.get('/v2/models/:model/stats', stats);
  app.get('/v2/models/:model/versions/:version/stats', stats);
  app.get('/v2/models/:model/ready', ready);
  app.get('/v2/models/:model/versions/:version/ready', ready);

  registerSharedMemory(app, service);
  registerDashboard(app, service, opts.telemetry, admin);
  // Metrics name every tenant and its traffic: not for anyone who can reach the port.
  app.get('/metrics', async (req, reply) => {
    const auth = req.headers.authorization;
    const access = opts.metricsAccess;
    if (access !== 'open' && !admin.matches(auth) && !access?.matches(auth)) {
      throw new UnauthorizedError('/metrics needs the metrics token (--metrics-token) or the admin token as Authorization: Bearer <token>; --open-metrics serves it to anyone');
    }
    return reply.type(opts.telemetry.metrics.contentType).send(await opts.telemetry.metrics.text());
  });

  // Triton's model repository extension: the index for any key (the models it may use), load and
  // unload for the admin.
  app.post('/v2/repository/index', async (req) => {
    const auth = req.headers.authorization;
    const onlyReady = parseOptionalJson(req.body)?.ready === true;
    return service.repositoryIndex(auth, admin.matches(auth), onlyReady)
      .map((m) => ({ name: m.name, state: m.state, ...(m.reason && m.state !== 'READY' ? { reason: m.reason } : {}), versions: m.versions }));
  });
  app.post('/v2/repository/models/:model/load', async (req: FastifyRequest<{ Params: { model: string } }>, reply) => {
    admin.check(req.headers.authorization);
    if (!service.models.has(req.params.model)) return reply.code(404).send({ error: `model '${req.params.model}' is not in the repository`, code: 'PARETO_ERR_MODEL_NOT_FOUND' });
    await service.models.load(req.params.model);
    return {};
  });
  app.post('/v2/repository/models/:model/unload', async (req: FastifyRequest<{ Params: { model: string } }>) => {
    admin.check(req.headers.authorization);
    await service.models.unload(req.params.model);
    return {};
  });

  return app;
}

function parseOptionalJson(body: unknown): Record<string, unknown> | undefined {
  if (!Buffer.isBuffer(body) || body.length === 0) return undefined;
  try {
    const v = JSON.parse(body.toString('utf8'));
    return typeof v === 'object' && v !== null ? v : undefined;
  } catch {
    throw new InvalidRequestError('request body is not valid JSON', 'PARETO_ERR_MALFORMED_JSON');
  }
}

