// npm run bench:slo — tenants and SLO-aware scheduling, measured in one run on the real server:
//   1. burst: open-loop load steps from 0.5× to 3× the capacity of the most accurate variant and
//      back; `adaptive` against `most-accurate` on the same trace
//   2. isolation: tenant B within its quota, alone and then beside tenant A sending 10× its quota
//      from a process of its own (bench/lib/flood.ts), as a neighbour would
//   3. fairness: two backlogged tenants with weights 2:1
//   4. planner cost: one decision with 10 variants and 10,000 queued requests (in-process, first)
// Options: --quick (shorter phases, for a smoke run), --only burst,isolation,fairness. The npm
// script pins the server to core 0 (PARETO_SERVER_CPUS) and the bench to core 1.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadMnist } from '../src/datasets/mnist.js';
import { ModelRepository } from '../src/repository/model-repository.js';
import { FairQueue, type QueuedRequest } from '../src/scheduler/fair-queue.js';
import { Planner, type PlannerVariant } from '../src/scheduler/planner.js';
import { TenantsFileSchema } from '../src/tenancy/tenants-config.js';
import { hashKey, Tenants } from '../src/tenancy/tenants.js';
import { parse as parseYaml } from 'yaml';
import { openLoop, type Outcome } from '../src/loadgen/open-loop.js';
import type { RequestSpec } from '../src/loadgen/senders.js';
import { cpuSeconds, startChild, startFlood, type FloodResult } from './lib/processes.js';
import { percentile, sortedCopy } from './lib/stats.js';
import { fmt } from './lib/format.js';

const { values: args } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } } });
const runs = (part: string) => !args.only || args.only.split(',').includes(part);
const SCALE = args.quick ? 0.4 : 1;
const ROOT = new URL('../..', import.meta.url).pathname;
const CLI = join(ROOT, 'dist/src/cli/main.js');
const BURST_MODEL = 'mnist-mlp-wide';
const SLO_MS = 100;
const BURST_SAMPLES = 32;

const rows: Array<[string, string, string, string]> = [];
const report = (name: string, value: string, target: string, ok: boolean) => {
  rows.push([name, value, target, ok ? 'PASS' : 'FAIL']);
  console.log(`  ${ok ? 'PASS' : 'FAIL'}  ${name}: ${value} (target ${target})`);
};

function spec(model: string, key: string, pixels: Float32Array, rows: number, version?: string): RequestSpec {
  return { model, version, key, pixels, rows };
}

function summarize(outcomes: Outcome[], sloMs: number) {
  const ok = outcomes.filter((o) => o.status === 200);
  const met = ok.filter((o) => o.latency <= sloMs).length;
  const latencies = sortedCopy(ok.map((o) => o.latency));
  const samples = ok.reduce((a, o) => a + o.samples, 0);
  const accuracy = ok.reduce((a, o) => a + (o.accuracy ?? 0) * o.samples, 0) / Math.max(1, samples);
  const mix = new Map<string, number>();
  for (const o of ok) mix.set(o.variant ?? '?', (mix.get(o.variant ?? '?') ?? 0) + o.samples);
  const statuses = new Map<number, number>();
  for (const o of outcomes) statuses.set(o.status, (statuses.get(o.status) ?? 0) + 1);
  return {
    requests: outcomes.length,
    attainment: met / Math.max(1, outcomes.length),
    p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99),
    accuracy, samples, mix, statuses,
    sendLagP99: percentile(sortedCopy(outcomes.map((o) => o.sendLag)), 0.99),
  };
}

