// Refusals are cheap but not free: a tenant refused at the door (401, 403, 429, 503) that keeps
// sending from many connections gets refused as fast as the event loop can answer, and that
// loop is everyone's. Measured: globex sending 32-row JSON bodies past its rate from 64
// connections drew 3,100 refusals/s, each body read and dropped (460 MB/s), and acme's p50 went
// 4.4 → 35 ms. Each caller (a tenant, or all callers without a valid key together) may be
// refused at once up to a rate; beyond it a refusal is answered after a delay, with the request's
// body left unread meanwhile, so a closed-loop flood from C connections costs at most C answers
// per delay, and nothing of the loop while it waits.
import { TokenBucket } from '../../tenancy/token-bucket.js';

export interface RefusalTarpitOptions {
  /** Refusals per second answered at once, per caller (and the burst). */
  perSecond: number;
  /** How long a refusal beyond that waits. */
  delayMs: number;
  now: () => number;
}

export class RefusalTarpit {
  private readonly callers = new Map<string, TokenBucket>();

  constructor(private readonly opts: RefusalTarpitOptions) {}

  /** ms to hold this caller's refusal before it is answered (0: answer it now). */
  delayFor(caller: string): number {
    const now = this.opts.now();
    let bucket = this.callers.get(caller);
    if (!bucket) this.callers.set(caller, (bucket = new TokenBucket(this.opts.perSecond, this.opts.perSecond, now)));
    return bucket.tryTake(1, now) ? 0 : this.opts.delayMs;
  }
}
