// Predicted batch latency for a variant: its measured profile (p50 per batch size, interpolated
// linearly in the batch size), scaled by an online correction from the latencies actually
// measured, plus the dispatch overhead measured around each run. Without a profile it learns
// from the runs alone (ms per sample), so an unprofiled variant is never taken to be free.
// Profiles need not rise with the batch size (one measured 115 ms at batch 1 and 94 ms at 4):
// nothing here assumes they do, and the batch size cheapest per sample may be below the largest.
export interface ProfilePoint {
  batch: number;
  ms: number;
}

const ALPHA = 0.1; // EWMA weight of a new measurement: ~10 batches of memory
const CHEAPER_BY = 0.1;

export class LatencyModel {
  private correction = 1;
  private spreadRatio = 0;
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
    // Beyond the profile: along its last segment, or in proportion where that segment falls.
    if (b.ms < a.ms) return (b.ms * batch) / b.batch;
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

  /** The largest batch up to `max` predicted within `ms`, at least 1 (a scan: profiles need not rise). */
  samplesWithin(ms: number, max: number): number {
    for (let b = max; b > 1; b--) if (this.predict(b) <= ms) return b;
    return 1;
  }

  private readonly cheapest = new Map<number, number>();

  /**
   * The batch size up to `max` past which a batch is not worth growing: the largest, unless a
   * smaller one costs at least CHEAPER_BY less compute per sample. The margin is there because
   * profiles of sub-millisecond batches differ by ~8% between sizes from noise alone (mnist-mlp-wide's
   * tta9 read 0.116 ms per sample at 8 and 0.126 at 64), and every extra batch costs a dispatch the
   * profile does not show. The correction scales every size alike, so this is fixed per max.
   */
  bestBatch(max: number): number {
    let best = this.cheapest.get(max);
    if (best === undefined) {
      best = max;
      if (this.points.length > 0) {
        for (let b = max - 1; b >= 1; b--) if (this.profiled(b) / b < (1 - CHEAPER_BY) * (this.profiled(best) / best)) best = b;
      }
      this.cheapest.set(max, best);
    }
    return best;
  }

  /** Least compute per sample, ms, over batch sizes up to `max`. */
  perSample(max: number): number {
    const b = this.bestBatch(max);
    return this.compute(b) / b;
  }

  /**
   * The batch size dispatch forms when `rate` samples/ms arrive over `executors` executors that
   * take whatever is waiting whenever they are free: each executor's cycle (compute and overhead)
   * collects rate × cycle ÷ executors samples. The least fixed point, from 1 upward; Infinity when
   * even the cheapest batch up to `max` cannot keep up.
   */
  formedBatch(rate: number, executors: number, max: number): number {
    if (rate * this.perSample(max) > executors) return Infinity;
    const limit = this.bestBatch(max);
    let b = 1;
    for (let i = 0; i < 16; i++) {
      const next = Math.min(limit, Math.max(1, Math.ceil((rate * (this.compute(b) + this.overheadMs)) / executors)));
      if (next <= b) break;
      b = next;
    }
    return b;
  }

  get overhead(): number {
    return this.overheadMs;
  }

  /**
   * How far one run strays from the prediction, as a fraction of it (mean absolute deviation,
   * smoothed like the correction): ~0.05 where runs are steady, 0.3 and more on a busy machine.
   */
  get spread(): number {
    return this.spreadRatio;
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
      this.spreadRatio += ALPHA * (Math.abs(ratio - this.correction) / this.correction - this.spreadRatio);
      this.correction += ALPHA * (ratio - this.correction);
    }
    if (overheadMs !== undefined && overheadMs >= 0) this.overheadMs += ALPHA * (overheadMs - this.overheadMs);
  }
}
