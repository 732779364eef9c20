// Each tenant's share of the event loop: the front door's CPU, counted against the tenant that
// caused it. What the door measures directly (a request's decoding, admission and encoding, timed
// as it runs) is charged as measured; what it cannot time per request (HTTP and HTTP/2 framing,
// routing, garbage collection) is the event loop's busy time less what was measured, shared out
// over the window's requests. Requests framed off the loop (gRPC calls on the gRPC thread) are
// charged that thread's busy time as well, shared out over them alone: their framing is theirs to
// pay for wherever it runs. Usage decays with a half-life, so it says who used the door lately.
// Ordering the work the door can defer does not give tenants their shares: most of a small
// request's loop time is framing, first come (bench:door-share: 36% of it measured, and two floods
// of weights 2 and 1 split the door 59 : 41 with ordering alone). So while the loop is saturated, a
// tenant over its share is also paced: its requests wait a delay before their door work, which
// grows each window it stays over and halves each window it is not, and slows a client that waits
// for its answers before sending more.
// Pure: the clock and the loop's busy time are parameters.

export interface DoorCaller {
  tenant: string;
  /** Fair-share weight (> 0). */
  weight: number;
  /** Priority class rank; tenants share the door with others of their rank. */
  priority: number;
}

interface Account {
  weight: number;
  priority: number;
  /** Decayed door ms, up to the last settled window. */
  used: number;
  /** Measured ms and requests in the window not yet settled (`offLoop`: those framed off the loop). */
  ms: number;
  requests: number;
  offLoop: number;
  /** Door ms over the ledger's life (metrics). */
  total: number;
  /** Whether it sent requests in the last settled window. */
  active: boolean;
  /** Delay its requests wait before their door work, ms. */
  paceMs: number;
}

export interface DoorLedgerOptions {
  now: () => number;
  /** The event loop's busy ms so far (performance.eventLoopUtilization().active). */
  busyMs: () => number;
  /**
   * Busy ms of the thread that frames the requests charged `offLoop` (the gRPC thread's), counted
   * from 0 when the ledger is made or later (a thread started after it); none: 0.
   */
  offLoopBusyMs?: () => number;
  /** Settles at most this often. */
  windowMs?: number;
  halfLifeMs?: number;
  /** Below this busy fraction of the loop, nobody is over its share: there is room for all. */
  contended?: number;
  /** A tenant is over its share past this multiple of it (its weight's part of its rank's use). */
  slack?: number;
  /** From this busy fraction of the loop, lately, tenants over their share are paced. */
  saturated?: number;
  maxPaceMs?: number;
}

/** Tenants whose decayed use is below this many ms are not counted as using the door. */
const IDLE_MS = 1;

export class DoorLedger {
  /** Accounts by tenant; few (the configured tenants) and never deleted, so a plain object. */
  private readonly accounts: Record<string, Account> = Object.create(null);
  private readonly list: Account[] = [];
  private readonly windowMs: number;
  private readonly halfLifeMs: number;
  private readonly contended: number;
  private readonly slack: number;
  private readonly saturated: number;
  private readonly maxPaceMs: number;
  private windowStart: number;
  private busyAt: number;
  private offLoopBusyAt = 0;
  /** Decayed busy ms of the loop, and decayed elapsed ms: their ratio is how busy it is lately. */
  private loopBusy = 0;
  private loopTime = 0;

  constructor(private readonly opts: DoorLedgerOptions) {
    this.windowMs = opts.windowMs ?? 250;
    this.halfLifeMs = opts.halfLifeMs ?? 1000;
    this.contended = opts.contended ?? 0.25;
    this.slack = opts.slack ?? 1.25;
    // Two floods that took all they could of the loop read 0.80–0.94 busy here (the loop's own
    // thread shares two cores with the executors and the clients).
    this.saturated = opts.saturated ?? 0.75;
    this.maxPaceMs = opts.maxPaceMs ?? 200;
    this.windowStart = opts.now();
    this.busyAt = opts.busyMs();
  }

  /**
   * `ms` of door work timed for `who`; `request` once per request (framing is shared out by
   * requests), `offLoop` where it was framed off the loop as well.
   */
  charge(who: DoorCaller, ms: number, request = false, offLoop = false): void {
    const a = this.account(who);
    a.ms += ms;
    if (request) a.requests++;
    if (request && offLoop) a.offLoop++;
    this.settle();
  }

  /**
   * True when the loop is busy and `who` has lately used more than its weight's part of what its
   * rank used, with another tenant of its rank using the door too: its work then waits its turn.
   */
  overShare(who: DoorCaller): boolean {
    this.settle();
    if (this.loopTime <= 0 || this.loopBusy < this.contended * this.loopTime) return false;
    const me = this.accounts[who.tenant];
    return me !== undefined && me.used >= IDLE_MS && this.exceeds(me, (a) => a.used >= IDLE_MS, this.slack);
  }

