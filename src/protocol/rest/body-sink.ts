// Large request bodies are gathered on a thread of their own. The event loop hands each chunk a
// socket read over as it arrives (moved, not copied); the thread copies it into the body's buffer
// and hands the chunk back, to be freed where it was allocated. The body comes back whole once
// complete.
//
// Why not on the event loop: a body's buffer there is memory V8 counts. Four 60 MB bodies held
// open took the event loop's heap 256 MB past V8's external-memory limit: every later allocation of
// a buffer (each 64 KB chunk a socket reads) then ran a scavenge or a step of marking, 34 scavenges
// and 2 mark-compacts in 160 ms, and another tenant's small requests waited up to 190 ms before
// the event loop read them (bench:abuse, held bodies). Page-faulting in the bodies' fresh memory
// also took much of the event loop while they arrived; that now happens on this thread, at a lower
// CPU priority. Chunks freed on this thread instead, or left to its collections, left the event
// loop's heap 45–107 MiB larger for good after 4 held bodies.
import type { Worker } from 'node:worker_threads';
import { newWorker } from '../../runtime/new-worker.js';
import { OverloadedError } from '../../errors.js';
import { freeNow } from '../../tensor/buffer-pool.js';

/**
 * Bytes of one body handed over and not yet copied, past which its reading waits: a thread that
 * falls behind (it runs at a lower priority) must not hold the socket's data in the event loop's
 * heap instead.
 */
const BACKLOG_BYTES = 1024 * 1024;

export type SinkCall =
  | { op: 'open'; id: number; bytes: number; start: number }
  | { op: 'chunk'; id: number; chunk: ArrayBuffer }
  | { op: 'finish'; id: number }
  | { op: 'drop'; id: number };

export type SinkReply =
  /** A chunk copied into its body, back to be freed where it was allocated. */
  | { op: 'spent'; id: number; chunk: ArrayBuffer }
  /** A finished body (absent: the thread does not hold it). */
  | { op: 'body'; id: number; buffer?: ArrayBuffer };

/** One body being gathered. */
export interface SinkBody {
  /**
   * Hands a chunk of the body over: its memory moves to the sink's thread, and the chunk reads as
   * empty after. False when the thread is behind: read no more until `drained` calls back.
   */
  write(chunk: Buffer): boolean;
  /** Calls back once the thread has caught up (at once if it has). */
  drained(then: () => void): void;
  /** The body's buffer once every chunk is written (the body starts at `start`). */
  finish(): Promise<ArrayBuffer>;
  /** Lets the body go (refused, or its connection closed); its memory is freed at once. */
  drop(): void;
}

export class BodySink {
  private worker?: Worker;
  private nextId = 1;
  private readonly finishing = new Map<number, { resolve: (b: ArrayBuffer) => void; reject: (e: Error) => void }>();
  /** Per open body: bytes handed over and not yet copied, and who waits for them to be. */
  private readonly backlog = new Map<number, { bytes: number; then?: () => void }>();
  private closed = false;
  /** Chunks back from the thread, freed together (once per event-loop turn, or 16 at a time). */
  private spent: ArrayBuffer[] = [];

  constructor(private readonly niceness: number) {}

  /**
   * Starts gathering a body of `bytes` bytes, placed from `start` of a buffer of `start + bytes`;
   * undefined once the sink is closed.
   */
  open(bytes: number, start: number): SinkBody | undefined {
    if (this.closed) return undefined;
    const worker = this.thread();
    const id = this.nextId++;
    let done = false;
    const backlog: { bytes: number; then?: () => void } = { bytes: 0 };
    this.backlog.set(id, backlog);
    worker.postMessage({ op: 'open', id, bytes: start + bytes, start } satisfies SinkCall);
    return {
      write: (chunk) => {
        if (done || worker !== this.worker) return true;
        // A socket's chunk is a buffer of its own; anything else is copied so nothing else is detached.
        const own = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength ? chunk.buffer as ArrayBuffer : Uint8Array.prototype.slice.call(chunk).buffer;
        backlog.bytes += own.byteLength;
        worker.postMessage({ op: 'chunk', id, chunk: own } satisfies SinkCall, [own]);
        return backlog.bytes < BACKLOG_BYTES;
      },
      drained: (then) => {
        if (backlog.bytes < BACKLOG_BYTES || worker !== this.worker) then();
        else backlog.then = then;
      },
      finish: () => {
        if (done) return Promise.reject(new Error('body already finished or dropped'));
        done = true;
        this.forget(id);
        if (worker !== this.worker) return Promise.reject(lost());
        return new Promise<ArrayBuffer>((resolve, reject) => {
          this.finishing.set(id, { resolve, reject });
          worker.postMessage({ op: 'finish', id } satisfies SinkCall);
        });
      },
      drop: () => {
        if (done) return;
        done = true;
        this.forget(id);
        if (worker === this.worker) worker.postMessage({ op: 'drop', id } satisfies SinkCall);
      },
    };
  }

  /** The sink's thread, started with the first large body. */
  private thread(): Worker {
    if (this.worker) return this.worker;
    const w = newWorker(new URL('./body-sink-worker.js', import.meta.url), { workerData: { niceness: this.niceness } });
    this.worker = w;
    w.unref();
    w.on('message', (reply: SinkReply) => {
      if (reply.op === 'spent') {
        // Its size before it is freed: freeing detaches it (every 16th chunk at once), and a
        // detached chunk's 0 bytes left the backlog 64 KiB too high each time, until a body
        // paused at the backlog never read on (408 after ~30 MiB of three 40 MiB uploads).
        const bytes = reply.chunk.byteLength;
        this.free(reply.chunk);
        const backlog = this.backlog.get(reply.id);
        if (!backlog) return;
        backlog.bytes -= bytes;
        const then = backlog.then;
        if (then && backlog.bytes < BACKLOG_BYTES / 2) {
          backlog.then = undefined;
          then();
        }
        return;
      }
      const waiting = this.finishing.get(reply.id);
      this.finishing.delete(reply.id);
      if (reply.buffer) waiting?.resolve(reply.buffer);
      else waiting?.reject(lost());
    });
    const gone = () => { if (w === this.worker) this.abandon(); }; // the next large body starts a new thread
    w.on('error', gone);
    w.on('exit', gone);
    return w;
  }

  /**
   * Frees a chunk the thread is done with. Left to V8, the event loop's heap held tens of MB of them
   * after 4 held bodies; kept in the buffer pool, they would fill it (its 32 MiB) with one size.
   */
  private free(chunk: ArrayBuffer): void {
    if (this.spent.push(chunk) === 1) setImmediate(() => this.freeSpent());
    if (this.spent.length >= 16) this.freeSpent();
  }

  private freeSpent(): void {
    freeNow(...this.spent);
    this.spent = [];
  }

  /** Forgets a body's backlog; a reader waiting on it reads on (a dropped body's rest is read and dropped). */
  private forget(id: number): void {
    const backlog = this.backlog.get(id);
    this.backlog.delete(id);
    backlog?.then?.();
  }

  /** Lets the thread go (lost, or the sink closed): its bodies' finish() is refused, and their readers read on. */
  private abandon(): void {
    this.worker = undefined;
    for (const waiting of this.finishing.values()) waiting.reject(lost());
    this.finishing.clear();
    for (const id of [...this.backlog.keys()]) this.forget(id);
  }

  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.abandon();
    await w?.terminate();
  }
}

const lost = () => new OverloadedError('the thread gathering large request bodies stopped; retry the request');
