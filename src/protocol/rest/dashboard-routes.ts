// The live dashboard: the page itself, its data as JSON, and a server-sent event stream that
// pushes one snapshot a second. The admin token sees every tenant and the admin views; a tenant's
// API key sees that tenant only. EventSource cannot send headers, so the token comes in the query.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { UnauthorizedError } from '../../errors.js';
import type { InferenceService } from '../../serving/inference-service.js';
import { viewFor, type Snapshot } from '../../telemetry/live-stats.js';
import type { Telemetry } from '../../telemetry/telemetry.js';
import type { AdminToken } from '../admin-token.js';

const PAGE = fileURLToPath(new URL('../../../../public/dashboard.html', import.meta.url));

interface Viewer {
  name: string;
  /** Undefined for the admin, who sees everything. */
  tenant?: string;
  models: (model: string) => boolean;
}

export function registerDashboard(app: FastifyInstance, service: InferenceService, telemetry: Telemetry, admin: AdminToken): void {
  const page = readFileSync(PAGE, 'utf8');
  const streams = new Set<import('node:http').ServerResponse>();
  // Event streams never end by themselves: end them when the server closes, or close would wait forever.
  app.addHook('preClose', async () => { for (const s of streams) s.end(); });

  const viewer = (token: string | undefined): Viewer => {
    if (admin.matches(token)) return { name: 'admin', models: () => true };
    if (!service.tenants || !token) throw new UnauthorizedError('the dashboard needs the admin token or a tenant\'s API key (?token=…)');
    const tenant = service.tenants.authenticate(token);
    return { name: `tenant ${tenant.id}`, tenant: tenant.id, models: (m) => tenant.mayUse(m) };
  };
  const view = (v: Viewer, s: Snapshot) => viewFor(s, v.tenant, v.models);
  type TokenQuery = FastifyRequest<{ Querystring: { token?: string } }>;

  app.get('/dashboard', async (_req, reply) => reply.type('text/html; charset=utf-8').send(page));

  app.get('/dashboard/data', async (req: TokenQuery) => {
    const v = viewer(req.query.token ?? req.headers.authorization);
    return { viewer: v.name, history: telemetry.live.history.map((s) => view(v, s)) };
  });

  app.get('/dashboard/events', async (req: TokenQuery, reply) => {
    const v = viewer(req.query.token);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    send('hello', { viewer: v.name, history: telemetry.live.history.map((s) => view(v, s)) });
    const stop = telemetry.onSecond((s) => send('second', view(v, s)));
    streams.add(res);
    req.raw.on('close', () => { stop(); streams.delete(res); });
  });

  app.get('/dashboard/tenants', async (req) => {
    admin.check(req.headers.authorization);
    return (service.tenants?.list() ?? []).map((t) => ({
      id: t.id,
      models: t.config.models,
      rate: t.config.rate_limit?.samples_per_second ?? null,
      weight: t.config.weight,
      priority: t.config.priority,
      slo: [t.config.slo.default.latency_ms && `${t.config.slo.default.latency_ms} ms`, t.config.slo.default.min_accuracy && `≥ ${(100 * t.config.slo.default.min_accuracy).toFixed(1)}%`].filter(Boolean).join(', ') || '—',
    }));
  });
}
