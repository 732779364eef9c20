// bench:cluster — distributed mode on loopback, every part a real process (redis-server, `pareto
// worker`, `pareto gateway`):
//   1. the gateway hop: concurrency 1, the same pinned variant, a worker called directly vs the
//      same worker through a gateway, in interleaved rounds; the p50 difference (target ≤ 0.5 ms);
//   2. failover: 2 gateways + 3 workers + Redis under open-loop load; one worker killed with -9,
//      a replacement started; requests lost, errors, time until both gateways route around it;
//   3. a tenant limited to R samples/s offering 3R through both gateways: admitted rate ÷ R.
// Options: --rounds N (default 5), --seconds N per hop measurement (default 2).
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { startRedisServer } from '../src/cluster/redis-server.js';
import { loadMnist } from '../src/datasets/mnist.js';
import { metricValue } from '../src/telemetry/prometheus-text.js';
import { hashKey } from '../src/tenancy/tenants.js';
import { closedLoop, type HttpCase } from './lib/closed-loop.js';
import { startChild, type Child } from './lib/processes.js';
import { median, percentile, sortedCopy } from './lib/stats.js';

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, seconds: { type: 'string', default: '2' } } });
const ROOT = new URL('../..', import.meta.url).pathname;
const CLI = join(ROOT, 'dist/src/cli/main.js');
const fmt = (x: number, d = 3) => x.toFixed(d);

const repo = mkdtempSync(join(tmpdir(), 'pareto-bench-cluster-'));
cpSync(join(ROOT, 'models/mnist-mlp'), join(repo, 'mnist-mlp'), { recursive: true });
const tenants = join(repo, 'tenants.yaml');
const R = 300;
/** The open tenant's latency SLO: deadlines travel to workers and bound retries. */
const SLO_MS = 250;
writeFileSync(tenants, `tenants:
  - id: open
    keys: ["${hashKey('open-key')}"]
    models: ["*"]
    slo: { default: { latency_ms: ${SLO_MS} } }
  - id: metered
    keys: ["${hashKey('metered-key')}"]
    models: ["*"]
    rate_limit: { samples_per_second: ${R}, burst: 30 }
`);

const pixels = loadMnist('test').pixels.slice(0, 784);
function binaryCase(path: string, key: string): HttpCase {
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', parameters: { binary_data_size: pixels.byteLength } }], outputs: [{ name: 'logits', parameters: { binary_data: true } }] }));
  return {
    path, samples: 1,
    body: Buffer.concat([header, Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength)]),
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length), authorization: `Bearer ${key}` },
  };
}

const worker = (redis?: string, extra: string[] = []) => startChild([CLI, 'worker', '-r', repo, '--host', '127.0.0.1', '--http-port', '0', '--grpc-port', '0', '--log-level', 'warn', '--open-metrics', ...(redis ? ['--redis', redis] : []), ...extra], /^pareto worker on/);
const gateway = (flags: string[]) => startChild([CLI, 'gateway', '--host', '127.0.0.1', '--http-port', '0', '--grpc-port', '0', '--tenants', tenants, '--log-level', 'warn', '--open-metrics', ...flags], /^pareto gateway on/);

