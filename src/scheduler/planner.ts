// The planner: for the next free executor, which requests go together and on which variant.
// `adaptive` takes the most accurate variant on the latency–accuracy frontier that still meets the
// earliest deadline in the batch after what its executor holds, can drain the backlog over the
// executors before the newest deadline, and keeps up with the arrival rate at the batch size that
// rate forms; under overload it slides down the frontier, and climbs back only with a margin to
// spare (hysteresis), so it does not flap. `most-accurate` and `fastest` are the fixed policies to compare with.
// Pure: time and the queue come in as arguments.
import type { FairQueue, QueuedRequest } from './fair-queue.js';
import { LatencyModel, type ProfilePoint } from './latency-model.js';

export const POLICIES = ['adaptive', 'most-accurate', 'fastest'] as const;

/**
 * Time constants of the arrival-rate estimates. The fast one sees a burst within a few batches
 * (staying on a variant needs it). Where it averages fewer than FEW_ARRIVALS requests it is too
 * noisy to climb on, and climbing needs the slow one too: at 50 pages/s the fast one averaged 2.5
 * arrivals, and adaptive climbed into every lull of a burst (bench:own-model: 96.7% of SLOs). Where
 * arrivals are many, the slow one only delays the climb (a point of accuracy lost on 16 workers).
 */
const RATE_TAU_MS = 50;
const CLIMB_RATE_TAU_MS = 500;
const FEW_ARRIVALS = 16;
export type Policy = (typeof POLICIES)[number];

export interface PlannerVariant {
  name: string;
  accuracy: number;
  latency: ProfilePoint[];
}

export interface PlannerOptions {
  policy: Policy;
  maxBatchSize: number;
  maxQueueDelayMs: number;
  /** Executors that run this model's batches in parallel. */
  executors: number;
  /** Whether batches may wait to fill (max_queue_delay, PlanAt.yieldHoldMs); false where a gateway formed them already or the model runs requests one at a time. Default true. */
  mayHold?: boolean;
  /**
   * Climbing to a more accurate variant needs its predicted times within this fraction of what is
   * available, and its capacity at 1/this of the arrival rate (staying needs them within all of
   * it): the hysteresis band, narrowed further by how far that variant's runs stray from their
   * predictions here (÷ (1 + 1.5 × spread)). Default 0.8. Measured with bench:planner (peaks at
   * 1.5× the accurate variant's capacity): with a fixed 0.5, adaptive served 1–2 points less
   * accuracy than the best variant alone (a 100 ms variant could never be climbed to on one
   * worker); bench:own-model on a real, noisy server climbed too eagerly at a fixed 0.75.
   */
  climbMargin?: number;
}

export interface BatchPlan<T> {
  variant: string;
  accuracy: number;
  requests: T[];
  samples: number;
  predictedMs: number;
}

/** Where the batch will run, besides the queue: all optional. */
export interface PlanAt {
  /** When the executor that will run it is free (after what it holds now); default now. */
  startAt?: number;
  /**
   * The longest it may hold its executor (executors are not preemptive: a tighter deadline arriving
   * meanwhile waits for it): fewer samples or a faster variant then. Default unbounded.
   */
  maxBatchMs?: number;
  /** Work already committed per executor, on average, ms: the backlog starts after it. Default: startAt's wait. */
  committedMs?: number;
  /**
   * The queue's requests make way for a higher class (executor-commitments.ts): its batch waits up
   * to this long to fill, and adaptive runs it on the fastest variant that meets its floor.
   */
  yieldHoldMs?: number;
}

export interface PlanResult<T> {
  plan?: BatchPlan<T>;
  /** Requests no variant can serve before their deadline: answer 504 now. */
  expired: T[];
  /** Nothing to run yet (max_queue_delay): ask again at this time. */
  wakeAt?: number;
}

interface Level {
  variant: PlannerVariant;
  model: LatencyModel;
}

export class Planner<T extends QueuedRequest> {
  /** Variants by accuracy, best first, keeping only the frontier (each faster than all more accurate ones). */
  readonly levels: Level[];
  private readonly byName: Map<string, Level>;
  private readonly fastest: Level;
  private readonly climbMargin: number;
  /** Index into levels of the variant adaptive prefers now. */
  level = 0;
  /** Arrival rates, samples per ms, smoothed over ~RATE_TAU_MS and ~CLIMB_RATE_TAU_MS. */
  private rate = 0;
  private slowRate = 0;
  /** Requests (not samples) arrived within ~RATE_TAU_MS: how much the fast rate is worth. */
  private recentArrivals = 0;
  private lastArrival = -Infinity;

