// A closed-loop HTTP load generator: `concurrency` clients, each sending its next request as soon
// as the previous one answers, for a fixed time, over keep-alive connections (undici Pool).
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { sortedCopy } from './stats.js';

export interface HttpCase {
  path: string;
  body: Buffer;
  headers: Record<string, string>;
  /** Samples (rows) one request carries. */
  samples: number;
}

export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  requestsPerSecond: number;
  samplesPerSecond: number;
  /** Latencies in ms, sorted. */
  latencies: Float64Array;
  /** Batch sizes reported by the server, when it reports them. */
  meanBatchSize?: number;
}

export async function closedLoop(origin: string, c: HttpCase, concurrency: number, durationMs: number): Promise<LoadResult> {
  const pool = new Pool(origin, { connections: concurrency, pipelining: 1 });
  const latencies: number[] = [];
  let errors = 0;
  let batchSum = 0;
  let batchCount = 0;
  const start = performance.now();
  const deadline = start + durationMs;
  const client = async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      try {
        const res = await pool.request({ path: c.path, method: 'POST', body: c.body, headers: c.headers });
        await res.body.arrayBuffer();
        if (res.statusCode !== 200) { errors++; continue; }
        const batch = res.headers['pareto-batch-size'];
        if (batch !== undefined) { batchSum += Number(batch); batchCount++; }
        latencies.push(performance.now() - t0);
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  const seconds = (performance.now() - start) / 1000;
  await pool.close();
  return {
    requests: latencies.length,
    errors,
    seconds,
    requestsPerSecond: latencies.length / seconds,
    samplesPerSecond: (latencies.length * c.samples) / seconds,
    latencies: sortedCopy(latencies),
    meanBatchSize: batchCount ? batchSum / batchCount : undefined,
  };
}
