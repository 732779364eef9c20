// Moves queued requests onto free executors. Each model has a fair queue (per tenant, EDF inside)
// and a planner that picks the batch and the variant, per shape class: only requests that can
// legally be concatenated share a queue (tensor/shape-class.ts), and each class learns its own
// latency. A request that names a version gets a queue of its own for that variant. Whenever an
// executor is free, the queue whose next request is most urgent is planned; the batch's inputs are
// concatenated along each input's batch axis, run once, and the outputs split back per request.
import { performance } from 'node:perf_hooks';
import { AccuracyUnavailableError, DeadlineError, InferenceFailedError, isParetoError, type ParetoError } from '../errors.js';
import type { ServingInfo } from '../protocol/types.js';
import { DEFAULT_YIELD_HOLD_MS, ExecutorCommitments } from '../scheduler/executor-commitments.js';
import { FairQueue, type QueuedRequest } from '../scheduler/fair-queue.js';
import { Planner, type BatchPlan, type PlannerVariant } from '../scheduler/planner.js';
import { concatBatch, splitBatch } from '../tensor/batch.js';
import { tensorBuffers } from '../tensor/buffer-pool.js';
import { hasShapeClasses, rowElements, shapeClass } from '../tensor/shape-class.js';
import type { Tensor } from '../tensor/tensor.js';
import type { BatchRecord } from '../telemetry/metrics.js';
import type { Executors } from './executors.js';
import type { LoadedModel, LoadedVariant } from './model-host.js';

export interface BatchResult {
  outputs: Tensor[];
  serving: ServingInfo;
}

/** What the scheduler needs to know about a request besides its tensors. */
export type Scheduling = Omit<QueuedRequest, 'samples' | 'arrival'>;

interface Pending extends QueuedRequest {
  /** In the model's signature order. */
  inputs: Tensor[];
  resolve: (r: BatchResult) => void;
  reject: (e: Error) => void;
}

interface ModelQueue {
  model: LoadedModel;
  /** The queue's key among the model's queues: variant, immediacy and shape class. */
  key: string;
  /** Input elements per row in this shape class (scales profiles measured at another shape). */
  rowElements: number;
  variants: Map<string, LoadedVariant>;
  /** executors.variants.version() when `variants` was chosen. */
  variantsVersion: number;
  queue: FairQueue<Pending>;
  planner: Planner<Pending>;
}

/**
 * Queues of a model beyond this many are dropped when empty: a client sending ever-new shapes must
 * not grow the server's state without bound (a dropped class only loses its learned latency).
 */
const MAX_QUEUES_PER_MODEL = 64;

function plannerVariant(v: LoadedVariant, rowElements: number): PlannerVariant {
  // A profile measured at another input size scales by elements per row: a first guess, which
  // the class's own online correction then refines.
  const measured = v.profile?.measured.row_elements;
  const scale = typeof measured === 'number' && measured > 0 && rowElements > 0 ? rowElements / measured : 1;
  return {
    name: v.name,
    // Unprofiled variants are served only when pinned or alone (runnable()); 0 claims nothing.
    accuracy: v.profile?.accuracy.value ?? 0,
    latency: (v.profile?.latency ?? []).map((l) => ({ batch: l.batch_size, ms: l.p50_ms * scale })),
  };
}

export class BatchDispatcher {
  private readonly queues = new Map<LoadedModel, Map<string, ModelQueue>>();
  private readonly commitments: ExecutorCommitments;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private pumpScheduled = false;

  /** Told of every batch that ran (metrics). */
  onBatch?: (b: BatchRecord) => void;

  /** Batches run per "model/variant" since start: the load report's live measurement. */
  readonly ran = new Map<string, { batches: number; samples: number; computeMs: number }>();

  /** Samples submitted per model since start (arrival rates for the autoscaler). */
  readonly arrived = new Map<string, number>();

  /** Requests accepted and not yet settled, over all models. */
  outstanding = 0;

  constructor(
    private readonly executors: Executors,
    private readonly onDrained: (model: LoadedModel) => void,
    private readonly now: () => number = () => performance.now(),
    /** How long a lower priority class's batch may wait to fill while a higher class is about (executor-commitments.ts); 0: it does not make way. */
    yieldHoldMs = DEFAULT_YIELD_HOLD_MS,
  ) {
    this.commitments = new ExecutorCommitments(yieldHoldMs);
  }

