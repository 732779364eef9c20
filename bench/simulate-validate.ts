// npm run bench:simulate — is the simulator right at this machine's scale? The same bursty
// two-tenant trace as bench:tradeoff (same arrival seeds) goes to the real server (one executor,
// adaptive) and into the simulator (one worker); p99, SLO attainment and accuracy served are
// printed side by side with their differences. Options: --seconds N (default 20). With
// PARETO_SERVER_CPUS=0 and the bench itself under `taskset -c 1`, server and load generator do
// not share a core (npm run bench:simulate does this).
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadMnist } from '../src/datasets/mnist.js';
import { bursts, poissonStream } from '../src/loadgen/arrivals.js';
import { openLoop } from '../src/loadgen/open-loop.js';
import { report, ReportBuilder, type Stats } from '../src/loadgen/report.js';
import { ModelRepository } from '../src/repository/model-repository.js';
import { simulate } from '../src/simulate/simulator.js';
import { hashKey } from '../src/tenancy/tenants.js';
import { startChild } from './lib/processes.js';

const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '20' } } });
const DURATION_MS = Number(args.seconds) * 1000;
const ROOT = new URL('../..', import.meta.url).pathname;
const MODEL = 'mnist-mlp-wide';
const ROWS = 32;
const TENANTS = [{ id: 'interactive', sloMs: 50, share: 0.6 }, { id: 'analytics', sloMs: 500, share: 0.4 }];
const SEED = 5;

const dir = mkdtempSync(join(tmpdir(), 'pareto-simval-'));
cpSync(join(ROOT, 'models', MODEL), join(dir, MODEL), { recursive: true });
writeFileSync(join(dir, 'tenants.yaml'), 'tenants:\n' + TENANTS.map((t) => `  - id: ${t.id}\n    keys: ["${hashKey(`${t.id}-key`)}"]\n    models: ["*"]\n    slo: { default: { latency_ms: ${t.sloMs} } }\n`).join(''));
const { config, variants } = new ModelRepository(dir).read(MODEL);
const best = variants.reduce((a, v) => (v.profile!.accuracy.value > a.profile!.accuracy.value ? v : a));
const top = best.profile!.latency[best.profile!.latency.length - 1];
const capacity = (top.batch_size / top.p50_ms) * 1000;
const rate = bursts(0.5 * capacity, 3 * capacity, 3000, 2000, DURATION_MS, 17);

// The real server.
const digits = loadMnist('test').pixels;
const server = await startChild([join(ROOT, 'dist/src/cli/main.js'), 'serve', '--repository', dir, '--tenants', join(dir, 'tenants.yaml'), '--host', '127.0.0.1', '--http-port', '0', '--grpc-port', '0', '--admin-token', 'bench-admin-token', '--executors', '1'], /^pareto serving/, 0, process.env.PARETO_SERVER_CPUS);
let real: ReturnType<typeof report>;
try {
  const origin = `http://127.0.0.1:${server.ports.http_port}`;
  const streams = (share: (t: typeof TENANTS[number]) => (tm: number) => number) => TENANTS.map((t, i) => ({ tenant: t.id, sloMs: t.sloMs, spec: { model: MODEL, key: `${t.id}-key`, pixels: digits.slice(i * ROWS * 784, (i + 1) * ROWS * 784), rows: ROWS }, rate: share(t) }));
  await openLoop(origin, streams((t) => () => 0.2 * capacity * t.share), 1000, 99);
  real = report(await openLoop(origin, streams((t) => (tm) => rate(tm) * t.share), DURATION_MS, SEED), DURATION_MS / 1000);
} finally {
  await server.stop();
}

// The simulator, on the same arrivals (open-loop stream i uses seed SEED + i).
const builder = new ReportBuilder();
simulate({
  variants: variants.map((v) => ({ name: v.name, accuracy: v.profile!.accuracy.value, latency: v.profile!.latency.map((l) => ({ batch: l.batch_size, ms: l.p50_ms })), latencyP99: v.profile!.latency.map((l) => ({ batch: l.batch_size, ms: l.p99_ms })) })),
  tenants: TENANTS.map((t, i) => ({ id: t.id, weight: 1, priority: 1, sloMs: t.sloMs, rows: ROWS, arrivals: poissonStream((tm) => rate(tm) * t.share, ROWS, DURATION_MS, SEED + i) })),
  workers: 1, policy: config.scheduling.policy, maxBatchSize: config.batching.max_batch_size, overheadMs: 0.3, requestOverheadMs: 0.45, seed: SEED, onOutcome: (o) => builder.add(o),
});
const sim = builder.build(DURATION_MS / 1000);
rmSync(dir, { recursive: true, force: true });

const row = (name: string, f: (s: Stats) => number, unit: string, d: number) => {
  const a = f(real.overall), b = f(sim.overall);
  const diff = a === 0 ? 0 : (b - a) / a;
  console.log(`  ${Math.abs(diff) <= 0.15 ? 'PASS' : 'FAIL'}  ${name.padEnd(22)} real ${a.toFixed(d)}${unit}  simulated ${b.toFixed(d)}${unit}  (${diff >= 0 ? '+' : ''}${(100 * diff).toFixed(1)}%, target within 15%)`);
};
console.log(`bench:simulate — ${basename(MODEL)}, ${DURATION_MS / 1000} s of bursts between ${capacity * 0.5 | 0} and ${capacity * 3 | 0} samples/s, ${ROWS} samples per request, one executor / worker, arrival-time error p99 ${real.arrivalErrorP99.toFixed(2)} ms`);
row('p99 latency', (s) => s.p99, ' ms', 1);
row('SLO attainment', (s) => 100 * (s.sloAttainment ?? 0), '%', 2);
row('accuracy served', (s) => 100 * (s.accuracyServed ?? 0), '%', 2);
console.log(`  real p50 ${real.overall.p50.toFixed(2)} ms / simulated ${sim.overall.p50.toFixed(2)} ms; throughput real ${real.overall.throughput.toFixed(0)} / simulated ${sim.overall.throughput.toFixed(0)} samples/s`);
