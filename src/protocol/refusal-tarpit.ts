// Refusals are cheap but not free: a caller refused at the door (401, 403, 429, 503) that keeps
// sending from many connections gets refused as fast as the event loop can answer, and that loop
// is everyone's. Measured: globex sending 32-row JSON bodies past its rate from 64 connections
// drew 3,100 refusals/s, each body read and dropped (460 MB/s), and acme's p50 went 4.4 → 35 ms.
// Each caller (a tenant, or all callers without a valid key together) is refused at once up to
// `perSecond`; beyond it, its refusals wait their turn and are answered at `perSecond` (a leaky
// bucket), their bodies unread meanwhile. However many connections a caller opens, its refusals
// cost at most twice `perSecond` answers a second. Past `maxHeld` waiting, a refusal is answered
// at once with its connection closed, so that no caller holds unbounded sockets.
// REST and gRPC share one, so a caller's refusals are paced over both. A gRPC refusal is one call's
// status: past `maxHeld` it is answered at once and the channel, which may carry other calls, stays.
import { TokenBucket } from '../tenancy/token-bucket.js';

/** The tarpit's name for callers without a valid key. */
export const UNAUTHENTICATED = '\0unauthenticated';

export interface RefusalTarpitOptions {
  /** Refusals per second answered at once per caller (and the burst), and the pace of those that wait. */
  perSecond: number;
  /** The least a refusal beyond that waits. */
  delayMs: number;
  /** Refusals one caller may have waiting. */
  maxHeld: number;
  now: () => number;
}

interface Caller {
  immediate: TokenBucket;
  /** When the next waiting refusal of this caller is answered. */
  nextAt: number;
  held: number;
}

/** How a refusal is to be answered. */
export type RefusalTurn = { delayMs: number; close: false } | { delayMs: 0; close: true };

export class RefusalTarpit {
  private readonly callers = new Map<string, Caller>();

  constructor(private readonly opts: RefusalTarpitOptions) {}

  /** Schedules one refusal of `caller`; `answer(close)` runs when its turn comes. */
  refuse(caller: string, answer: (close: boolean) => void): void {
    const turn = this.turn(caller);
    if (turn.delayMs === 0) return answer(turn.close);
    const c = this.callers.get(caller)!;
    c.held++;
    setTimeout(() => { c.held--; answer(false); }, turn.delayMs);
  }

  turn(caller: string): RefusalTurn {
    const now = this.opts.now();
    let c = this.callers.get(caller);
    if (!c) this.callers.set(caller, (c = { immediate: new TokenBucket(this.opts.perSecond, this.opts.perSecond, now), nextAt: now, held: 0 }));
    if (c.immediate.tryTake(1, now)) return { delayMs: 0, close: false };
    if (c.held >= this.opts.maxHeld) return { delayMs: 0, close: true };
    const at = Math.max(c.nextAt, now + this.opts.delayMs);
    c.nextAt = at + 1000 / this.opts.perSecond;
    return { delayMs: at - now, close: false };
  }
}