  /** How long `tenant`'s next request waits before its door work (0: not paced). */
  paceMs(tenant: string): number {
    return this.accounts[tenant]?.paceMs ?? 0;
  }

  /** Whether a peer of `me` (same rank, active) used at least half its weight's part of what they all used. */
  private peerWanting(me: Account): boolean {
    let used = 0, weights = 0;
    for (const a of this.list) {
      if (a.priority !== me.priority || !a.active) continue;
      used += a.used;
      weights += a.weight;
    }
    return this.list.some((p) => p !== me && p.priority === me.priority && p.active && p.used >= 0.5 * used * (p.weight / weights));
  }

  /** Whether `me` used more than `slack` times its weight's part of what it and its peers (same rank, `isPeer`) used, with a peer besides itself. */
  private exceeds(me: Account, isPeer: (a: Account) => boolean, slack: number): boolean {
    let used = 0, weights = 0, peers = 0;
    for (const a of this.list) {
      if (a.priority !== me.priority || !isPeer(a)) continue;
      used += a.used;
      weights += a.weight;
      peers++;
    }
    return peers > 1 && me.used > slack * used * (me.weight / weights);
  }

  /** Lately used door ms per unit of weight, the unsettled window's measured ms included: least goes first. */
  normalizedUse(tenant: string): number {
    const a = this.accounts[tenant];
    return a ? (a.used + a.ms) / a.weight : 0;
  }

  /** Door ms per tenant over the ledger's life: the loop's time shared out up to the last settled window, measured work up to now. */
  totals(): Map<string, number> {
    return new Map(Object.entries(this.accounts).map(([id, a]) => [id, a.total + a.ms]));
  }

  private account(who: DoorCaller): Account {
    let a = this.accounts[who.tenant];
    if (!a) {
      a = { weight: who.weight, priority: who.priority, used: 0, ms: 0, requests: 0, offLoop: 0, total: 0, active: false, paceMs: 0 };
      this.accounts[who.tenant] = a;
      this.list.push(a);
    }
    // A reload may change them.
    a.weight = who.weight;
    a.priority = who.priority;
    return a;
  }

  private settle(): void {
    const now = this.opts.now();
    const elapsed = now - this.windowStart;
    if (elapsed < this.windowMs) return;
    const busyNow = this.opts.busyMs();
    const busy = Math.max(0, busyNow - this.busyAt);
    const offLoopBusyNow = this.opts.offLoopBusyMs?.() ?? 0;
    let measured = 0, requests = 0, offLoop = 0;
    for (const a of this.list) {
      measured += a.ms;
      requests += a.requests;
      offLoop += a.offLoop;
    }
    const framing = requests > 0 ? Math.max(0, busy - measured) / requests : 0;
    const offLoopFraming = offLoop > 0 ? Math.max(0, offLoopBusyNow - this.offLoopBusyAt) / offLoop : 0;
    const decay = 0.5 ** (elapsed / this.halfLifeMs);
    for (const a of this.list) {
      const spent = a.ms + a.requests * framing + a.offLoop * offLoopFraming;
      a.used = a.used * decay + spent;
      a.total += spent;
      a.active = a.requests > 0;
      a.ms = 0;
      a.requests = 0;
      a.offLoop = 0;
    }
    this.loopBusy = this.loopBusy * decay + Math.min(busy, elapsed);
    this.loopTime = this.loopTime * decay + elapsed;
    // Shares among the tenants that sent requests this window: one that has gone quiet holds no
    // share back from the others. Paced past its share itself, not past the slack: with the slack,
    // two floods of weights 2 and 1 still split the door 59 : 41 (the lighter one sat just inside
    // it); without, 66 : 34, answers 2.0 : 1. And only while a peer uses at least half its own
    // share, as one that would take more if it could: a peer that wants little (100 requests/s
    // beside a flood) leaves the rest to the flood, and pacing the flood for it only bunched the
    // flood's requests (the peer's p99 worse in 5 of 6 gRPC rounds).
    const saturated = this.loopBusy >= this.saturated * this.loopTime;
    for (const a of this.list) {
      const over = saturated && a.active && this.exceeds(a, (p) => p.active, 1) && this.peerWanting(a);
      a.paceMs = over ? Math.min(this.maxPaceMs, 1.5 * a.paceMs + 0.5) : a.paceMs < 0.25 ? 0 : a.paceMs / 2;
    }
    this.windowStart = now;
    this.busyAt = busyNow;
    this.offLoopBusyAt = offLoopBusyNow;
  }
}
