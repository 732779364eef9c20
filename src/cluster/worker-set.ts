// A gateway's executors: the workers of the cluster. Each worker is a slot per executor it reports
// (times its pipeline depth); a batch goes to the worker with the earliest predicted finish (its
// backlog over its executors, plus how much longer than predicted its batches have been taking)
// among those with an executor free, else among those with a slot free, not round robin; a worker
// far slower than the best gets none while others can take them, and then one at a time. A worker
// that fails a call is taken out of routing at once and the batch is retried once on another worker
// that serves the model, if its deadline still allows; one that answers nothing for a while is
// taken out too; reports bring them back. A batch that is late is hedged on a second worker.
// Workers of one model may hold different variants (mid-upgrade): a batch goes only to one that has
// its variant.
import { performance } from 'node:perf_hooks';
import { DeadlineError, NoWorkerError, UpstreamError } from '../errors.js';
import type { LoadReport } from '../protocol/load-report.js';
import type { RunResult } from '../runtime/executor-pool.js';
import type { Executors, RunTarget } from '../serving/executors.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Member } from './membership.js';
import { RestWorkerClient } from './rest-worker-client.js';
import { NoLoadReportError, WorkerClient, WorkerUnreachableError, type ModelSignature, type WorkerTransport } from './worker-client.js';

/** Weight of a new observation in a worker's estimates. */
const ALPHA = 0.2;
/**
 * A worker whose batches take this many typical batch times longer than the best worker's (and at
 * least 1 ms longer) gets none while others can take them, and then one at a time.
 */
const SLOW_BATCHES = 2;
/** Calls with no deadline still end: a worker that stops answering must not hold requests forever. */
const MAX_CALL_MS = 30_000;
/** A worker with batches out that answers nothing for this long is taken out of routing. */
const SILENT_MS = 500;
/**
 * Hedged batches: one that has not come back by its predicted time plus the 95th percentile of how
 * much longer than predicted batches take is sent to a second worker as well, and the first answer
 * wins. At most this share of batches is sent twice, so a slow cluster is not doubled in load.
 */
const HEDGE_SHARE = 0.05;
/** Hedges that may go out in a row (the allowance saved while none were needed). */
const HEDGE_BURST = 5;
/** Never hedge earlier than this beyond the prediction (a loopback round trip under load). */
const HEDGE_MIN_MS = 2;
/** Batches the hedge delay's percentile is taken over. */
const EXTRA_WINDOW = 256;

export interface WorkerState {
  index: number;
  member: Member;
  client: WorkerTransport;
  report?: LoadReport;
  /** Routable: its last report succeeded and no call has failed since. */
  up: boolean;
  /** Gone from membership while up: kept until a report or batch fails. */
  unlisted: boolean;
  models: Set<string>;
  /** Each model's variants on this worker: mid-upgrade, workers of one model can differ. */
  variants: Map<string, Set<string>>;
  inflight: number;
  /** Predicted ms of the batches in flight on it. */
  backlogMs: number;
  /** How much longer than predicted its batches take, ms, smoothed (network, queueing, a slow host). */
  extraMs: number;
  batchesSinceReport: number;
  /** Batches sent to it since it joined. */
  batches: number;
  /** A load report is being fetched (a stalled worker must not collect a pile of them). */
  refreshing: boolean;
  /** When a batch last came back from it (performance.now() ms). */
  answeredAt: number;
  /** When the first batch sent since its last answer was sent (performance.now() ms); undefined: none. */
  silentSince: number | undefined;
}

export interface WorkerSetEvents {
  /**
   * A worker serves a model the gateway has not seen yet (`signature`, from that worker), or a
   * known model with variants the gateway may not know (`signature` undefined).
   */
  onModel(signature: ModelSignature | undefined, model: LoadReport['models'][number]): void;
  /** Routing changed (a worker came up or went down). */
  onChange?(): void;
  /**
   * A slot on a worker came free (a batch the caller no longer awaits, a hedge's losing copy, may
   * free it), or a slow worker now takes the batch waiting longest.
   */
  onFree?(): void;
  log?(level: 'info' | 'warn', msg: string, fields: Record<string, unknown>): void;
}