  constructor(variants: readonly PlannerVariant[], readonly opts: PlannerOptions) {
    if (variants.length === 0) throw new Error('a planner needs at least one variant');
    this.climbMargin = opts.climbMargin ?? 0.8;
    const all = variants.map((v) => ({ variant: v, model: new LatencyModel(v.latency) }));
    this.byName = new Map(all.map((l) => [l.variant.name, l]));
    const perSample = (l: Level) => l.model.perSample(opts.maxBatchSize);
    const sorted = [...all].sort((a, b) => b.variant.accuracy - a.variant.accuracy || perSample(a) - perSample(b));
    this.levels = [];
    for (const l of sorted) if (this.levels.length === 0 || perSample(l) < perSample(this.levels[this.levels.length - 1])) this.levels.push(l);
    this.fastest = this.levels[this.levels.length - 1];
  }

  get preferred(): string {
    return this.levels[this.level].variant.name;
  }

  get bestAccuracy(): number {
    return this.levels[0].variant.accuracy;
  }

  /**
   * Counts arriving samples into the smoothed arrival rate: a variant whose capacity is below it
   * cannot keep up however its backlog looks now, which lets adaptive step down as a burst starts
   * rather than after the queue has grown.
   */
  arrived(samples: number, now: number): void {
    const dt = Math.max(0, now - this.lastArrival);
    const decay = Math.exp(-dt / RATE_TAU_MS);
    this.rate = this.rate * decay + samples / RATE_TAU_MS;
    this.recentArrivals = this.recentArrivals * decay + 1;
    this.slowRate = this.slowRate * Math.exp(-dt / CLIMB_RATE_TAU_MS) + samples / CLIMB_RATE_TAU_MS;
    this.lastArrival = now;
  }

  /** A smoothed value as it has decayed since the last arrival. */
  private decayed(value: number, tau: number, now: number): number {
    return value * Math.exp(-Math.max(0, now - this.lastArrival) / tau);
  }

  /** Feeds a finished batch back into that variant's latency model. */
  observe(variant: string, batch: number, computeMs: number, overheadMs?: number): void {
    const level = this.byName.get(variant);
    if (!level) return;
    level.model.observe(batch, computeMs, overheadMs);
    for (const other of this.byName.values()) if (other !== level) other.model.seed(level.model.slowdown);
  }

  /**
   * The soonest a request could finish if dispatched at `now`: the fastest variant's compute,
   * alone. The dispatch overhead is left out on purpose: it is measured on a busy event loop and
   * runs high exactly under load, and a request refused with 504 that could still have made it is
   * worse than one answered a little late.
   */
  private minFinish(now: number): number {
    return now + this.fastest.model.compute(1);
  }

  plan(queue: FairQueue<T>, now: number, at: PlanAt = {}): PlanResult<T> {
    const expired = this.expire(queue, now);
    if (queue.length === 0) return { expired };
    const { maxBatchSize, maxQueueDelayMs } = this.opts;
    const holdMs = this.opts.mayHold === false ? 0 : Math.max(maxQueueDelayMs, at.yieldHoldMs ?? 0);
    if (holdMs > 0 && queue.samples < maxBatchSize) {
      const readyAt = queue.oldestHeadArrival() + holdMs;
      // Leave before the earliest deadline gets tight: twice the predicted run plus 2 ms of timer slack.
      const mustGoBy = queue.earliestDeadline() - 2 * this.levels[this.level].model.predict(queue.samples) - 2;
      if (now < readyAt && now < mustGoBy) return { expired, wakeAt: Math.min(readyAt, mustGoBy) };
    }
    const waitMs = Math.max(0, (at.startAt ?? now) - now);
    const maxBatchMs = at.maxBatchMs ?? Infinity;

    // The first request always goes (one larger than a batch runs alone); then while they fit.
    const candidates: T[] = [queue.popNext()!];
    let samples = candidates[0].samples;
    // As many as the fastest variant runs within maxBatchMs, and the batch size.
    const room = maxBatchMs === Infinity ? maxBatchSize : Math.min(maxBatchSize, this.fastest.model.samplesWithin(maxBatchMs, maxBatchSize));
    // A batch holds its head's class alone: a lower class's rows riding in it make the higher
    // class's requests wait for their compute. Measured (bench:abuse, a quiet hour, B alone p99
    // 2.58 ms): with A's rows riding, B's p99 beside A in B's model was 1.53–3.94× alone in 10 of
    // 12 cells, against 0.91–1.41× beside the same loads to another model (but one, whose control
    // was 2.03×); B's requests that carried A's 32 rows had a p50 of 3.6–4.3 ms against 1.1–1.35.
    // Keeping them out, 8 and 9 of those 12 cells passed in the next two runs.
    // Lower classes make way instead (executor-commitments.ts), in batches of their own.
    const headClass = candidates[0].priority;
    for (let next = queue.popNext(room - samples, headClass); next; next = queue.popNext(room - samples, headClass)) {
      candidates.push(next);
      samples += next.samples;
    }
    let chosen = this.choose(candidates, samples, queue, now, waitMs, maxBatchMs, at.committedMs ?? waitMs);
    const floor = candidates[0].minAccuracy;
    // The head needs more accuracy than the current level gives, or makes way for a higher class:
    // the fastest variant that has the head's floor.
    if (floor > chosen.variant.accuracy || (at.yieldHoldMs !== undefined && this.opts.policy === 'adaptive')) {
      chosen = this.fastestWith(floor);
    }
    // Those the variant may serve, up to the batch size it runs cheapest per sample (the first always).
    const cheapest = chosen.model.bestBatch(maxBatchSize);
    const members: T[] = [], left: T[] = [];
    let n = 0;
    for (const r of candidates) {
      if (r.minAccuracy <= chosen.variant.accuracy && (n === 0 || n + r.samples <= cheapest)) {
        members.push(r);
        n += r.samples;
      } else left.push(r);
    }
    if (left.length > 0) queue.putBack(left);
    return { expired, plan: { variant: chosen.variant.name, accuracy: chosen.variant.accuracy, requests: members, samples: n, predictedMs: chosen.model.predict(n) } };
  }