async function metric(origin: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  return metricValue(await (await fetch(`${origin}/metrics`)).text(), name, labels);
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const start = performance.now();
  while (!(await check().catch(() => false))) {
    if (performance.now() - start > timeoutMs) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return performance.now() - start;
}

const results: Record<string, unknown> = {};
const children: Child[] = [];
try {
  // 1. The gateway hop: one worker; a gateway reaching it over REST binary (the default) and one over gRPC.
  {
    const w = await worker(undefined, ['--executors', '1']);
    const viaRest = await gateway(['--workers', `http://127.0.0.1:${w.ports.http_port}`]);
    const viaGrpc = await gateway(['--workers', `127.0.0.1:${w.ports.grpc_port}`, '--worker-protocol', 'grpc']);
    children.push(w, viaRest, viaGrpc);
    const origins = { direct: `http://127.0.0.1:${w.ports.http_port}`, rest: `http://127.0.0.1:${viaRest.ports.http_port}`, grpc: `http://127.0.0.1:${viaGrpc.ports.http_port}` };
    for (const o of [origins.rest, origins.grpc]) await waitFor(async () => (await metric(o, 'pareto_cluster_workers', { state: 'up' })) === 1, 10_000, 'gateway sees the worker');
    const c = binaryCase('/v2/models/mnist-mlp/versions/fp32/infer', 'open-key');
    const ms = Number(args.seconds) * 1000;
    for (const o of Object.values(origins)) await closedLoop(o, c, 1, 2000); // JIT warm-up
    const p50 = { direct: [] as number[], rest: [] as number[], grpc: [] as number[] };
    for (let i = 0; i < Number(args.rounds); i++) {
      for (const k of ['direct', 'rest', 'grpc'] as const) p50[k].push(percentile((await closedLoop(origins[k], c, 1, ms)).latencies, 0.5));
    }
    const hop = (k: 'rest' | 'grpc') => median(p50[k].map((v, i) => v - p50.direct[i]));
    results.hop = { directP50Ms: median(p50.direct), restGatewayP50Ms: median(p50.rest), grpcGatewayP50Ms: median(p50.grpc), hopRestMs: hop('rest'), hopGrpcMs: hop('grpc'), rounds: p50 };
    console.log(`1. gateway hop, c=1, client REST binary, mnist-mlp fp32: worker direct p50 ${fmt(median(p50.direct))} ms; through a gateway that reaches it over REST binary ${fmt(median(p50.rest))} ms (hop ${fmt(hop('rest'))} ms, target ≤ 0.5), over gRPC ${fmt(median(p50.grpc))} ms (hop ${fmt(hop('grpc'))} ms); medians of ${args.rounds} interleaved rounds`);
    await Promise.all(children.splice(0).map((ch) => ch.stop()));
  }

  // 2. Failover and 3. shared rate limits, on 2 gateways + 3 workers + Redis.
  const redis = await startRedisServer();
  try {
    const workers = await Promise.all([0, 1, 2].map(() => worker(redis.url, ['--executors', '1'])));
    const gateways = await Promise.all([0, 1].map(() => gateway(['--redis', redis.url])));
    children.push(...workers, ...gateways);
    const origins = gateways.map((g) => `http://127.0.0.1:${g.ports.http_port}`);
    await waitFor(async () => (await Promise.all(origins.map((o) => metric(o, 'pareto_cluster_workers', { state: 'up' })))).every((n) => n === 3), 10_000, 'gateways see 3 workers');

    const pools = origins.map((o) => new Pool(o, { connections: 32 }));
    /** Open loop, alternating gateways; every request's status and latency, with its send time. */
    async function openLoop(c: HttpCase, rate: number, seconds: number, during?: (t: number) => Promise<void>) {
      const records: Array<{ at: number; status: number; ms: number }> = [];
      const pending: Promise<void>[] = [];
      const start = performance.now();
      let sent = 0;
      const send = async (i: number) => {
        const at = performance.now();
        let status = 0;
        try {
          const res = await pools[i % 2].request({ path: c.path, method: 'POST', body: c.body, headers: c.headers });
          await res.body.arrayBuffer();
          status = res.statusCode;
        } catch { status = -1; }
        records.push({ at: at - start, status, ms: performance.now() - at });
      };
      while (performance.now() - start < seconds * 1000) {
        const due = Math.floor(((performance.now() - start) / 1000) * rate);
        for (; sent < due; sent++) pending.push(send(sent));
        await during?.(performance.now() - start);
        await new Promise((r) => setTimeout(r, 2));
      }
      await Promise.all(pending);
      return { records, sent };
    }

    const RATE = 400;
    let killedAt = -1, routedAround = -1, replacementAt = -1, rejoined = -1;
    const c = binaryCase('/v2/models/mnist-mlp/infer', 'open-key');
    const { records, sent } = await openLoop(c, RATE, 10, async (t) => {
      if (killedAt < 0 && t > 3000) {
        killedAt = t;
        workers[0].process.kill('SIGKILL');
        void waitFor(async () => (await Promise.all(origins.map((o) => metric(o, 'pareto_cluster_workers', { state: 'up' })))).every((n) => n === 2), 5000, 'routed around')
          .then((ms) => { routedAround = ms; });
      }
      if (replacementAt < 0 && t > 6000) {
        replacementAt = t;
        void worker(redis.url, ['--executors', '1']).then((w) => {
          children.push(w);
          const started = performance.now();
          return waitFor(async () => (await Promise.all(origins.map((o) => metric(o, 'pareto_cluster_workers', { state: 'up' })))).every((n) => n === 3), 5000, 'rejoined')
            .then(() => { rejoined = performance.now() - started; });
        });
      }
    });
    const byStatus: Record<string, number> = {};
    for (const r of records) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
    const p99 = (from: number, to: number) => percentile(sortedCopy(records.filter((r) => r.at >= from && r.at < to && r.status === 200).map((r) => r.ms)), 0.99);
    const retries = (await Promise.all(origins.map((o) => metric(o, 'pareto_cluster_retries')))).reduce((a, b) => a + b, 0);
    results.failover = { rate: RATE, sent, answered: records.length, lost: sent - records.length, byStatus, routedAroundMs: routedAround, rejoinedMs: rejoined, retries, p99BeforeMs: p99(0, killedAt), p99KillSecondMs: p99(killedAt, killedAt + 1000), p99AfterMs: p99(killedAt + 1000, 1e9) };
    console.log(`2. failover, ${RATE} req/s over 2 gateways, 3 workers, SLO ${SLO_MS} ms, kill -9 at ${fmt(killedAt / 1000, 1)} s: sent ${sent}, answered ${records.length} (lost ${sent - records.length}), statuses ${JSON.stringify(byStatus)}, retried batches ${retries}; both gateways routed around it in ${fmt(routedAround, 0)} ms (target ≤ 2000); a replacement was routed to ${fmt(rejoined, 0)} ms after it started; p99 ${fmt(p99(0, killedAt), 2)} ms before, ${fmt(p99(killedAt, killedAt + 1000), 2)} ms in the second after the kill, ${fmt(p99(killedAt + 1000, 1e9), 2)} ms after`);

    const limited = await openLoop(binaryCase('/v2/models/mnist-mlp/infer', 'metered-key'), 3 * R, 5);
    // Counted by when answers came, from 1 s to 5 s: the first second holds the bucket's burst, and
    // refusals held back at the door (a leaky bucket) keep the client's connections, so requests
    // queued in the client reach the gateways after the 5 s of sending: counted by when they were
    // sent, those 5 s would read as more than R.
    const answeredAt = (r: { at: number; ms: number }) => r.at + r.ms;
    const admitted = limited.records.filter((r) => r.status === 200 && answeredAt(r) >= 1000 && answeredAt(r) < 5000).length;
    const rate = admitted / 4;
    const lastAnswerMs = Math.max(...limited.records.map(answeredAt));
    results.rateLimit = { R, offered: limited.sent / 5, admittedFrom1To5s: admitted, admittedPerSecond: rate, ratio: rate / R, refused: limited.records.filter((r) => r.status === 429).length, lastAnswerMs };
    console.log(`3. a tenant limited to ${R} samples/s offering ${fmt(limited.sent / 5, 0)}/s through both gateways: admitted ${fmt(rate, 1)}/s = ${fmt(rate / R, 3)} × R (target 1 ± 0.1; answers from 1 to 5 s); refused ${(results.rateLimit as { refused: number }).refused} with 429; the last answer came at ${fmt(lastAnswerMs / 1000, 1)} s`);
    await Promise.all(pools.map((p) => p.close()));
  } finally {
    await Promise.all(children.splice(0).map((ch) => ch.stop()));
    await redis.stop();
  }
  writeFileSync(join(ROOT, 'bench/results/cluster.json'), JSON.stringify({ date: new Date().toISOString(), results }, null, 2) + '\n');
} finally {
  await Promise.all(children.map((ch) => ch.stop()));
  rmSync(repo, { recursive: true, force: true });
}
