// Refuses an inference request over its tenant's quota (or with a bad key, or for a model it may
// not use) before fastify sees it: no routing, no hooks, no body read. Under a flood of refusals
// this is the difference between other tenants waiting behind them or not (bench:slo isolation).
// Requests that pass carry their tenant on to the route, so the key is checked once.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { isParetoError, RateLimitedError } from '../../errors.js';
import type { InferenceService } from '../../serving/inference-service.js';
import type { Tenant } from '../../tenancy/tenants.js';
import type { Telemetry } from '../../telemetry/telemetry.js';
import { requestRecord } from '../request-record.js';

const INFER_PATH = /^\/v2\/models\/([^/?]+)(?:\/versions\/[^/?]+)?\/infer(?:\?|$)/;

export interface Admitted {
  /** Set on requests that passed: the caller's tenant (undefined on an open server). */
  paretoTenant?: Tenant;
  paretoStart?: number;
}

/** True when it answered the request itself. */
export function refuseEarly(req: IncomingMessage & Admitted, res: ServerResponse, service: InferenceService, telemetry: Telemetry): boolean {
  if (req.method !== 'POST' || !service.tenants) return false;
  const m = INFER_PATH.exec(req.url ?? '');
  if (!m) return false;
  const start = performance.now();
  const model = decodeURIComponent(m[1]);
  let tenant: Tenant | undefined;
  try {
    tenant = service.identify(req.headers.authorization);
    service.precheck(tenant, model);
    req.paretoTenant = tenant;
    req.paretoStart = start;
    return false;
  } catch (e) {
    if (!isParetoError(e)) throw e;
    const headers: Record<string, string | number> = { 'content-type': 'application/json; charset=utf-8' };
    if (e instanceof RateLimitedError) headers['retry-after'] = e.retryAfterSeconds;
    res.writeHead(e.httpStatus, headers);
    res.end(JSON.stringify({ error: e.message, code: e.code }));
    req.resume(); // discard the body; the connection stays usable
    telemetry.request(requestRecord(service, model, tenant?.id, undefined, e.httpStatus, 0, performance.now() - start, undefined, e.message));
    return true;
  }
}
