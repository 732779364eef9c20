// Gathers queued requests for one variant into batches of at most `maxBatchSize` samples. Pure:
// time comes in as an argument. A batch is ready when it is full, when its oldest request has
// waited `maxQueueDelayMs`, or at once when the delay is 0 (work-conserving, like Triton's default:
// under load executors are busy, so requests pile up and batches grow by themselves).
export interface Queued {
  /** Rows along the batch axis this request contributes. */
  samples: number;
  /** Arrival time, ms on the injected clock. */
  arrival: number;
}

export interface BatchingPolicy {
  maxBatchSize: number;
  maxQueueDelayMs: number;
}

export class DynamicBatcher<T extends Queued> {
  private queue: T[] = [];
  private head = 0;
  private queuedSamples = 0;

  constructor(readonly policy: BatchingPolicy) {}

  get length(): number {
    return this.queue.length - this.head;
  }

  get samples(): number {
    return this.queuedSamples;
  }

  /** Arrival time of the oldest waiting request. */
  oldestArrival(): number | undefined {
    return this.length > 0 ? this.queue[this.head].arrival : undefined;
  }

  push(item: T): void {
    this.queue.push(item);
    this.queuedSamples += item.samples;
  }

  /** When the head batch becomes ready (≤ now means ready now); undefined when empty. */
  readyAt(): number | undefined {
    const oldest = this.oldestArrival();
    if (oldest === undefined) return undefined;
    if (this.queuedSamples >= this.policy.maxBatchSize) return -Infinity;
    return oldest + this.policy.maxQueueDelayMs;
  }

  /** Takes the next batch if it is ready at `now`; at least one request, at most maxBatchSize samples. */
  take(now: number): T[] | undefined {
    const at = this.readyAt();
    if (at === undefined || at > now) return undefined;
    const batch: T[] = [];
    let samples = 0;
    while (this.head < this.queue.length) {
      const next = this.queue[this.head];
      if (batch.length > 0 && samples + next.samples > this.policy.maxBatchSize) break;
      batch.push(next);
      samples += next.samples;
      this.head++;
    }
    this.queuedSamples -= samples;
    this.compact();
    return batch;
  }

  /** Removes and returns everything queued (model unload, shutdown). */
  drain(): T[] {
    const all = this.queue.slice(this.head);
    this.queue = [];
    this.head = 0;
    this.queuedSamples = 0;
    return all;
  }

  private compact(): void {
    // Amortised O(1) dequeue without Array.shift's O(n) copies.
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }
}