function buildRepository(): { dir: string; capacity: number; bestAccuracy: number } {
  const dir = mkdtempSync(join(tmpdir(), 'pareto-slo-'));
  const source = join(ROOT, 'models', BURST_MODEL);
  const yaml = readFileSync(join(source, 'model.yaml'), 'utf8');
  for (const [name, policy] of [['burst-adaptive', 'adaptive'], ['burst-accurate', 'most-accurate']]) {
    cpSync(source, join(dir, name), { recursive: true });
    writeFileSync(join(dir, name, 'model.yaml'), yaml.replace(`name: ${BURST_MODEL}`, `name: ${name}`) + `scheduling:\n  policy: ${policy}\n`);
  }
  cpSync(join(ROOT, 'models', 'mnist-mlp'), join(dir, 'mnist-mlp'), { recursive: true });
  // Capacity of the most accurate variant on one executor, from its measured profile.
  const { variants } = new ModelRepository(dir).read('burst-accurate');
  const best = variants.filter((v) => v.profile).sort((a, b) => b.profile!.accuracy.value - a.profile!.accuracy.value)[0];
  const top = best.profile!.latency[best.profile!.latency.length - 1];
  return { dir, capacity: (top.batch_size / top.p50_ms) * 1000, bestAccuracy: best.profile!.accuracy.value };
}

function tenantsYaml(): string {
  const t = (id: string, extra: string) => `  - id: ${id}\n    keys: ["${hashKey(`${id}-key`)}"]\n    models: ["*"]\n${extra}`;
  return 'tenants:\n' + [
    t('burst', `    slo: { default: { latency_ms: ${SLO_MS} } }\n`),
    t('iso-a', '    rate_limit: { samples_per_second: 200, burst: 20 }\n    slo: { default: { latency_ms: 1000 } }\n'),
    t('iso-x', '    rate_limit: { samples_per_second: 0.001, burst: 1 }\n'),
    t('iso-b', '    rate_limit: { samples_per_second: 4000, burst: 400 }\n    slo: { default: { latency_ms: 1000 } }\n'),
    t('fair-2', '    weight: 2\n    max_queue: 32\n    slo: { default: { latency_ms: 5000 } }\n'),
    t('fair-1', '    weight: 1\n    max_queue: 32\n    slo: { default: { latency_ms: 5000 } }\n'),
  ].join('');
}

/** In-process cost of refusing a request over quota: authenticate, precheck, build the error. */
function refusalCost(): number {
  const tenants = new Tenants(TenantsFileSchema.parse(parseYaml(tenantsYaml())), () => 0);
  const auth = 'Bearer iso-x-key';
  tenants.admit(tenants.authenticate(auth), 'mnist-mlp', 1, {}); // spend its one token
  const n = 20_000;
  let refused = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    try { tenants.precheck(tenants.authenticate(auth), 'mnist-mlp'); } catch { refused++; }
  }
  if (refused !== n) throw new Error('the refusal microbench expected every request refused');
  return Number(process.hrtime.bigint() - t0) / 1000 / n;
}

function plannerCost(): number {
  type R = QueuedRequest;
  const variants: PlannerVariant[] = Array.from({ length: 10 }, (_, i) => ({
    name: `v${i}`, accuracy: 0.99 - i * 0.005,
    latency: [1, 2, 4, 8, 16, 32, 64].map((b) => ({ batch: b, ms: (0.05 + b * 0.02) / (i + 1) })),
  }));
  const planner = new Planner<R>(variants, { policy: 'adaptive', maxBatchSize: 64, maxQueueDelayMs: 0, executors: 2 });
  const queue = new FairQueue<R>();
  for (let i = 0; i < 10_000; i++) queue.push({ tenant: `t${i % 20}`, weight: 1 + (i % 3), priority: 1, samples: 1, arrival: i / 10, deadline: 200 + i / 10, minAccuracy: 0 });
  const times: number[] = [];
  for (let round = 0; round < 2000; round++) {
    const t0 = process.hrtime.bigint();
    const { plan } = planner.plan(queue, 0);
    times.push(Number(process.hrtime.bigint() - t0) / 1000);
    queue.putBack(plan!.requests); // keep 10,000 queued for the next decision
  }
  return percentile(sortedCopy(times.slice(200)), 0.5);
}