  /** The fastest variant on the frontier with at least `floor` accuracy (the most accurate when none has). */
  private fastestWith(floor: number): Level {
    for (let i = this.levels.length - 1; i > 0; i--) if (this.levels[i].variant.accuracy >= floor) return this.levels[i];
    return this.levels[0];
  }

  /**
   * The compute time of a batch as large as the preferred variant runs: whether a busy executor
   * has room for one behind what it runs. Without the dispatch overhead, which a held batch
   * overlaps (counted in, it ran to ~20 ms on a busy event loop, no batch was held, the executor
   * waited a turn of the loop between batches, and fastest met 85% of SLOs in bench:tradeoff).
   */
  fullBatchMs(): number {
    const { model } = this.levels[this.level];
    return model.compute(model.bestBatch(this.opts.maxBatchSize));
  }

  private choose(batch: readonly T[], samples: number, queue: FairQueue<T>, now: number, waitMs: number, maxBatchMs: number, committedMs: number): Level {
    const policy = this.opts.policy;
    if (policy === 'most-accurate') return this.levels[0];
    if (policy === 'fastest') return this.fastest;
    let head = Infinity, budget = Infinity;
    for (const r of batch) {
      head = Math.min(head, r.deadline);
      budget = Math.min(budget, r.deadline - r.arrival);
    }
    const tail = Math.max(head, queue.latestDeadline());
    const backlog = queue.samples + samples;
    const { maxBatchSize, executors } = this.opts;
    const rate = this.decayed(this.rate, RATE_TAU_MS, now);
    const few = this.decayed(this.recentArrivals, RATE_TAU_MS, now) < FEW_ARRIVALS;
    const climbRate = few ? Math.max(rate, this.decayed(this.slowRate, CLIMB_RATE_TAU_MS, now)) : rate;
    const fits = (l: Level, margin: number) => {
      const m = l.model;
      if (m.predict(samples) > maxBatchMs) return false;
      // Keeping up, at the batch size dispatch forms at this rate over these executors (small when
      // executors are many: full batches overstated capacity there), and in steady state a request
      // waits for the next executor to come free (as often as they are busy), then runs: both
      // within its budget.
      const load = (margin < 1 ? climbRate : rate) / margin;
      const formed = m.formedBatch(load, executors, maxBatchSize);
      if (formed === Infinity) return false;
      const cycle = m.compute(formed) + m.overhead, busy = Math.min(1, (load * cycle) / (executors * formed));
      if (budget !== Infinity && (busy * cycle) / executors + m.predict(formed) > budget * margin) return false;
      const finish = waitMs + m.predict(samples);
      if (finish > (head - now) * margin) return false;
      if (tail === Infinity) return true;
      // The backlog spread over the executors after what they hold, in batches of the cheapest size.
      const each = backlog / executors, size = m.bestBatch(maxBatchSize);
      const full = Math.max(0, Math.ceil(each / size) - 1);
      const drain = committedMs + full * m.compute(size) + m.compute(each - full * size) + m.overhead;
      return Math.max(finish, drain) <= (tail - now) * margin;
    };
    for (let i = 0; i < this.levels.length; i++) {
      // Climbing leaves room for how far runs stray from their prediction on this machine.
      if (fits(this.levels[i], i < this.level ? this.climbMargin / (1 + 1.5 * this.levels[i].model.spread) : 1)) {
        this.level = i;
        return this.levels[i];
      }
    }
    this.level = this.levels.length - 1;
    return this.fastest;
  }

  /** Removes the requests that no variant can serve in time any more. */
  expire(queue: FairQueue<T>, now: number): T[] {
    const floorLate = this.minFinish(now);
    return queue.expire((r) => r.deadline < floorLate);
  }

  /** When the earliest queued request stops being servable (for an expiry timer). */
  nextExpiry(queue: FairQueue<T>): number {
    return queue.earliestDeadline() - this.fastest.model.compute(1);
  }
}
