// Refusals are cheap but not free: a caller refused at the door (401, 403, 429, 503) that keeps
// sending from many connections gets refused as fast as the event loop can answer, and that loop
// is everyone's. Measured: globex sending 32-row JSON bodies past its rate from 64 connections
// drew 3,100 refusals/s, each body read and dropped (460 MB/s), and acme's p50 went 4.4 → 35 ms.
// Each caller (a tenant, or all callers without a valid key together) is refused at once up to
// `perSecond`; beyond it, its refusals wait in line and are answered at `perSecond` (a leaky
// bucket), their bodies unread meanwhile. However many connections a caller opens, its refusals
// cost at most twice `perSecond` answers a second. Past `maxHeld` waiting, a refusal is answered
// at once with its connection closed, so that no caller holds unbounded sockets.
// A refusal whose client is gone leaves the line and takes no turn, and none waits past `maxWaitMs`
// (then it is answered with its connection closed): a flood's refusals must not delay the caller's
// next ones once the flood stops. When each held its place, up to `maxHeld` / `perSecond` (10 s),
// a tenant got 16–93 of its 2,000 samples/s answered. (A REST client gone while its unread body
// holds its socket paused is not seen to go: the socket reads no end. `maxWaitMs` bounds those.)
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
  /** The longest a refusal waits (never under `delayMs`); past it, answered with its connection closed. */
  maxWaitMs: number;
  now: () => number;
}

interface Held {
  /** The earliest it may be answered. */
  notBefore: number;
  /** Answered with its connection closed from then on, whatever its turn. */
  expiresAt: number;
  answer: (close: boolean) => void;
  /** Its neighbours in its caller's line while it waits. */
  prev: Held | undefined;
  next: Held | undefined;
  waiting: boolean;
}

/**
 * A caller's waiting refusals in arrival order, linked through themselves, not a Set with a refusal
 * added and deleted per call: the pattern src/churn-set.ts measured keeping what was deleted alive
 * through scavenges (here, a 1-row gRPC flood promoted 37.3 MB in 30 s with the Set, 33.1 MB
 * without; one run each).
 */
interface Line {
  first: Held | undefined;
  last: Held | undefined;
  size: number;
}

interface Caller {
  immediate: TokenBucket;
  line: Line;
  /** The earliest the next waiting refusal may be answered: one per 1000 / perSecond ms. */
  nextAt: number;
  timer: NodeJS.Timeout | undefined;
}

/** Cancels a held refusal whose client is gone; nothing once it is answered. */
export type CancelRefusal = () => void;

export class RefusalTarpit {
  private readonly callers = new Map<string, Caller>();

  constructor(private readonly opts: RefusalTarpitOptions) {}

  /** Refusals waiting for their turn, all callers together. */
  get waiting(): number {
    let n = 0;
    for (const c of this.callers.values()) n += c.line.size;
    return n;
  }

  /** Answers one refusal of `caller` now or in its turn: `answer(close)`, close meaning drop the connection. */
  refuse(caller: string, answer: (close: boolean) => void): CancelRefusal {
    const now = this.opts.now();
    let c = this.callers.get(caller);
    if (!c) this.callers.set(caller, (c = { immediate: new TokenBucket(this.opts.perSecond, this.opts.perSecond, now), line: { first: undefined, last: undefined, size: 0 }, nextAt: now, timer: undefined }));
    const atOnce = c.immediate.tryTake(1, now);
    if (atOnce || c.line.size >= this.opts.maxHeld) {
      answer(!atOnce);
      return noop;
    }
    const held: Held = { notBefore: now + this.opts.delayMs, expiresAt: now + Math.max(this.opts.maxWaitMs, this.opts.delayMs), answer, prev: undefined, next: undefined, waiting: true };
    append(c.line, held);
    if (c.timer === undefined) this.arm(c);
    const line = c.line;
    return () => remove(line, held);
  }

  /** Times the first waiting refusal's answer (its turn, or its expiry); a caller with none waiting keeps no timer. */
  private arm(c: Caller): void {
    const first = c.line.first;
    if (!first) {
      c.timer = undefined;
      return;
    }
    const turn = Math.max(c.nextAt, first.notBefore);
    c.timer = setTimeout(() => this.answer(c, turn), Math.min(turn, first.expiresAt) - this.opts.now());
  }

  private answer(c: Caller, turn: number): void {
    const now = this.opts.now();
    // In arrival order: the first takes its turn if it has come (the one it was timed for may have
    // gone meanwhile), then those past the longest wait are let go, oldest first.
    for (let held = c.line.first; held; held = c.line.first) {
      const due = Math.max(turn, held.notBefore);
      if (due <= now) {
        c.nextAt = due + 1000 / this.opts.perSecond;
        turn = c.nextAt;
      } else if (held.expiresAt > now) break;
      remove(c.line, held);
      held.answer(due > now);
    }
    this.arm(c);
  }
}

function append(line: Line, held: Held): void {
  held.prev = line.last;
  if (line.last) line.last.next = held;
  else line.first = held;
  line.last = held;
  line.size++;
}

function remove(line: Line, held: Held): void {
  if (!held.waiting) return;
  held.waiting = false;
  if (held.prev) held.prev.next = held.next;
  else line.first = held.next;
  if (held.next) held.next.prev = held.prev;
  else line.last = held.prev;
  held.prev = held.next = undefined;
  line.size--;
}

const noop: CancelRefusal = () => undefined;
