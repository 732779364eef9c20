// Asks a server's /v2/health/live every 5 ms from a thread of its own, so that what it measures is
// the server's stall, not its own process's: bench:abuse sends 64 MB bodies from the main thread
// (filling and streaming them stalled that thread, and a probe there read up to ~280 ms).
import { once } from 'node:events';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { Pool } from 'undici';

if (!isMainThread && workerData?.livenessProbe) {
  const pool = new Pool(workerData.origin as string, { connections: 2 });
  let stop = false;
  let worst = 0;
  parentPort!.once('message', () => { stop = true; });
  parentPort!.postMessage('started');
  while (!stop) {
    const start = performance.now();
    const res = await pool.request({ path: '/v2/health/live', method: 'GET' });
    await res.body.arrayBuffer();
    worst = Math.max(worst, performance.now() - start);
    await new Promise((r) => setTimeout(r, 5));
  }
  await pool.close();
  parentPort!.postMessage(worst);
}

/** Starts probing `origin`; the returned function stops and resolves to the longest wait, ms. */
export async function livenessProbe(origin: string): Promise<() => Promise<number>> {
  const worker = new Worker(new URL(import.meta.url), { workerData: { livenessProbe: true, origin } });
  await once(worker, 'message');
  return async () => {
    worker.postMessage('stop');
    const [worst] = await once(worker, 'message');
    await worker.terminate();
    return worst as number;
  };
}
