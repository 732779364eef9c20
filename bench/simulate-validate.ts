// npm run bench:simulate — is the simulator right at this machine's scale? The same bursty
// two-tenant trace as bench:tradeoff (same arrival seeds) goes to the real server (one executor,
// adaptive) and into the simulator (one worker); p99, SLO attainment and accuracy served are
// printed side by side with their differences; the run repeats (--runs, default 3) and the verdict
// is on the medians, since one real run's p99 moves by 2× on this machine. Each run measures the
// machine's ONNX Runtime speed and the server's front-door CPU per request, and the simulator uses
// both. Options: --seconds N (default 20), --runs N. With
// PARETO_SERVER_CPUS=0 and the bench itself under `taskset -c 1`, server and load generator do
// not share a core (npm run bench:simulate does this).
import { createRequire } from 'node:module';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadMnist } from '../src/datasets/mnist.js';
import { bursts, poissonStream } from '../src/loadgen/arrivals.js';
import { openLoop } from '../src/loadgen/open-loop.js';
import { report, ReportBuilder, type Report, type Stats } from '../src/loadgen/report.js';
import { ModelRepository } from '../src/repository/model-repository.js';
import { LatencyModel } from '../src/scheduler/latency-model.js';
import { simulate } from '../src/simulate/simulator.js';
import { metricSamples } from '../src/telemetry/prometheus-text.js';
import { hashKey } from '../src/tenancy/tenants.js';
import { ortBaseline } from './lib/ort-baseline.js';
import { cpuSeconds, startChild } from './lib/processes.js';
import { median } from './lib/stats.js';

const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '20' }, runs: { type: 'string', default: '3' } } });
const DURATION_MS = Number(args.seconds) * 1000;
const ROOT = new URL('../..', import.meta.url).pathname;
const MODEL = 'mnist-mlp-wide';
const ROWS = 32;
const TENANTS = [{ id: 'interactive', sloMs: 50, share: 0.6 }, { id: 'analytics', sloMs: 500, share: 0.4 }];
const SEED = 5;
const ORT_PATH = createRequire(import.meta.url).resolve('onnxruntime-node');

const dir = mkdtempSync(join(tmpdir(), 'pareto-simval-'));
cpSync(join(ROOT, 'models', MODEL), join(dir, MODEL), { recursive: true });
writeFileSync(join(dir, 'tenants.yaml'), 'tenants:\n' + TENANTS.map((t) => `  - id: ${t.id}\n    keys: ["${hashKey(`${t.id}-key`)}"]\n    models: ["*"]\n    slo: { default: { latency_ms: ${t.sloMs} } }\n`).join(''));
const { config, variants } = new ModelRepository(dir).read(MODEL);
const best = variants.reduce((a, v) => (v.profile!.accuracy.value > a.profile!.accuracy.value ? v : a));
const top = best.profile!.latency[best.profile!.latency.length - 1];
const capacity = (top.batch_size / top.p50_ms) * 1000;
const rate = bursts(0.5 * capacity, 3 * capacity, 3000, 2000, DURATION_MS, 17);
/** Each variant's profiled p50 per batch size. */
const PROFILED = new Map(variants.map((v) => [v.name, new LatencyModel(v.profile!.latency.map((l) => ({ batch: l.batch_size, ms: l.p50_ms })))]));

/**
 * How much slower than its profile the machine runs now: raw ONNX Runtime (one thread, as an
 * executor) on each variant at batch 32, over the profile's p50 there; the median over variants.
 * The machine's speed drifts by up to 2× over a day, and the simulator must run at today's.
 */
async function machineSlowdown(): Promise<number> {
  const ratios: number[] = [];
  for (const v of variants) {
    const r = await ortBaseline(ORT_PATH, v.onnxPath, { batch: ROWS, width: 784, threads: 1, durationMs: 300, mode: 'latency' });
    const p50 = r.latencies[Math.floor(r.latencies.length / 2)];
    ratios.push(p50 / PROFILED.get(v.name)!.profiled(ROWS));
  }
  return median(ratios);
}

/** Batches' compute time at the profile's speed, ms, from the server's metrics (per variant: batches × profiled time at their mean size). */
function executorMs(metrics: string): number {
  const read = (name: string) => new Map(metricSamples(metrics, name).filter((x) => x.labels.model === MODEL).map((x) => [x.labels.version, x.value]));
  const batches = read('pareto_inference_exec_count_total'), samples = read('pareto_batch_size_sum');
  let ms = 0;
  for (const v of variants) {
    const n = batches.get(v.name) ?? 0;
    if (n > 0) ms += n * PROFILED.get(v.name)!.profiled(samples.get(v.name)! / n);
  }
  return ms;
}
const digits = loadMnist('test').pixels;

