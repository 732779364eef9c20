import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ForbiddenError, InvalidRequestError, OverloadedError, RateLimitedError, UnauthorizedError } from '../../src/errors.js';
import { TenantsFileSchema } from '../../src/tenancy/tenants-config.js';
import { hashKey, resolveSlo, Tenants } from '../../src/tenancy/tenants.js';
import { TokenBucket } from '../../src/tenancy/token-bucket.js';

function tenantsFile(extra: Record<string, unknown> = {}) {
  return TenantsFileSchema.parse({
    tenants: [
      { id: 'a', keys: [hashKey('key-a')], models: ['*'], rate_limit: { samples_per_second: 10, burst: 5 }, max_concurrency: 2, slo: { default: { latency_ms: 100, min_accuracy: 0.9 }, models: { m2: { latency_ms: 20 } } }, ...extra },
      { id: 'b', keys: [hashKey('key-b')], models: ['m1'], priority: 'low', max_queue: 1 },
    ],
  });
}

describe('token bucket', () => {
  it('allows the burst, then refills at the rate', () => {
    const b = new TokenBucket(10, 5, 0);
    assert.ok(b.tryTake(5, 0));
    assert.ok(!b.tryTake(1, 0));
    assert.equal(b.secondsUntil(1, 0), 0.1);
    assert.ok(!b.tryTake(1, 50));
    assert.ok(b.tryTake(1, 100));
    assert.ok(b.tryTake(4, 10_000), 'refills up to the burst, not past it');
    assert.ok(!b.tryTake(2, 10_000));
    assert.equal(b.secondsUntil(6, 10_000), Infinity);
  });
});

