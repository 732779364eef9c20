// npm run bench:serve — the serving core against its limits, measured side by side in one run:
//   1. dynamic batching on vs off (closed loop, concurrency 64, bundled mnist-mlp)
//   2. server vs raw ONNX Runtime on a compute-heavy model, same batch size
//   3. server vs a bare fastify echo route on the tiny model (binary protocol): the HTTP ceiling
//   4. overhead at concurrency 1 over raw ORT batch-1 latency (binary and JSON)
//   5. RSS growth under saturating load
// This machine is shared and noisy (±30% between runs of the same thing), so each comparison runs
// in interleaved rounds (A, B, A, B, …) and reports the median of the per-round ratios.
// Options: --seconds N (per measurement, default 3), --rounds N (default 5), --soak-seconds N (default 60).
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadMnist } from '../src/datasets/mnist.js';
import { exportMlp, initMlp } from '../src/zoo/mlp.js';
import { closedLoop, type HttpCase } from './lib/closed-loop.js';
import { ortBaseline } from './lib/ort-baseline.js';
import { rssMiB, startChild } from './lib/processes.js';
import { median, percentile } from './lib/stats.js';
import { fmt } from './lib/format.js';

const { values: args } = parseArgs({ options: { 'pipeline-depth': { type: 'string', default: '2' }, seconds: { type: 'string', default: '3' }, rounds: { type: 'string', default: '5' }, 'soak-seconds': { type: 'string', default: '60' } } });
const PHASE_MS = Number(args.seconds) * 1000;
const ROUNDS = Number(args.rounds);
const SOAK_MS = Number(args['soak-seconds']) * 1000;
const ROOT = new URL('../..', import.meta.url).pathname;
const CLI = join(ROOT, 'dist/src/cli/main.js');
const ORT_PATH = createRequire(import.meta.url).resolve('onnxruntime-node');
const HEAVY_WIDTH = 4096;
const HEAVY_BATCH = 16;

function buildRepository(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pareto-bench-'));
  const mlp = join(ROOT, 'models/mnist-mlp');
  const yaml = readFileSync(join(mlp, 'model.yaml'), 'utf8');
  cpSync(mlp, join(dir, 'mnist-mlp'), { recursive: true });
  // The same model with batching off: one ORT run per request.
  cpSync(mlp, join(dir, 'mnist-mlp-unbatched'), { recursive: true });
  writeFileSync(join(dir, 'mnist-mlp-unbatched/model.yaml'), yaml.replace('name: mnist-mlp', 'name: mnist-mlp-unbatched').replace('batching:', 'batching:\n  enabled: false'));
  // Compute-heavy: a 784-4096-4096-10 MLP (~20 M multiply-adds per sample). Its weights are
  // He-initialised, not trained: its speed, which is all this phase measures, does not depend on them.
  mkdirSync(join(dir, 'heavy-mlp/fp32'), { recursive: true });
  writeFileSync(join(dir, 'heavy-mlp/fp32/model.onnx'), exportMlp(initMlp([784, HEAVY_WIDTH, HEAVY_WIDTH, 10], 1), 'heavy-mlp'));
  writeFileSync(join(dir, 'heavy-mlp/model.yaml'), yaml.replace('name: mnist-mlp', 'name: heavy-mlp').replace('max_batch_size: 64', `max_batch_size: ${HEAVY_BATCH}`).replace(/variants:\n(  - name: .*\n)+/, 'variants:\n  - name: fp32\n'));
  return dir;
}

/** Requests pin the fp32 variant: this bench measures the serving path, not variant choice. */
function binaryCase(model: string, pixels: Float32Array, rows: number): HttpCase {
  const header = Buffer.from(JSON.stringify({
    inputs: [{ name: 'input', shape: [rows, 784], datatype: 'FP32', parameters: { binary_data_size: pixels.byteLength } }],
    outputs: [{ name: 'logits', parameters: { binary_data: true } }],
  }));
  return {
    path: `/v2/models/${model}/versions/fp32/infer`,
    body: Buffer.concat([header, Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength)]),
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
    samples: rows,
  };
}

function jsonCase(model: string, pixels: Float32Array, rows: number): HttpCase {
  return {
    path: `/v2/models/${model}/versions/fp32/infer`,
    body: Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [rows, 784], datatype: 'FP32', data: Array.from(pixels) }] })),
    headers: { 'content-type': 'application/json' },
    samples: rows,
  };
}

/** Runs a and b alternately `ROUNDS` times; returns both medians and the median of a/b per round. */
async function interleaved(a: () => Promise<number>, b: () => Promise<number>): Promise<{ a: number; b: number; ratio: number; ratios: number[] }> {
  const as: number[] = [], bs: number[] = [], ratios: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const x = await a();
    const y = await b();
    as.push(x); bs.push(y); ratios.push(x / y);
  }
  return { a: median(as), b: median(bs), ratio: median(ratios), ratios };
}

