// What each executor has been given and how much more it may take: shared by the server's and the
// gateway's dispatcher and by the simulator, so all three bound executors the same way.
//
// Executors are not preemptive: a request with a tight deadline that arrives while every executor
// is busy waits for what each already holds. So where a tighter class of request is about (a
// budget under half the batch's own, seen lately at its priority class or above, over all
// models), the work committed to one executor (the rest of the batch it runs, plus any batch
// queued behind it) stays within half of that tightest budget. Measured (bench:abuse, server on
// one core): acme's 20 ms requests waited up to 19 ms behind globex's 64-row batches and 2–11% got
// 504 before. Among requests alike, the planner's own deadline checks suffice, and a bound would
// only cut capacity (one variant of 100–170 ms batches, 300 ms SLO, held to 150 ms per batch:
// 43% of SLOs met at 80% of its capacity).
//
// A second batch queued behind a running one always keeps within that half: it is held only
// when batches are short against the SLOs. With 100–170 ms batches and a 300 ms SLO, a batch
// queued behind a running one pushed its requests past their deadline (issue #16: 90.46% of
// SLOs met at depth 2, ≥ 99.86% at depth 1); with 1 ms batches and a 50 ms SLO it spares the
// executor a thread hop between batches. No budget counts as tighter than MIN_BUDGET_MS (a
// request parameter may tighten an SLO, and must not shrink every batch to one sample).
//
// Lower classes make way: while a higher class has had a request within the last second, a batch
// of lower-class requests runs on the fastest variant that meets their accuracy floor, and waits
// up to `yieldHoldMs` to fill. On a CPU the executors share the cores with the front door, so what
// a lower class's batch costs is taken from the higher class's requests still being read and
// answered. Measured (bench:abuse's tenant at 80% of its quota, 1,600 1-row requests/s to
// mnist-mlp-wide beside acme, server-side): 0.47–0.51 cores on the event loop and 0.57–0.67 on the
// other threads, served at tta9 in batches of 6.6 rows on average; making way, 0.35–0.45 and
// 0.12–0.25.
import type { FairQueue, QueuedRequest } from './fair-queue.js';
import type { Planner, PlanResult } from './planner.js';

const COMMITTED_SHARE = 0.5;
const MIN_BUDGET_MS = 8;
/** A priority class is about while it has had a request within this long. */
const ACTIVE_MS = 1000;
export const DEFAULT_YIELD_HOLD_MS = 5;

export class ExecutorCommitments {
  private readonly byRank = new Map<number, RecentMin>();
  /** Per priority class, its latest request's arrival. */
  private readonly seenAt = new Map<number, number>();
  /** Per executor slot, when what it was given is predicted to be done (scheduler clock). */
  private readonly until = new Map<number, number>();

  /** `yieldHoldMs`: how long a lower class's batch may wait to fill while a higher class is about; 0: lower classes do not make way. */
  constructor(private readonly yieldHoldMs = DEFAULT_YIELD_HOLD_MS) {}

  /**
   * The next batch for executor `index` (`idle`: nothing in flight on it) out of `queue`, on these
   * rules, committed to it; undefined when a busy executor should take nothing now (a second batch
   * only when it is full and fits). `executors`: how many run this queue's model.
   */
  plan<T extends QueuedRequest>(planner: Planner<T>, queue: FairQueue<T>, index: number, idle: boolean, executors: number, now: number): PlanResult<T> | undefined {
    const startAt = this.startAt(index, idle, now);
    const top = queue.topPriority();
    const maxBatchMs = this.roomMs(top, queue.nextBudget(), startAt, now);
    if (!idle && (queue.samples < planner.opts.maxBatchSize || planner.fullBatchMs() > maxBatchMs)) return undefined;
    const yieldHoldMs = this.yieldHoldMs > 0 && this.higherAbout(top, now) ? this.yieldHoldMs : undefined;
    const result = planner.plan(queue, now, { startAt, maxBatchMs, committedMs: this.meanCommittedMs(executors, now), yieldHoldMs });
    if (result.plan) this.commit(index, startAt, result.plan.predictedMs);
    return result;
  }

  /** Notes an arriving request: its class and its latency budget (deadline − now). */
  noteArrival(priority: number, budgetMs: number, now: number): void {
    this.seenAt.set(priority, now);
    if (budgetMs === Infinity) return;
    let r = this.byRank.get(priority);
    if (!r) this.byRank.set(priority, (r = new RecentMin()));
    r.note(Math.max(MIN_BUDGET_MS, budgetMs), now);
  }

  /** Whether a class above `priority` has had a request within ACTIVE_MS. */
  higherAbout(priority: number, now: number): boolean {
    for (const [rank, at] of this.seenAt) if (rank > priority && now - at <= ACTIVE_MS) return true;
    return false;
  }

  /** When executor `index` can start another batch: now if idle, else when its work is predicted done. */
  startAt(index: number, idle: boolean, now: number): number {
    return idle ? now : Math.max(now, this.until.get(index) ?? now);
  }

  /**
   * The longest the next batch may take on an executor free at `startAt`, for requests of
   * `priority` whose own budget is `ownBudget` (Infinity: unbounded; ≤ 0: give that executor
   * nothing now).
   */
  roomMs(priority: number, ownBudget: number, startAt: number, now: number): number {
    let tight = Infinity;
    for (const [rank, r] of this.byRank) if (rank >= priority) tight = Math.min(tight, r.value(now));
    const behind = startAt - now;
    if (behind <= 0 && 2 * tight >= Math.max(MIN_BUDGET_MS, ownBudget)) return Infinity;
    return COMMITTED_SHARE * tight - behind;
  }

  commit(index: number, startAt: number, ms: number): void {
    this.until.set(index, startAt + ms);
  }

  /** Work still committed per executor, ms, on average over `count` executors (the backlog's head start). */
  meanCommittedMs(count: number, now: number): number {
    let sum = 0;
    for (const at of this.until.values()) if (at > now) sum += at - now;
    return sum / Math.max(1, count);
  }
}

/** The smallest value noted in the last one to two seconds (Infinity when none). */
class RecentMin {
  private current = Infinity;
  private previous = Infinity;
  private since = -Infinity;

  note(budget: number, now: number): void {
    this.roll(now);
    if (budget < this.current) this.current = budget;
  }

  value(now: number): number {
    this.roll(now);
    return Math.min(this.current, this.previous);
  }

  private roll(now: number): void {
    if (now - this.since < 1000) return;
    this.previous = now - this.since < 2000 ? this.current : Infinity;
    this.current = Infinity;
    this.since = now;
  }
}
