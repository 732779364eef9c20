// One model's waiting requests: a queue per tenant, earliest deadline first inside each, weighted
// fair sharing across tenants (start-time fair queuing: a tenant's virtual time advances by
// samples ÷ weight as it is served; the backlogged tenant with the least goes next), and priority
// classes on top (a higher class is always served first). Pure: no clock, no I/O.
import { MinHeap } from './heap.js';

export interface QueuedRequest {
  tenant: string;
  /** Fair-share weight of the tenant (> 0). */
  weight: number;
  /** Priority class rank; higher is served first. */
  priority: number;
  samples: number;
  /** ms on the scheduler's clock. */
  arrival: number;
  /** Absolute deadline, ms; Infinity when none. */
  deadline: number;
  minAccuracy: number;
}

interface TenantQueue<T extends QueuedRequest> {
  tenant: string;
  heap: MinHeap<T>;
  samples: number;
  vtime: number;
  weight: number;
  priority: number;
  /** Largest finite deadline pushed since the queue was last empty. */
  lastDeadline: number;
}

export class FairQueue<T extends QueuedRequest> {
  private readonly queues = new Map<string, TenantQueue<T>>();
  /** The same queues as an array: scanned on every pop, and arrays iterate faster than Maps. */
  private readonly list: TenantQueue<T>[] = [];
  private totalSamples = 0;
  private totalRequests = 0;
  /** Virtual time of the last request served: a tenant that goes idle and returns starts here. */
  private vclock = 0;

  get samples(): number {
    return this.totalSamples;
  }

  get length(): number {
    return this.totalRequests;
  }

  /** Samples queued per tenant. */
  samplesByTenant(): Map<string, number> {
    return new Map([...this.queues.values()].map((q) => [q.tenant, q.samples]));
  }

  push(r: T): void {
    let q = this.queues.get(r.tenant);
    if (!q) {
      q = { tenant: r.tenant, heap: new MinHeap<T>((x) => x.deadline, (x) => x.arrival), samples: 0, vtime: this.vclock, weight: r.weight, priority: r.priority, lastDeadline: -Infinity };
      this.queues.set(r.tenant, q);
      this.list.push(q);
    }
    if (q.heap.size === 0) {
      q.vtime = Math.max(q.vtime, this.vclock);
      q.lastDeadline = -Infinity;
    }
    if (r.deadline !== Infinity && r.deadline > q.lastDeadline) q.lastDeadline = r.deadline;
    q.weight = r.weight;
    q.priority = r.priority;
    q.heap.push(r);
    q.samples += r.samples;
    this.totalSamples += r.samples;
    this.totalRequests++;
  }

  /** The tenant queue to serve next: highest priority class, then least virtual time. */
  private nextQueue(): TenantQueue<T> | undefined {
    let best: TenantQueue<T> | undefined;
    const list = this.list;
    for (let i = 0; i < list.length; i++) {
      const q = list[i];
      if (q.heap.size === 0) continue;
      if (!best || q.priority > best.priority || (q.priority === best.priority && q.vtime < best.vtime)) best = q;
    }
    return best;
  }

  /**
   * Removes and returns the request served next in fair order, charging its tenant; with `room`,
   * only if it has at most that many samples, and with `minPriority`, only if its class is at
   * least that (one scan of the tenants either way).
   */
  popNext(room = Infinity, minPriority = -Infinity): T | undefined {
    const q = this.nextQueue();
    if (!q || q.priority < minPriority || q.heap.peek()!.samples > room) return undefined;
    const r = q.heap.pop()!;
    this.vclock = q.vtime;
    q.vtime += r.samples / q.weight;
    this.taken(q, r);
    return r;
  }

  /** Returns requests taken by popNext but not served, refunding their tenants' virtual time. */
  putBack(requests: readonly T[]): void {
    for (const r of requests) {
      const q = this.queues.get(r.tenant)!;
      q.vtime -= r.samples / q.weight;
      q.heap.push(r);
      q.samples += r.samples;
      this.totalSamples += r.samples;
      this.totalRequests++;
    }
  }

  /** Removes every request whose deadline is before `cutoff(request)`; only heads are looked at (EDF). */
  expire(isLate: (r: T) => boolean): T[] {
    const out: T[] = [];
    for (const q of this.list) {
      while (q.heap.size > 0 && isLate(q.heap.peek()!)) {
        const r = q.heap.pop()!;
        this.taken(q, r);
        out.push(r);
      }
    }
    return out;
  }

  /** The latency budget (deadline − arrival) of the request popNext would return; Infinity when none. */
  nextBudget(): number {
    const r = this.nextQueue()?.heap.peek();
    return r ? r.deadline - r.arrival : Infinity;
  }

  /** The highest priority class waiting (the class popNext serves first); -Infinity when empty. */
  topPriority(): number {
    let p = -Infinity;
    for (const q of this.list) if (q.heap.size > 0 && q.priority > p) p = q.priority;
    return p;
  }

  /** The earliest deadline among all queued requests (the tenants' heads). */
  earliestDeadline(): number {
    let d = Infinity;
    for (const q of this.list) if (q.heap.size > 0) d = Math.min(d, q.heap.peek()!.deadline);
    return d;
  }

  /**
   * The latest finite deadline of anything queued (the backlog must drain by then): Infinity when
   * what is queued has no deadline, -Infinity when nothing is queued (nothing to drain).
   */
  latestDeadline(): number {
    if (this.totalRequests === 0) return -Infinity;
    let d = -Infinity;
    for (const q of this.list) if (q.heap.size > 0 && q.lastDeadline > d) d = q.lastDeadline;
    return d === -Infinity ? Infinity : d;
  }

  /** The oldest arrival among the tenants' heads (for max_queue_delay). */
  oldestHeadArrival(): number {
    let a = Infinity;
    for (const q of this.list) if (q.heap.size > 0) a = Math.min(a, q.heap.peek()!.arrival);
    return a;
  }

  drain(): T[] {
    const out: T[] = [];
    for (const q of this.queues.values()) {
      out.push(...q.heap.drain());
      q.samples = 0;
    }
    this.totalSamples = 0;
    this.totalRequests = 0;
    return out;
  }

  private taken(q: TenantQueue<T>, r: T): void {
    q.samples -= r.samples;
    this.totalSamples -= r.samples;
    this.totalRequests--;
  }
}
