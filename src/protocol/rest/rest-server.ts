// The Open Inference Protocol over HTTP/REST (KServe v2 paths, Triton's repository extension),
// on fastify. Thin: decode → InferenceService → encode; errors mapped once, in the error handler.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { isParetoError, InvalidRequestError, PayloadTooLargeError, RateLimitedError } from '../../errors.js';
import type { InferenceService } from '../../serving/inference-service.js';
import type { AdminToken } from '../admin-token.js';
import { serverMetadata, modelMetadata } from '../metadata.js';
import { BINARY_HEADER, decodeInferBody, encodeInferResponse } from './infer-codec.js';
import { performance } from 'node:perf_hooks';
import type { Telemetry } from '../../telemetry/telemetry.js';
import type { ServingInfo } from '../types.js';
import { requestRecord } from '../request-record.js';
import { registerDashboard } from './dashboard-routes.js';
import { refuseEarly, type Admitted } from './early-refusal.js';
import { createServer } from 'node:http';
import type { LoadReport } from '../load-report.js';

export interface RestServerOptions {
  service: InferenceService;
  telemetry: Telemetry;
  admin: AdminToken;
  maxBodyBytes: number;
  isReady: () => boolean;
  report: () => LoadReport;
  /** A gateway's view of its cluster, served at GET /v2/pareto/cluster. */
  cluster?: () => unknown;
}

type ModelParams = { model: string; version?: string };

/** What the infer route learns about a request, for its one telemetry record when it ends. */
interface InferContext {
  start: number;
  tenant?: string;
  samples: number;
  serving?: ServingInfo;
  id?: string;
  error?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    pareto: InferContext | null;
  }
}

export function buildRestServer(opts: RestServerOptions): FastifyInstance {
  const { service, admin } = opts;
  const app = Fastify({
    bodyLimit: opts.maxBodyBytes,
    logger: false,
    return503OnClosing: true,
    serverFactory: (handler) => createServer((req, res) => {
      if (!refuseEarly(req, res, service, opts.telemetry)) handler(req, res);
    }),
  });

  // Every body arrives as a Buffer: the infer codec parses JSON itself (one parse, our error
  // messages) and the binary extension needs the raw bytes behind the JSON header.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.decorateRequest('pareto', null);
  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (req.pareto) req.pareto.error = error.message;
    service.malformed((req.raw as Admitted).paretoTenant, isParetoError(error) ? error.httpStatus : error.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 413 : error.statusCode ?? 500);
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
  app.get('/v2/pareto/load', async () => opts.report());
  const cluster = opts.cluster;
  // Worker addresses are for operators: behind the admin token, like the repository API.
  if (cluster) app.get('/v2/pareto/cluster', async (req) => { admin.check(req.headers.authorization); return cluster(); });
  app.get('/v2/health/ready', async (_req, reply) => {
    const ready = opts.isReady();
    return reply.code(ready ? 200 : 503).send({ ready });
  });
  app.get('/v2', async () => serverMetadata());

  const metadata = async (req: FastifyRequest<{ Params: ModelParams }>) => {
    service.authorize(req.headers.authorization, req.params.model);
    const model = service.models.get(req.params.model);
    if (req.params.version !== undefined) service.models.variant(model, req.params.version);
    return modelMetadata(model);
  };
  app.get('/v2/models/:model', metadata);
  app.get('/v2/models/:model/versions/:version', metadata);

  const ready = async (req: FastifyRequest<{ Params: ModelParams }>) => {
    service.authorize(req.headers.authorization, req.params.model);
    const model = service.models.get(req.params.model);
    if (req.params.version !== undefined) service.models.variant(model, req.params.version);
    return { name: model.name, ready: true };
  };
  app.get('/v2/models/:model/ready', ready);
  app.get('/v2/models/:model/versions/:version/ready', ready);

  const infer = async (req: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply) => {
    // Key and model access (401/403) were checked by refuseEarly(); unknown model or version: 404.
    service.models.variant(service.models.get(req.params.model), req.params.version);
    const body = req.body;
    if (!Buffer.isBuffer(body) || body.length === 0) throw new InvalidRequestError('the request has no body; send a JSON inference request');
    const header = req.headers[BINARY_HEADER];
    let headerLength: number | undefined;
    if (header !== undefined) {
      headerLength = Number(header);
      if (!Number.isInteger(headerLength)) throw new InvalidRequestError(`Inference-Header-Content-Length must be an integer, got '${header}'`);
    }
    const request = decodeInferBody(req.params.model, req.params.version, body, headerLength);
    request.authorization = req.headers.authorization;
    const early = req.raw as Admitted;
    if (early.paretoStart !== undefined) request.caller = { tenant: early.paretoTenant };
    const ctx = req.pareto!;
    ctx.samples = request.inputs[0]?.shape[0] ?? 0;
    ctx.id = request.id;
    const response = await service.infer(request);
    ctx.serving = response.serving;
    const encoded = encodeInferResponse(request, response);
    const s = response.serving;
    if (s.accuracy !== undefined) reply.header('pareto-accuracy', s.accuracy);
    reply.header('pareto-variant', s.variant)
      .header('pareto-batch-size', s.batchSize)
      .header('pareto-queue-ms', s.queueMs.toFixed(3))
      .header('pareto-compute-ms', s.computeMs.toFixed(3));
    if (encoded.headerLength !== undefined) {
      reply.header('inference-header-content-length', encoded.headerLength).type('application/octet-stream');
    } else {
      reply.type('application/json');
    }
    return reply.send(encoded.body);
  };
  // Authentication and quota checks run before the body is read, so a refused request costs no
  // body parsing (bench:slo measures the cost of a refusal).
  // With tenants, refuseEarly() has checked the key and quota already; on an open server there is
  // nothing to check.
  const precheck = async (req: FastifyRequest<{ Params: ModelParams }>) => {
    const early = req.raw as Admitted;
    req.pareto = { start: early.paretoStart ?? performance.now(), samples: 0, tenant: early.paretoTenant?.id };
  };
  const record = async (req: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply) => {
    const ctx = req.pareto;
    if (!ctx) return;
    opts.telemetry.request(requestRecord(service, req.params.model, ctx.tenant, ctx.serving, reply.statusCode, ctx.samples, performance.now() - ctx.start, ctx.id, ctx.error));
  };
  const inferRoute = { onRequest: precheck, onResponse: record };
  app.post('/v2/models/:model/infer', inferRoute, infer);
  app.post('/v2/models/:model/versions/:version/infer', inferRoute, infer);

  registerDashboard(app, service, opts.telemetry, admin);
  app.get('/metrics', async (_req, reply) => reply.type(opts.telemetry.metrics.contentType).send(await opts.telemetry.metrics.text()));

  // Triton's model repository extension.
  app.post('/v2/repository/index', async (req) => {
    admin.check(req.headers.authorization);
    const onlyReady = parseOptionalJson(req.body)?.ready === true;
    return service.models.index()
      .filter((m) => !onlyReady || m.state === 'READY')
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

