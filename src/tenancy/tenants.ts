// The tenants in force: authentication (API key → tenant, constant-time comparison of SHA-256
// digests), authorisation per model, admission (token bucket, concurrency and queue caps), and
// SLO resolution (request parameters, only tighter, over tenant defaults). Hot-reloadable.
import { hash, timingSafeEqual } from 'node:crypto';
import { ForbiddenError, InvalidRequestError, OverloadedError, RateLimitedError, UnauthorizedError } from '../errors.js';
import type { Parameters } from '../protocol/types.js';
import { PRIORITIES, PRIORITY_RANK, type Priority, type TenantConfig, type TenantsFile } from './tenants-config.js';
import { TokenBucket } from './token-bucket.js';

export interface Slo {
  /** Latency budget from arrival, ms; Infinity when none is set. */
  latencyMs: number;
  minAccuracy: number;
  priority: Priority;
}

/** A rate limit in samples: this process's token bucket, or a share of a cluster-wide one. */
export interface RateBucket {
  readonly rate: number;
  readonly burst: number;
  tryTake(n: number, now: number): boolean;
  secondsUntil(n: number, now: number): number;
  /** Where tokens live elsewhere (Redis): fetch enough for `n` if that is worth waiting for. */
  prepare?(n: number, now: number): Promise<void> | undefined;
}

export type BucketFactory = (tenant: string, rate: number, burst: number, now: number) => RateBucket;

const localBucket: BucketFactory = (_tenant, rate, burst, now) => new TokenBucket(rate, burst, now);

/** A tenant and its live admission state (kept across reloads while the tenant stays). */
export class Tenant {
  bucket?: RateBucket;
  inflight = 0;
  queued = 0;
  /** Samples that requests past the door but not yet admitted are expected to take (their bodies are being read). */
  reserved = 0;
  /**
   * Samples its requests to each model carry, as the door expects them before a body is read:
   * falls at once to a smaller request, climbs a quarter of the way to a larger one.
   */
  private readonly expected = new Map<string, number>();

  constructor(public config: TenantConfig, now: number, private readonly buckets: BucketFactory = localBucket) {
    this.configure(config, now);
  }

  get id(): string {
    return this.config.id;
  }

  configure(config: TenantConfig, now: number): void {
    const old = this.config.rate_limit;
    this.config = config;
    const r = config.rate_limit;
    if (!r) this.bucket = undefined;
    else if (!this.bucket || old?.samples_per_second !== r.samples_per_second || old?.burst !== r.burst) this.bucket = this.buckets(config.id, r.samples_per_second, r.burst, now);
  }

  mayUse(model: string): boolean {
    return this.config.models.includes('*') || this.config.models.includes(model);
  }

  /** Samples the next request to `model` is expected to carry (1 before any was seen). */
  expectedSamples(model: string): number {
    return this.expected.get(model) ?? 1;
  }

  /** The fewest samples the next request to any model is expected to carry (1 before any was seen). */
  expectedSamplesAny(): number {
    let least = Infinity;
    for (const e of this.expected.values()) least = Math.min(least, e);
    return least === Infinity ? 1 : least;
  }

  /** Learns from an admitted request (the model exists: the map holds only real models). */
  sawSamples(model: string, samples: number): void {
    const e = this.expected.get(model);
    this.expected.set(model, e === undefined || samples < e ? samples : e + (samples - e) / 4);
  }
}

/**
 * A request past the door: counted against its tenant's concurrency from its headers on, and
 * holding room in its rate for the samples it is expected to carry until admit() takes the real
 * count. release() when it is answered.
 */
export interface DoorPass {
  /** Gives back the expected samples' room (admit() calls it, then takes the real count). */
  unreserve(): void;
  release(): void;
}

export function hashKey(key: string): string {
  return `sha256:${hash('sha256', key)}`;
}

/** An admission ticket: release it exactly once when the request ends, whatever the outcome. */
export interface Admission {
  tenant: Tenant;
  slo: Slo;
  release(): void;
  dequeued(): void;
}

export class Tenants {
  private tenants = new Map<string, Tenant>();
  private keys: Array<{ digest: Buffer; tenant: Tenant }> = [];

  /** `buckets`: where rate limits live (this process by default; Redis on a gateway). */
  constructor(file: TenantsFile, private readonly now: () => number, private readonly buckets?: BucketFactory) {
    this.load(file);
  }

  /** Replaces the configuration; tenants that stay keep their buckets and counters. */
  load(file: TenantsFile): void {
    const next = new Map<string, Tenant>();
    const keys: Array<{ digest: Buffer; tenant: Tenant }> = [];
    for (const cfg of file.tenants) {
      const tenant = this.tenants.get(cfg.id) ?? new Tenant(cfg, this.now(), this.buckets);
      tenant.configure(cfg, this.now());
      next.set(cfg.id, tenant);
      for (const k of cfg.keys) keys.push({ digest: Buffer.from(k.slice(7), 'hex'), tenant });
    }
    this.tenants = next;
    this.keys = keys;
  }

