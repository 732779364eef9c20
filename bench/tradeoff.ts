// npm run bench:tradeoff — the headline experiment. One machine, one bursty trace (load swinging
// between 0.5× and 3× the capacity of the most accurate variant), two tenants with different SLOs:
//   1. the raw ONNX Runtime ceiling of each variant on the frontier (one thread, batch 64);
//   2. a naive server (one ORT call per request, no batching, no variants, the most accurate model);
//   3. Pareto with `most-accurate`, with `fastest` and with `adaptive`.
// Every figure printed is measured in this run; results go to bench/results/tradeoff.json and
// plots to bench/results/tradeoff-*.svg. A ceiling or a run during which the hypervisor took over
// 3% of the cores' time (steal) is measured again, at most twice (bench/lib/resources.ts); each
// attempt set aside is printed. Options: --seconds N (trace length, default 30); --ceiling N (scale
// the trace to this tta9 ceiling, samples/s, instead of the one measured here).
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadMnist } from '../src/datasets/mnist.js';
import { bursts } from '../src/loadgen/arrivals.js';
import { openLoop } from '../src/loadgen/open-loop.js';
import { Senders } from '../src/loadgen/senders.js';
import { formatTable, lineSvg, perSecond, report, type Report } from '../src/loadgen/report.js';
import type { Outcome } from '../src/loadgen/runner.js';
import { ModelRepository } from '../src/repository/model-repository.js';
import { Planner } from '../src/scheduler/planner.js';
import { hashKey } from '../src/tenancy/tenants.js';
import { ortBaseline } from './lib/ort-baseline.js';
import { startChild, type Child } from './lib/processes.js';
import { meanWindow, STEAL_LIMIT, undisturbed, watchResources, windowBottleneck, windowsOfMisses, type Resources, type Utilisation, type WindowMeans } from './lib/resources.js';
import { fmt } from './lib/format.js';

const ADMIN_TOKEN = 'bench-admin-token';

const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '30' }, ceiling: { type: 'string' } } });
const DURATION_MS = Number(args.seconds) * 1000;
const ROOT = new URL('../..', import.meta.url).pathname;
const CLI = join(ROOT, 'dist/src/cli/main.js');
const ORT_PATH = createRequire(import.meta.url).resolve('onnxruntime-node');
const MODEL = 'mnist-mlp-wide';
const ROWS = 32;
const TENANTS = [
  { id: 'interactive', sloMs: 50, share: 0.6 },
  { id: 'analytics', sloMs: 500, share: 0.4 },
];
const POLICIES = ['most-accurate', 'fastest', 'adaptive'] as const;
/** Connections the generator opens to each server before its warm-up. */
const PRECONNECT = 64;


function buildRepository(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pareto-tradeoff-'));
  const source = join(ROOT, 'models', MODEL);
  const yaml = readFileSync(join(source, 'model.yaml'), 'utf8');
  for (const policy of POLICIES) {
    const name = `${MODEL}-${policy}`;
    cpSync(source, join(dir, name), { recursive: true });
    writeFileSync(join(dir, name, 'model.yaml'), yaml.replace(`name: ${MODEL}`, `name: ${name}`) + `scheduling:\n  policy: ${policy}\n`);
  }
  writeFileSync(join(dir, 'tenants.yaml'), 'tenants:\n' + TENANTS.map((t) => `  - id: ${t.id}\n    keys: ["${hashKey(`${t.id}-key`)}"]\n    models: ["*"]\n    slo: { default: { latency_ms: ${t.sloMs} } }\n`).join(''));
  return dir;
}

