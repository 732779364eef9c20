// A steady tenant and a liveness probe, open loop, beside whatever else a bench runs: what the
// server leaves a well-behaved tenant (bench:abuse's B, bench:door-share's peer).
import { poissonArrivals } from '../../src/loadgen/arrivals.js';
import { runOpenLoop, type Outcome } from '../../src/loadgen/runner.js';
import { Senders } from '../../src/loadgen/senders.js';
import { median, percentile, sortedCopy } from './stats.js';

export interface SteadyStream {
  key: string;
  model: string;
  /** 1-row binary requests a second (Poisson arrivals). */
  rate: number;
  sloMs: number;
  pixels: Float32Array;
}

/**
 * The stream's outcomes over `ms` (tenant 'b'), and a liveness probe's every 20 ms (tenant
 * 'live'). Their connections are open before the window starts, as a client's are in steady
 * state: otherwise the window's first requests also measure connecting, and held bodies' B misses
 * fell on connections opened mid-attack.
 */
export async function measureSteady(origin: string, stream: SteadyStream, ms: number, seed: number): Promise<Outcome[]> {
  const senders = new Senders(64);
  try {
    await senders.preconnect(origin, 8);
    return await runOpenLoop([
      { tenant: 'b', samples: 1, sloMs: stream.sloMs, send: senders.rest(origin, { model: stream.model, key: stream.key, pixels: stream.pixels.slice(0, 784), rows: 1 }, true), arrivals: poissonArrivals(() => stream.rate, 1, ms, seed) },
      { tenant: 'live', samples: 1, send: senders.get(origin, '/v2/health/live'), arrivals: Array.from({ length: Math.floor(ms / 20) }, (_, i) => i * 20) },
    ]);
  } finally {
    await senders.close();
  }
}

export type SteadySummary = ReturnType<typeof summarizeSteady>;

export function summarizeSteady(outcomes: Outcome[]) {
  const b = outcomes.filter((o) => o.tenant === 'b');
  const live = outcomes.filter((o) => o.tenant === 'live');
  const ok = sortedCopy(b.filter((o) => o.status === 200).map((o) => o.latency));
  const p99 = percentile(ok, 0.99);
  const statuses: Record<number, number> = {};
  for (const o of b) statuses[o.status] = (statuses[o.status] ?? 0) + 1;
  return {
    requests: b.length,
    p50: percentile(ok, 0.5),
    p99,
    deadline504: (statuses[504] ?? 0) / Math.max(1, b.length),
    lost: b.length - (statuses[200] ?? 0) - (statuses[504] ?? 0),
    statuses,
    liveP99: percentile(sortedCopy(live.map((o) => o.latency)), 0.99),
    sendLagP99: percentile(sortedCopy(outcomes.map((o) => o.sendLag)), 0.99),
    tail: tailOf(b.filter((o) => o.status === 200), p99),
  };
}

/**
 * Where the answers at or over the p99 spent their time, by the server's own account: its queue,
 * its executors, and the rest (the front door, the network and the client); and in how many
 * separate 100 ms spans they arrived (one stall, or slowness spread over the window).
 */
function tailOf(answered: Outcome[], p99: number) {
  const slow = answered.filter((o) => o.latency >= p99).sort((x, y) => x.at - y.at);
  let spans = 0;
  let last = -Infinity;
  for (const o of slow) {
    if (o.at - last > 100) spans++;
    last = o.at;
  }
  return {
    requests: slow.length,
    spans,
    queueMs: median(slow.map((o) => o.queueMs ?? NaN)),
    computeMs: median(slow.map((o) => o.computeMs ?? NaN)),
    restMs: median(slow.map((o) => o.latency - (o.queueMs ?? 0) - (o.computeMs ?? 0))),
  };
}

/** One line for a summary's tail. */
export const tailText = (t: SteadySummary['tail']) =>
  `slowest 1% (${t.requests}, in ${t.spans} spans): median queue ${t.queueMs.toFixed(2)} ms, compute ${t.computeMs.toFixed(2)} ms, outside both ${t.restMs.toFixed(2)} ms`;