export interface WorkerSetOptions {
  /** How batches travel to workers that offer both (REST binary is the cheaper here). */
  protocol?: 'rest' | 'grpc';
  /** Sent to workers that have tenants of their own. */
  key?: string;
  reportEveryMs?: number;
  /** How long a new REST connection to a worker may take (gRPC calls are bounded by their deadline). */
  connectTimeoutMs?: number;
}

/** A failure that may be a live worker's slowness (no answer in time), not a refusal. */
const isSlow = (e: unknown) => !(e instanceof WorkerUnreachableError) || e.timedOut;

/**
 * Whether `call` is still unsettled after `ms`, the moment to ask a second copy; a rejection for
 * which `asIfPending` is true by then counts as unsettled too.
 */
async function pendingAfter(call: Promise<unknown>, ms: number, asIfPending: (e: unknown) => boolean = () => false): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const pending = await Promise.race([
    call.then(() => false, asIfPending),
    new Promise<true>((r) => { timer = setTimeout(() => r(true), ms); }),
  ]);
  clearTimeout(timer);
  return pending;
}

/** The first of two copies of a call to succeed; when both fail, the first one's error. */
function firstAnswer<T>(first: Promise<T>, second: Promise<T>): Promise<T> {
  return Promise.any([first, second]).catch((e: AggregateError) => { throw e.errors[0] as Error; });
}

export class WorkerSet implements Executors {
  private readonly workers = new Map<number, WorkerState>();
  private readonly byId = new Map<string, WorkerState>();
  private nextIndex = 0;
  private timer: NodeJS.Timeout | undefined;
  private silenceTimer: NodeJS.Timeout | undefined;
  private readonly knownModels = new Set<string>();
  /** Batches retried on another worker after one failed (metrics). */
  retries = 0;
  /** Batches also sent to a second worker because the first was late (metrics). */
  hedges = 0;
  private hedgeAllowance = 0;
  /** How much longer than predicted recent batches took, ms (a ring), and its 95th percentile. */
  private readonly extras = new Float64Array(EXTRA_WINDOW);
  private extrasSeen = 0;
  private hedgeDelayMs = 50;
  private checkedAt = performance.now();
  private readonly reportEveryMs: number;
  /** Worker compute time of the batches run, ms (for utilisation). */
  busyMs = 0;
  /** Changes whenever the variants served by workers up may have (a worker up, down, gone or reloaded). */
  private variantsVersion = 0;

  readonly variants = {
    version: () => this.variantsVersion,
    serves: (model: string, variant: string) => this.serving(model, variant).length > 0,
  };

  private changed(): void {
    this.variantsVersion++;
    this.events.onChange?.();
  }

  constructor(private readonly events: WorkerSetEvents, private readonly opts: WorkerSetOptions = {}) {
    this.reportEveryMs = opts.reportEveryMs ?? 500;
    this.timer = setInterval(() => { for (const w of this.workers.values()) void this.refresh(w); }, this.reportEveryMs);
    this.timer.unref();
    // After the poll phase: when this process itself stalled, the answers that came in meanwhile
    // are read before anyone is judged silent.
    this.silenceTimer = setInterval(() => setImmediate(() => this.checkSilence()), SILENT_MS / 5);
    this.silenceTimer.unref();
  }

  private answered(w: WorkerState): void {
    w.answeredAt = performance.now();
    // Batches still out were sent before this answer: silence is counted from it.
    w.silentSince = w.inflight > 1 ? w.answeredAt : undefined;
  }

  /**
   * A worker sent batches that has answered none of them for SILENT_MS beyond the time the batches
   * it holds should take is down, whatever its reports say (a blackholed or cut-off host): a load
   * report would take a report interval plus its timeout to tell. Batches that time out do not end
   * the silence; a worker that is only slow still answers something.
   */
  private checkSilence(): void {
    const now = performance.now();
    const stalled = now - this.checkedAt > (3 * SILENT_MS) / 5;
    this.checkedAt = now;
    // This process was starved (a busy machine): what looks like silence may be its own.
    if (stalled) return;
    for (const w of this.workers.values()) {
      if (!w.up || w.silentSince === undefined) continue;
      const silentMs = now - w.silentSince;
      if (silentMs > SILENT_MS + w.backlogMs / (w.report?.executors ?? 1)) this.markDown(w, `sent batches and answered none for ${Math.round(silentMs)} ms`);
    }
  }

