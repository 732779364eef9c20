// Tenant rate limits shared by every gateway: one token bucket per tenant in Redis, taken from by
// a Lua script (one round trip, atomic). A gateway takes tokens in chunks (~50 ms of the tenant's
// rate) and admits from that local allowance, fetching the next chunk before it runs out, so most
// requests never wait for Redis. While Redis is unreachable each gateway enforces rate ÷ gateways
// locally (the last known gateway count), says so in its log and metrics, and goes back to the
// shared bucket once Redis has answered probes again (PROBES_TO_RETURN in a row).
import type { Redis } from 'ioredis';
import { TokenBucket } from '../tenancy/token-bucket.js';
import type { BucketFactory, RateBucket } from '../tenancy/tenants.js';
import { KEY_PREFIX } from './redis.js';

/** Seconds of a tenant's rate a gateway takes at a time. */
const CHUNK_SECONDS = 0.05;
/**
 * The longest an admission waits for a refill from Redis; past it, the local share admits, on loan
 * against what the refill brings (a refill that is only slow, on a starved machine, must not let a
 * tenant through twice: without the loan a tenant held to 200/s got 273/s beside a CPU hog). A Redis
 * that stopped answering held admissions for its 500 ms command timeout, and the backlog that built
 * meanwhile was then refused (429) by the local share's small burst.
 */
const REFILL_PATIENCE_MS = 50;
/** After a failed Redis call, local limits until Redis answers this many probes in a row, one a second. */
const PROBE_MS = 1000;
const PROBES_TO_RETURN = 2;

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
  /**
   * A call failed and probes have not yet brought Redis back. A Redis that stops answering keeps
   * its connection 'ready': returning to it on a timer let every admission after each retry wait
   * out a command timeout (a gateway blackholed from Redis flapped 14 times, stalling admissions
   * 500 ms every 1.5 s). Only probes, never admissions, wait on a Redis that has failed.
   */
  private down = false;
  private probe: NodeJS.Timeout | undefined;
  private wasGlobal = true;
  /** Gateways sharing the limits (from membership); local limits divide by it. */
  gateways = 1;
  /** Redis calls made (bench and tests: most requests must not make one). */
  calls = 0;

  constructor(
    private readonly redis: Redis,
    private readonly onModeChange: (global: boolean) => void = () => undefined,
  ) {
    redis.defineCommand('paretoTake', { numberOfKeys: 1, lua: TAKE_LUA });
  }

  /** True while limits are enforced through Redis. */
  get global(): boolean {
    const up = this.redis.status === 'ready' && !this.down;
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
      this.markDown();
      throw e;
    }
  }

  private markDown(): void {
    if (this.down) return;
    this.down = true;
    void this.global;
    let answered = 0;
    this.probe = setInterval(() => {
      this.calls++;
      this.redis.ping().then(() => {
        if (++answered < PROBES_TO_RETURN) return;
        clearInterval(this.probe);
        this.down = false;
        void this.global;
      }, () => { answered = 0; });
    }, PROBE_MS);
    this.probe.unref();
  }

  close(): void {
    clearInterval(this.probe);
  }

  buckets(): BucketFactory {
    return (tenant, rate, burst, now) => new SharedBucket(this, tenant, rate, burst, now);
  }
}

/** One tenant's share of its cluster-wide bucket, as seen by one gateway. */
export class SharedBucket implements RateBucket {
  private allowance = 0;
  /** When the refill in flight began (Infinity: none is), and a promise that resolves when admissions stop waiting for it. */
  private refillStartedAt = Infinity;
  private patience: Promise<void> | undefined;
  /** Samples the local share admitted while a refill was late: repaid from what the refill grants. */
  private borrowed = 0;
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

  /** A refill has been in flight past REFILL_PATIENCE_MS: Redis may have stopped answering. */
  private refillLate(now: number): boolean {
    return now - this.refillStartedAt >= REFILL_PATIENCE_MS;
  }

  tryTake(n: number, now: number): boolean {
    if (!this.limit.global) return this.local(now).tryTake(n, now);
    if (this.allowance < n && this.refillLate(now)) {
      if (!this.local(now).tryTake(n, now)) return false;
      this.borrowed += n;
      return true;
    }
    if (this.allowance >= n) {
      this.allowance -= n;
      // Fetch the next chunk before this one runs out.
      if (this.allowance < this.chunk / 2 && now >= this.emptyUntil) this.refill(now);
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
    if (this.allowance >= this.demand + n || now < this.emptyUntil || n > this.burst || !this.limit.global || this.refillLate(now)) return undefined;
    this.demand += n;
    this.refill(now);
    return this.patience;
  }

  /**
   * One Redis call at a time per bucket, for what the waiting requests asked (at least a chunk);
   * callers that need tokens meanwhile wait for the next one.
   */
  private refill(now: number): void {
    if (this.refillStartedAt !== Infinity) return;
    this.refillStartedAt = now;
    let done!: () => void;
    this.patience = new Promise<void>((resolve) => { done = resolve; });
    const timer = setTimeout(done, REFILL_PATIENCE_MS);
    void this.fetchTokens(now).finally(() => { clearTimeout(timer); done(); });
  }

  private async fetchTokens(now: number): Promise<void> {
    await Promise.resolve(); // let requests parsed in the same turn add their demand first
    const need = Math.max(1, this.demand - this.allowance);
    this.demand = 0;
    try {
      const want = Math.max(need, this.chunk);
      const { granted, left } = await this.limit.take(this.tenant, this.rate, this.burst, want, 1);
      this.allowance += granted - this.borrowed;
      this.borrowed = 0;
      // Short of a full chunk: the shared bucket is drained (others take from it too). Ask again
      // when a chunk will have refilled, not at every request: one call per chunk, not per token.
      if (granted < want) this.emptyUntil = now + ((want - granted - left) / this.rate) * 1000;
    } catch {
      // Redis is away: the limit falls back to local buckets (see GlobalRateLimit.global), and
      // what they lent is theirs.
      this.borrowed = 0;
    } finally {
      this.refillStartedAt = Infinity;
    }
  }
}
