// Tenant rate limits shared by every gateway: one token bucket per tenant in Redis, taken from by
// a Lua script (one round trip, atomic). A gateway takes tokens in chunks (~50 ms of the tenant's
// rate) and admits from that local allowance, fetching the next chunk before it runs out, so most
// requests never wait for Redis. While Redis is unreachable each gateway enforces rate ÷ gateways
// locally (the last known gateway count), says so in its log and metrics, and goes back to the
// shared bucket when Redis answers again.
import type { Redis } from 'ioredis';
import { TokenBucket } from '../tenancy/token-bucket.js';
import type { BucketFactory, RateBucket } from '../tenancy/tenants.js';
import { KEY_PREFIX } from './redis.js';

/** Seconds of a tenant's rate a gateway takes at a time. */
const CHUNK_SECONDS = 0.05;
/** After a failed Redis call, stay on local limits this long before trying Redis again. */
const RETRY_MS = 1000;

// KEYS[1]: the bucket. ARGV: rate (samples/s), burst, want, min. Grants min(want, tokens) if at
// least `min` tokens are there, else nothing; returns the grant and the tokens left. Redis's own
// clock, so gateways' clocks do not matter.
const TAKE_LUA = `
local rate, burst, want, min = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens, ts = tonumber(b[1]), tonumber(b[2])
if tokens == nil then tokens, ts = burst, now end
tokens = math.min(burst, tokens + math.max(0, now - ts) / 1000 * rate)
local grant = 0
if tokens >= min then
  grant = math.min(want, math.floor(tokens))
  tokens = tokens - grant
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 10000)
return {grant, tostring(tokens)}
`;

type TakeCommand = (key: string, rate: number, burst: number, want: number, min: number) => Promise<[number, string]>;

export class GlobalRateLimit {
  private failedAt = -Infinity;
  private wasGlobal = true;
  /** Gateways sharing the limits (from membership); local limits divide by it. */
  gateways = 1;
  /** Redis calls made (bench and tests: most requests must not make one). */
  calls = 0;

  constructor(
    private readonly redis: Redis,
    private readonly now: () => number,
    private readonly onModeChange: (global: boolean) => void = () => undefined,
  ) {
    redis.defineCommand('paretoTake', { numberOfKeys: 1, lua: TAKE_LUA });
  }

  /** True while limits are enforced through Redis. */
  get global(): boolean {
    const up = this.redis.status === 'ready' && this.now() - this.failedAt > RETRY_MS;
    if (up !== this.wasGlobal) {
      this.wasGlobal = up;
      this.onModeChange(up);
    }
    return up;
  }

  async take(tenant: string, rate: number, burst: number, want: number, min: number): Promise<{ granted: number; left: number }> {
    this.calls++;
    try {
      const [granted, left] = await (this.redis as unknown as { paretoTake: TakeCommand }).paretoTake(`${KEY_PREFIX}bucket:${tenant}`, rate, burst, want, min);
      return { granted: Number(granted), left: Number(left) };
    } catch (e) {
      this.failedAt = this.now();
      void this.global;
      throw e;
    }
  }

  buckets(): BucketFactory {
    return (tenant, rate, burst, now) => new SharedBucket(this, tenant, rate, burst, now);
  }
}

/** One tenant's share of its cluster-wide bucket, as seen by one gateway. */
export class SharedBucket implements RateBucket {
  private allowance = 0;
  private refilling: Promise<void> | undefined;
  /** The shared bucket was found empty: no point asking Redis again before this time. */
  private emptyUntil = -Infinity;
  private fallback: TokenBucket | undefined;
  /** Samples asked for by requests waiting on the refill in progress. */
  private demand = 0;

  constructor(private readonly limit: GlobalRateLimit, private readonly tenant: string, readonly rate: number, readonly burst: number, private readonly createdAt: number) {}

  private get chunk(): number {
    return Math.max(1, Math.min(this.burst, Math.ceil(this.rate * CHUNK_SECONDS)));
  }

  /** Rate ÷ gateways in this process while Redis is away; rebuilt when the gateway count changes. */
  private local(now: number): TokenBucket {
    const share = Math.max(1, this.limit.gateways);
    if (!this.fallback || this.fallback.rate !== this.rate / share) this.fallback = new TokenBucket(this.rate / share, Math.max(1, this.burst / share), Math.max(now, this.createdAt));
    return this.fallback;
  }

  tryTake(n: number, now: number): boolean {
    if (!this.limit.global) return this.local(now).tryTake(n, now);
    if (this.allowance >= n) {
      this.allowance -= n;
      // Fetch the next chunk before this one runs out.
      if (this.allowance < this.chunk / 2 && now >= this.emptyUntil) void this.refill(now);
      return true;
    }
    return false;
  }

  secondsUntil(n: number, now: number): number {
    if (!this.limit.global) return this.local(now).secondsUntil(n, now);
    if (n > this.burst) return Infinity;
    if (this.allowance >= n) return 0;
    return Math.max(0, (this.emptyUntil - now) / 1000);
  }

  prepare(n: number, now: number): Promise<void> | undefined {
    if (this.allowance >= this.demand + n || now < this.emptyUntil || n > this.burst || !this.limit.global) return undefined;
    this.demand += n;
    return this.refill(now);
  }

  /**
   * One Redis call at a time per bucket, for what the waiting requests asked (at least a chunk);
   * callers that need tokens meanwhile wait for the next one.
   */
  private refill(now: number): Promise<void> {
    this.refilling ??= (async () => {
      await Promise.resolve(); // let requests parsed in the same turn add their demand first
      const need = Math.max(1, this.demand - this.allowance);
      this.demand = 0;
      try {
        const want = Math.max(need, this.chunk);
        const { granted, left } = await this.limit.take(this.tenant, this.rate, this.burst, want, 1);
        this.allowance += granted;
        // Short of a full chunk: the shared bucket is drained (others take from it too). Ask again
        // when a chunk will have refilled, not at every request: one call per chunk, not per token.
        if (granted < want) this.emptyUntil = now + ((want - granted - left) / this.rate) * 1000;
      } catch {
        // Redis is away: the limit falls back to local buckets (see GlobalRateLimit.global).
      } finally {
        this.refilling = undefined;
      }
    })();
    return this.refilling;
  }
}