  /** Replaces the member list: new workers connect and report before they get batches; gone ones are dropped. */
  setMembers(members: Member[]): void {
    const byId = new Map(members.map((m) => [m.id, m]));
    const addresses = new Set(members.flatMap((m) => [m.grpc, m.http]));
    for (const [id, w] of this.byId) {
      const now = byId.get(id);
      if (now && now.grpc === w.member.grpc && now.http === w.member.http) {
        w.unlisted = false;
        continue;
      }
      // Gone from the list but answering its reports: a worker cut from Redis alone still serves.
      // Routing trusts that direct evidence until a report or a batch fails, or a new member takes
      // its address.
      if (!now && w.up && !addresses.has(w.member.grpc) && !addresses.has(w.member.http)) {
        if (!w.unlisted) this.events.log?.('warn', 'worker gone from membership but answering: kept in routing', { worker: id, address: w.client.address });
        w.unlisted = true;
        continue;
      }
      this.remove(w);
    }
    for (const m of members) {
      if (this.byId.has(m.id)) continue;
      const { protocol = 'rest', key, connectTimeoutMs } = this.opts;
      const client = (protocol === 'rest' || !m.grpc) && m.http ? new RestWorkerClient(m.http, m.http, key, connectTimeoutMs) : m.grpc ? new WorkerClient(m.grpc, key) : undefined;
      if (!client) continue;
      const w: WorkerState = {
        index: this.nextIndex++, member: m, client, up: false, unlisted: false, models: new Set(), variants: new Map(),
        inflight: 0, backlogMs: 0, extraMs: 0, batchesSinceReport: 0, batches: 0, refreshing: false, answeredAt: -Infinity, silentSince: undefined,
      };
      this.byId.set(m.id, w);
      this.workers.set(w.index, w);
      void this.refresh(w);
    }
  }

  list(): WorkerState[] {
    return [...this.workers.values()];
  }

  inflightBatches(): number {
    let n = 0;
    for (const w of this.workers.values()) n += w.inflight;
    return n;
  }

  /** Executors over all workers up. */
  executors(): number {
    let n = 0;
    for (const w of this.workers.values()) if (w.up) n += w.report?.executors ?? 1;
    return n;
  }

  private async refresh(w: WorkerState): Promise<void> {
    if (w.refreshing) return;
    w.refreshing = true;
    try {
      await this.fetchReport(w);
    } finally {
      w.refreshing = false;
    }
  }

  private async fetchReport(w: WorkerState): Promise<void> {
    let report: LoadReport;
    const timeoutMs = Math.max(250, this.reportEveryMs * 2);
    try {
      report = await this.askReport(w, timeoutMs);
    } catch (e) {
      // A report that timed out while batches still come back means a live worker slow to report
      // (its event loop busy with a burst): taking the only worker out then would answer everyone
      // 503. A refused or reset connection is no slowness, and a batch that fails takes it out too.
      if (!isSlow(e) || performance.now() - w.answeredAt > timeoutMs) this.markDown(w, (e as Error).message);
      return;
    }
    if (!this.workers.has(w.index)) return;
    // An answer too: a worker coming back up is not held to batches lost before it went down.
    if (w.silentSince !== undefined) w.silentSince = w.inflight > 0 ? performance.now() : undefined;
    for (const m of report.models) {
      if (this.knownModels.has(m.name)) {
        this.events.onModel(undefined, m);
        continue;
      }
      try {
        const signature = await w.client.metadata(m.name);
        this.knownModels.add(m.name);
        this.events.onModel(signature, m);
      } catch {
        return; // try again at the next report
      }
    }
    w.report = report;
    w.models = new Set(report.models.map((m) => m.name));
    const variants = new Map(report.models.map((m) => [m.name, new Set(m.variants.map((v) => v.name))]));
    if (w.up && !sameVariants(w.variants, variants)) this.variantsVersion++;
    w.variants = variants;
    // An idle worker's estimate drifts back toward the best worker's, so it gets tried again.
    if (w.batchesSinceReport === 0) w.extraMs += 0.3 * (this.bestExtra(this.list()) - w.extraMs);
    w.batchesSinceReport = 0;
    if (!w.up) {
      w.up = true;
      this.events.log?.('info', 'worker up', { worker: w.member.id, address: w.client.address, models: [...w.models] });
      this.changed();
    }
  }

