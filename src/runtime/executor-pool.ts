// A fixed set of executor worker threads, each holding a session for every loaded variant, so any
// free executor can run any batch. Threads are budgeted: by default executors × intra-op threads
// equals the cores, with spinning off (measured: 2 workers × 1 thread gave 2× the throughput of
// 2 × 2 with spinning on, on this 2-core machine).
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { newWorker } from './new-worker.js';
import type { FromWorker, SessionOptions, SessionSignature, WireTensor, WorkerCall } from './messages.js';
import { tensorBuffers } from '../tensor/buffer-pool.js';
import { crossThreadMs } from './this-thread.js';

export interface RunResult {
  outputs: WireTensor[];
  computeMs: number;
  /**
   * The two thread hops, ms: from the post to the executor taking the batch (only where it was
   * idle: behind another batch that is a wait, not a hop), and from its answer to the event loop.
   */
  handoffMs?: { toExecutor?: number; fromExecutor: number };
}

interface Waiter {
  id: number;
  resolve: (value: FromWorker) => void;
  reject: (error: Error) => void;
}

/** One executor thread and its in-flight calls. */
class Executor {
  private worker!: Worker;
  /**
   * Calls posted and not yet answered: a few at a time (the pipeline depth), so an array searched
   * by id. A Map with an entry set and deleted per batch kept each finished batch's graph alive
   * through scavenges (see churn-set.ts).
   */
  private readonly waiting: Waiter[] = [];
  private nextId = 0;
  /** Batches posted to this executor and not yet answered. */
  inflight = 0;

  constructor(private readonly onExit: (executor: Executor, error: Error) => void) {
    this.spawn();
  }

  private spawn(): void {
    this.worker = newWorker(new URL('./executor-worker.js', import.meta.url));
    this.worker.on('message', (msg: FromWorker) => {
      const at = this.waiting.findIndex((w) => w.id === msg.id);
      if (at < 0) return;
      const [waiter] = this.waiting.splice(at, 1);
      if (msg.op === 'error') waiter.reject(new Error(msg.message));
      else waiter.resolve(msg);
    });
    const fail = (error: Error) => {
      for (const w of this.waiting.splice(0)) w.reject(error);
      this.inflight = 0;
      this.onExit(this, error);
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => { if (!this.closing) fail(new Error(`executor thread exited with code ${code}`)); });
  }

  private closing = false;

  respawn(): void {
    this.spawn();
  }

  call(msg: WorkerCall, transfer: ArrayBuffer[] = []): Promise<FromWorker> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.push({ id, resolve, reject });
      this.worker.postMessage({ ...msg, id }, transfer);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.worker.terminate();
  }
}

export interface ExecutorPoolOptions {
  executors?: number;
  /**
   * Batches an executor may hold at once: with 2, the next batch already waits in the worker's
   * queue when the current one ends, so the executor never idles for a thread hop (~75 µs each
   * way measured here) between batches.
   */
  pipelineDepth?: number;
}

export class ExecutorPool {
  private readonly executors: Executor[];
  /** Everything loaded, so a restarted executor can be brought back to the same state. */
  private readonly loaded = new Map<string, WorkerCall & { op: 'load' }>();

  private readonly depth: number;

  constructor(opts: ExecutorPoolOptions = {}) {
    this.depth = opts.pipelineDepth ?? 1;
    const count = opts.executors ?? defaultExecutorCount();
    this.executors = Array.from({ length: count }, () => new Executor((e) => this.restart(e)));
  }

  get size(): number {
    return this.executors.length;
  }

  /** An executor that can take a batch now, the least loaded first (`idle`: nothing in flight). */
  available(): { index: number; idle: boolean } | undefined {
    let best: number | undefined;
    this.executors.forEach((e, i) => {
      if (e.inflight < this.depth && (best === undefined || e.inflight < this.executors[best].inflight)) best = i;
    });
    return best === undefined ? undefined : { index: best, idle: this.executors[best].inflight === 0 };
  }

  async load(key: string, path: string, options: SessionOptions): Promise<SessionSignature> {
    const msg = { op: 'load' as const, key, path, options };
    this.loaded.set(key, msg);
    const replies = await Promise.all(this.executors.map((e) => e.call(msg)));
    return (replies[0] as FromWorker & { op: 'loaded' }).signature;
  }

  /** Runs a few batches on every executor so the first real request does not pay for ORT's lazy set-up. */
  async warmup(key: string, inputs: WireTensor[]): Promise<void> {
    await Promise.all(this.executors.map((e) => e.call({ op: 'warmup', key, inputs })));
  }

  async unload(key: string): Promise<void> {
    this.loaded.delete(key);
    await Promise.all(this.executors.map((e) => e.call({ op: 'unload', key })));
  }

  /** Executor time spent in ONNX Runtime since the pool started, ms (for utilisation). */
  busyMs = 0;

  inflightBatches(): number {
    return this.executors.reduce((a, e) => a + e.inflight, 0);
  }

  /** Runs one batch on executor `index` (from available()); input buffers are transferred. */
  async run(index: number, key: string, inputs: WireTensor[]): Promise<RunResult> {
    const executor = this.executors[index];
    const idle = executor.inflight === 0;
    executor.inflight++;
    try {
      const owned = inputs.map(ownBuffer);
      // A set: two inputs of one request may lie in the same body, and a buffer is transferred once.
      const transfer = new Set<ArrayBuffer>();
      for (const t of owned) if (!Array.isArray(t.data)) transfer.add(t.data.buffer as ArrayBuffer);
      const sentAt = crossThreadMs();
      const reply = await executor.call({ op: 'run', key, inputs: owned }, [...transfer]);
      const result = reply as FromWorker & { op: 'result' };
      const handoffMs = { toExecutor: idle ? result.startedAt - sentAt : undefined, fromExecutor: crossThreadMs() - result.repliedAt };
      for (const b of result.inputBuffers) tensorBuffers.adopt(b);
      this.busyMs += result.computeMs;
      return { outputs: result.outputs, computeMs: result.computeMs, handoffMs };
    } finally {
      executor.inflight = Math.max(0, executor.inflight - 1);
    }
  }

  private restart(executor: Executor): void {
    executor.respawn();
    for (const msg of this.loaded.values()) void executor.call(msg).catch(() => undefined);
  }

  async close(): Promise<void> {
    await Promise.all(this.executors.map((e) => e.close()));
  }
}

/**
 * Transferring detaches a buffer: only transfer one the tensor owns whole, or one its request owns
 * (a body read into a buffer of its own; the view keeps its offset across the transfer).
 */
function ownBuffer(t: WireTensor): WireTensor {
  const d = t.data;
  if (Array.isArray(d)) return t; // strings are cloned, not transferred
  if (d.buffer instanceof SharedArrayBuffer) return { ...t, data: d.slice() };
  if ((d.byteOffset === 0 && d.byteLength === d.buffer.byteLength) || tensorBuffers.isOwned(d.buffer)) return t;
  return { ...t, data: d.slice() };
}

export function defaultExecutorCount(): number {
  return Math.max(1, availableParallelism());
}
