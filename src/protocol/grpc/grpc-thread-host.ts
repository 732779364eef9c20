// The event loop's side of the gRPC thread (grpc-thread.ts): starts it on the public gRPC port,
// and serves its ModelInfer calls with the handlers the event loop serves them with in process
// (grpc-server.ts): the key at the headers, then the message's door work, then the answer's bytes.
import type { EventLoopUtilization } from 'node:perf_hooks';
import type { Worker } from 'node:worker_threads';
import { newWorker } from '../../runtime/new-worker.js';
import { ChurnTable } from '../../churn-set.js';
import { PostBatch } from '../../runtime/post-batch.js';
import { tensorBuffers } from '../../tensor/buffer-pool.js';
import type { CallStatus, GoneWatch, UnaryInferHandlers } from './unary-infer-stream.js';
import type { GrpcThreadData, HostReply, ThreadCall, WireStatus } from './grpc-thread-messages.js';

/** A call the thread has asked about, until it says the call is over. */
interface Call<Held> {
  auth: string | undefined;
  held?: Held;
  /** Cancels a refusal scheduled in the tarpit. */
  cancel?: () => void;
  /** What the inference asked to undo should the call go (GoneWatch). */
  gone?: () => void;
  over: boolean;
}

export class GrpcThread<Held> {
  /** Full collections of its heap so far. */
  markCompacts = 0;
  /** Not a Map: one set and deleted per call would keep every call's graph alive until a mark-compact (churn-set.ts). */
  private readonly calls = new ChurnTable<Call<Held>>();
  private busy: EventLoopUtilization;
  private closing: Promise<void> | undefined;
  private readonly exited: Promise<void>;
  private readonly batch: PostBatch<HostReply>;

  private constructor(private readonly worker: Worker, private readonly handlers: UnaryInferHandlers<Held>, readonly port: number) {
    this.batch = new PostBatch<HostReply>(worker);
    worker.on('message', (calls: ThreadCall[]) => {
      for (const call of calls) this.hear(call);
    });
    this.busy = worker.performance.eventLoopUtilization();
    let failure: Error | undefined;
    worker.on('error', (e) => { failure = e; });
    this.exited = new Promise((resolve) => worker.once('exit', (code) => {
      // Gone: nothing it asked about is answered any more.
      this.calls.forEach((_, id) => this.end(id));
      resolve();
      // Not closed: the gRPC port is gone with it, and the server fails as it would had this
      // happened on the event loop, for its supervisor to restart it.
      if (!this.closing) setImmediate(() => { throw new Error(`the gRPC thread stopped: ${failure?.stack ?? `exit code ${code}`}`); });
    }));
  }

  /** Listening on `data.host`:`data.port`; rejects where it cannot listen (the port taken). */
  static start<Held>(data: GrpcThreadData, handlers: UnaryInferHandlers<Held>): Promise<GrpcThread<Held>> {
    const worker = newWorker(new URL('./grpc-thread.js', import.meta.url), { workerData: data });
    return new Promise((resolve, reject) => {
      const failed = (e: Error) => reject(e);
      worker.once('error', failed);
      worker.once('exit', (code) => reject(new Error(`the gRPC thread stopped (exit code ${code}) before it listened`)));
      const first = (calls: ThreadCall[]) => {
        const call = calls.find((c): c is Extract<ThreadCall, { op: 'listening' | 'failed' }> => c.op === 'listening' || c.op === 'failed');
        if (!call) return;
        worker.off('message', first);
        worker.off('error', failed);
        if (call.op === 'failed') {
          void worker.terminate();
          // As a listen error on this thread reads (EADDRINUSE and its kind).
          reject(Object.assign(new Error(`gRPC: cannot listen on ${data.host}:${data.port}: ${call.message}`), { code: call.code }));
          return;
        }
        resolve(new GrpcThread(worker, handlers, call.port));
      };
      worker.on('message', first);
    });
  }