  /**
   * A load report within `timeoutMs`. One not answered in half of it is asked for again alongside
   * (over REST, on another connection), and the first answer counts: on a lossy link a lost
   * segment's retransmits (200 ms, then 400, 800) stall its connection past a report's timeout
   * now and then. With one ask, at 20% loss a live worker was taken out of both gateways' routing
   * in one 6 s fault. A cut worker still fails both within `timeoutMs`.
   */
  private async askReport(w: WorkerState, timeoutMs: number): Promise<LoadReport> {
    const start = performance.now();
    const ask = (ms: number) => w.client.report(ms).catch((e: Error) => {
      if (e instanceof NoLoadReportError && w.client.discover) return w.client.discover(ms);
      throw e;
    });
    const first = ask(timeoutMs);
    if (!(await pendingAfter(first, timeoutMs / 2, isSlow))) return first;
    return firstAnswer(first, ask(Math.max(1, start + timeoutMs - performance.now())));
  }

  private markDown(w: WorkerState, why: string): void {
    if (!w.up) return;
    w.up = false;
    this.events.log?.('warn', 'worker down', { worker: w.member.id, address: w.client.address, why });
    if (w.unlisted) this.remove(w);
    else this.changed();
  }

  private remove(w: WorkerState): void {
    this.byId.delete(w.member.id);
    this.workers.delete(w.index);
    w.client.close();
    this.events.log?.('info', 'worker left', { worker: w.member.id, address: w.client.address });
    this.changed();
  }

  private bestExtra(workers: WorkerState[]): number {
    let best = Infinity;
    for (const w of workers) if (w.up) best = Math.min(best, w.extraMs);
    return best === Infinity ? 0 : best;
  }

  /** Predicted batch time, smoothed over recent batches (the scale "slow" is measured on). */
  private typicalMs = 0;

  /** Workers up that serve the model (and `variant` of it, if given). */
  private serving(model: string, variant?: string): WorkerState[] {
    const out: WorkerState[] = [];
    for (const w of this.workers.values()) {
      if (w.up && w.models.has(model) && (variant === undefined || w.variants.get(model)?.has(variant))) out.push(w);
    }
    return out;
  }

  /** Workers up that serve the model. */
  servingCount(model: string): number {
    return this.serving(model).length;
  }

  count(model: string): number {
    let n = 0;
    for (const w of this.serving(model)) n += w.report?.executors ?? 1;
    return n;
  }

  /**
   * A worker with an executor free first: the dispatcher gives a busy one only a full batch, so
   * preferring a busy worker's earlier predicted finish kept partial batches waiting on it, for
   * as long as it took (a stalled worker: until it was judged silent) while another stood idle.
   * A slow worker comes before a busy one's slot once the batch has waited as long as the slow
   * one is predicted to add: judged slow on one late batch (a GC pause, a hedge's losing copy), it
   * stood idle while batches waited seconds for the others.
   */
  available(model: string, waitedMs: number): { index: number; idle: boolean } | undefined {
    const idle = this.pick(model, undefined, 'executor') ?? this.pickSlow(model, waitedMs);
    if (idle) return { index: idle.index, idle: true };
    const pick = this.pick(model, undefined, 'slot');
    return pick && { index: pick.index, idle: false };
  }