/** One side-by-side run: the real server, then the simulator on the same arrivals and this run's measured speeds. */
async function run(): Promise<{ real: Report; sim: Report; slowdown: number; frontCpuMs: number }> {
  const server = await startChild([join(ROOT, 'dist/src/cli/main.js'), 'serve', '--repository', dir, '--tenants', join(dir, 'tenants.yaml'), '--host', '127.0.0.1', '--http-port', '0', '--grpc-port', '0', '--admin-token', 'bench-admin-token', '--open-metrics', '--executors', '1'], /^pareto serving/, 0, process.env.PARETO_SERVER_CPUS);
  let real: ReturnType<typeof report>;
  let slowdown = 1;
  let frontCpuMs = 0;

  try {
    const origin = `http://127.0.0.1:${server.ports.http_port}`;
    const streams = (share: (t: typeof TENANTS[number]) => (tm: number) => number) => TENANTS.map((t, i) => ({ tenant: t.id, sloMs: t.sloMs, spec: { model: MODEL, key: `${t.id}-key`, pixels: digits.slice(i * ROWS * 784, (i + 1) * ROWS * 784), rows: ROWS }, rate: share(t) }));
    await openLoop(origin, streams((t) => () => 0.2 * capacity * t.share), 1000, 99);
    const before = { cpu: cpuSeconds(server.process.pid!), metrics: await (await fetch(`${origin}/metrics`)).text() };
    real = report(await openLoop(origin, streams((t) => (tm) => rate(tm) * t.share), DURATION_MS, SEED), DURATION_MS / 1000);
    const after = { cpu: cpuSeconds(server.process.pid!), metrics: await (await fetch(`${origin}/metrics`)).text() };
    slowdown = await machineSlowdown();
    // The server's CPU beyond its batches' compute (at the machine's speed now), per request: the
    // event loop's share of the one core it has here.
    const computeMs = executorMs(after.metrics) - executorMs(before.metrics);
    frontCpuMs = Math.max(0, ((after.cpu - before.cpu) * 1000 - computeMs * slowdown) / real.overall.requests);
  } finally {
    await server.stop();
  }

  // The simulator, on the same arrivals (open-loop stream i uses seed SEED + i).
  const builder = new ReportBuilder();
  simulate({
    variants: variants.map((v) => ({ name: v.name, accuracy: v.profile!.accuracy.value, latency: v.profile!.latency.map((l) => ({ batch: l.batch_size, ms: l.p50_ms })), latencyP99: v.profile!.latency.map((l) => ({ batch: l.batch_size, ms: l.p99_ms })) })),
    tenants: TENANTS.map((t, i) => ({ id: t.id, weight: 1, priority: 1, sloMs: t.sloMs, rows: ROWS, arrivals: poissonStream((tm) => rate(tm) * t.share, ROWS, DURATION_MS, SEED + i) })),
    workers: 1, policy: config.scheduling.policy, maxBatchSize: config.batching.max_batch_size, overheadMs: 0.3, requestOverheadMs: 0.45, slowdown, sharedCoreFrontMs: frontCpuMs, seed: SEED, onOutcome: (o) => builder.add(o),
  });
  return { real, sim: builder.build(DURATION_MS / 1000), slowdown, frontCpuMs };
}

console.log(`bench:simulate — ${basename(MODEL)}, ${DURATION_MS / 1000} s of bursts between ${capacity * 0.5 | 0} and ${capacity * 3 | 0} samples/s, ${ROWS} samples per request, one executor / worker, ${args.runs} runs`);
const runs: Awaited<ReturnType<typeof run>>[] = [];
try {
  for (let i = 0; i < Number(args.runs); i++) {
    const r = await run();
    runs.push(r);
    const t = (s: Report, id: string) => `${s.tenants[id].p99.toFixed(1)} ms / ${(100 * (s.tenants[id].sloAttainment ?? 0)).toFixed(1)}%`;
    console.log(`  run ${i + 1}: p99 real ${r.real.overall.p99.toFixed(1)} / simulated ${r.sim.overall.p99.toFixed(1)} ms; per tenant (p99 / SLO attainment) ${TENANTS.map((x) => `${x.id} real ${t(r.real, x.id)}, simulated ${t(r.sim, x.id)}`).join('; ')}; ONNX Runtime at ${r.slowdown.toFixed(2)}× the profiles, front door ${r.frontCpuMs.toFixed(3)} ms CPU per request; generator lag p99 ${r.real.arrivalErrorP99.toFixed(2)} ms`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const results: Record<string, { real: number; simulated: number; diff: number }> = {};
const row = (name: string, f: (s: Stats) => number, unit: string, d: number) => {
  const a = median(runs.map((r) => f(r.real.overall))), b = median(runs.map((r) => f(r.sim.overall)));
  const diff = a === 0 ? 0 : (b - a) / a;
  results[name] = { real: a, simulated: b, diff };
  console.log(`  ${Math.abs(diff) <= 0.15 ? 'PASS' : 'FAIL'}  ${name.padEnd(22)} real ${a.toFixed(d)}${unit}  simulated ${b.toFixed(d)}${unit}  (${diff >= 0 ? '+' : ''}${(100 * diff).toFixed(1)}%, medians of ${runs.length} runs; target within 15%)`);
};
row('p99 latency', (s) => s.p99, ' ms', 1);
row('SLO attainment', (s) => 100 * (s.sloAttainment ?? 0), '%', 2);
row('accuracy served', (s) => 100 * (s.accuracyServed ?? 0), '%', 2);
console.log(`  p50 real ${median(runs.map((r) => r.real.overall.p50)).toFixed(2)} ms / simulated ${median(runs.map((r) => r.sim.overall.p50)).toFixed(2)} ms; throughput real ${median(runs.map((r) => r.real.overall.throughput)).toFixed(0)} / simulated ${median(runs.map((r) => r.sim.overall.throughput)).toFixed(0)} samples/s`);
writeFileSync(join(ROOT, 'bench/results/simulate.json'), JSON.stringify({ date: new Date().toISOString(), seconds: DURATION_MS / 1000, results, runs: runs.map((r) => ({ real: r.real.overall, simulated: r.sim.overall, slowdown: r.slowdown, frontCpuMs: r.frontCpuMs })) }, null, 2) + '\n');
