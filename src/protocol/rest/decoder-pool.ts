// Decoding large REST bodies is front-door work a tenant pays for: it runs on decoder threads, not
// the event loop, in the order of the tenants' priorities and weights (the scheduler's own fair
// queue, charged with each body's decoding cost), and a body that can no longer be decoded before
// its deadline is refused (504) before any of its decoding is spent. Before, one tenant's 32-row
// JSON requests (4.8 ms of parsing each) held the event loop while every other tenant's requests
// and health probes waited behind them: p50 1.6 → 229 ms for a tenant far inside its quota.
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { Worker } from 'node:worker_threads';
import { newWorker } from '../../runtime/new-worker.js';
import { DeadlineError, ParetoError, ServerShuttingDownError } from '../../errors.js';
import { FairQueue, type QueuedRequest } from '../../scheduler/fair-queue.js';
import type { InferenceRequest } from '../types.js';

/** What a decoder thread is sent. */
export interface DecodeCall {
  id: number;
  body: Uint8Array;
  headerLength?: number;
  model: string;
  version?: string;
  maxJsonBytes: number;
  depthScanned: boolean;
}

/** What it answers: the request, or the error a client is to see; its wall time either way. */
export type DecodeReply =
  | { id: number; request: InferenceRequest; error?: undefined; cpuMs: number }
  | { id: number; request?: undefined; error: { code: string; message: string; httpStatus: number; grpcStatus: number }; cpuMs: number };

export interface DecodeTask {
  tenant: string;
  weight: number;
  /** Priority class rank; higher is decoded first. */
  priority: number;
  /** ms (performance.now()); Infinity without an SLO. */
  deadline: number;
  model: string;
  version?: string;
  body: Buffer;
  /** The caller will not touch `body` again: its memory may move to the decoder instead of being copied. */
  handOver?: boolean;
  headerLength?: number;
  depthScanned: boolean;
}

interface Job extends QueuedRequest {
  call: Omit<DecodeCall, 'id'>;
  resolve: (r: InferenceRequest) => void;
  reject: (e: Error) => void;
}

export interface DecoderPoolOptions {
  threads: number;
  maxJsonBytes: number;
  /** Niceness of the decoder threads (Linux): bulk work yields the core to the event loop and executors. */
  niceness: number;
  now: () => number;
}

/** Bytes of binary tensor data cost about as much to decode as this many bytes of JSON (a copy, not a parse). */
const BINARY_BYTES_PER_JSON_BYTE = 16;

/**
 * Cost units of a body: its JSON bytes plus its binary bytes scaled down to JSON-equivalents. A
 * binary header length is the client's claim: never more than the body (a 3-byte body claiming a
 * 100 MB header was refused 504 as if the decoders were seconds behind, not 400 for the claim).
 */
export function decodeCost(bodyBytes: number, headerLength: number | undefined): number {
  const json = Math.min(headerLength ?? bodyBytes, bodyBytes);
  return json + (bodyBytes - json) / BINARY_BYTES_PER_JSON_BYTE;
}

class DecoderThread {
  worker!: Worker;
  job?: Job & { id: number };

  constructor(private readonly niceness: number, private readonly onReply: (t: DecoderThread, reply: DecodeReply) => void, private readonly onExit: (t: DecoderThread, e: Error) => void) {
    this.spawn();
  }

  spawn(): void {
    const w = newWorker(new URL('./decoder-worker.js', import.meta.url), { workerData: { niceness: this.niceness } });
    this.worker = w;
    w.unref();
    w.on('message', (reply: DecodeReply) => this.onReply(this, reply));
    // 'error' is followed by 'exit': only the first event of the current thread counts.
    const gone = (e: Error) => { if (w === this.worker) this.onExit(this, e); };
    w.on('error', gone);
    w.on('exit', (code) => gone(new Error(`decoder thread exited with code ${code}`)));
  }
}

export class DecoderPool {
  private readonly queue = new FairQueue<Job>();
  private readonly idle: DecoderThread[] = [];
  private readonly threads: DecoderThread[] = [];
  private nextId = 0;
  private closed = false;
  /** Measured decoding ms per cost unit (EWMA), for the door's prediction; seeded at ~30 ns per JSON byte. */
  private msPerUnit = 30e-6;
  /** Cost units queued per priority rank: what a new body waits behind. */
  private readonly queuedCost = new Map<number, number>();

  constructor(private readonly opts: DecoderPoolOptions) {
    for (let i = 0; i < opts.threads; i++) {
      const t = new DecoderThread(opts.niceness, (th, r) => this.replied(th, r), (th, e) => this.exited(th, e));
      this.threads.push(t);
      this.idle.push(t);
    }
  }

