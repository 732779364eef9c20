// A discrete-event simulation of Pareto at a scale this machine cannot hold: the real fair queue
// and planner (imported, not copied) on a virtual clock, executors whose service times are drawn
// from the measured profiles (log-normal around each batch size's p50, spread fitted to its p99),
// and arrivals from the same processes as `pareto bench`. Its outcomes feed the same report.
import { ExecutorCommitments } from '../scheduler/executor-commitments.js';
import { FairQueue, type QueuedRequest } from '../scheduler/fair-queue.js';
import { MinHeap } from '../scheduler/heap.js';
import { LatencyModel } from '../scheduler/latency-model.js';
import { Planner, type Policy, type PlannerVariant } from '../scheduler/planner.js';
import { gaussian, seededRandom } from '../zoo/random.js';
import type { Outcome } from '../loadgen/runner.js';

/** The planner the simulator runs: the server's own class (a test holds it to that). */
export const PLANNER = Planner;

export interface SimVariant extends PlannerVariant {
  /** p99 per batch size, for the spread of service times. */
  latencyP99: Array<{ batch: number; ms: number }>;
}

export interface SimTenant {
  id: string;
  weight: number;
  priority: number;
  sloMs?: number;
  rows: number;
  /** Accuracy floor of each request (0: none). */
  minAccuracy?: number;
  /** Arrival times, ms from the start, in order (lazily: millions need not be held at once). */
  arrivals: Iterator<number>;
}

export interface SimOptions {
  variants: SimVariant[];
  tenants: SimTenant[];
  workers: number;
  policy: Policy;
  maxBatchSize: number;
  /** Time from the end of one batch to the start of the next on the same worker (dispatch, hops). */
  overheadMs?: number;
  /**
   * Time every request spends outside the scheduler (the front door: receiving, decoding,
   * encoding, answering), added to its latency. bench:serve measured ~0.45 ms at concurrency 1.
   */
  requestOverheadMs?: number;
  /**
   * Service times ÷ profile: how much slower (> 1) or faster than at profiling time the machine
   * being simulated runs; the planner learns it online, as the server's does.
   */
  slowdown?: number;
  /**
   * CPU ms the front door spends per request on the core the (one) worker runs on, as when a
   * server's event loop and its single executor share a core: requests that arrive while the worker
   * is busy push its next batch back by that much. 0 where the front door has cores of its own.
   */
  sharedCoreFrontMs?: number;
  /** Batches a worker may hold (the server's --pipeline-depth); a second one on the server's rules. */
  pipelineDepth?: number;
  seed?: number;
  /** Each request's outcome, as it happens (the simulator keeps none). */
  onOutcome: (o: Outcome) => void;
}

export interface SimResult {
  /** Busy worker-seconds per variant: the cost of the run. */
  workerSeconds: Record<string, number>;
  simulatedMs: number;
  events: number;
}

interface SimRequest extends QueuedRequest {
  sloMs?: number;
}

interface SimEvent {
  t: number;
  kind: 0 | 1; // 0: arrival, 1: a worker finishes
  tenant?: SimTenant;
  worker?: number;
  plan?: { variant: string; accuracy: number; requests: SimRequest[]; samples: number };
}

/** Service time of a batch: log-normal with median p50 and the profile's p99 as its 99th percentile. */
class ServiceTimes {
  private readonly p50: LatencyModel;
  private readonly p99: LatencyModel;
  constructor(v: SimVariant, private readonly normal: () => number) {
    this.p50 = new LatencyModel(v.latency);
    this.p99 = new LatencyModel(v.latencyP99.length ? v.latencyP99 : v.latency);
  }
  draw(batch: number, slowdown: number): number {
    const median = this.p50.profiled(batch) * slowdown;
    const tail = Math.max(median, this.p99.profiled(batch) * slowdown);
    const sigma = median > 0 ? Math.log(tail / median) / 2.326 : 0;
    return median * Math.exp(sigma * this.normal());
  }
}