  /**
   * Queues one request's inputs (signature order). `pinned`: the version the request named; absent,
   * the planner chooses. Resolves with the request's share of its batch.
   */
  submit(model: LoadedModel, pinned: LoadedVariant | undefined, inputs: Tensor[], samples: number, sched: Scheduling, immediate = false): Promise<BatchResult> {
    const q = this.queueFor(model, pinned, immediate, inputs);
    if (sched.minAccuracy > q.planner.bestAccuracy) {
      const measured = [...q.variants.values()].some((v) => v.profile !== undefined);
      return Promise.reject(new AccuracyUnavailableError(model.name, sched.minAccuracy, measured ? q.planner.bestAccuracy : undefined));
    }
    model.outstanding++;
    this.outstanding++;
    this.arrived.set(model.name, (this.arrived.get(model.name) ?? 0) + samples);
    const now = this.now();
    q.planner.arrived(samples, now);
    this.commitments.noteArrival(sched.priority, sched.deadline - now, now);
    return new Promise((resolve, reject) => {
      // A literal with one fixed shape (not a spread): the queue's heap code stays monomorphic.
      q.queue.push({
        tenant: sched.tenant, weight: sched.weight, priority: sched.priority, deadline: sched.deadline, minAccuracy: sched.minAccuracy,
        samples, arrival: now, inputs, resolve, reject,
      });
      this.schedulePump();
    });
  }

  /** Fails everything queued for a model (its sessions are going away). */
  cancel(model: LoadedModel, error: ParetoError): void {
    const queues = this.queues.get(model);
    if (!queues) return;
    this.queues.delete(model);
    for (const q of queues.values()) {
      const dropped = q.queue.drain();
      for (const p of dropped) p.reject(error);
      this.settled(model, dropped.length);
    }
  }

  /** Drops a replaced model's (empty) queues: a server reloading under traffic kept every old one. */
  forget(model: LoadedModel): void {
    this.queues.delete(model);
  }

  /** Executors that run this model's batches (the model configuration's instance count). */
  executorCount(model: string): number {
    return this.executors.count(model);
  }