  /**
   * The worker with the earliest predicted finish among those with `room`: an executor free, a
   * pipeline slot free, or any (a retry must go somewhere). Slow workers are left out.
   */
  private pick(model: string, exclude: WorkerState | undefined, room: 'executor' | 'slot' | 'any', variant?: string): WorkerState | undefined {
    const candidates = this.serving(model, variant).filter((w) => w !== exclude);
    const slow = this.slowerThan(this.bestExtra(candidates));
    let chosen: WorkerState | undefined;
    let chosenScore = Infinity;
    for (const w of candidates) {
      const executors = w.report?.executors ?? 1;
      if (room !== 'any' && w.inflight >= executors * (room === 'slot' ? w.report?.pipeline_depth ?? 1 : 1)) continue;
      if (w.extraMs > slow && candidates.length > 1) continue;
      // Predicted finish, less the batch's own time (the same everywhere): the wait behind what it
      // holds, plus what this worker adds beyond prediction.
      const score = w.backlogMs / executors + w.extraMs + 1e-3 * w.inflight;
      if (score < chosenScore) { chosen = w; chosenScore = score; }
    }
    return chosen;
  }

  /**
   * A slow worker with nothing in flight (one stalled now owes an answer) whose excess over the best
   * is no more than the batch has waited; if one will be, the dispatcher is woken then.
   */
  private pickSlow(model: string, waitedMs: number): WorkerState | undefined {
    const candidates = this.serving(model);
    const best = this.bestExtra(candidates);
    const slow = this.slowerThan(best);
    let chosen: WorkerState | undefined;
    let soonestMs = Infinity;
    for (const w of candidates) {
      if (w.extraMs <= slow || w.inflight > 0 || w.silentSince !== undefined) continue;
      const waitMs = w.extraMs - best - waitedMs;
      if (waitMs > 0) soonestMs = Math.min(soonestMs, waitMs);
      else if (!chosen || w.extraMs < chosen.extraMs) chosen = w;
    }
    if (!chosen && soonestMs < Infinity) this.wakeIn(soonestMs);
    return chosen;
  }

  /** The extra time past which a worker counts as slow, given the best worker's. */
  private slowerThan(bestExtra: number): number {
    return bestExtra + Math.max(1, SLOW_BATCHES * this.typicalMs);
  }

  private wakeTimer: NodeJS.Timeout | undefined;
  private wakeAt = Infinity;

  private wakeIn(ms: number): void {
    const at = performance.now() + ms;
    if (at >= this.wakeAt) return;
    clearTimeout(this.wakeTimer);
    this.wakeAt = at;
    this.wakeTimer = setTimeout(() => {
      this.wakeAt = Infinity;
      this.events.onFree?.();
    }, Math.ceil(ms));
  }

  async run(index: number, target: RunTarget, inputs: Tensor[]): Promise<RunResult> {
    const variant = target.variant.name;
    let first = this.workers.get(index);
    // The slot was offered for the model before the planner chose a variant: if this worker lacks
    // that variant (workers mid-upgrade), the batch goes to one that has it.
    if (first && !first.variants.get(target.model)?.has(variant)) {
      first = this.pick(target.model, undefined, 'any', variant);
      if (!first) throw new NoWorkerError(target.model, `no live worker serves its variant '${variant}'`);
    }
    if (first) {
      try {
        return await this.runHedged(first, target, inputs, variant);
      } catch (e) {
        if (!(e instanceof WorkerUnreachableError)) throw e;
        this.markDown(first, e.message);
      }
    }
    // Once, on another worker that serves the model, if the deadline still allows a run.
    this.retries++;
    const now = performance.now();
    if (now >= target.deadline) throw new DeadlineError(`model '${target.model}': its worker failed and the deadline passed before a retry`);
    const other = this.pick(target.model, first, 'any', variant);
    if (!other) throw new NoWorkerError(target.model, 'its worker failed and no other worker serving it is up');
    try {
      return await this.runOn(other, target, inputs);
    } catch (e) {
      if (!(e instanceof WorkerUnreachableError)) throw e;
      this.markDown(other, e.message);
      throw new NoWorkerError(target.model, `two workers failed the batch: ${e.message}`);
    }
  }

