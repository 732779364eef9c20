// A worker that answers its batches but is slow to send its load report (its event loop busy with
// a burst) stays in routing: taking the only worker out would answer every request 503.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Pool } from 'undici';
import { startGateway, type RunningGateway } from '../../src/cluster/gateway.js';
import { clusterRepository, startWorkerProcess, until, type WorkerProcess } from '../helpers/cluster.js';
import { binaryInfer, digits } from '../helpers/server.js';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'host']);

/** A pass-through to a real worker that, while `slowReports` is set, holds each load report 1.5 s. */
async function slowReportProxy(origin: string): Promise<{ server: Server; url: string; slowReports: boolean; close(): Promise<void> }> {
  const upstream = new Pool(origin, { connections: 16 });
  const proxy = {
    slowReports: false,
    server: createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      if (proxy.slowReports && req.url?.startsWith('/v2/pareto/load')) await new Promise((r) => setTimeout(r, 1500));
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !HOP_BY_HOP.has(k))) as Record<string, string>;
      try {
        const r = await upstream.request({ path: req.url!, method: req.method as 'GET', headers, body: chunks.length ? Buffer.concat(chunks) : undefined });
        const body = Buffer.from(await r.body.arrayBuffer());
        res.writeHead(r.statusCode, Object.fromEntries(Object.entries(r.headers).filter(([k]) => !HOP_BY_HOP.has(k))) as Record<string, string>);
        res.end(body);
      } catch {
        res.destroy(); // the proxy is closing
      }
    }),
    url: '',
    async close() {
      proxy.server.closeAllConnections();
      await new Promise((r) => proxy.server.close(r));
      await upstream.close();
    },
  };
  await new Promise<void>((r) => proxy.server.listen(0, '127.0.0.1', r));
  proxy.url = `http://127.0.0.1:${(proxy.server.address() as { port: number }).port}`;
  return proxy;
}

describe('a worker slow to report', { timeout: 60_000 }, () => {
  let repo: ReturnType<typeof clusterRepository>;
  let worker: WorkerProcess;
  let proxy: Awaited<ReturnType<typeof slowReportProxy>>;
  let gateway: RunningGateway;

  before(async () => {
    repo = clusterRepository();
    worker = await startWorkerProcess(repo.dir);
    proxy = await slowReportProxy(`http://127.0.0.1:${worker.httpPort}`);
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
        const res = await fetch(url, { method: 'POST', body: new Uint8Array(body), headers });
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    });
    await new Promise((r) => setTimeout(r, 300));
    proxy.slowReports = true; // reports now take 1.5 s, past the gateway's 1 s timeout
    await new Promise((r) => setTimeout(r, 3000));
    running = false;
    await Promise.all(clients);
    clearInterval(watch);
    proxy.slowReports = false;
    assert.deepEqual([...statuses.keys()], [200], JSON.stringify(Object.fromEntries(statuses)));
    assert.ok(statuses.get(200)! > 100);
    assert.equal(wentDown, false);
  });
});
