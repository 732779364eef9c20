// The live dashboard: the page itself, its data as JSON, and a server-sent event stream that
// pushes one snapshot a second. The admin token sees every tenant and the admin views (models,
// with load and unload, and tenants); a tenant's API key sees that tenant only. The page signs in
// once (POST /dashboard/session) and is known by a cookie from then on: EventSource cannot send
// headers, and a token in a URL would be written to logs and history.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InvalidRequestError, ModelNotFoundError, UnauthorizedError } from '../../errors.js';
import type { InferenceService } from '../../serving/inference-service.js';
import { viewFor, type Snapshot } from '../../telemetry/live-stats.js';
import type { Telemetry } from '../../telemetry/telemetry.js';
import type { AdminToken } from '../admin-token.js';
import { DashboardSessions, type DashboardIdentity } from './dashboard-sessions.js';

const PAGE = fileURLToPath(new URL('../../../../public/dashboard.html', import.meta.url));

interface Viewer {
  name: string;
  /** Undefined for the admin, who sees everything. */
  tenant?: string;
  models: (model: string) => boolean;
}

export function registerDashboard(app: FastifyInstance, service: InferenceService, telemetry: Telemetry, admin: AdminToken): void {
  const page = readFileSync(PAGE, 'utf8');
  const sessions = new DashboardSessions();
  const streams = new Set<import('node:http').ServerResponse>();
  // Event streams never end by themselves: end them when the server closes, or close would wait forever.
  app.addHook('preClose', async () => { for (const s of streams) s.end(); });

  /** Who a token (admin, or a tenant's API key) signs in as; 401 for anything else. */
  const signIn = (token: string | undefined): DashboardIdentity => {
    if (admin.matches(token)) return {};
    if (!service.tenants || !token) throw new UnauthorizedError('the dashboard needs the admin token or a tenant\'s API key');
    return { tenant: service.tenants.authenticate(token).id };
  };
  const viewerOf = (who: DashboardIdentity): Viewer => {
    if (who.tenant === undefined) return { name: 'admin', models: () => true };
    const tenant = service.tenants?.list().find((t) => t.id === who.tenant);
    if (!tenant) throw new UnauthorizedError('the dashboard session\'s tenant is gone; sign in again');
    return { name: `tenant ${tenant.id}`, tenant: tenant.id, models: (m) => tenant.mayUse(m) };
  };
  /** The session cookie, or an Authorization header (scripts). */
  const viewer = (req: FastifyRequest): Viewer => {
    const who = sessions.identify(req.headers.cookie);
    return viewerOf(who ?? signIn(req.headers.authorization));
  };
  const adminOnly = (req: FastifyRequest) => {
    if (viewer(req).tenant !== undefined) throw new UnauthorizedError('the models and tenants views need the admin token');
    // A cookie goes with every request to this origin: state-changing calls also need a header
    // that a page elsewhere cannot set without this server's consent (CORS), besides SameSite.
    if (req.method === 'POST' && req.headers['x-pareto-dashboard'] !== '1') throw new InvalidRequestError('send X-Pareto-Dashboard: 1 with dashboard actions');
  };
  const view = (v: Viewer, s: Snapshot) => viewFor(s, v.tenant, v.models);

  app.get('/dashboard', async (_req, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(page));

  app.post('/dashboard/session', async (req, reply: FastifyReply) => {
    const token = parseToken(req.body);
    const id = sessions.open(signIn(token));
    return reply.header('set-cookie', DashboardSessions.cookie(id)).code(204).send();
  });
  app.delete('/dashboard/session', async (req, reply) => {
    sessions.close(req.headers.cookie);
    return reply.header('set-cookie', DashboardSessions.cookie(undefined)).code(204).send();
  });

  app.get('/dashboard/data', async (req) => {
    const v = viewer(req);
    return { viewer: v.name, history: telemetry.live.history.map((s) => view(v, s)) };
  });

  app.get('/dashboard/events', async (req, reply) => {
    const v = viewer(req);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    send('hello', { viewer: v.name, history: telemetry.live.history.map((s) => view(v, s)) });
    const stop = telemetry.onSecond((s) => send('second', view(v, s)));
    streams.add(res);
    req.raw.on('close', () => { stop(); streams.delete(res); });
  });

  app.get('/dashboard/models', async (req) => {
    adminOnly(req);
    return service.models.index().map((m) => ({ name: m.name, state: m.state, reason: m.state !== 'READY' ? m.reason : undefined, versions: m.versions }));
  });
  app.post('/dashboard/models/:model/:op', async (req: FastifyRequest<{ Params: { model: string; op: string } }>) => {
    adminOnly(req);
    const { model, op } = req.params;
    if (!service.models.has(model)) throw new ModelNotFoundError(model);
    if (op === 'load') await service.models.load(model);
    else if (op === 'unload') await service.models.unload(model);
    else throw new InvalidRequestError(`unknown action '${op}': load or unload`);
    return {};
  });

  app.get('/dashboard/tenants', async (req) => {
    adminOnly(req);
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

/** The token from a sign-in body: JSON `{"token": …}` or a form's `token=…`. */
function parseToken(body: unknown): string {
  const text = Buffer.isBuffer(body) ? body.toString('utf8') : '';
  let token: unknown;
  try {
    token = text.trimStart().startsWith('{') ? (JSON.parse(text) as { token?: unknown }).token : new URLSearchParams(text).get('token');
  } catch {
    throw new InvalidRequestError('send {"token": "…"} to sign in', 'PARETO_ERR_MALFORMED_JSON');
  }
  if (typeof token !== 'string' || token === '') throw new InvalidRequestError('send {"token": "…"} to sign in');
  return token;
}