  /** Bodies waiting for a decoder. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Predicted ms until a body of `cost` units at `priority` would be decoded, from what waits at its class and above. */
  predictMs(cost: number, priority: number): number {
    let ahead = 0;
    for (const [p, c] of this.queuedCost) if (p >= priority) ahead += c;
    const busy = this.threads.length - this.idle.length;
    return ((ahead + (busy > 0 ? cost : 0)) / this.threads.length + cost) * this.msPerUnit;
  }

  /**
   * Throws 504 when a body of `cost` could not be decoded before `deadline` at the decoders' pace
   * now: at the headers (from Content-Length, before the body is read) and again when it is complete.
   */
  checkDeadline(cost: number, priority: number, deadline: number): void {
    const now = this.opts.now();
    const predicted = this.predictMs(cost, priority);
    if (now + predicted > deadline) {
      throw new DeadlineError(`the server's request decoders are ~${Math.ceil(predicted)} ms behind and this request's deadline is in ${Math.max(0, Math.floor(deadline - now))} ms; refused before decoding`);
    }
  }

  decode(task: DecodeTask): Promise<InferenceRequest> {
    if (this.closed) return Promise.reject(new ServerShuttingDownError());
    const cost = decodeCost(task.body.length, task.headerLength);
    const now = this.opts.now();
    try {
      this.checkDeadline(cost, task.priority, task.deadline);
    } catch (e) {
      return Promise.reject(e);
    }
    // Moved when it is handed over and is all of its memory; otherwise copied, so that only its
    // own bytes travel and nothing the caller still holds is detached.
    const whole = task.body.byteOffset === 0 && task.body.byteLength === task.body.buffer.byteLength;
    const body = task.handOver && whole ? task.body : Buffer.from(task.body);
    return new Promise((resolve, reject) => {
      this.queue.push({
        tenant: task.tenant, weight: task.weight, priority: task.priority, samples: cost, arrival: now, deadline: task.deadline, minAccuracy: 0,
        call: { body, headerLength: task.headerLength, model: task.model, version: task.version, maxJsonBytes: this.opts.maxJsonBytes, depthScanned: task.depthScanned },
        resolve, reject,
      });
      this.queuedCost.set(task.priority, (this.queuedCost.get(task.priority) ?? 0) + cost);
      this.pump();
    });
  }

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const now = this.opts.now();
      for (const late of this.queue.expire((j) => now + j.samples * this.msPerUnit > j.deadline)) {
        this.dequeued(late);
        late.reject(new DeadlineError(`the request waited ${Math.round(now - late.arrival)} ms for a decoder and can no longer be answered before its deadline`));
      }
      const job = this.queue.popNext();
      if (!job) return;
      this.dequeued(job);
      const thread = this.idle.pop()!;
      const id = this.nextId++;
      thread.job = { ...job, id };
      try {
        thread.worker.postMessage({ ...job.call, id } satisfies DecodeCall, [job.call.body.buffer as ArrayBuffer]);
      } catch (e) {
        thread.job = undefined;
        this.idle.push(thread);
        job.reject(new ParetoError('PARETO_ERR_INTERNAL', `decoding failed: ${(e as Error).message}`, 500, GrpcStatus.INTERNAL));
      }
    }
  }

  private dequeued(job: Job): void {
    this.queuedCost.set(job.priority, (this.queuedCost.get(job.priority) ?? 0) - job.samples);
  }

  private replied(thread: DecoderThread, reply: DecodeReply): void {
    const job = thread.job;
    if (!job || job.id !== reply.id) return;
    thread.job = undefined;
    this.idle.push(thread);
    if (job.samples > 0) this.msPerUnit = 0.9 * this.msPerUnit + 0.1 * (reply.cpuMs / job.samples);
    if (reply.error) {
      const e = reply.error;
      job.reject(new ParetoError(e.code, e.message, e.httpStatus, e.grpcStatus as GrpcStatus));
    } else {
      job.resolve(reply.request);
    }
    this.pump();
  }

  private exited(thread: DecoderThread, error: Error): void {
    if (this.closed) return;
    const job = thread.job;
    thread.job = undefined;
    job?.reject(new ParetoError('PARETO_ERR_INTERNAL', `decoding failed: ${error.message}`, 500, GrpcStatus.INTERNAL));
    thread.spawn();
    if (!this.idle.includes(thread)) this.idle.push(thread);
    this.pump();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const j of this.queue.drain()) j.reject(new ServerShuttingDownError());
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }
}
