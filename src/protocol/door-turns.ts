// The front door's work past reading a request (decoding a small REST body or a gRPC message's
// tensors and admitting it; encoding and writing its answer) in its tenant's priority order, a
// slice of at most `sliceMs` per event-loop turn, instead of first come. A flood's requests all
// read in one turn took the event loop for that whole turn, and a higher-priority tenant's request
// read in the same turn waited behind them (bench:abuse's 1-row binary flood within quota to
// another model, REST: B's p99 while the flood ran, median of 7 probe runs, 25.7 ms first come
// against 14.0 ms in turns).
// Within a priority, the door is shared by weight (door-ledger.ts): a tenant that lately used more
// than its part of the loop waits its turn like a lower priority, the waiting tenant that used
// least per weight goes first, and while the loop is saturated one over its part is paced.
import { performance } from 'node:perf_hooks';
import type { DoorCaller, DoorLedger } from './door-ledger.js';

/** Work of the highest priority seen within this long goes at once; lower priorities wait their turn. */
const TOP_HOLD_MS = 1000;
/** A queue whose taken slots reach this many, and half its length, drops them. */
const COMPACT_AT = 1024;

/** One tenant's waiting work at one priority, first in, first out. */
class TenantLine {
  private readonly work: Array<(() => void) | undefined> = [];
  /** When each piece was queued (DoorTurns' counter): ties between tenants go to the earliest. */
  private readonly order: number[] = [];
  private head = 0;

  constructor(readonly tenant: string) {}

  get size(): number {
    return this.work.length - this.head;
  }

  get slots(): number {
    return this.work.length;
  }

  get firstQueued(): number {
    return this.order[this.head];
  }

  push(resolve: () => void, seq: number): void {
    this.work.push(resolve);
    this.order.push(seq);
  }

  shift(): () => void {
    const next = this.work[this.head]!;
    // Taken work leaves the array at once: a queue that never empties under a flood kept every
    // resolver it had handed out (and its promise) until it did.
    this.work[this.head++] = undefined;
    if (this.head === this.work.length) {
      this.work.length = 0;
      this.order.length = 0;
      this.head = 0;
    } else if (this.head >= COMPACT_AT && 2 * this.head >= this.work.length) {
      // One that never empties under a steady flood would otherwise grow by a slot per request.
      this.work.splice(0, this.head);
      this.order.splice(0, this.head);
      this.head = 0;
    }
    return next;
  }
}

export class DoorTurns {
  /** Waiting work by priority rank, then tenant (few, never deleted: a plain object and a list). */
  private readonly lines: Array<{ byTenant: Record<string, TenantLine>; list: TenantLine[]; waiting: number }> = [];
  private top = -Infinity;
  private topAt = -Infinity;
  private scheduled = false;
  private seq = 0;

  /** The ledger when it orders the work within a priority. */
  private readonly share: DoorLedger | undefined;

  /** With `ledger`, each tenant's door work is charged to it; with `share` too, it decides the order within a priority. */
  constructor(private readonly sliceMs: number, private readonly now: () => number = () => performance.now(), private readonly ledger?: DoorLedger, share = true) {
    this.share = share ? ledger : undefined;
  }

  /**
   * Undefined: go now (the highest priority lately, with nothing waiting that would go before it,
   * and not over its share of the door); else resolved at this work's turn. A request's `first`
   * turn waits its tenant's pace first, if the door is saturated and it is over its share.
   */
  turn(who: DoorCaller, first = false): Promise<void> | undefined {
    const pace = first ? this.share?.paceMs(who.tenant) ?? 0 : 0;
    if (pace > 0) return new Promise<void>((resolve) => setTimeout(resolve, pace)).then(() => this.turn(who));
    const rank = who.priority;
    const now = this.now();
    if (rank >= this.top || now - this.topAt > TOP_HOLD_MS) {
      this.top = rank;
      this.topAt = now;
      if (!this.waitingFrom(rank + 1) && !this.waitingAhead(who) && !this.share?.overShare(who)) return undefined;
    }
    return new Promise((resolve) => {
      const level = (this.lines[rank] ??= { byTenant: Object.create(null), list: [], waiting: 0 });
      let line = level.byTenant[who.tenant];
      if (!line) {
        line = level.byTenant[who.tenant] = new TenantLine(who.tenant);
        level.list.push(line);
      }
      line.push(resolve, this.seq++);
      level.waiting++;
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.drain);
      }
    });
  }

  /** `ms` of door work timed for `who` (its share is counted from these); `request` once per request. */
  charge(who: DoorCaller, ms: number, request = false, offLoop = false): void {
    this.ledger?.charge(who, ms, request, offLoop);
  }

  /** Array slots one tenant's line at one rank holds (tests: it stays bounded). */
  slotsOf(rank: number, tenant: string): number {
    return this.lines[rank]?.byTenant[tenant]?.slots ?? 0;
  }

  private waitingFrom(rank: number): boolean {
    for (let r = Math.max(0, rank); r < this.lines.length; r++) if (this.lines[r]?.waiting) return true;
    return false;
  }

  /** Whether work of `who`'s rank waits that would be served before its own: from a tenant that used the door no more per weight. */
  private waitingAhead(who: DoorCaller): boolean {
    const level = this.lines[who.priority];
    if (!level?.waiting) return false;
    const mine = this.share?.normalizedUse(who.tenant) ?? 0;
    for (const line of level.list) if (line.size > 0 && (this.share?.normalizedUse(line.tenant) ?? 0) <= mine) return true;
    return false;
  }

  /** The highest rank's waiting work, from the tenant that used the door least per weight (ties: first queued). */
  private take(): (() => void) | undefined {
    for (let rank = this.lines.length - 1; rank >= 0; rank--) {
      const level = this.lines[rank];
      if (!level?.waiting) continue;
      let best: TenantLine | undefined, bestUse = Infinity;
      for (const line of level.list) {
        if (line.size === 0) continue;
        const use = this.share?.normalizedUse(line.tenant) ?? 0;
        // The first waiting line is taken whatever its use: a weight so small that use per weight
        // is Infinity must still be served, not leave `best` unset.
        if (!best || use < bestUse || (use === bestUse && line.firstQueued < best.firstQueued)) {
          best = line;
          bestUse = use;
        }
      }
      level.waiting--;
      return best!.shift();
    }
    return undefined;
  }

  private readonly drain = async (): Promise<void> => {
    const start = this.now();
    for (let next = this.take(); next; next = this.take()) {
      next();
      await undefined; // its continuation runs here, inside this slice's time
      if (this.now() - start >= this.sliceMs) break;
    }
    if (this.waitingFrom(0)) setImmediate(this.drain);
    else this.scheduled = false;
  };
}
