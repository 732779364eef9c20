// The planner: for the next free executor, which requests go together and on which variant.
// `adaptive` takes the most accurate variant on the latency–accuracy frontier that still meets the
// earliest deadline in the batch, can drain the backlog before the newest deadline, and keeps up
// with the arrival rate; under
// overload it slides down the frontier, and climbs back only with a margin to spare (hysteresis),
// so it does not flap. `most-accurate` and `fastest` are the fixed policies to compare with.
// Pure: time and the queue come in as arguments.
import type { FairQueue, QueuedRequest } from './fair-queue.js';
import { LatencyModel, type ProfilePoint } from './latency-model.js';

export const POLICIES = ['adaptive', 'most-accurate', 'fastest'] as const;

/** Time constant of the arrival-rate estimate: short enough to see a burst within a few batches. */
const RATE_TAU_MS = 50;
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
  /**
   * Climbing to a more accurate variant needs its predicted times (and utilisation) within this
   * fraction of what is available (staying needs them within all of it): the hysteresis band.
   * Default 0.5: with 0.7, bench:tradeoff met 97.5% of deadlines (the accurate variant at 50–70%
   * utilisation queued past a 50 ms SLO); with 0.5, 100%, for 0.06 pt less accuracy served.
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
  /** Arrival rate, samples per ms, smoothed over ~RATE_TAU_MS. */
  private rate = 0;
  private lastArrival = -Infinity;

  constructor(variants: readonly PlannerVariant[], readonly opts: PlannerOptions) {
    if (variants.length === 0) throw new Error('a planner needs at least one variant');
    this.climbMargin = opts.climbMargin ?? 0.5;
    const all = variants.map((v) => ({ variant: v, model: new LatencyModel(v.latency) }));
    this.byName = new Map(all.map((l) => [l.variant.name, l]));
    const perSample = (l: Level) => l.model.profiled(opts.maxBatchSize) / opts.maxBatchSize;
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
    this.rate = this.rate * decay + (samples / RATE_TAU_MS);
    this.lastArrival = now;
  }

  private rateAt(now: number): number {
    return this.rate * Math.exp(-Math.max(0, now - this.lastArrival) / RATE_TAU_MS);
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

  /**
   * `startAt`: when the executor that will run the batch is free (after the batch it holds now);
   * a batch queued behind another finishes that much later, and the choice of variant counts it.
   * `maxBatchMs`: the longest the batch may hold its executor (an executor is not preemptive: a
   * tighter deadline arriving meanwhile waits for it); fewer samples or a faster variant then.
   */
  plan(queue: FairQueue<T>, now: number, startAt = now, maxBatchMs = Infinity): PlanResult<T> {
    const expired = this.expire(queue, now);
    if (queue.length === 0) return { expired };
    const { maxBatchSize, maxQueueDelayMs } = this.opts;
    if (maxQueueDelayMs > 0 && queue.samples < maxBatchSize) {
      const readyAt = queue.oldestHeadArrival() + maxQueueDelayMs;
      // Leave before the earliest deadline gets tight: twice the predicted run plus 2 ms of timer slack.
      const mustGoBy = queue.earliestDeadline() - 2 * this.levels[this.level].model.predict(queue.samples) - 2;
      if (now < readyAt && now < mustGoBy) return { expired, wakeAt: Math.min(readyAt, mustGoBy) };
    }

    // The first request always goes (one larger than a batch runs alone); then while they fit.
    const candidates: T[] = [queue.popNext()!];
    let samples = candidates[0].samples;
    // As many as the fastest variant runs within maxBatchMs, and the batch size.
    const room = maxBatchMs === Infinity ? maxBatchSize : Math.min(maxBatchSize, this.fastest.model.samplesWithin(maxBatchMs, maxBatchSize));
    for (let next = queue.popNext(room - samples); next; next = queue.popNext(room - samples)) {
      candidates.push(next);
      samples += next.samples;
    }
    const level = this.choose(candidates, samples, queue, now, Math.max(0, startAt - now), maxBatchMs);
    let chosen = level;
    let members = candidates.filter((r) => r.minAccuracy <= chosen.variant.accuracy);
    if (candidates[0].minAccuracy > chosen.variant.accuracy) {
      // The head needs more accuracy than the current level gives: the fastest variant that has it.
      const floor = candidates[0].minAccuracy;
      chosen = [...this.levels].reverse().find((l) => l.variant.accuracy >= floor) ?? this.levels[0];
      members = candidates.filter((r) => r.minAccuracy <= chosen.variant.accuracy);
    }
    if (members.length < candidates.length) queue.putBack(candidates.filter((r) => !members.includes(r)));
    const n = members.reduce((a, r) => a + r.samples, 0);
    return { expired, plan: { variant: chosen.variant.name, accuracy: chosen.variant.accuracy, requests: members, samples: n, predictedMs: chosen.model.predict(n) } };
  }

  private choose(batch: readonly T[], samples: number, queue: FairQueue<T>, now: number, waitMs: number, maxBatchMs: number): Level {
    const policy = this.opts.policy;
    if (policy === 'most-accurate') return this.levels[0];
    if (policy === 'fastest') return this.fastest;
    let head = Infinity;
    for (const r of batch) head = Math.min(head, r.deadline);
    const tail = Math.max(head, queue.latestDeadline());
    const backlog = queue.samples + samples;
    const { maxBatchSize, executors } = this.opts;
    const rate = this.rateAt(now);
    const fits = (l: Level, margin: number) => {
      if (l.model.predict(samples) > maxBatchMs) return false;
      // Utilisation at the current arrival rate, in full batches over all executors.
      if ((rate * l.model.compute(maxBatchSize)) / maxBatchSize / executors > margin) return false;
      const finish = waitMs + l.model.predict(samples);
      if (finish > (head - now) * margin) return false;
      if (tail === Infinity) return true;
      // The whole backlog in full batches (and one partial), back to back over the executors.
      const full = Math.floor(backlog / maxBatchSize), rest = backlog % maxBatchSize;
      const drain = waitMs + (full * l.model.compute(maxBatchSize) + (rest ? l.model.compute(rest) : 0)) / executors + l.model.overhead;
      return Math.max(finish, drain) <= (tail - now) * margin;
    };
    for (let i = 0; i < this.levels.length; i++) {
      if (fits(this.levels[i], i < this.level ? this.climbMargin : 1)) {
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
