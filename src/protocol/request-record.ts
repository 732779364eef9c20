// The telemetry record of one finished inference request, the same for REST and gRPC. Label
// values stay bounded: a model the server has not loaded or tried is 'unknown', and so is the
// model of a 403, which must not tell a prober that the model exists.
import type { InferenceService } from '../serving/inference-service.js';
import type { RequestLog } from '../telemetry/telemetry.js';
import type { ServingInfo } from './types.js';

export function requestRecord(service: InferenceService, model: string, tenant: string | undefined, serving: ServingInfo | undefined, status: number, samples: number, durationMs: number, id?: string, message?: string): RequestLog {
  const ok = status === 200 && serving !== undefined;
  const budget = serving?.budgetMs;
  return {
    tenant: tenant ?? (service.tenants ? 'unauthenticated' : 'anonymous'),
    model: status !== 403 && service.models.isKnown(model) ? model : 'unknown',
    version: serving?.variant ?? '',
    outcome: ok ? 'success' : String(status),
    status,
    samples,
    durationMs,
    queueMs: serving?.queueMs,
    computeMs: serving?.computeMs,
    accuracy: serving?.accuracy,
    sloMet: status === 504 ? false : ok && budget !== undefined && budget !== Infinity ? durationMs <= budget : undefined,
    id,
    message,
  };
}
