// The REST open-loop driver the benches use: streams of prepared requests at scheduled rates.
import { poissonArrivals, type RateSchedule } from './arrivals.js';
import { runOpenLoop, type OpenLoopOptions, type Outcome } from './runner.js';
import { Senders, type RequestSpec } from './senders.js';

export type { Outcome } from './runner.js';

export interface Stream {
  tenant: string;
  spec: RequestSpec;
  /** Samples per second at time t (ms from the start). */
  rate: RateSchedule;
  binary?: boolean;
  sloMs?: number;
}

/** `senders`: the caller's (and its connections), kept open after the run; absent, the run's own. */
export async function openLoop(origin: string, streams: Stream[], durationMs: number, seed = 1, opts?: OpenLoopOptions, shared?: Senders): Promise<Outcome[]> {
  const senders = shared ?? new Senders();
  try {
    return await runOpenLoop(streams.map((s, i) => ({
      tenant: s.tenant,
      samples: s.spec.rows,
      sloMs: s.sloMs,
      send: senders.rest(origin, s.spec, s.binary ?? true),
      arrivals: poissonArrivals(s.rate, s.spec.rows, durationMs, seed + i),
    })), undefined, opts);
  } finally {
    if (!shared) await senders.close();
  }
}
