// Messages to another thread, posted together once per turn of this thread's event loop. Each
// postMessage pays for a serialization, a lock and a wake-up of the receiver (an eventfd write:
// a context switch on a busy two-core machine), and each message there for an event of its own.
// Under a flood of unary gRPC calls, a socket read brings many calls' headers at once, and the
// gRPC thread asked the event loop about each alone: postMessage was 17% of the thread's sampled
// busy time and 14% of the event loop's. A batch leaves once the turn's callbacks have run
// (setImmediate), so nothing in it waits for another turn.
import type { TransferListItem } from 'node:worker_threads';

/** A Worker or a MessagePort. */
interface Port {
  postMessage(value: unknown, transferList?: readonly TransferListItem[]): void;
}

export class PostBatch<T> {
  private messages: T[] = [];
  private transfer: TransferListItem[] = [];

  /** The receiver gets arrays of T, in the order posted. */
  constructor(private readonly port: Port) {}

  post(message: T, transfer?: readonly TransferListItem[]): void {
    if (this.messages.length === 0) setImmediate(this.flush);
    this.messages.push(message);
    if (transfer) for (const t of transfer) this.transfer.push(t);
  }

  private readonly flush = (): void => {
    const messages = this.messages;
    const transfer = this.transfer;
    if (messages.length === 0) return;
    this.messages = [];
    this.transfer = [];
    this.port.postMessage(messages, transfer);
  };
}
