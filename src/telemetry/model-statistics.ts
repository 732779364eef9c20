// Triton's statistics extension: per model and version, cumulative counts and durations of
// successful and failed requests, their queueing and compute, and of executions per batch size —
// the numbers `get_inference_statistics()` and perf_analyzer read. Fed from the same records as
// the Prometheus metrics. Inputs are concatenated and outputs split inside what Pareto times as
// compute, so compute_input and compute_output are counted with no time of their own.
import type { BatchRecord } from './metrics.js';
import type { RequestLog } from './telemetry.js';

interface Duration {
  count: number;
  ns: number;
}

interface VersionStats {
  lastInference: number;
  inferenceCount: number;
  executionCount: number;
  success: Duration;
  fail: Duration;
  queue: Duration;
  computeInfer: Duration;
  batches: Map<number, Duration>;
}

const ms = (x: number) => Math.round(x * 1e6);
const zero = (): Duration => ({ count: 0, ns: 0 });
const add = (d: Duration, ns: number) => { d.count++; d.ns += ns; };
const emptyStats = (): VersionStats => ({ lastInference: 0, inferenceCount: 0, executionCount: 0, success: zero(), fail: zero(), queue: zero(), computeInfer: zero(), batches: new Map() });

export class ModelStatistics {
  private readonly models = new Map<string, Map<string, VersionStats>>();

  constructor(private readonly now: () => number = Date.now) {}

  private entry(model: string, version: string): VersionStats {
    let versions = this.models.get(model);
    if (!versions) this.models.set(model, (versions = new Map()));
    let v = versions.get(version);
    if (!v) versions.set(version, (v = emptyStats()));
    return v;
  }

  /** A finished request of a known model (refusals before a model is known, 'unknown', are not a model's). */
  request(r: RequestLog): void {
    if (r.model === 'unknown') return;
    // A failure served by no variant is the model's, under no version.
    const v = this.entry(r.model, r.version);
    if (r.status !== 200) { add(v.fail, ms(r.durationMs)); return; }
    add(v.success, ms(r.durationMs));
    add(v.queue, ms(r.queueMs ?? 0));
    add(v.computeInfer, ms(r.computeMs ?? 0));
    v.lastInference = this.now();
  }

  batch(b: BatchRecord): void {
    const v = this.entry(b.model, b.version);
    v.executionCount++;
    v.inferenceCount += b.samples;
    let d = v.batches.get(b.samples);
    if (!d) v.batches.set(b.samples, (d = zero()));
    add(d, ms(b.computeMs));
  }

  /**
   * Triton's model_stats entries for these models and versions, zeros where nothing ran yet; the
   * version '' (failures no variant served) only where it has any.
   */
  view(models: Array<{ name: string; versions: string[] }>) {
    const out = [];
    for (const m of models) {
      const seen = this.models.get(m.name);
      for (const version of m.versions) {
        if (version === '' && !seen?.get('')) continue;
        const v = seen?.get(version) ?? emptyStats();
        out.push({
          name: m.name, version,
          last_inference: v.lastInference,
          inference_count: v.inferenceCount,
          execution_count: v.executionCount,
          inference_stats: {
            success: v.success, fail: v.fail, queue: v.queue,
            compute_input: { count: v.success.count, ns: 0 }, compute_infer: v.computeInfer, compute_output: { count: v.success.count, ns: 0 },
            cache_hit: zero(), cache_miss: zero(),
          },
          batch_stats: [...v.batches].sort((a, b) => a[0] - b[0]).map(([size, d]) => ({
            batch_size: size, compute_input: { count: d.count, ns: 0 }, compute_infer: d, compute_output: { count: d.count, ns: 0 },
          })),
        });
      }
    }
    return { model_stats: out };
  }
}