  /** Stops taking connections; resolves once every session has ended (`force`: ended now). */
  close(force = false): Promise<void> {
    this.post({ op: 'close', force });
    this.closing ??= new Promise<void>((resolve) => {
      const done = (calls: ThreadCall[]) => {
        if (!calls.some((c) => c.op === 'closed')) return;
        this.worker.off('message', done);
        void this.worker.terminate().then(() => resolve());
      };
      this.worker.on('message', done);
      void this.exited.then(resolve);
    });
    return this.closing;
  }

  /** Busy ms of its event loop since it started. */
  busyMs(): number {
    return this.worker.performance.eventLoopUtilization().active;
  }

  /** Busy fraction of its event loop since the last time asked. */
  utilization(): number {
    const now = this.worker.performance.eventLoopUtilization();
    const u = this.worker.performance.eventLoopUtilization(now, this.busy).utilization;
    this.busy = now;
    return u;
  }

  private post(reply: HostReply, transfer?: ArrayBuffer[]): void {
    this.batch.post(reply, transfer);
  }

  /** Ends the call with the status of `e`, an error. */
  private fail(id: number, call: Call<Held>, e: unknown): void {
    this.status(id, call, this.handlers.statusOf(e));
  }

  private status(id: number, call: Call<Held>, s: CallStatus): void {
    if (call.over) return;
    const status: WireStatus = { code: s.code, details: s.details, trailers: s.metadata?.toHttp2Headers() as WireStatus['trailers'] };
    this.post({ op: 'status', id, status });
  }

  private hear(msg: ThreadCall): void {
    switch (msg.op) {
      case 'admit': {
        const call: Call<Held> = { auth: msg.auth, over: false };
        this.calls.set(msg.id, call);
        let refused = true;
        try {
          const verdict = this.handlers.admit(msg.auth, (status) => this.status(msg.id, call, status));
          if (verdict instanceof Promise) throw new TypeError('the event loop admits at once');
          if ('refused' in verdict) call.cancel = verdict.refused;
          else {
            call.held = verdict.held;
            refused = false;
          }
        } catch (e) {
          this.fail(msg.id, call, e);
        }
        this.post({ op: 'admitted', id: msg.id, refused });
        return;
      }
      case 'infer': {
        const call = this.calls.get(msg.id);
        if (!call) return;
        const watch: GoneWatch = {
          whenGone: (cancel) => {
            if (call.over) {
              cancel();
              return () => undefined;
            }
            call.gone = cancel;
            return () => { if (call.gone === cancel) call.gone = undefined; };
          },
        };
        // The call's alone: an executor may take it whole, and the pool takes it back after (buffer-pool.ts).
        const message = Buffer.from(tensorBuffers.owned(msg.bytes), msg.offset, msg.length);
        const size = msg.bytes.byteLength;
        let answer: Promise<Uint8Array>;
        try {
          answer = this.handlers.infer(message, call.auth, call.held, watch);
        } catch (e) {
          answer = Promise.reject(e);
        }
        answer.then((bytes) => {
          if (call.over) return;
          // Its own memory, so that it can be transferred (a small answer is a view of a shared pool).
          const own = new Uint8Array(bytes);
          // Memory as large as the message's goes back with the answer, for the thread's next one.
          const spare = tensorBuffers.spare(size);
          this.post({ op: 'answer', id: msg.id, bytes: own.buffer, spare }, spare ? [own.buffer, spare] : [own.buffer]);
        }, (e: unknown) => this.fail(msg.id, call, e));
        return;
      }
      case 'end':
        this.end(msg.id);
        return;
      case 'collected':
        this.markCompacts++;
    }
  }

  private end(id: number): void {
    const call = this.calls.get(id);
    if (!call) return;
    this.calls.delete(id);
    call.over = true;
    if (call.held !== undefined) this.handlers.release(call.held);
    call.cancel?.();
    call.gone?.();
  }
}
