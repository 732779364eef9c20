// The front door's work past reading a request (decoding a small REST body or a gRPC message's
// tensors and admitting it; encoding and writing its answer) in its tenant's priority order, a
// slice of at most `sliceMs` per event-loop turn, instead of first come. A flood's requests all
// read in one turn took the event loop for that whole turn, and a higher-priority tenant's request
// read in the same turn waited behind them (bench:abuse's 1-row binary flood within quota to
// another model, REST: B's p99 while the flood ran, median of 7 probe runs, 25.7 ms first come
// against 14.0 ms in turns).
import { performance } from 'node:perf_hooks';

/** Work of the highest priority seen within this long goes at once; lower priorities wait their turn. */
const TOP_HOLD_MS = 1000;
/** A queue whose taken slots reach this many, and half its length, drops them. */
const COMPACT_AT = 1024;

export class DoorTurns {
  /** Waiting work by priority rank, each first in, first out from `heads[rank]`. */
  private readonly queues: Array<Array<(() => void) | undefined>> = [];
  private readonly heads: number[] = [];
  private top = -Infinity;
  private topAt = -Infinity;
  private scheduled = false;

  constructor(private readonly sliceMs: number, private readonly now: () => number = () => performance.now()) {}

  /**
   * Undefined: go now (the highest priority lately, with none of its rank or above waiting);
   * else resolved at this work's turn.
   */
  turn(rank: number): Promise<void> | undefined {
    const now = this.now();
    if (rank >= this.top || now - this.topAt > TOP_HOLD_MS) {
      this.top = rank;
      this.topAt = now;
      if (!this.waitingFrom(rank)) return undefined;
    }
    return new Promise((resolve) => {
      (this.queues[rank] ??= []).push(resolve);
      this.heads[rank] ??= 0;
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.drain);
      }
    });
  }

  private waitingFrom(rank: number): boolean {
    for (let r = Math.max(0, rank); r < this.queues.length; r++) if (this.queues[r] && this.heads[r] < this.queues[r].length) return true;
    return false;
  }

  private take(): (() => void) | undefined {
    for (let rank = this.queues.length - 1; rank >= 0; rank--) {
      const q = this.queues[rank];
      if (!q || this.heads[rank] >= q.length) continue;
      const next = q[this.heads[rank]];
      // Taken work leaves the array at once: a queue that never empties under a flood kept every
      // resolver it had handed out (and its promise) until it did.
      q[this.heads[rank]++] = undefined;
      if (this.heads[rank] === q.length) {
        q.length = 0;
        this.heads[rank] = 0;
      } else if (this.heads[rank] >= COMPACT_AT && 2 * this.heads[rank] >= q.length) {
        // One that never empties under a steady flood would otherwise grow by a slot per request.
        q.splice(0, this.heads[rank]);
        this.heads[rank] = 0;
      }
      return next;
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
