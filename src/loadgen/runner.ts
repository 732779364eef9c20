// Runs load: open loop (each request leaves at its arrival time whether or not earlier ones have
// answered, so a slow server shows up as latency, not as a lower sending rate — no coordinated
// omission; latency counts from the intended arrival) or closed loop (N clients, each sending when
// its previous request answers).
import { setPriority } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Sender } from './senders.js';
import { WakeTimer } from './wake-timer.js';

export interface Outcome {
  tenant: string;
  /** Intended arrival, ms from the start. */
  at: number;
  /** How late it actually left, ms (open loop). */
  sendLag: number;
  /** From intended arrival to the answer, ms. */
  latency: number;
  status: number;
  samples: number;
  sloMs?: number;
  variant?: string;
  accuracy?: number;
  queueMs?: number;
  computeMs?: number;
}

export interface OpenStream {
  tenant: string;
  samples: number;
  sloMs?: number;
  send: Sender;
  /** Arrival times, ms from the start. */
  arrivals: number[];
}

/**
 * Raises this process's CPU priority where allowed (root): on a machine shared with the server,
 * a generator that waits for a core sends late, and late sends are wrong arrival times.
 */
function preferGenerator(): void {
  try { setPriority(-10); } catch { /* not permitted: run as is; the report shows the arrival error */ }
}

export interface OpenLoopOptions {
  /**
   * A background generator (a noisy neighbour, not the instrument): it keeps its CPU priority and
   * only wakes on timers (1 ms at the least), leaving a shared core to the generator that measures.
   */
  background?: boolean;
  /** Told the wall-clock time (ms since the epoch) that arrival times count from, as the run starts. */
  onStart?: (epochMs: number) => void;
}

export async function runOpenLoop(streams: OpenStream[], onProgress?: (doneMs: number, totalMs: number) => void, opts: OpenLoopOptions = {}): Promise<Outcome[]> {
  if (!opts.background) preferGenerator();
  const schedule = streams.flatMap((s) => s.arrivals.map((at) => ({ at, s }))).sort((a, b) => a.at - b.at);
  const total = schedule.length ? schedule[schedule.length - 1].at : 0;
  const outcomes: Outcome[] = [];
  const pending: Promise<void>[] = [];
  const wake = opts.background ? undefined : await WakeTimer.start();
  const start = performance.now();
  opts.onStart?.(performance.timeOrigin + start);
  let next = 0;
  let lastProgress = 0;
  // A callback loop, not an async one: it allocates no promises, which kept young-generation GC
  // (and the late sends its pauses cause) down. Between arrivals it sleeps on a WakeTimer, which
  // wakes it on time without polling; a background generator sleeps on Node's timers instead.
  await new Promise<void>((done) => {
    const tick = () => {
      const now = performance.now() - start;
      while (next < schedule.length && schedule[next].at <= now) {
        const { at, s } = schedule[next++];
        const sendLag = now - at;
        pending.push(s.send().then(
          (r) => { outcomes.push({ tenant: s.tenant, at, sendLag, latency: performance.now() - start - at, status: r.status, samples: s.samples, sloMs: s.sloMs, variant: r.variant, accuracy: r.accuracy, queueMs: r.queueMs, computeMs: r.computeMs }); },
          () => { outcomes.push({ tenant: s.tenant, at, sendLag, latency: performance.now() - start - at, status: 0, samples: s.samples, sloMs: s.sloMs }); },
        ));
      }
      if (onProgress && now - lastProgress > 250) { onProgress(now, total); lastProgress = now; }
      if (next >= schedule.length) return done();
      const wait = schedule[next].at - (performance.now() - start);
      if (wake) wake.after(wait, tick);
      else setTimeout(tick, Math.max(1, wait - 1.5));
    };
    tick();
  });
  await wake?.close();
  await Promise.all(pending);
  onProgress?.(total, total);
  return outcomes.sort((a, b) => a.at - b.at);
}

export interface ClosedStream {
  tenant: string;
  samples: number;
  sloMs?: number;
  send: Sender;
  concurrency: number;
}

export async function runClosedLoop(streams: ClosedStream[], durationMs: number, onProgress?: (doneMs: number, totalMs: number) => void): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  const start = performance.now();
  const timer = onProgress && setInterval(() => onProgress(Math.min(durationMs, performance.now() - start), durationMs), 250);
  const client = async (s: ClosedStream) => {
    while (performance.now() - start < durationMs) {
      const at = performance.now() - start;
      let r;
      try { r = await s.send(); } catch { r = { status: 0 }; }
      outcomes.push({ tenant: s.tenant, at, sendLag: 0, latency: performance.now() - start - at, status: r.status, samples: s.samples, sloMs: s.sloMs, variant: r.variant, accuracy: r.accuracy });
    }
  };
  await Promise.all(streams.flatMap((s) => Array.from({ length: s.concurrency }, () => client(s))));
  if (timer) clearInterval(timer);
  onProgress?.(durationMs, durationMs);
  return outcomes.sort((a, b) => a.at - b.at);
}
