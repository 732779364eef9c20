// An open-loop load generator: arrivals follow a Poisson process whose rate may change over time,
// and each request is sent at its arrival time whether or not earlier ones have answered, so a
// slow server shows up as latency, not as a lower sending rate (no coordinated omission).
// Latency is measured from the intended arrival time.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { seededRandom } from '../../src/zoo/random.js';

export interface RequestSpec {
  path: string;
  body: Buffer;
  headers: Record<string, string>;
  samples: number;
}

export interface Outcome {
  /** Intended arrival, ms from the start. */
  at: number;
  /** How late the request actually left, ms. */
  sendLag: number;
  /** From intended arrival to the last byte of the answer, ms. */
  latency: number;
  status: number;
  samples: number;
  variant?: string;
  accuracy?: number;
  tenant: string;
}

export interface Stream {
  tenant: string;
  spec: RequestSpec;
  /** Samples per second at time t (ms from the start). */
  rate: (t: number) => number;
}

/** Arrival times (ms) of a Poisson process with a piecewise-varying rate in samples/s. */
export function poissonArrivals(rate: (t: number) => number, samplesPerRequest: number, durationMs: number, seed: number): number[] {
  const rand = seededRandom(seed);
  const out: number[] = [];
  let t = 0;
  for (;;) {
    const perMs = rate(t) / samplesPerRequest / 1000;
    if (perMs <= 0) { t += 1; if (t >= durationMs) break; continue; }
    t += -Math.log(1 - rand()) / perMs;
    if (t >= durationMs) break;
    out.push(t);
  }
  return out;
}

export async function openLoop(origin: string, streams: Stream[], durationMs: number, seed = 1, connections = 512): Promise<Outcome[]> {
  const pool = new Pool(origin, { connections, pipelining: 1, keepAliveTimeout: 60_000 });
  const schedule = streams.flatMap((s, i) => poissonArrivals(s.rate, s.spec.samples, durationMs, seed + i).map((at) => ({ at, s })))
    .sort((a, b) => a.at - b.at);
  const outcomes: Outcome[] = [];
  const pending: Promise<void>[] = [];
  const start = performance.now();
  let next = 0;
  while (next < schedule.length) {
    const now = performance.now() - start;
    while (next < schedule.length && schedule[next].at <= now) {
      const { at, s } = schedule[next++];
      const sendLag = now - at;
      pending.push(pool.request({ path: s.spec.path, method: 'POST', body: s.spec.body, headers: s.spec.headers })
        .then(async (res) => {
          await res.body.arrayBuffer();
          outcomes.push({
            at, sendLag, latency: performance.now() - start - at, status: res.statusCode, samples: s.spec.samples, tenant: s.tenant,
            variant: res.headers['pareto-variant'] as string | undefined,
            accuracy: res.headers['pareto-accuracy'] !== undefined ? Number(res.headers['pareto-accuracy']) : undefined,
          });
        }, () => { outcomes.push({ at, sendLag, latency: performance.now() - start - at, status: 0, samples: s.spec.samples, tenant: s.tenant }); }));
    }
    // Timers fire late by up to a millisecond or two: sleep only until 2 ms before the next
    // arrival, then poll the event loop (which also lets responses in) until it is due.
    const wait = next < schedule.length ? schedule[next].at - (performance.now() - start) : 0;
    if (wait > 3) await sleep(wait - 2);
    else await new Promise<void>((r) => setImmediate(r));
  }
  await Promise.all(pending);
  await pool.close();
  return outcomes.sort((a, b) => a.at - b.at);
}