export function simulate(opts: SimOptions): SimResult {
  const normal = gaussian(seededRandom(opts.seed ?? 1));
  const planner = new PLANNER<SimRequest>(opts.variants, { policy: opts.policy, maxBatchSize: opts.maxBatchSize, maxQueueDelayMs: 0, executors: opts.workers });
  const service = new Map(opts.variants.map((v) => [v.name, new ServiceTimes(v, normal)]));
  const queue = new FairQueue<SimRequest>();
  const events = new MinHeap<SimEvent>((e) => e.t);
  const idle: number[] = Array.from({ length: opts.workers }, (_, i) => opts.workers - 1 - i);
  // Pipelining: a busy worker may hold one more (full) batch, which starts when the current ends.
  const depth = opts.pipelineDepth ?? 2;
  const held = new Array<number>(opts.workers).fill(0);
  const freeAt = new Array<number>(opts.workers).fill(0);
  const busy: number[] = [];
  const commitments = new ExecutorCommitments();
  const front = opts.requestOverheadMs ?? 0;
  const emit = opts.onOutcome;
  const workerSeconds: Record<string, number> = {};
  const overhead = opts.overheadMs ?? 0;
  const slowdown = opts.slowdown ?? 1;
  const shared = opts.sharedCoreFrontMs ?? 0;
  /** Front-door CPU owed on the shared core: taken before the next batch starts. */
  let debt = 0;
  let processed = 0;
  let now = 0;

  // Arrivals are merged lazily: one pending arrival event per tenant keeps the heap small.
  const nextArrival = (t: SimTenant) => {
    const a = t.arrivals.next();
    if (!a.done) events.push({ t: a.value, kind: 0, tenant: t });
  };
  opts.tenants.forEach(nextArrival);

  const reject504 = (rs: SimRequest[]) => {
    for (const r of rs) emit({ tenant: r.tenant, at: r.arrival, sendLag: 0, latency: now - r.arrival, status: 504, samples: r.samples, sloMs: r.sloMs });
  };
  const start = (worker: number, plan: NonNullable<SimEvent['plan']>) => {
    const ms = service.get(plan.variant)!.draw(plan.samples, slowdown);
    workerSeconds[plan.variant] = (workerSeconds[plan.variant] ?? 0) + ms / 1000;
    planner.observe(plan.variant, plan.samples, ms, overhead);
    const begin = Math.max(now, freeAt[worker]) + overhead + debt;
    debt = 0;
    freeAt[worker] = begin + ms;
    held[worker]++;
    events.push({ t: begin + ms, kind: 1, worker, plan });
  };
  /** No idle worker: the busy one that is free soonest and may hold another batch. */
  const soonestBusy = () => {
    let best: number | undefined;
    for (const w of busy) if (held[w] < depth && (best === undefined || freeAt[w] < freeAt[best])) best = w;
    return best;
  };
  const dispatch = () => {
    while (queue.length > 0) {
      const isIdle = idle.length > 0;
      const worker = isIdle ? idle[idle.length - 1] : soonestBusy();
      if (worker === undefined) break;
      // The server's rules (ExecutorCommitments, as batch-dispatcher.ts uses them).
      const planned = commitments.plan(planner, queue, worker, isIdle, opts.workers, now);
      if (!planned) break;
      reject504(planned.expired);
      if (!planned.plan) break;
      if (isIdle) busy.push(idle.pop()!);
      start(worker, planned.plan);
    }
  };

  for (let e = events.pop(); e; e = events.pop()) {
    now = e.t;
    processed++;
    if (e.kind === 0) {
      const t = e.tenant!;
      planner.arrived(t.rows, now);
      commitments.noteArrival(t.priority, t.sloMs ?? Infinity, now);
      if (idle.length === 0) debt += shared;
      queue.push({ tenant: t.id, weight: t.weight, priority: t.priority, samples: t.rows, arrival: now, deadline: t.sloMs === undefined ? Infinity : now + t.sloMs, minAccuracy: t.minAccuracy ?? 0, sloMs: t.sloMs });
      nextArrival(t);
    } else {
      const p = e.plan!;
      for (const r of p.requests) emit({ tenant: r.tenant, at: r.arrival, sendLag: 0, latency: now - r.arrival + front, status: 200, samples: r.samples, sloMs: r.sloMs, variant: p.variant, accuracy: p.accuracy });
      const w = e.worker!;
      if (--held[w] === 0) {
        busy.splice(busy.indexOf(w), 1);
        idle.push(w);
      }
    }
    dispatch();
    if (idle.length === 0 && queue.length > 0) reject504(planner.expire(queue, now));
  }
  return { workerSeconds, simulatedMs: now, events: processed };
}