  /** The variant each model's planner prefers now (for metrics and tests). */
  preferredVariants(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [model, queues] of this.queues) {
      const auto = queues.get('*');
      if (auto) out.set(model.name, auto.planner.preferred);
    }
    return out;
  }

  queuedSamples(): number {
    let n = 0;
    for (const queues of this.queues.values()) for (const q of queues.values()) n += q.queue.samples;
    return n;
  }

  queuedSamplesByModel(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [model, queues] of this.queues) {
      let n = 0;
      for (const q of queues.values()) n += q.queue.samples;
      out.set(model.name, (out.get(model.name) ?? 0) + n);
    }
    return out;
  }

  /** `immediate`: the caller (a gateway) has formed the batch already; run it without max_queue_delay. */
  private queueFor(model: LoadedModel, pinned: LoadedVariant | undefined, immediate: boolean, inputs: Tensor[]): ModelQueue {
    let queues = this.queues.get(model);
    if (!queues) this.queues.set(model, (queues = new Map()));
    let key = `${pinned?.name ?? '*'}${immediate ? '!' : ''}`;
    if (this.hasClasses(model)) key += `|${shapeClass(inputs, model.inputs, batchLimit(model) > 1)}`;
    let q = queues.get(key);
    const version = this.executors.variants?.version() ?? 0;
    if (!q) {
      const variants = pinned ? [pinned] : this.runnable(model);
      const elements = rowElements(inputs, model.inputs);
      q = { model, key, rowElements: elements, variants: new Map(variants.map((v) => [v.name, v])), variantsVersion: version, queue: new FairQueue<Pending>(), planner: this.planner(model, variants, immediate, elements) };
      queues.set(key, q);
    } else if (!pinned && q.variantsVersion !== version) {
      // On a gateway the variants that can run change as workers come, go and upgrade: the
      // planner of unpinned requests then starts again over those (its online corrections with it).
      q.variantsVersion = version;
      const variants = this.runnable(model);
      if (variants.length !== q.variants.size || !variants.every((v) => q!.variants.has(v.name))) {
        q.variants = new Map(variants.map((v) => [v.name, v]));
        q.planner = this.planner(model, variants, immediate, q.rowElements);
      }
    }
    return q;
  }

  private readonly classes = new WeakMap<LoadedModel, boolean>();

  private hasClasses(model: LoadedModel): boolean {
    let has = this.classes.get(model);
    if (has === undefined) this.classes.set(model, (has = hasShapeClasses(model.inputs)));
    return has;
  }

  private planner(model: LoadedModel, variants: LoadedVariant[], immediate: boolean, elements: number): Planner<Pending> {
    const limit = batchLimit(model);
    return new Planner<Pending>(variants.map((v) => plannerVariant(v, elements)), {
      policy: model.config.scheduling.policy,
      maxBatchSize: limit,
      maxQueueDelayMs: model.config.batching.max_queue_delay_ms,
      mayHold: limit > 1 && !immediate,
      executors: this.executors.count(model.name),
    });
  }

  /**
   * The variants the planner may choose among for requests that name none: those some executor
   * can run now (all if none can: the run then says why), and of those only the profiled ones.
   * An unprofiled variant has no known latency or accuracy to weigh, so it serves when pinned, or
   * when no variant is profiled, as the default variant alone.
   */
  private runnable(model: LoadedModel): LoadedVariant[] {
    const all = [...model.variants.values()];
    const served = this.executors.variants;
    const up = served ? all.filter((v) => served.serves(model.name, v.name)) : all;
    const candidates = up.length > 0 ? up : all;
    const profiled = candidates.filter((v) => v.profile !== undefined);
    if (profiled.length > 0) return profiled;
    return candidates.includes(model.defaultVariant) ? [model.defaultVariant] : [candidates[0]];
  }

  private settled(model: LoadedModel, requests: number): void {
    model.outstanding -= requests;
    this.outstanding -= requests;
    if (requests > 0 && model.outstanding === 0) this.onDrained(model);
  }

  private expired(q: ModelQueue, requests: Pending[], now: number): void {
    for (const r of requests) {
      r.reject(new DeadlineError(`model '${q.model.name}': no variant can answer before the deadline (${(r.deadline - r.arrival).toFixed(1)} ms after arrival; waited ${(now - r.arrival).toFixed(1)} ms)`));
    }
    this.settled(q.model, requests.length);
  }

  /**
   * An executor came free, or came up, outside a batch this dispatcher awaits (a gateway's hedged
   * batch: the losing copy frees its worker's slot after the batch was answered). Without this, a
   * queue waiting for that slot waited for ever.
   */
  wake(): void {
    this.schedulePump();
  }

  /**
   * Pumps once per event-loop turn rather than per request: requests parsed in the same turn
   * (many sockets readable at once) then leave in one batch instead of one batch each. Measured
   * with bench:serve: fewer, larger batches and far fewer postMessage calls on the main thread.
   */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(this.runPump);
  }

  private readonly runPump = () => {
    this.pumpScheduled = false;
    this.pump();
  };

  private pump(): void {
    const now = this.now();
    let wakeAt = Infinity;
    const waiting: ModelQueue[] = [];
    for (const queues of this.queues.values()) {
      for (const q of queues.values()) {
        const late = q.planner.expire(q.queue, now);
        if (late.length) this.expired(q, late, now);
        if (q.queue.length > 0) waiting.push(q);
        else if (queues.size > MAX_QUEUES_PER_MODEL) queues.delete(q.key);
      }
    }
    // Most urgent first: the earliest deadline, then the oldest arrival.
    waiting.sort((a, b) => a.queue.earliestDeadline() - b.queue.earliestDeadline() || a.queue.oldestHeadArrival() - b.queue.oldestHeadArrival());
    for (const q of waiting) {
      const name = q.model.name;
      // Workers come and go on a gateway: the planner's view of capacity follows them.
      const count = Math.max(1, this.executors.count(name));
      q.planner.opts.executors = count;
      const available = () => this.executors.available(name, now - q.queue.oldestHeadArrival());
      for (let executor = available(); executor !== undefined && q.queue.length > 0; executor = available()) {
        // A busy executor only gets a batch queued behind its current one when that batch is full
        // (a partial batch is better left to grow until an executor is really free) and fits.
        const planned = this.commitments.plan(q.planner, q.queue, executor.index, executor.idle, count, now);
        if (!planned) break;
        const { plan, expired, wakeAt: at } = planned;
        if (expired.length) this.expired(q, expired, now);
        if (!plan) {
          if (at !== undefined) wakeAt = Math.min(wakeAt, at);
          break;
        }
        void this.execute(executor.index, executor.idle, q, plan, now);
      }
      if (q.queue.length > 0) wakeAt = Math.min(wakeAt, q.planner.nextExpiry(q.queue));
    }
    this.wakeAt(wakeAt);
  }

  private wakeAt(at: number): void {
    if (at === Infinity || at >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timerAt = Infinity;
      this.pump();
    }, Math.max(0, at - this.now()));
  }

  private async execute(executor: number, idle: boolean, q: ModelQueue, plan: BatchPlan<Pending>, dispatchedAt: number): Promise<void> {
    const { model } = q;
    const variant = q.variants.get(plan.variant)!;
    const batch = plan.requests;
    try {
      // Unbatched inputs are equal across the batch (its shape class says so): the first one's go.
      const inputs = batch.length === 1 ? batch[0].inputs : model.inputs.map((s, i) => (s.batchAxis === null ? batch[0].inputs[i] : concatBatch(batch.map((p) => p.inputs[i]), s.batchAxis)));
      // What was copied into the batch is read no more: its buffers go back for reuse.
      if (batch.length > 1) model.inputs.forEach((s, i) => { if (s.batchAxis !== null) for (const p of batch) giveBack(p.inputs[i]); });
      let deadline = Infinity;
      for (const p of batch) deadline = Math.min(deadline, p.deadline);
      const { outputs, computeMs, handoffMs } = await this.executors.run(executor, { model: model.name, variant, deadline, predictedMs: plan.predictedMs }, inputs);
      q.planner.observe(variant.name, plan.samples, computeMs, idle ? this.now() - dispatchedAt - computeMs : undefined);
      this.onBatch?.({ model: model.name, version: variant.name, samples: plan.samples, computeMs, handoffMs });
      const key = `${model.name}/${variant.name}`;
      const ran = this.ran.get(key) ?? { batches: 0, samples: 0, computeMs: 0 };
      ran.batches++;
      ran.samples += plan.samples;
      ran.computeMs += computeMs;
      this.ran.set(key, ran);
      const split = batch.length === 1 ? outputs.map((o) => [o]) : splitOutputs(model, outputs, batch.map((p) => p.samples), plan.samples);
      const accuracy = variant.profile?.accuracy.value;
      batch.forEach((p, i) => p.resolve({
        outputs: split.map((parts) => parts[i]),
        serving: { variant: variant.name, accuracy, batchSize: plan.samples, queueMs: dispatchedAt - p.arrival, computeMs, budgetMs: p.deadline - p.arrival },
      }));
    } catch (e) {
      // A typed error from a remote worker (504, 503, ...) keeps its meaning; anything else is a fault.
      const error = isParetoError(e) ? e : new InferenceFailedError(model.name, variant.name, (e as Error).message);
      for (const p of batch) p.reject(error);
    } finally {
      this.settled(model, batch.length);
      this.schedulePump();
    }
  }

  close(): void {
    clearTimeout(this.timer);
  }
}

function giveBack(t: Tensor): void {
  if (!Array.isArray(t.data)) tensorBuffers.give(t.data.buffer);
}

/** The most samples one batch of the model may hold (1: requests run alone). */
function batchLimit(model: LoadedModel): number {
  const { enabled, max_batch_size } = model.config.batching;
  return enabled && max_batch_size > 0 ? max_batch_size : 1;
}

/** Each request's share of a batch's outputs; an output that does not match the batch is a fault, never a guess. */
function splitOutputs(model: LoadedModel, outputs: readonly Tensor[], rows: number[], samples: number): Tensor[][] {
  return outputs.map((o) => {
    const spec = model.outputs.find((s) => s.name === o.name);
    if (spec?.batchAxis === null) return rows.map(() => o);
    const axis = spec?.batchAxis ?? 0;
    if (o.shape[axis] !== samples) {
      throw new Error(`output '${o.name}' has ${o.shape[axis] ?? 'no'} rows on its batch axis (${axis}) for a batch of ${samples}; declare the output's batch_axis in model.yaml, or batched: false`);
    }
    return splitBatch(o, rows, axis);
  });
}