  /**
   * Runs on `w`; if no answer has come by the hedge delay, the deadline still allows a run and the
   * allowance has one, also on the best other worker with a free slot. A worker that fails its copy
   * is marked down even when the other copy wins.
   */
  private async runHedged(w: WorkerState, target: RunTarget, inputs: Tensor[], variant: string): Promise<RunResult> {
    const first = this.runOn(w, target, inputs);
    this.hedgeAllowance = Math.min(HEDGE_BURST, this.hedgeAllowance + HEDGE_SHARE);
    // No timer on a batch that could not be hedged anyway (one worker, or none to spare).
    if (this.workers.size < 2 || this.hedgeAllowance < 1) return first;
    const late = await pendingAfter(first, target.predictedMs + this.hedgeDelayMs);
    if (!late || this.hedgeAllowance < 1 || performance.now() + target.predictedMs >= target.deadline) return first;
    const other = this.pick(target.model, w, 'slot', variant);
    if (!other) return first;
    this.hedgeAllowance--;
    this.hedges++;
    const second = this.runOn(other, target, inputs);
    const downIfUnreachable = (x: WorkerState) => (e: unknown) => { if (e instanceof WorkerUnreachableError) this.markDown(x, e.message); };
    first.catch(downIfUnreachable(w));
    second.catch(downIfUnreachable(other));
    return firstAnswer(first, second);
  }

  private noteExtra(ms: number): void {
    this.extras[this.extrasSeen++ % EXTRA_WINDOW] = ms;
    if (this.extrasSeen % 32 !== 0) return;
    const recent = this.extras.slice(0, Math.min(this.extrasSeen, EXTRA_WINDOW)).sort();
    this.hedgeDelayMs = Math.max(HEDGE_MIN_MS, recent[Math.floor(0.95 * (recent.length - 1))]!);
  }

  private async runOn(w: WorkerState, target: RunTarget, inputs: Tensor[]): Promise<RunResult> {
    const predicted = Math.max(0.05, target.predictedMs);
    w.inflight++;
    w.backlogMs += predicted;
    w.batchesSinceReport++;
    w.batches++;
    const start = performance.now();
    w.silentSince ??= start;
    try {
      const remaining = target.deadline - start;
      const params: Record<string, number | boolean> = { immediate: true };
      if (Number.isFinite(remaining)) params.latency_ms = Math.max(0.001, remaining);
      const { outputs, parameters } = await w.client.run(target.model, target.variant.name, inputs, params, Math.min(MAX_CALL_MS, Math.max(1, remaining + 50)));
      this.answered(w);
      const elapsed = w.answeredAt - start;
      w.extraMs += ALPHA * (elapsed - predicted - w.extraMs);
      this.noteExtra(elapsed - predicted);
      this.typicalMs += ALPHA * (predicted - this.typicalMs);
      const computeMs = typeof parameters.compute_ms === 'number' ? parameters.compute_ms : elapsed;
      this.busyMs += computeMs;
      return { outputs, computeMs };
    } catch (e) {
      // Its own refusal is an answer; a batch that timed out counts toward it being slow (a lossy
      // link shows as batches that take retransmission timeouts).
      if (e instanceof UpstreamError) this.answered(w);
      if (e instanceof DeadlineError) w.extraMs += ALPHA * (performance.now() - start - predicted - w.extraMs);
      throw e;
    } finally {
      w.inflight--;
      w.backlogMs = Math.max(0, w.backlogMs - predicted);
      this.events.onFree?.();
    }
  }

  close(): void {
    clearInterval(this.timer);
    clearInterval(this.silenceTimer);
    clearTimeout(this.wakeTimer);
    for (const w of this.workers.values()) w.client.close();
    this.workers.clear();
    this.byId.clear();
  }
}

function sameVariants(a: Map<string, Set<string>>, b: Map<string, Set<string>>): boolean {
  if (a.size !== b.size) return false;
  for (const [model, names] of a) {
    const other = b.get(model);
    if (!other || other.size !== names.size) return false;
    for (const n of names) if (!other.has(n)) return false;
  }
  return true;
}