async function main(): Promise<void> {
  const repo = buildRepository();
  const { variants } = new ModelRepository(repo).read(`${MODEL}-adaptive`);
  const profiled = variants.filter((v) => v.profile).map((v) => ({ name: v.name, accuracy: v.profile!.accuracy.value, latency: v.profile!.latency.map((l) => ({ batch: l.batch_size, ms: l.p50_ms })), onnxPath: v.onnxPath }));
  const frontier = new Planner(profiled, { policy: 'adaptive', maxBatchSize: 64, maxQueueDelayMs: 0, executors: 1 }).levels.map((l) => profiled.find((p) => p.name === l.variant.name)!);
  const best = frontier[0];
  const digits = loadMnist('test').pixels;
  const results: Record<string, unknown> = {};

  // 1. The physical limit of each frontier variant here: one thread, batch 64, back to back.
  console.log(`bench:tradeoff — ${MODEL}, frontier ${frontier.map((v) => `${v.name} ${(100 * v.accuracy).toFixed(2)}%`).join(' › ')}`);
  const ceilings: Record<string, number> = {};
  for (const v of frontier) {
    const { result, disturbed } = await undisturbed(() => ortBaseline(ORT_PATH, v.onnxPath, { batch: 64, width: 784, threads: 1, durationMs: 2000 }));
    for (const d of disturbed) console.log(`  (measured again: ${fmt(100 * d.stolen, 1)}% of the machine's time stolen; that attempt ${fmt(d.result.samplesPerSecond)} samples/s)`);
    ceilings[v.name] = result.samplesPerSecond;
    console.log(`  raw ONNX Runtime ceiling, ${v.name}: ${fmt(ceilings[v.name])} samples/s`);
  }
  // --ceiling replays the trace of a machine whose ONNX Runtime runs at that speed (the front door
  // then carries that machine's request rate on this one's CPU).
  const capacity = args.ceiling ? Number(args.ceiling) : ceilings[best.name];
  if (!(capacity > 0)) throw new Error(`--ceiling must be a positive number of samples/s, not ${args.ceiling}`);
  results.ceilings = ceilings;

  // The trace: bursts between 0.5× and 3× of the most accurate variant's ceiling, split between the tenants.
  const rate = bursts(0.5 * capacity, 3 * capacity, 3000, 2000, DURATION_MS, 17);
  const streams = (model: string, version?: string) => TENANTS.map((t, i) => ({
    tenant: t.id,
    sloMs: t.sloMs,
    spec: { model, version, key: `${t.id}-key`, pixels: digits.slice(i * ROWS * 784, (i + 1) * ROWS * 784), rows: ROWS },
    rate: (tm: number) => rate(tm) * t.share,
  }));

  /** Resources over a run, its 100 ms windows summed up (they go to the JSON as the means below). */
  type RunResources = Omit<Resources, 'windows'> & { missWindows: { count: number; inMisses: WindowMeans; others: WindowMeans; bottleneck: string | null } };
  const runs: Record<string, { outcomes: Outcome[]; report: Report; resources?: RunResources; stolen: number }> = {};
  const disturbedRuns: Array<{ run: string; stolen: number; sloAttainment: number | null; goodput: number }> = [];
  /** `server`: Pareto's process, whose gauges say which resource limited the run. */
  const run = async (name: string, origin: string, model: string, server?: Child) => {
    // The generator's connections are open before the warm-up and kept for the run, as a client
    // fleet's are in steady state (bench/RESULTS.md: a cold pool's first burst also measured
    // opening ~350 connections, ~1 core of the generator's CPU for 300 ms).
    const attempt = async () => {
      const senders = new Senders();
      await senders.preconnect(origin, PRECONNECT);
      await openLoop(origin, streams(model).map((s) => ({ ...s, rate: () => 0.2 * capacity * (s.tenant === 'interactive' ? 0.6 : 0.4) })), 1000, 99, undefined, senders); // warm-up
      const watch = server && await watchResources(origin, ADMIN_TOKEN, server.process.pid!);
      let startedAt = 0;
      const outcomes = await openLoop(origin, streams(model), DURATION_MS, 5, { onStart: (t) => { startedAt = t; } }, senders);
      await senders.close();
      return { outcomes, startedAt, resources: await watch?.() };
    };
    // A run during which the hypervisor took the cores measures the host, not the system: run again (resources.ts).
    const { result: { outcomes, startedAt, resources }, stolen, disturbed } = await undisturbed(attempt);
    for (const d of disturbed) {
      const o = report(d.result.outcomes, DURATION_MS / 1000).overall;
      console.log(`  ${name}: run again: ${fmt(100 * d.stolen, 1)}% of the machine's time stolen, over ${fmt(100 * STEAL_LIMIT)}% (that run: SLO met ${fmt(100 * (o.sloAttainment ?? 0), 2)}%, goodput ${fmt(o.goodput, 1)} requests/s)`);
      disturbedRuns.push({ run: name, stolen: d.stolen, sloAttainment: o.sloAttainment, goodput: o.goodput });
    }
    runs[name] = { outcomes, report: report(outcomes, DURATION_MS / 1000), stolen };
    console.log(`  ${name}: done (arrival-time error p99 ${fmt(runs[name].report.arrivalErrorP99, 2)} ms; ${fmt(100 * stolen)}% of the machine's time stolen)`);
    if (resources) {
      const pct = (u: Utilisation) => `event loop ${fmt(100 * u.eventLoop)}%, executors ${fmt(100 * u.executors)}%, machine ${fmt(100 * u.machine)}%`;
      console.log(`    over the run: ${pct(resources)}, ${fmt(100 * resources.steal)}% stolen (server ${fmt(resources.serverCores, 2)}, generator ${fmt(resources.generatorCores, 2)} cores)`);
      // The 100 ms windows in which the requests that missed their SLO waited, against the others.
      const missed = outcomes.filter((o) => o.status !== 200 || o.latency > (o.sloMs ?? Infinity));
      const { inMisses, others } = windowsOfMisses(resources.windows, startedAt, missed);
      const cores = (w: WindowMeans) => `machine ${fmt(100 * w.machine)}% busy, ${fmt(100 * w.steal)}% stolen; server ${fmt(w.eventLoopCores + w.otherServerCores, 2)} cores (event loop ${fmt(w.eventLoopCores, 2)}), generator ${fmt(w.generatorCores, 2)}`;
      if (inMisses.length) {
        console.log(`    in the ${inMisses.length} windows of 100 ms where missed requests waited: ${cores(meanWindow(inMisses))}; bottleneck: ${windowBottleneck(inMisses)}`);
        console.log(`    in the other ${others.length}: ${cores(meanWindow(others))}`);
      }
      const { windows: _, ...rest } = resources;
      runs[name].resources = { ...rest, missWindows: { count: inMisses.length, inMisses: meanWindow(inMisses), others: meanWindow(others), bottleneck: inMisses.length ? windowBottleneck(inMisses) : null } };
    }
  };

  // 2. The naive server, then 3. Pareto, each alone on the machine while it is measured.
  // Servers run niced: the overloaded baselines would otherwise take the cores from the generator.
  const naive = await startChild([join(ROOT, 'dist/bench/naive-server.js'), best.onnxPath, String(best.accuracy)], /^http_port=/, 10);
  try { await run('naive', `http://127.0.0.1:${naive.ports.http_port}`, 'naive'); } finally { await naive.stop(); }
  const pareto = await startChild([CLI, 'serve', '--repository', repo, '--tenants', join(repo, 'tenants.yaml'), '--host', '127.0.0.1', '--http-port', '0', '--grpc-port', '0', '--admin-token', ADMIN_TOKEN, '--executors', '1'], /^pareto serving/, 10);
  try {
    for (const policy of POLICIES) await run(`pareto ${policy}`, `http://127.0.0.1:${pareto.ports.http_port}`, `${MODEL}-${policy}`, pareto);
  } finally {
    await pareto.stop();
    rmSync(repo, { recursive: true, force: true });
  }

  // A run whose requests left more than 1 ms late (p99) stands only if being late changed nothing:
  // latency counts from the intended arrival, so crediting each request its own send lag bounds
  // the error; if SLO attainment and goodput move by under 0.5% either way, the figures stand.
  // The runs the targets are measured on must stand; the others are printed marked (†).
  const TARGET_RUNS = ['naive', 'pareto adaptive'];
  const shaky: string[] = [];
  for (const [name, r] of Object.entries(runs)) {
    if (r.report.arrivalErrorP99 <= 1) continue;
    const credited = report(r.outcomes.map((o) => ({ ...o, latency: o.latency - o.sendLag })), DURATION_MS / 1000).overall;
    const o = r.report.overall;
    const dAttain = Math.abs((credited.sloAttainment ?? 0) - (o.sloAttainment ?? 0));
    const dGood = Math.abs(credited.goodput - o.goodput) / Math.max(1e-9, o.goodput);
    console.log(`  ${name}: generator p99 ${fmt(r.report.arrivalErrorP99, 2)} ms late; crediting it back moves SLO attainment by ${fmt(100 * dAttain, 3)} pt and goodput by ${fmt(100 * dGood, 2)}%`);
    if (dAttain > 0.005 || dGood > 0.005) shaky.push(name);
  }
  if (shaky.some((name) => TARGET_RUNS.includes(name))) {
    console.log(`\nThe load generator ran late enough to change the results of ${shaky.join(', ')}; results are not printed.`);
    results.refused = { runs: shaky, arrivalErrorP99: Object.fromEntries(Object.entries(runs).map(([k, r]) => [k, r.report.arrivalErrorP99])) };
  } else {
    console.log(`\ntrace: ${fmt(DURATION_MS / 1000)} s of bursts between ${fmt(0.5 * capacity)} and ${fmt(3 * capacity)} samples/s (0.5× and 3× ${args.ceiling ? 'a given' : `the ${best.name}`} ceiling), ${ROWS} samples per request; tenants ${TENANTS.map((t) => `${t.id} (SLO ${t.sloMs} ms, ${100 * t.share}%)`).join(', ')}\n`);
    const rows = Object.entries(runs).map(([name, r]) => {
      const o = r.report.overall;
      return [shaky.includes(name) ? `${name} †` : name, fmt(o.throughput), fmt(o.p99, 1), o.sloAttainment === null ? '—' : `${fmt(100 * o.sloAttainment, 2)}%`, fmt(o.goodput, 1), o.accuracyServed === null ? '—' : `${fmt(100 * o.accuracyServed, 2)}%`, Object.entries(o.refusals).map(([k, v]) => `${k}×${v}`).join(' ') || '—'];
    });
    const header = ['system', 'samples/s', 'p99 ms', 'SLO met', 'goodput req/s', 'accuracy', 'refused'];
    rows.forEach((r, i) => r.push(`${fmt(Object.values(runs)[i].report.arrivalErrorP99, 2)} ms`));
    header.push('send lag p99');
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    for (const r of [header, widths.map((w) => '-'.repeat(w)), ...rows]) console.log(r.map((c, i) => (i ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  '));
    if (shaky.length) console.log(`† moved by more than 0.5% when each request is credited its send lag (above): a baseline, not measured against a target`);
    const a = runs['pareto adaptive'].report.overall, n = runs.naive.report.overall;
    const ok = (b: boolean) => (b ? 'PASS' : 'FAIL');
    console.log(`\n  ${ok(a.goodput >= 3 * n.goodput)}  adaptive goodput ÷ naive goodput: ${fmt(a.goodput / Math.max(1e-9, n.goodput), 2)}× (target ≥ 3×)`);
    console.log(`  ${ok((a.sloAttainment ?? 0) >= 0.99)}  adaptive SLO attainment: ${fmt(100 * (a.sloAttainment ?? 0), 2)}% (target ≥ 99%)`);
    console.log(`  ${ok(best.accuracy - (a.accuracyServed ?? 0) <= 0.015)}  adaptive accuracy served ${fmt(100 * (a.accuracyServed ?? 0), 2)}% vs ${best.name} ${fmt(100 * best.accuracy, 2)}% (target within 1.5 pt)`);
    console.log(`\nadaptive, per tenant:\n${formatTable(runs['pareto adaptive'].report)}`);
    const series = perSecond(runs['pareto adaptive'].outcomes, DURATION_MS / 1000);
    mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
    const offered = Array.from({ length: Math.ceil(DURATION_MS / 1000) }, (_, s) => rate(s * 1000 + 500));
    writeFileSync(join(ROOT, 'bench/results/tradeoff-latency.svg'), lineSvg('adaptive: p99 latency per second by tenant (dashed: SLO)', 'ms', [...series.p99].map(([name, values]) => ({ name, values })), { refs: TENANTS.map((t) => ({ name: t.id, value: t.sloMs })) }));
    writeFileSync(join(ROOT, 'bench/results/tradeoff-variants.svg'), lineSvg('adaptive: samples/s served by each variant, and the offered load', 'samples/s', [...[...series.variants].map(([name, values]) => ({ name, values })), { name: 'offered', values: offered }]));
    writeFileSync(join(ROOT, 'bench/results/tradeoff-accuracy.svg'), lineSvg('adaptive: accuracy served per second', '%', [{ name: 'adaptive', values: series.accuracy }], { yMin: 95 }));
    results.runs = Object.fromEntries(Object.entries(runs).map(([k, r]) => [k, { ...r.report, resources: r.resources, ...(shaky.includes(k) ? { movedByGeneratorLag: true } : {}) }]));
    results.disturbedRuns = disturbedRuns;
    results.frontier = frontier.map((v) => ({ name: v.name, accuracy: v.accuracy }));
    results.trace = { seconds: DURATION_MS / 1000, low: 0.5 * capacity, high: 3 * capacity, rows: ROWS, tenants: TENANTS, ...(args.ceiling ? { givenCeiling: capacity } : {}) };
  }
  // A withheld run goes to a file of its own: it must not replace the last run that stood.
  const file = results.refused ? 'tradeoff-withheld.json' : 'tradeoff.json';
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench/results', file), JSON.stringify({ date: new Date().toISOString(), ...results }, null, 2) + '\n');
  console.log(`\nwritten: bench/results/${file}${results.refused ? '' : ' and tradeoff-*.svg'}`);
}

await main();
