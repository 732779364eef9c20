// Reused memory for request bodies and batches on the main thread. Each 100 KB body and each
// batch used to be a fresh allocation, and fresh memory is page-faulted in as it is first written:
// under bench:tradeoff's bursts, copying a body into its buffer and requests into their batch took
// ~21% of the event loop (now ~1%), most of it page faults. Buffers come in power-of-two
// sizes; a batch's buffers come back from the executor thread with its result, and the bodies of
// requests batched together come back once they are copied into the batch.
//
// Every buffer taken here belongs to one request or one batch alone, so it may be handed to an
// executor thread whole (transferred, not copied) even where its tensor views only a part of it.
// The rule that makes reuse safe: nothing reads a request's inputs once its batch is formed.
import { MessageChannel } from 'node:worker_threads';

const MIN_BYTES = 16 * 1024;
/** Larger buffers are not pooled: a 60 MB body is rare, and is given back to the system (freeNow). */
const MAX_BYTES = 8 * 1024 * 1024;
/** The most memory kept free for reuse. */
const MAX_FREE_BYTES = 32 * 1024 * 1024;

const sizeClass = (bytes: number) => Math.max(MIN_BYTES, 2 ** Math.ceil(Math.log2(bytes)));

export class BufferPool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  private freeBytes = 0;
  /** Buffers one request or batch owns outright (taken from the pool, or marked by their maker). */
  private readonly exclusive = new WeakSet<ArrayBufferLike>();

  /** True for sizes the pool reuses; larger buffers are plain allocations, freed when collected. */
  pools(bytes: number): boolean {
    return bytes >= MIN_BYTES && bytes <= MAX_BYTES;
  }

  /** A buffer of at least `bytes` that the caller owns alone (from `bytes` MIN_BYTES on, reused memory). */
  take(bytes: number): ArrayBuffer {
    if (!this.pools(bytes)) return this.owned(new ArrayBuffer(bytes));
    const size = sizeClass(bytes);
    const buffer = this.free.get(size)?.pop();
    if (!buffer) return this.owned(new ArrayBuffer(size));
    this.freeBytes -= size;
    return buffer;
  }

  /**
   * A free buffer of exactly `bytes` (a size the pool makes), or none: memory to hand to another
   * thread's pool, which sends the same back (the gRPC thread gathers messages into it).
   */
  spare(bytes: number): ArrayBuffer | undefined {
    if (!this.pools(bytes) || bytes !== sizeClass(bytes)) return undefined;
    const buffer = this.free.get(bytes)?.pop();
    if (buffer) this.freeBytes -= bytes;
    return buffer;
  }

  /** Takes back a buffer no one reads any more (ignored unless it is one of the pool's sizes and owned alone). */
  give(buffer: ArrayBufferLike): void {
    if (!this.exclusive.has(buffer)) return;
    this.adopt(buffer as ArrayBuffer);
  }

  /**
   * Takes back a buffer an executor thread returned (its identity is new after the transfer, so it
   * is trusted by where it comes from: a batch's inputs, which the batch owned).
   */
  adopt(buffer: ArrayBuffer): void {
    const size = buffer.byteLength; // 0 once transferred away
    if (!this.pools(size) || size !== sizeClass(size) || this.freeBytes + size > MAX_FREE_BYTES) return;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    if (list.includes(buffer)) return;
    this.owned(buffer);
    list.push(buffer);
    this.freeBytes += size;
  }

  /** Marks a buffer as owned by one request alone (it may be transferred whole). */
  owned(buffer: ArrayBuffer): ArrayBuffer {
    this.exclusive.add(buffer);
    return buffer;
  }

  isOwned(buffer: ArrayBufferLike): boolean {
    return this.exclusive.has(buffer);
  }
}

/**
 * Gives buffers' memory back to the system now, not at V8's next full collection: they are
 * transferred into a message that is dropped unread (closing the channel frees them,
 * ~immediately). A channel costs ~45 µs; sent together, 16 buffers cost ~1 µs each. Detaches the
 * buffers: nothing may read them after.
 */
export function freeNow(...buffers: ArrayBuffer[]): void {
  const live = buffers.filter((b) => b.byteLength > 0); // not transferred already
  if (live.length === 0) return;
  const { port1, port2 } = new MessageChannel();
  port1.postMessage(live, live);
  port1.close();
  port2.close();
}

/** The main thread's pool (each thread has its own module instance). */
export const tensorBuffers = new BufferPool();
