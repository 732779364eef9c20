// How many workers the cluster needs: per model, the arrival rate (smoothed over ~10 s) times the
// per-sample cost of each variant at the largest batch that still fits half the model's tightest
// latency SLO, over the executors a worker has and the target utilisation. The sum for each
// model's most accurate variant, summed over gateways and rounded up, is the HPA's target;
// `pareto cluster up` acts on it locally.
import type { BatchDispatcher } from '../serving/batch-dispatcher.js';
import type { ModelCatalog } from '../serving/model-catalog.js';
import { LatencyModel } from '../scheduler/latency-model.js';


export interface VariantReplicas {
  model: string;
  variant: string;
  accuracy: number;
  /** Samples/s arriving for the model. */
  rate: number;
  /** Batch size the estimate assumes. */
  batch: number;
  /** Executor-seconds per second it would keep busy. */
  busy: number;
  replicas: number;
}

export class Autoscaler {
  private readonly rates = new Map<string, number>();
  private last = new Map<string, number>();
  private lastAt = performance.now();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly dispatcher: Pick<BatchDispatcher, 'arrived'>,
    private readonly models: ModelCatalog,
    private readonly workers: { list(): Array<{ up: boolean; report?: { executors: number } }> },
    private readonly targetUtilization = 0.6,
    /** The tightest latency budget any tenant has on the model, ms (Infinity: none). */
    private readonly sloMs: (model: string) => number = () => Infinity,
    /** Time constant of the arrival-rate estimate, s: long enough not to chase every burst. */
    private readonly windowS = 10,
  ) {
    this.timer = setInterval(() => this.tick(performance.now()), 1000);
    this.timer.unref();
  }

  /** Folds the samples that arrived since the last tick into each model's smoothed rate. */
  tick(now: number): void {
    const dt = (now - this.lastAt) / 1000;
    if (dt <= 0) return;
    const decay = Math.exp(-dt / this.windowS);
    for (const [model, total] of this.dispatcher.arrived) {
      const instant = (total - (this.last.get(model) ?? 0)) / dt;
      this.rates.set(model, (this.rates.get(model) ?? 0) * decay + instant * (1 - decay));
    }
    this.last = new Map(this.dispatcher.arrived);
    this.lastAt = now;
  }

  private executorsPerWorker(): number {
    const up = this.workers.list().filter((w) => w.up);
    if (up.length === 0) return 1;
    return up.reduce((a, w) => a + (w.report?.executors ?? 1), 0) / up.length;
  }

  /** Replicas per variant of every ready model at the current rates. */
  plan(): VariantReplicas[] {
    const perWorker = this.executorsPerWorker() * this.targetUtilization;
    const out: VariantReplicas[] = [];
    for (const model of this.models.ready()) {
      const rate = this.rates.get(model.name) ?? 0;
      const maxBatch = model.config.batching.enabled ? model.config.batching.max_batch_size : 1;
      const budget = this.sloMs(model.name) / 2;
      for (const v of model.variants.values()) {
        const latency = new LatencyModel((v.profile?.latency ?? []).map((l) => ({ batch: l.batch_size, ms: l.p50_ms })));
        let batch = maxBatch;
        while (batch > 1 && latency.profiled(batch) > budget) batch = Math.floor(batch / 2);
        const busySecondsPerSecond = (rate * latency.profiled(batch)) / batch / 1000;
        out.push({ model: model.name, variant: v.name, accuracy: v.profile?.accuracy.value ?? 1, rate, batch, busy: busySecondsPerSecond, replicas: Math.ceil(busySecondsPerSecond / perWorker) });
      }
    }
    return out;
  }

  /**
   * Workers this gateway's traffic needs, unrounded: for each model what its most accurate variant
   * needs, added up (every worker serves every model). Gateways each see their share of the
   * traffic, so the cluster needs the sum over gateways, rounded up.
   */
  workerLoad(): number {
    const best = new Map<string, VariantReplicas>();
    for (const r of this.plan()) {
      const b = best.get(r.model);
      if (!b || r.accuracy > b.accuracy) best.set(r.model, r);
    }
    let busy = 0;
    for (const r of best.values()) busy += r.busy;
    return busy / (this.executorsPerWorker() * this.targetUtilization);
  }

  close(): void {
    clearInterval(this.timer);
  }
}