  list(): Tenant[] {
    return [...this.tenants.values()];
  }

  /** `Authorization: Bearer <key>` (or the bare key) → tenant; compares every digest in constant time. */
  authenticate(authorization: string | undefined): Tenant {
    if (!authorization) throw new UnauthorizedError('an API key is required: send Authorization: Bearer <key>');
    const key = authorization.replace(/^Bearer\s+/i, '');
    const digest = hash('sha256', key, 'buffer') as unknown as Buffer; // one-shot: no Hash object per request
    let found: Tenant | undefined;
    for (const k of this.keys) if (timingSafeEqual(k.digest, digest)) found = k.tenant;
    if (!found) throw new UnauthorizedError('the API key is not valid');
    return found;
  }

  /**
   * The cheap check a front end makes before reading a request body: the tenant may use the model,
   * has a free slot of its concurrency and room in its rate for as many samples as its requests to
   * this model carry (a tenant sending 32-row bodies past its rate had each one parsed, ~5 ms of
   * JSON, only to be refused after). Refusing here costs no body reading or parsing at all.
   * `pass`: count the request against the tenant's concurrency from here on (a front end that
   * reads bodies; the pass goes with the request to admit()).
   */
  precheck(tenant: Tenant, model: string, pass = false): DoorPass | undefined {
    if (!tenant.mayUse(model)) throw new ForbiddenError(tenant.id, model);
    checkConcurrency(tenant);
    checkQueue(tenant);
    const need = this.rateRoom(tenant, tenant.expectedSamples(model), `its requests to '${model}'`);
    return pass ? doorPass(tenant, need) : undefined;
  }

  /**
   * Counts a request against the tenant's concurrency before anything else of it is known (a gRPC
   * call at its metadata, before its message is read: the model is in the message); 429 at the
   * limit, or when its rate has no room for even the smallest request it sends to any model (a
   * 1-row gRPC flood past its rate had every message read and decoded, only to be refused after:
   * the event loop went to 0.99 cores). Release the pass when the request ends; it goes to admit()
   * like precheck's.
   */
  hold(tenant: Tenant): DoorPass {
    checkConcurrency(tenant);
    checkQueue(tenant);
    return doorPass(tenant, this.rateRoom(tenant, tenant.expectedSamplesAny(), 'its smallest requests'));
  }

  /**
   * Throws 429 unless the tenant's rate has room for `expected` samples beside those reserved by
   * requests whose bodies are still arriving (64 connections that all found 32 samples' room at
   * once were each read and parsed, and all but one refused). Returns the samples to reserve.
   */
  private rateRoom(tenant: Tenant, expected: number, carried: string): number {
    if (!tenant.bucket) return 0;
    const need = Math.min(expected, tenant.bucket.burst);
    const want = tenant.reserved + need;
    // More than the burst reserved: this one waits until those bodies are admitted.
    const wait = want > tenant.bucket.burst ? 1 : tenant.bucket.secondsUntil(want, this.now());
    if (wait > 0) throw new RateLimitedError(`tenant '${tenant.id}' is over its rate of ${tenant.bucket.rate} samples/s (${carried} carry ~${Math.round(need)} samples)`, Math.max(1, Math.ceil(wait)));
    return need;
  }

  /**
   * A malformed request (400, 413) still costs its tenant one sample of its rate, so a flood of
   * them soon meets the cheap 429 before the body is read, like any other excess.
   */
  chargeMalformed(tenant: Tenant): void {
    tenant.bucket?.tryTake(1, this.now());
  }

  /** Where the tenant's rate limit is shared across gateways: fetches tokens for `samples` if that is worth a wait. */
  prepare(tenant: Tenant, samples: number): Promise<void> | undefined {
    return tenant.bucket?.prepare?.(samples, this.now());
  }