async function main(): Promise<void> {
  // 4. Planner cost, measured first, in a fresh process: after the load parts this process holds
  // their outcomes and histograms, and the same decision read 23 µs instead of 11.
  const plannerUs = plannerCost();
  const digits = loadMnist('test').pixels;
  const { dir, capacity, bestAccuracy } = buildRepository();
  const tenantsFile = join(dir, 'tenants.yaml');
  writeFileSync(tenantsFile, tenantsYaml());
  console.log(`bench:slo — most accurate variant of ${BURST_MODEL}: ${(100 * bestAccuracy).toFixed(2)}%, capacity ${fmt(capacity)} samples/s on one executor (profile)`);
  // One executor: the most accurate variant's capacity then sits well inside what the HTTP front
  // door and the load generator can carry on this 2-core machine at 3×.
  const server = await startChild([CLI, 'serve', '--repository', dir, '--tenants', tenantsFile, '--host', '127.0.0.1', '--http-port', '0', '--grpc-port', '0', '--admin-token', 'bench-admin-token', '--executors', '1'], /^pareto serving/, 0, process.env.PARETO_SERVER_CPUS);
  const origin = `http://127.0.0.1:${server.ports.http_port}`;
  const results: Record<string, unknown> = {};
  try {
    const burstPixels = digits.slice(0, BURST_SAMPLES * 784);
    if (runs('burst')) await burstPart();
    if (runs('isolation')) await isolationPart();
    if (runs('fairness')) await fairnessPart();
    const us = plannerUs;
    console.log(`\n4. planner: one decision, 10 variants, 10,000 queued requests over 20 tenants`);
    report('planner decision (median of 1,800)', `${fmt(us, 2)} µs`, '≤ 20 µs', us <= 20);
    results.planner = { medianMicroseconds: us };

    async function burstPart() {
    // 1. Burst.
    const burstPixels = digits.slice(0, BURST_SAMPLES * 784);
    const phase = 5000 * SCALE;
    const rate = (t: number) => (t < phase || t >= 3 * phase ? 0.5 : 3) * capacity;
    const burst: Record<string, ReturnType<typeof summarize>> = {};
    for (const model of ['burst-adaptive', 'burst-accurate']) {
      await openLoop(origin, [{ tenant: 'burst', spec: spec(model, 'burst-key', burstPixels, BURST_SAMPLES), rate: () => 0.3 * capacity }], 1000, 99);
      const outcomes = await openLoop(origin, [{ tenant: 'burst', spec: spec(model, 'burst-key', burstPixels, BURST_SAMPLES), rate }], 4 * phase, 7);
      burst[model] = summarize(outcomes, SLO_MS);
      const s = burst[model];
      console.log(`  ${model}: ${fmt(s.requests)} requests, ${fmt(100 * s.attainment, 2)}% within ${SLO_MS} ms, p99 ${fmt(s.p99, 1)} ms, accuracy served ${fmt(100 * s.accuracy, 2)}%, statuses ${JSON.stringify(Object.fromEntries(s.statuses))}, variants ${JSON.stringify(Object.fromEntries(s.mix))}, send lag p99 ${fmt(s.sendLagP99, 2)} ms`);
    }
    const a = burst['burst-adaptive'], m = burst['burst-accurate'];
    console.log(`\n1. burst 0.5× → 3× → 0.5× of ${fmt(capacity)} samples/s, SLO ${SLO_MS} ms`);
    report('adaptive: deadlines met', `${fmt(100 * a.attainment, 2)}% (most-accurate: ${fmt(100 * m.attainment, 2)}%)`, '≥ 99%', a.attainment >= 0.99);
    report('adaptive: mean accuracy served vs the most accurate variant', `${fmt(100 * a.accuracy, 2)}% vs ${fmt(100 * bestAccuracy, 2)}% (${fmt(100 * (bestAccuracy - a.accuracy), 2)} pt)`, '≤ 1.5 pt below', bestAccuracy - a.accuracy <= 0.015);
    results.burst = { capacity, bestAccuracy, adaptive: { ...a, mix: Object.fromEntries(a.mix), statuses: Object.fromEntries(a.statuses) }, mostAccurate: { ...m, mix: Object.fromEntries(m.mix), statuses: Object.fromEntries(m.statuses) } };
    }

    async function isolationPart() {
    // 2. Isolation. A's quota is 200 samples/s and it sends 2,000; B stays inside its quota.
    const one = digits.slice(0, 784), four = digits.slice(0, 4 * 784);
    const isoMs = 6000 * SCALE;
    const bStream = { tenant: 'iso-b', spec: spec('mnist-mlp', 'iso-b-key', four, 4), rate: () => 1000 };
    // A floods from a process of its own (bench/lib/flood.ts), starting a second before B's window
    // and ending after it, so that its start-up is not in B's figures either.
    const floods: FloodResult[] = [];
    const beside = async (seed: number): Promise<Outcome[]> => {
      // Tenant A at 2,000 samples/s, 10× its quota.
      const flood = await startFlood(['--origin', origin, '--model', 'mnist-mlp', '--key', 'iso-a-key', '--rate', '2000', '--ms', String(isoMs / 2 + 1500), '--seed', String(seed), '--max-outstanding', '512']);
      await new Promise((r) => setTimeout(r, 1000));
      const b = await openLoop(origin, [bStream], isoMs / 2, seed);
      floods.push(await flood.done);
      return b;
    };
    // Warm both paths first (the first flood's refusals and admissions are the slowest), then
    // interleave rounds (alone, together, alone, …): p99s of a few ms move with the machine's noise.
    await beside(99);
    floods.length = 0;
    const aloneRuns: Outcome[] = [], bRuns: Outcome[] = [];
    const roundRatios: number[] = [];
    for (let round = 0; round < 3; round++) {
      const alone = await openLoop(origin, [bStream], isoMs / 2, 11 + round);
      const together = await beside(21 + round);
      aloneRuns.push(...alone);
      bRuns.push(...together);
      roundRatios.push(summarize(together, 1000).p99 / summarize(alone, 1000).p99);
    }
    const alone = summarize(aloneRuns, 1000);
    const bTogether = summarize(bRuns, 1000);
    const aStatuses: Record<string, number> = {};
    for (const f of floods) for (const [status, n] of Object.entries(f.statuses)) aStatuses[status] = (aStatuses[status] ?? 0) + n;
    // Cost of a refusal: server CPU under a flood that is refused whole (a tenant with no quota
    // left), less the server's idle CPU over the same time. Past 100 refusals/s the server holds
    // them (its tarpit), so the flood answers fewer and lasts longer than its window: the cores it
    // takes while it lasts are the figure to set beside a bare server's, not only CPU per refusal.
    const pid = server.process.pid!;
    const idle0 = cpuSeconds(pid);
    await new Promise((r) => setTimeout(r, isoMs / 2));
    const idlePerSecond = (cpuSeconds(pid) - idle0) / (isoMs / 2000);
    const refused = await startFlood(['--origin', origin, '--model', 'mnist-mlp', '--key', 'iso-x-key', '--rate', '2000', '--ms', String(isoMs / 2), '--seed', '12', '--max-outstanding', '512']);
    const cpu0 = cpuSeconds(pid), t0 = performance.now();
    const flood = await refused.done;
    const floodSeconds = (performance.now() - t0) / 1000;
    const idleCpu = idlePerSecond * floodSeconds;
    const floodCpu = cpuSeconds(pid) - cpu0 - idleCpu;
    const rejected = flood.statuses[429] ?? 0;
    const perRejectMs = (floodCpu * 1000) / Math.max(1, rejected);
    // The floor at the same rate, on the same core: a bare node:http server answering 429.
    const floor = await startChild([join(ROOT, 'dist/bench/refuse-server.js')], /^http_port=/, 0, process.env.PARETO_SERVER_CPUS);
    const floorFlood = (ms: number) => openLoop(`http://127.0.0.1:${floor.ports.http_port}`, [{ tenant: 'floor', spec: spec('mnist-mlp', 'x', one, 1), rate: () => 2000 }], ms, 12);
    await floorFlood(1000); // warm, as Pareto is by now
    const floorCpu0 = cpuSeconds(floor.process.pid!), floorT0 = performance.now();
    const floorRuns = await floorFlood(isoMs / 2);
    const floorCpu = cpuSeconds(floor.process.pid!) - floorCpu0;
    const floorPerRequestMs = (floorCpu * 1000) / floorRuns.length;
    const floorCores = floorCpu / ((performance.now() - floorT0) / 1000);
    await floor.stop();
    const refusalUs = refusalCost();
    console.log(`\n2. isolation: B at 1,000 samples/s (quota 4,000), A at 2,000 samples/s (quota 200)`);
    console.log(`   B alone p50 ${fmt(alone.p50, 2)} / p99 ${fmt(alone.p99, 2)} ms (send lag p99 ${fmt(alone.sendLagP99, 2)}), beside A p50 ${fmt(bTogether.p50, 2)} / p99 ${fmt(bTogether.p99, 2)} ms; A: ${JSON.stringify(aStatuses)} (its send lag p99 ${fmt(Math.max(...floods.map((f) => f.sendLagP99)), 2)} ms)`);
    console.log(`   refused flood: ${rejected} of ${flood.requests} refused (${flood.statuses[-1] ?? 0} not sent, its 512 connections busy), ${fmt(floodCpu, 3)} s of server CPU above idle over its ${fmt(floodSeconds, 1)} s: ${fmt(floodCpu / floodSeconds, 3)} cores; a bare node:http 429 at the same rate: ${fmt(floorPerRequestMs, 3)} ms CPU per request (Pareto ÷ bare ${fmt(perRejectMs / floorPerRequestMs, 2)}), ${fmt(floorCores, 3)} cores; the refusal itself (key, quota, error; in-process): ${fmt(refusalUs, 2)} µs`);
    const isoRatio = bTogether.p99 / alone.p99;
    report('B p99 beside a flooding A ÷ B p99 alone (all rounds pooled)', `${fmt(isoRatio, 2)} (per round ${roundRatios.map((r) => fmt(r, 2)).join(', ')})`, '≤ 1.2', isoRatio <= 1.2);
    report('server CPU per request refused with 429 (HTTP included)', `${fmt(perRejectMs, 3)} ms`, '< 0.1 ms', perRejectMs < 0.1);
    results.isolation = { bAloneP99: alone.p99, bTogetherP99: bTogether.p99, ratio: isoRatio, roundRatios, flood: flood.requests, rejected, floodCpuSeconds: floodCpu, floodSeconds, floodCores: floodCpu / floodSeconds, idleCpuSeconds: idleCpu, perRejectMs, floorPerRequestMs, floorCores, refusalMicroseconds: refusalUs };
    }

    async function fairnessPart() {
    // 3. Fairness: both tenants ask for the whole capacity of the most accurate variant.
    const fairMs = 8000 * SCALE;
    const fairSpec = (tenant: string) => spec('burst-accurate', `${tenant}-key`, burstPixels, BURST_SAMPLES, 'tta9');
    const fair = await openLoop(origin, [
      { tenant: 'fair-2', spec: fairSpec('fair-2'), rate: () => capacity },
      { tenant: 'fair-1', spec: fairSpec('fair-1'), rate: () => capacity },
    ], fairMs, 21);
    const served = (t: string) => fair.filter((o) => o.tenant === t && o.status === 200 && o.at > fairMs * 0.2).reduce((s, o) => s + o.samples, 0);
    const ratio = served('fair-2') / Math.max(1, served('fair-1'));
    console.log(`\n3. fairness: weights 2:1, both offering ${fmt(capacity)} samples/s to tta9: served ${fmt(served('fair-2'))} vs ${fmt(served('fair-1'))} samples (after the first 20%)`);
    report('served samples, weight 2 ÷ weight 1', fmt(ratio, 3), '2 ± 10%', Math.abs(ratio - 2) <= 0.2);
    results.fairness = { served2: served('fair-2'), served1: served('fair-1'), ratio };
    }
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench/results/slo.json'), JSON.stringify({ date: new Date().toISOString(), quick: args.quick, results, summary: rows }, null, 2) + '\n');
  console.log('\nwritten: bench/results/slo.json');
}

await main();
