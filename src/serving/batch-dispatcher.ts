// Moves queued requests onto free executors: one DynamicBatcher per (model, variant); whenever an
// executor is free, the ready batch whose oldest request waited longest goes next. Concatenates
// inputs along the batch axis, runs once, and splits outputs back per request.
import { performance } from 'node:perf_hooks';
import { InferenceFailedError, type ParetoError } from '../errors.js';
import type { ServingInfo } from '../protocol/types.js';
import type { ExecutorPool } from '../runtime/executor-pool.js';
import { DynamicBatcher, type Queued } from '../scheduler/dynamic-batcher.js';
import { concatBatch, splitBatch } from '../tensor/batch.js';
import type { Tensor } from '../tensor/tensor.js';
import type { LoadedModel, LoadedVariant } from './model-host.js';

export interface BatchResult {
  outputs: Tensor[];
  serving: ServingInfo;
}

interface Pending extends Queued {
  /** In the model's signature order. */
  inputs: Tensor[];
  resolve: (r: BatchResult) => void;
  reject: (e: Error) => void;
}

interface VariantQueue {
  model: LoadedModel;
  variant: LoadedVariant;
  batcher: DynamicBatcher<Pending>;
}

export class BatchDispatcher {
  private readonly queues = new Map<string, VariantQueue>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;

  constructor(
    private readonly pool: ExecutorPool,
    private readonly onDrained: (model: LoadedModel) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Queues one request's inputs (signature order) and resolves with its share of the batch. */
  submit(model: LoadedModel, variant: LoadedVariant, inputs: Tensor[], samples: number): Promise<BatchResult> {
    model.outstanding++;
    return new Promise((resolve, reject) => {
      this.queueFor(model, variant).batcher.push({ inputs, samples, arrival: this.now(), resolve, reject });
      this.schedulePump();
    });
  }

  /** Fails everything queued for a model (its sessions are going away). */
  cancel(model: LoadedModel, error: ParetoError): void {
    for (const [key, q] of this.queues) {
      if (q.model !== model) continue;
      const dropped = q.batcher.drain();
      for (const p of dropped) p.reject(error);
      this.queues.delete(key);
      this.settled(model, dropped.length);
    }
  }

  private settled(model: LoadedModel, requests: number): void {
    model.outstanding -= requests;
    if (requests > 0 && model.outstanding === 0) this.onDrained(model);
  }

  queuedSamples(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.batcher.samples;
    return n;
  }

  private queueFor(model: LoadedModel, variant: LoadedVariant): VariantQueue {
    const key = variant.sessionKey;
    let q = this.queues.get(key);
    if (!q) {
      const { enabled, max_batch_size, max_queue_delay_ms } = model.config.batching;
      q = {
        model,
        variant,
        batcher: new DynamicBatcher<Pending>({ maxBatchSize: enabled ? max_batch_size : 1, maxQueueDelayMs: enabled ? max_queue_delay_ms : 0 }),
      };
      this.queues.set(key, q);
    }
    return q;
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

  private pumpScheduled = false;
  private readonly runPump = () => {
    this.pumpScheduled = false;
    this.pump();
  };

  private pump(): void {
    for (let executor = this.pool.available(); executor !== undefined; executor = this.pool.available()) {
      const now = this.now();
      let best: VariantQueue | undefined;
      let wakeAt = Infinity;
      for (const q of this.queues.values()) {
        const at = q.batcher.readyAt();
        if (at === undefined) continue;
        if (at > now) { wakeAt = Math.min(wakeAt, at); continue; }
        // A busy executor only gets a batch queued behind its current one when that batch is full:
        // a partial batch is better left to grow until an executor is really free.
        if (!executor.idle && q.batcher.samples < q.batcher.policy.maxBatchSize) continue;
        if (!best || q.batcher.oldestArrival()! < best.batcher.oldestArrival()!) best = q;
      }
      if (!best) {
        this.wakeAt(wakeAt);
        return;
      }
      const batch = best.batcher.take(now)!;
      void this.execute(executor.index, best, batch, now);
    }
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

  private async execute(executor: number, q: VariantQueue, batch: Pending[], dispatchedAt: number): Promise<void> {
    const { model, variant } = q;
    try {
      const inputs = model.inputs.map((_, i) => concatBatch(batch.map((p) => p.inputs[i])));
      const { outputs, computeMs } = await this.pool.run(executor, variant.sessionKey, inputs);
      const rows = batch.map((p) => p.samples);
      const total = batch.reduce((a, p) => a + p.samples, 0);
      const split = outputs.map((o) => {
        if (o.shape[0] !== total) throw new Error(`output '${o.name}' has ${o.shape[0]} rows for a batch of ${total}; the model is not batchable along axis 0`);
        return splitBatch(o, rows);
      });
      batch.forEach((p, i) => p.resolve({
        outputs: split.map((parts) => parts[i]),
        serving: { variant: variant.name, batchSize: total, queueMs: dispatchedAt - p.arrival, computeMs },
      }));
    } catch (e) {
      const error = new InferenceFailedError(model.name, variant.name, (e as Error).message);
      for (const p of batch) p.reject(error);
    } finally {
      this.settled(model, batch.length);
      this.pump();
    }
  }

  close(): void {
    clearTimeout(this.timer);
  }
}
