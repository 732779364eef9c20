// Predicted batch latency for a variant: its measured profile (p50 per batch size, interpolated
// linearly in the batch size), scaled by an online correction from the latencies actually
// measured, plus the dispatch overhead measured around each run. Without a profile it learns
// from the runs alone (ms per sample), so an unprofiled variant is never taken to be free.
export interface ProfilePoint {
  batch: number;
  ms: number;
}

const ALPHA = 0.1; // EWMA weight of a new measurement: ~10 batches of memory

export class LatencyModel {
  private correction = 1;
  private overheadMs = 0;
  /** Runs fed back so far. */
  private observations = 0;
  /** Without a profile: measured ms per sample (0 until the first run). */
  private learnedPerSample = 0;
  private readonly points: ProfilePoint[];

  constructor(points: readonly ProfilePoint[]) {
    this.points = [...points].sort((a, b) => a.batch - b.batch);
  }

  /** The profile's latency at `batch`, before correction. */
  profiled(batch: number): number {
    const p = this.points;
    if (p.length === 0) return this.learnedPerSample * batch;
    if (batch <= p[0].batch) return p[0].ms;
    for (let i = 1; i < p.length; i++) {
      if (batch <= p[i].batch) {
        const t = (batch - p[i - 1].batch) / (p[i].batch - p[i - 1].batch);
        return p[i - 1].ms + t * (p[i].ms - p[i - 1].ms);
      }
    }
    const a = p[p.length - 2] ?? { batch: 0, ms: 0 }, b = p[p.length - 1];
    return b.ms + ((batch - b.batch) * (b.ms - a.ms)) / Math.max(1, b.batch - a.batch);
  }

  /** Time from dispatch to result for one batch: compute plus the overhead around it. */
  predict(batch: number): number {
    return this.compute(batch) + this.overheadMs;
  }

  /**
   * Compute time alone. Back-to-back batches overlap their overhead with the next one's compute
   * (executors hold a second batch), so throughput is bounded by this, not by predict().
   */
  compute(batch: number): number {
    return this.profiled(batch) * this.correction;
  }

  /** The largest batch up to `max` predicted within `ms` (binary search: profiles rise with the batch); at least 1. */
  samplesWithin(ms: number, max: number): number {
    let lo = 1, hi = max;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (this.predict(mid) <= ms) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  get overhead(): number {
    return this.overheadMs;
  }

  /** How much slower (> 1) or faster than its profile this variant has run here. */
  get slowdown(): number {
    return this.correction;
  }

  /**
   * Until it has run here itself, a variant is taken to run as much slower than its profile as its
   * siblings do: what slows them (cores shared with the front door and other processes) slows it
   * too. Without this, the first burst found the fast variant predicted at its quiet-machine
   * profile and 2× slower in fact (bench:own-model: 43 late answers, all at the first burst).
   */
  seed(slowdown: number): void {
    if (this.observations === 0) this.correction = slowdown;
  }

  /** Feeds back one run: its compute time and, when it did not wait behind another batch, the time around it. */
  observe(batch: number, computeMs: number, overheadMs?: number): void {
    this.observations++;
    if (this.points.length === 0) {
      const perSample = computeMs / Math.max(1, batch);
      this.learnedPerSample = this.learnedPerSample === 0 ? perSample : this.learnedPerSample + ALPHA * (perSample - this.learnedPerSample);
    }
    const expected = this.points.length === 0 ? 0 : this.profiled(batch);
    if (expected > 0 && computeMs > 0) {
      const ratio = Math.min(8, Math.max(0.25, computeMs / expected));
      this.correction += ALPHA * (ratio - this.correction);
    }
    if (overheadMs !== undefined && overheadMs >= 0) this.overheadMs += ALPHA * (overheadMs - this.overheadMs);
  }
}
