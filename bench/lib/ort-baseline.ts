// Raw ONNX Runtime, no server: the physical limit the server is compared with. Runs sessions in
// worker threads with the same settings the server's executors use (1 intra-op thread, no spinning).
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
(async () => {
  const { model, batch, width, durationMs, mode } = workerData;
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential',
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  });
  const x = new ort.Tensor('float32', new Float32Array(batch * width).fill(0.5), [batch, width]);
  const feeds = { [session.inputNames[0]]: x };
  for (let i = 0; i < 20; i++) await session.run(feeds);
  const times = [];
  const start = performance.now();
  let runs = 0;
  while (performance.now() - start < durationMs) {
    const t0 = performance.now();
    await session.run(feeds);
    if (mode === 'latency') times.push(performance.now() - t0);
    runs++;
  }
  parentPort.postMessage({ runs, seconds: (performance.now() - start) / 1000, times });
})();
`;

export interface BaselineResult {
  samplesPerSecond: number;
  /** Per-run latencies (ms), sorted; only in latency mode. */
  latencies: Float64Array;
}

export async function ortBaseline(ortPath: string, model: string, opts: { batch: number; width: number; threads: number; durationMs: number; mode?: 'throughput' | 'latency' }): Promise<BaselineResult> {
  const results = await Promise.all(Array.from({ length: opts.threads }, () => new Promise<{ runs: number; seconds: number; times: number[] }>((resolve, reject) => {
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { ortPath, model, batch: opts.batch, width: opts.width, durationMs: opts.durationMs, mode: opts.mode ?? 'throughput' } });
    w.once('message', (m) => { resolve(m); void w.terminate(); });
    w.once('error', reject);
  })));
  const samplesPerSecond = results.reduce((a, r) => a + (r.runs * opts.batch) / r.seconds, 0);
  return { samplesPerSecond, latencies: Float64Array.from(results.flatMap((r) => r.times)).sort() };
}
