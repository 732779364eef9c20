// A worker that answers its batches but is slow to send its load report (its event loop busy with
// a burst) stays in routing: taking the only worker out would answer every request 503. A report
// whose connection is reset is no slowness: that worker goes out at once. One report stalled on its
// connection (a lost segment's retransmits) is asked for again alongside, and does not take it out.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startGateway, type RunningGateway } from '../../src/cluster/gateway.js';
import { clusterRepository, reportGate, startWorkerProcess, until, type WorkerProcess } from '../helpers/cluster.js';
import { binaryInfer, digits } from '../helpers/server.js';

describe('a worker slow to report', { timeout: 60_000 }, () => {
  let repo: ReturnType<typeof clusterRepository>;
  let worker: WorkerProcess;
  let proxy: Awaited<ReturnType<typeof reportGate>>;
  let gateway: RunningGateway;

  before(async () => {
    repo = clusterRepository();
    worker = await startWorkerProcess(repo.dir);
    proxy = await reportGate(`http://127.0.0.1:${worker.httpPort}`);
    gateway = await startGateway({ host: '127.0.0.1', httpPort: 0, grpcPort: 0, logLevel: 'silent', workers: [proxy.url] });
    await until(() => gateway.workers.list().some((w) => w.up), 10_000, 'gateway sees the worker');
  });

  after(async () => {
    await gateway.close();
    await proxy.close();
    await worker.kill();
    repo.remove();
  });

  it('stays routed while its batches come back, and every request is answered', async () => {
    const { body, headers } = binaryInfer(digits(0, 2).pixels, 2);
    const url = `http://127.0.0.1:${gateway.httpPort}/v2/models/mnist-mlp/infer`;
    const statuses = new Map<number, number>();
    let wentDown = false;
    const watch = setInterval(() => { if (!gateway.workers.list()[0].up) wentDown = true; }, 10);
    let running = true;
    const clients = Array.from({ length: 4 }, async () => {
      while (running) {
        const res = await fetch(url, { method: 'POST', body: new Uint8Array(body), headers, signal: AbortSignal.timeout(10_000) });
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    });
    await new Promise((r) => setTimeout(r, 300));
    proxy.reports = 'slow'; // reports now take 1.5 s, past the gateway's 1 s timeout
    await new Promise((r) => setTimeout(r, 3000));
    running = false;
    await Promise.all(clients);
    clearInterval(watch);
    proxy.reports = 'pass';
    assert.deepEqual([...statuses.keys()], [200], JSON.stringify(Object.fromEntries(statuses)));
    assert.ok(statuses.get(200)! > 100);
    assert.equal(wentDown, false);
  });

  it('stays routed when one report stalls on its connection and no batch vouches for it', async () => {
    const w = gateway.workers.list()[0];
    assert.ok(w.up);
    let wentDown = false;
    const watch = setInterval(() => { if (!w.up) wentDown = true; }, 10);
    try {
      const seen = proxy.reportsSeen;
      proxy.reports = 'stall-once';
      // The stalled report, the one asked alongside it, and two after the stalled one's 1 s timeout.
      await until(() => proxy.reportsSeen >= seen + 5, 10_000, 'reports after the stalled one');
    } finally {
      clearInterval(watch);
      proxy.reports = 'pass';
    }
    // With one ask per report, the stalled one timed out and, with no batch answered in its second,
    // took the idle worker out.
    assert.equal(wentDown, false);
  });

  it('goes out at its first report reset, though its batches still come back', async () => {
    const { body, headers } = binaryInfer(digits(0, 2).pixels, 2);
    const url = `http://127.0.0.1:${gateway.httpPort}/v2/models/mnist-mlp/infer`;
    let running = true;
    const clients = Array.from({ length: 2 }, async () => {
      while (running) await (await fetch(url, { method: 'POST', body: new Uint8Array(body), headers, signal: AbortSignal.timeout(10_000) })).arrayBuffer();
    });
    const w = gateway.workers.list()[0];
    try {
      await until(() => performance.now() - w.answeredAt < 100, 5000, 'batches come back');
      proxy.reports = 'reset';
      const resetAt = performance.now();
      // Reports go every 500 ms; while batches came back within the report timeout (1 s), a failed
      // report used to be let go whatever its cause, so this worker never went out.
      await until(() => !w.up, 5000, 'the worker goes out of routing');
      console.log(`# out ${Math.round(performance.now() - resetAt)} ms after its reports were reset`);
    } finally {
      running = false;
      await Promise.all(clients);
      proxy.reports = 'pass';
    }
    await until(() => w.up, 5000, 'back in routing once its reports pass');
  });
});
