// Prometheus metrics, named in Triton's style (pareto_inference_*), one set per server: the
// per-request counters and histograms in metric-families.ts, process metrics and gauges from
// prom-client. Label values are bounded: tenant ids from the tenants file, model and version names from
// the repository; anything else (a bad key, an unknown model) is recorded as "unknown".
import { performance } from 'node:perf_hooks';
import client from 'prom-client';
import { CounterFamily, HistogramFamily, type HistogramData } from './metric-families.js';
import type { RunResult } from '../runtime/executor-pool.js';

export interface RequestRecord {
  tenant: string;
  /** A model in the repository, or 'unknown'. */
  model: string;
  /** The variant that served it ('' when none did). */
  version: string;
  /** 'success' or the HTTP status of the error. */
  outcome: string;
  samples: number;
  durationMs: number;
  queueMs?: number;
  /** The compute time of the batch that served it. */
  computeMs?: number;
  accuracy?: number;
  /** Whether it answered within its latency budget; undefined when it had none. */
  sloMet?: boolean;
}

export interface BatchRecord {
  model: string;
  version: string;
  samples: number;
  computeMs: number;
  /** Its thread hops, where it ran on this process's executors. */
  handoffMs?: RunResult['handoffMs'];
}

/**
 * The series one (tenant, model, version) writes to, found with one lookup per request instead of
 * one label join and lookup per family; each is made when first written, as before.
 */
interface RequestSeries {
  labels: string[];
  outcomes: Map<string, { value: number }>;
  sloMet?: { value: number };
  sloMissed?: { value: number };
  samples?: { value: number };
  accuracy?: { value: number };
  duration?: HistogramData;
  queue?: HistogramData;
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** A hop between threads takes ~0.05–0.2 ms here, and up to ~12 ms waiting for a core (bench/RESULTS.md). */
const HANDOFF_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1];

export class Metrics {
  readonly registry = new client.Registry();
  private readonly requests = new CounterFamily('pareto_inference_request_total', 'Inference requests by tenant, model, version and outcome ("success" or the HTTP status of the error: rejections by reason)', ['tenant', 'model', 'version', 'outcome']);
  private readonly samples = new CounterFamily('pareto_inference_count_total', 'Samples (rows on the batch axis) answered successfully', ['tenant', 'model', 'version']);
  private readonly accuracy = new CounterFamily('pareto_inference_accuracy_served_total', 'Sum over answered samples of the serving variant\'s measured accuracy; divide by pareto_inference_count_total for the mean accuracy served', ['tenant', 'model', 'version']);
  private readonly slo = new CounterFamily('pareto_inference_slo_total', 'Requests with a latency budget, by whether they were answered within it (504s count as missed)', ['tenant', 'model', 'result']);
  private readonly duration = new HistogramFamily('pareto_inference_request_duration_seconds', 'End-to-end request time in the server, from the first byte to the reply', ['tenant', 'model', 'version'], LATENCY_BUCKETS);
  private readonly queue = new HistogramFamily('pareto_inference_queue_duration_seconds', 'Time a request waited for its batch to start', ['tenant', 'model', 'version'], LATENCY_BUCKETS);
  private readonly executions = new CounterFamily('pareto_inference_exec_count_total', 'Batches run', ['model', 'version']);
  private readonly compute = new HistogramFamily('pareto_inference_compute_duration_seconds', 'ONNX Runtime time per batch', ['model', 'version'], LATENCY_BUCKETS);
  private readonly batchSize = new HistogramFamily('pareto_batch_size', 'Samples per batch run', ['model', 'version'], [1, 2, 4, 8, 16, 32, 64, 128, 256]);
  private readonly handoff = new HistogramFamily('pareto_executor_handoff_seconds', 'A batch\'s thread hops: from the event loop to an idle executor taking it ("to_executor"), and from its answer to the event loop ("from_executor")', ['direction'], HANDOFF_BUCKETS);
  private readonly toExecutor = this.handoff.labelled(['to_executor']);
  private readonly fromExecutor = this.handoff.labelled(['from_executor']);
  private readonly families = [this.requests, this.samples, this.accuracy, this.slo, this.duration, this.queue, this.executions, this.compute, this.batchSize, this.handoff];