const rows: Array<[string, string, string, string]> = [];
const report = (name: string, value: string, target: string, ok: boolean) => {
  rows.push([name, value, target, ok ? 'PASS' : 'FAIL']);
  console.log(`  ${ok ? 'PASS' : 'FAIL'}  ${name}: ${value} (target ${target})`);
};

async function main(): Promise<void> {
  const digit = loadMnist('test').pixels.slice(0, 784);
  const repo = buildRepository();
  console.log(`bench:serve — phases of ${PHASE_MS / 1000} s, soak ${SOAK_MS / 1000} s; repository ${repo}`);
  const server = await startChild([CLI, 'serve', '--repository', repo, '--host', '127.0.0.1', '--http-port', '0', '--grpc-port', '0', '--admin-token', 'bench-admin-token', '--pipeline-depth', args['pipeline-depth']!], /^pareto serving/);
  const origin = `http://127.0.0.1:${server.ports.http_port}`;
  const results: Record<string, unknown> = {};
  try {
    const tiny = binaryCase('mnist-mlp', digit, 1);
    await closedLoop(origin, tiny, 16, 1000); // warm-up

    // 1. Batching on vs off.
    const unbatchedCase = binaryCase('mnist-mlp-unbatched', digit, 1);
    const batchSizes: number[] = [];
    const b1 = await interleaved(
      async () => { const r = await closedLoop(origin, tiny, 64, PHASE_MS); batchSizes.push(r.meanBatchSize ?? 1); return r.samplesPerSecond; },
      async () => (await closedLoop(origin, unbatchedCase, 64, PHASE_MS)).samplesPerSecond,
    );
    console.log(`\n1. dynamic batching, closed loop c=64, mnist-mlp, binary: on ${fmt(b1.a)}/s (mean batch per request ${fmt(median(batchSizes), 1)}), off ${fmt(b1.b)}/s; ratios ${b1.ratios.map((r) => fmt(r, 2)).join(', ')}`);
    report('batching on ÷ off throughput', `${fmt(b1.ratio, 2)}×`, '≥ 4×', b1.ratio >= 4);
    results.batching = { on: b1.a, off: b1.b, ratio: b1.ratio, ratios: b1.ratios, meanBatch: median(batchSizes) };

    // 2. Compute-heavy model: server vs raw ORT at the same batch size, same thread budget (2 × 1).
    // Clients send batch-16 requests, so both run batch 16; single-sample requests that the server
    // batches up to 16 are printed beside it.
    const heavyModel = join(repo, 'heavy-mlp/fp32/model.onnx');
    const heavyCase = binaryCase('heavy-mlp', new Float32Array(HEAVY_BATCH * 784).fill(0.5), HEAVY_BATCH);
    await closedLoop(origin, heavyCase, 4, 1000);
    const b2 = await interleaved(
      async () => (await closedLoop(origin, heavyCase, 4, PHASE_MS)).samplesPerSecond,
      async () => (await ortBaseline(ORT_PATH, heavyModel, { batch: HEAVY_BATCH, width: 784, threads: 2, durationMs: PHASE_MS })).samplesPerSecond,
    );
    const heavySingles = await closedLoop(origin, binaryCase('heavy-mlp', digit, 1), 64, PHASE_MS);
    console.log(`\n2. heavy-mlp (784-${HEAVY_WIDTH}-${HEAVY_WIDTH}-10), batch ${HEAVY_BATCH}: raw ORT 2 threads ${fmt(b2.b)} samples/s (${fmt(2000 / b2.b, 3)} ms/sample/thread), server ${fmt(b2.a)} samples/s; ratios ${b2.ratios.map((r) => fmt(r, 3)).join(', ')}`);
    console.log(`   single-sample requests batched by the server: ${fmt(heavySingles.samplesPerSecond)} samples/s (mean batch ${fmt(heavySingles.meanBatchSize ?? 1, 1)}), ${fmt(heavySingles.samplesPerSecond / b2.b, 3)}× raw`);
    report('server ÷ raw ORT, compute-heavy', fmt(b2.ratio, 3), '≥ 0.85', b2.ratio >= 0.85);
    results.heavy = { rawOrt: b2.b, server: b2.a, ratio: b2.ratio, ratios: b2.ratios, msPerSample: 2000 / b2.b, singleSampleRequests: heavySingles.samplesPerSecond };

    // 3. Tiny model vs the HTTP ceiling (bare fastify route with the same request and response sizes).
    const probe = await fetch(origin + tiny.path, { method: 'POST', body: new Uint8Array(tiny.body), headers: tiny.headers });
    const responseBytes = (await probe.arrayBuffer()).byteLength;
    const echo = await startChild([join(ROOT, 'dist/bench/echo-server.js'), String(responseBytes)], /^http_port=/);
    const echoOrigin = `http://127.0.0.1:${echo.ports.http_port}`;
    const echoCase = { ...tiny, path: '/echo' };
    await closedLoop(echoOrigin, echoCase, 64, 1000);
    const b3 = await interleaved(
      async () => (await closedLoop(origin, tiny, 64, PHASE_MS)).requestsPerSecond,
      async () => (await closedLoop(echoOrigin, echoCase, 64, PHASE_MS)).requestsPerSecond,
    );
    const echoC1 = await closedLoop(echoOrigin, echoCase, 1, PHASE_MS);
    await echo.stop();
    console.log(`\n3. HTTP ceiling: bare fastify echo ${fmt(b3.b)} req/s (${tiny.body.length} B in, ${responseBytes} B out); Pareto mnist-mlp ${fmt(b3.a)} req/s; ratios ${b3.ratios.map((r) => fmt(r, 3)).join(', ')}`);
    report('server ÷ bare fastify echo, tiny model, binary', fmt(b3.ratio, 3), '≥ 0.7', b3.ratio >= 0.7);
    results.ceiling = { echo: b3.b, server: b3.a, ratio: b3.ratio, ratios: b3.ratios };

    // 4. Overhead at concurrency 1.
    const mlpModel = join(repo, 'mnist-mlp/fp32/model.onnx');
    const rawLatency = await ortBaseline(ORT_PATH, mlpModel, { batch: 1, width: 784, threads: 1, durationMs: 2000, mode: 'latency' });
    const rawP50 = percentile(rawLatency.latencies, 0.5);
    const c1Binary = await closedLoop(origin, tiny, 1, PHASE_MS);
    const c1Json = await closedLoop(origin, jsonCase('mnist-mlp', digit, 1), 1, PHASE_MS);
    const overheadBinary = percentile(c1Binary.latencies, 0.5) - rawP50;
    const overheadJson = percentile(c1Json.latencies, 0.5) - rawP50;
    console.log(`\n4. concurrency 1: raw ORT batch-1 p50 ${fmt(rawP50, 3)} ms; bare fastify echo p50 ${fmt(percentile(echoC1.latencies, 0.5), 3)} ms; server p50 binary ${fmt(percentile(c1Binary.latencies, 0.5), 3)} ms, JSON ${fmt(percentile(c1Json.latencies, 0.5), 3)} ms (p99 ${fmt(percentile(c1Binary.latencies, 0.99), 3)} / ${fmt(percentile(c1Json.latencies, 0.99), 3)} ms)`);
    report('overhead p50, binary', `${fmt(overheadBinary, 3)} ms`, '≤ 0.3 ms', overheadBinary <= 0.3);
    report('overhead p50, JSON', `${fmt(overheadJson, 3)} ms`, '≤ 0.6 ms', overheadJson <= 0.6);
    console.log(`   beyond the HTTP round trip: binary ${fmt(percentile(c1Binary.latencies, 0.5) - percentile(echoC1.latencies, 0.5), 3)} ms, JSON ${fmt(percentile(c1Json.latencies, 0.5) - percentile(echoC1.latencies, 0.5), 3)} ms`);
    results.overhead = { rawP50, echoP50: percentile(echoC1.latencies, 0.5), binaryP50: percentile(c1Binary.latencies, 0.5), jsonP50: percentile(c1Json.latencies, 0.5), overheadBinary, overheadJson };

    // 5. Memory under saturating load.
    const pid = server.process.pid!;
    const rssWarm = rssMiB(pid);
    const soak = await closedLoop(origin, tiny, 64, SOAK_MS);
    const rssAfter = rssMiB(pid);
    const growth = rssAfter / rssWarm - 1;
    console.log(`\n5. soak ${SOAK_MS / 1000} s at c=64: ${fmt(soak.requests)} requests, ${soak.errors} errors; RSS ${fmt(rssWarm, 1)} → ${fmt(rssAfter, 1)} MiB`);
    report('RSS growth over the soak', `${fmt(100 * growth, 1)}%`, '< 10%', growth < 0.1);
    results.memory = { rssWarmMiB: rssWarm, rssAfterMiB: rssAfter, growth, requests: soak.requests, errors: soak.errors };
  } finally {
    await server.stop();
    rmSync(repo, { recursive: true, force: true });
  }
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench/results/serve.json'), JSON.stringify({ date: new Date().toISOString(), phaseSeconds: PHASE_MS / 1000, rounds: ROUNDS, results, summary: rows }, null, 2) + '\n');
  console.log('\nwritten: bench/results/serve.json');
}

await main();
