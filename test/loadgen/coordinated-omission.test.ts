import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { constant, poissonArrivals } from '../../src/loadgen/arrivals.js';
import { runClosedLoop, runOpenLoop } from '../../src/loadgen/runner.js';
import { Senders } from '../../src/loadgen/senders.js';

// A server that stalls: every answer takes 250 ms.
let server: Server;
let origin: string;
before(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => setTimeout(() => res.end('{}'), 250));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

describe('the load generator against a stalled server', () => {
  it('open loop keeps sending at the arrival rate, and the stall shows as latency', async () => {
    const senders = new Senders(256);
    const arrivals = poissonArrivals(constant(200), 1, 1500, 11);
    const out = await runOpenLoop([{ tenant: 't', samples: 1, send: senders.rest(origin, { model: 'm', pixels: new Float32Array(4), rows: 1 }, true), arrivals }]);
    await senders.close();
    assert.equal(out.length, arrivals.length, 'every scheduled request was sent');
    assert.ok(arrivals.length > 200, `${arrivals.length} arrivals in 1.5 s at 200/s`);
    const lastSend = Math.max(...out.map((o) => o.at + o.sendLag));
    assert.ok(lastSend < 1520, `the last request left at ${lastSend} ms, not after waiting for answers`);
    const latencies = out.map((o) => o.latency).sort((a, b) => a - b);
    assert.ok(latencies[Math.floor(latencies.length / 2)] >= 245, `p50 ${latencies[Math.floor(latencies.length / 2)]} ms`);
    const lags = out.map((o) => o.sendLag).sort((a, b) => a - b);
    // p90, not p99: one CI run read p99 ≥ 20 ms (a 20 ms hiccup of the machine is ~4 of these
    // ~300 sends); a generator that waited for answers would send most requests ≥ 250 ms late.
    const p90 = lags[Math.floor(lags.length * 0.9)];
    assert.ok(p90 < 20, `requests left on time despite the stall: send lag p90 ${p90.toFixed(1)} ms`);
  });

  it('a closed loop against the same server sends far fewer: the omission the open loop avoids', async () => {
    const senders = new Senders(4);
    const out = await runClosedLoop([{ tenant: 't', samples: 1, send: senders.rest(origin, { model: 'm', pixels: new Float32Array(4), rows: 1 }, true), concurrency: 1 }], 1000);
    await senders.close();
    assert.ok(out.length <= 5, `${out.length} requests`);
  });
});