  constructor(gauges: GaugeSources) {
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry, prefix: 'pareto_' });
    new client.Gauge({ name: 'pareto_queue_samples', help: 'Samples waiting to be batched, per model', labelNames: ['model'], registers, collect() {
      this.reset();
      for (const [model, n] of gauges.queuedSamples()) this.set({ model }, n);
    } });
    new client.Gauge({ name: 'pareto_executor_inflight_batches', help: 'Batches held by executor threads', registers, collect() { this.set(gauges.inflightBatches()); } });
    new client.Gauge({ name: 'pareto_refusals_waiting', help: 'Refusals held at the door (--refusal-delay-ms), waiting for their turn to be answered', registers, collect() { this.set(gauges.refusalsWaiting()); } });
    new client.Gauge({ name: 'pareto_executor_utilization', help: 'Fraction of executor time spent running batches since the last scrape', registers, collect() { this.set(gauges.utilization()); } });
    // The front door's own load: with the executors' utilisation, it says which of the two limits a server.
    let loop = performance.eventLoopUtilization();
    new client.Gauge({ name: 'pareto_event_loop_utilization', help: 'Fraction of time the event loop (the front door: HTTP, gRPC, decoding, dispatch) was busy since the last scrape', registers, collect() {
      const now = performance.eventLoopUtilization();
      this.set(performance.eventLoopUtilization(now, loop).utilization);
      loop = now;
    } });
    new client.Counter({ name: 'pareto_front_door_cpu_seconds_total', help: 'Front-door time spent on each tenant\'s requests: their decoding, admission and encoding as measured, the framing and collection the event loop spent besides, shared out by requests, and the gRPC thread\'s busy time, shared out by the calls it framed (protocol/door-ledger.ts)', labelNames: ['tenant'], registers, collect() {
      this.reset();
      for (const [tenant, ms] of gauges.doorCpuMs()) this.inc({ tenant }, ms / 1000);
    } });
    const grpcThread = gauges.grpcThread;
    if (grpcThread) {
      new client.Gauge({ name: 'pareto_grpc_thread_utilization', help: 'Fraction of time the gRPC thread (the gRPC port\'s HTTP/2, off the event loop) was busy since the last scrape', registers, collect() {
        this.set(grpcThread()?.utilization() ?? 0);
      } });
      new client.Counter({ name: 'pareto_grpc_thread_mark_compacts_total', help: 'Full collections of the gRPC thread\'s heap, each of which stops that thread alone (the pacer starts one every --gc-every-streams calls)', registers, collect() {
        this.reset();
        this.inc(grpcThread()?.markCompacts ?? 0);
      } });
    }
    new client.Gauge({ name: 'pareto_planner_preferred_variant', help: '1 for the variant the adaptive planner prefers now, per model', labelNames: ['model', 'version'], registers, collect() {
      this.reset();
      for (const [model, version] of gauges.preferredVariants()) this.set({ model, version }, 1);
    } });
    new client.Gauge({ name: 'pareto_model_state', help: '1 for each model\'s current state (READY, LOADING, UNLOADING, UNAVAILABLE)', labelNames: ['model', 'state'], registers, collect() {
      this.reset();
      for (const { name, state } of gauges.models()) this.set({ model: name, state }, 1);
    } });
  }

  private readonly bySeries = new Map<string, RequestSeries>();

  request(r: RequestRecord): void {
    const key = `${r.tenant}\u0000${r.model}\u0000${r.version}`;
    let s = this.bySeries.get(key);
    if (!s) this.bySeries.set(key, (s = { labels: [r.tenant, r.model, r.version], outcomes: new Map() }));
    let outcome = s.outcomes.get(r.outcome);
    if (!outcome) s.outcomes.set(r.outcome, (outcome = this.requests.labelled([...s.labels, r.outcome])));
    outcome.value++;
    if (r.sloMet === true) (s.sloMet ??= this.slo.labelled([r.tenant, r.model, 'met'])).value++;
    else if (r.sloMet === false) (s.sloMissed ??= this.slo.labelled([r.tenant, r.model, 'missed'])).value++;
    if (r.outcome !== 'success') return;
    (s.samples ??= this.samples.labelled(s.labels)).value += r.samples;
    if (r.accuracy !== undefined) (s.accuracy ??= this.accuracy.labelled(s.labels)).value += r.accuracy * r.samples;
    this.duration.add((s.duration ??= this.duration.labelled(s.labels)), r.durationMs / 1000);
    if (r.queueMs !== undefined) this.queue.add((s.queue ??= this.queue.labelled(s.labels)), r.queueMs / 1000);
  }

  batch(b: BatchRecord): void {
    const labels = [b.model, b.version];
    this.executions.inc(labels);
    this.compute.observe(labels, b.computeMs / 1000);
    this.batchSize.observe(labels, b.samples);
    if (b.handoffMs?.toExecutor !== undefined) this.handoff.add(this.toExecutor, b.handoffMs.toExecutor / 1000);
    if (b.handoffMs) this.handoff.add(this.fromExecutor, b.handoffMs.fromExecutor / 1000);
  }

  async text(): Promise<string> {
    return this.families.map((f) => f.text()).join('') + await this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** Live values the gauges read at scrape time. */
export interface GaugeSources {
  queuedSamples(): Map<string, number>;
  inflightBatches(): number;
  utilization(): number;
  preferredVariants(): Map<string, string>;
  models(): Array<{ name: string; state: string }>;
  /** Front-door ms charged to each tenant so far. */
  doorCpuMs(): Map<string, number>;
  /** Refusals held in the tarpit, waiting for their turn. */
  refusalsWaiting(): number;
  /** The gRPC thread, once listening; absent where the server has none (--no-grpc-thread). */
  grpcThread?: () => { utilization(): number; markCompacts: number } | undefined;
}