describe('tenants', () => {
  it('authenticates by key in constant time and refuses missing or unknown keys', () => {
    const t = new Tenants(tenantsFile(), () => 0);
    assert.equal(t.authenticate('Bearer key-a').id, 'a');
    assert.equal(t.authenticate('key-b').id, 'b');
    assert.throws(() => t.authenticate(undefined), UnauthorizedError);
    assert.throws(() => t.authenticate('Bearer key-c'), UnauthorizedError);
  });

  it('admits within quota and refuses over it with Retry-After, before any model work', () => {
    let now = 0;
    const t = new Tenants(tenantsFile(), () => now);
    const a = t.authenticate('key-a');
    const first = t.admit(a, 'm1', 2, {});
    const second = t.admit(a, 'm1', 2, {});
    assert.throws(() => t.admit(a, 'm1', 1, {}), (e: RateLimitedError) => e instanceof RateLimitedError && /in flight/.test(e.message));
    first.release();
    second.release();
    second.release(); // releasing twice counts once
    assert.equal(a.inflight, 0);
    assert.throws(() => t.admit(a, 'm1', 2, {}), (e: RateLimitedError) => e instanceof RateLimitedError && e.retryAfterSeconds === 1);
    now = 1000;
    t.admit(a, 'm1', 2, {}).release();
    assert.throws(() => t.admit(a, 'm1', 50, {}), InvalidRequestError, 'larger than the burst can never pass');
  });

  it('forbids models outside the tenant\'s list, and caps its queue', () => {
    const t = new Tenants(tenantsFile(), () => 0);
    const b = t.authenticate('key-b');
    assert.throws(() => t.admit(b, 'm2', 1, {}), ForbiddenError);
    const held = t.admit(b, 'm1', 1, {});
    assert.throws(() => t.admit(b, 'm1', 1, {}), OverloadedError);
    held.dequeued();
    t.admit(b, 'm1', 1, {}).release();
  });

  it('resolves SLOs: request parameters only tighten the tenant\'s', () => {
    const cfg = tenantsFile().tenants[0];
    assert.deepEqual(resolveSlo(cfg, 'm1', {}), { latencyMs: 100, minAccuracy: 0.9, priority: 'normal' });
    assert.deepEqual(resolveSlo(cfg, 'm2', {}), { latencyMs: 20, minAccuracy: 0.9, priority: 'normal' });
    assert.deepEqual(resolveSlo(cfg, 'm1', { latency_ms: 500, min_accuracy: 0.5 }), { latencyMs: 100, minAccuracy: 0.9, priority: 'normal' });
    assert.deepEqual(resolveSlo(cfg, 'm1', { latency_ms: 30, min_accuracy: 0.95, priority: 'low' }), { latencyMs: 30, minAccuracy: 0.95, priority: 'low' });
    assert.throws(() => resolveSlo(cfg, 'm1', { priority: 'high' }), /above tenant 'a'/);
    assert.throws(() => resolveSlo(cfg, 'm1', { latency_ms: -1 }), InvalidRequestError);
  });

  it('takes Triton\'s numeric priority (1 highest, 0 the default), never above the tenant\'s class', () => {
    const cfg = tenantsFile().tenants[0]; // normal
    const priority = (p: number | string) => resolveSlo(cfg, 'm1', { priority: p }).priority;
    assert.equal(priority(0), 'normal', '0: the default');
    assert.equal(priority(1), 'normal', '1 would be high: clamped to the tenant\'s normal');
    assert.equal(priority(2), 'normal');
    assert.equal(priority(3), 'low');
    assert.equal(priority(17), 'low');
    assert.equal(priority('3'), 'low', 'a uint64 over gRPC may arrive as a string');
    assert.throws(() => resolveSlo(cfg, 'm1', { priority: 1.5 }), /non-negative integer/);
    assert.throws(() => resolveSlo(cfg, 'm1', { priority: -1 }), /non-negative integer/);
  });

  it('keeps live counters across a reload and drops removed tenants', () => {
    const t = new Tenants(tenantsFile(), () => 0);
    const a = t.authenticate('key-a');
    t.admit(a, 'm1', 1, {});
    t.load(TenantsFileSchema.parse({ tenants: [{ id: 'a', keys: [hashKey('key-a2')], models: ['*'] }] }));
    assert.equal(t.authenticate('key-a2'), a);
    assert.equal(a.inflight, 1);
    assert.throws(() => t.authenticate('key-a'), UnauthorizedError);
    assert.throws(() => t.authenticate('key-b'), UnauthorizedError);
  });

  it('rejects a tenants file with a malformed key hash or a duplicate id, naming the field', () => {
    const bad = TenantsFileSchema.safeParse({ tenants: [{ id: 'x', keys: ['plain-key'], models: ['*'] }, { id: 'x', keys: [hashKey('k')], models: ['*'] }] });
    assert.ok(!bad.success);
    const paths = bad.error.issues.map((i) => i.path.join('.'));
    assert.ok(paths.includes('tenants.0.keys.0'));
    assert.ok(paths.includes('tenants.1.id'));
  });

  it('at the door, expects the samples a tenant\'s requests carry, and reserves them while bodies arrive', () => {
    let now = 0;
    const file = TenantsFileSchema.parse({ tenants: [{ id: 'r', keys: [hashKey('key-r')], models: ['*'], rate_limit: { samples_per_second: 100, burst: 64 } }] });
    const t = new Tenants(file, () => now);
    const r = t.authenticate('key-r');
    t.admit(r, 'm', 32, {}).release();
    t.admit(r, 'm', 32, {}).release();
    now = 150; // 15 samples refilled: room for a 1-sample request, not for the 32 this tenant sends
    assert.throws(() => t.precheck(r, 'm'), (e: Error) => e instanceof RateLimitedError && /carry ~32 samples/.test(e.message));
    assert.equal(t.precheck(r, 'other'), undefined, 'another model: nothing learned yet, 1 sample expected');
    t.admit(r, 'm', 1, {}).release(); // a smaller request: the expectation falls at once
    assert.equal(r.expectedSamples('m'), 1);
    t.admit(r, 'm', 9, {}).release();
    assert.equal(r.expectedSamples('m'), 3, 'and climbs a quarter of the way to a larger one');

    now = 10_000; // full again: 64 samples
    for (let i = 0; i < 8; i++) {
      try { t.admit(r, 'm', 32, {}).release(); } catch { /* refused or not, each says 32: the expectation climbs to ~30 */ }
    }
    now = 20_000; // full: 64
    const expected = r.expectedSamples('m');
    assert.ok(expected > 25 && expected < 32);
    const first = t.precheck(r, 'm', true)!;
    const second = t.precheck(r, 'm', true)!;
    assert.throws(() => t.precheck(r, 'm', true), RateLimitedError, 'a third body would find no room beside the two still arriving');
    assert.equal(r.inflight, 2, 'each pass counts against the concurrency from its headers on');
    t.admit(r, 'm', 32, {}, first).release();
    first.release();
    second.release();
    assert.equal(r.inflight, 0);
    assert.equal(r.reserved, 0);
  });

  it('a pass holds the concurrency from the headers on: admit does not count it twice', () => {
    const t = new Tenants(tenantsFile(), () => 0);
    const a = t.authenticate('key-a'); // max_concurrency 2
    const p1 = t.precheck(a, 'm1', true)!;
    const p2 = t.precheck(a, 'm1', true)!;
    assert.throws(() => t.precheck(a, 'm1', true), (e: Error) => e instanceof RateLimitedError && /in flight/.test(e.message));
    const admitted = t.admit(a, 'm1', 1, {}, p1);
    assert.equal(a.inflight, 2);
    admitted.release();
    p1.release();
    p1.release();
    assert.equal(a.inflight, 1, 'released once, however often it is called');
    p2.release();
    assert.equal(a.inflight, 0);
  });
});