  /**
   * Checks the model is allowed, resolves the SLO, and admits `samples` or throws 429 / 503.
   * `pass`: the request's DoorPass, which counts it against the concurrency already.
   */
  admit(tenant: Tenant, model: string, samples: number, params: Parameters, pass?: DoorPass): Admission {
    pass?.unreserve();
    const counted = pass !== undefined;
    if (!tenant.mayUse(model)) throw new ForbiddenError(tenant.id, model);
    const slo = resolveSlo(tenant.config, model, params);
    const now = this.now();
    tenant.sawSamples(model, samples); // refused or not, it says what this tenant's requests carry
    if (!counted) checkConcurrency(tenant);
    checkQueue(tenant);
    if (tenant.bucket && !tenant.bucket.tryTake(samples, now)) {
      const wait = tenant.bucket.secondsUntil(samples, now);
      if (wait === Infinity) throw new InvalidRequestError(`a request of ${samples} samples is larger than tenant '${tenant.id}''s burst of ${tenant.bucket.burst}`);
      throw new RateLimitedError(`tenant '${tenant.id}' is over its rate of ${tenant.bucket.rate} samples/s`, Math.max(1, Math.ceil(wait)));
    }
    if (!counted) tenant.inflight++;
    tenant.queued++;
    let queued = true;
    let released = false;
    return {
      tenant, slo,
      dequeued: () => { if (queued) { queued = false; tenant.queued--; } },
      release: () => {
        if (released) return;
        released = true;
        if (queued) { queued = false; tenant.queued--; }
        if (!counted) tenant.inflight--;
      },
    };
  }
}

/** 429 when the tenant has as many requests in flight as its max_concurrency. */
function checkConcurrency(tenant: Tenant): void {
  const limit = tenant.config.max_concurrency;
  if (limit !== undefined && tenant.inflight >= limit) {
    throw new RateLimitedError(`tenant '${tenant.id}' has ${tenant.inflight} requests in flight, its limit`, 1);
  }
}

/** 503 when the tenant has as many requests queued as its max_queue. */
function checkQueue(tenant: Tenant): void {
  const limit = tenant.config.max_queue;
  if (limit !== undefined && tenant.queued >= limit) {
    throw new OverloadedError(`tenant '${tenant.id}' has ${tenant.queued} requests queued, its limit; retry later`);
  }
}

/** Counts a request in flight, holding `need` samples of room in its rate until admission. */
function doorPass(tenant: Tenant, need: number): DoorPass {
  tenant.inflight++;
  tenant.reserved += need;
  let released = false;
  const unreserve = () => { tenant.reserved -= need; need = 0; };
  return { unreserve, release: () => { if (!released) { released = true; unreserve(); tenant.inflight--; } } };
}

/**
 * Triton's numeric priority (1 is the highest level, larger numbers lower, 0 the model's default)
 * onto the three classes: 1 high, 2 normal, 3 and above low. Undefined when it is not a number.
 */
function tritonPriority(v: unknown): Priority | 'default' | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : undefined;
  if (n === undefined) return undefined;
  if (!Number.isInteger(n) || n < 0) throw new InvalidRequestError(`parameter priority must be a non-negative integer (1 highest, 0 the default) or one of ${PRIORITIES.join(', ')}`);
  return n === 0 ? 'default' : n === 1 ? 'high' : n === 2 ? 'normal' : 'low';
}

/** Request parameters may only tighten the tenant's SLO: a lower latency, a higher floor, a lower priority. */
export function resolveSlo(cfg: TenantConfig, model: string, params: Parameters): Slo {
  const base = { ...cfg.slo.default, ...cfg.slo.models[model] };
  let latencyMs = base.latency_ms ?? Infinity;
  let minAccuracy = base.min_accuracy ?? 0;
  let priority: Priority = cfg.priority;
  if (params.latency_ms !== undefined) {
    const v = params.latency_ms;
    if (typeof v !== 'number' || !(v > 0)) throw new InvalidRequestError(`parameter latency_ms must be a positive number of milliseconds`);
    latencyMs = Math.min(latencyMs, v);
  }
  if (params.min_accuracy !== undefined) {
    const v = params.min_accuracy;
    if (typeof v !== 'number' || v < 0 || v > 1) throw new InvalidRequestError('parameter min_accuracy must be a number in [0, 1]');
    minAccuracy = Math.max(minAccuracy, v);
  }
  const numeric = tritonPriority(params.priority);
  if (numeric !== undefined) {
    // Triton's number may only lower the tenant's class, never raise it (clamped, not refused:
    // clients send it per request without knowing the tenant's class).
    if (numeric !== 'default' && PRIORITY_RANK[numeric] < PRIORITY_RANK[priority]) priority = numeric;
  } else if (params.priority !== undefined) {
    const v = params.priority;
    if (typeof v !== 'string' || !(PRIORITIES as readonly string[]).includes(v)) throw new InvalidRequestError(`parameter priority must be one of ${PRIORITIES.join(', ')}, or Triton's number (1 highest, 0 the default)`);
    if (PRIORITY_RANK[v as Priority] > PRIORITY_RANK[priority]) {
      throw new InvalidRequestError(`priority '${v}' is above tenant '${cfg.id}''s priority '${priority}'`);
    }
    priority = v as Priority;
  }
  return { latencyMs, minAccuracy, priority };
}
