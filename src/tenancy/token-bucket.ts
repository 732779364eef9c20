// A token bucket in samples: `rate` per second refill, up to `burst`. Pure: time is an argument
// (ms on any monotonic clock), so it runs on fake clocks in tests and in the simulator.
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(readonly rate: number, readonly burst: number, now: number) {
    this.tokens = burst;
    this.last = now;
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
      this.last = now;
    }
  }

  /** Takes `n` tokens if there are that many; otherwise takes none. */
  tryTake(n: number, now: number): boolean {
    this.refill(now);
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }

  /** Seconds until `n` tokens will be there (0 if they are now; Infinity if n > burst). */
  secondsUntil(n: number, now: number): number {
    this.refill(now);
    if (n > this.burst) return Infinity;
    return this.tokens >= n ? 0 : (n - this.tokens) / this.rate;
  }
}
