// npm run bench:door-share — what sharing the front door by weight within a priority does for a
// tenant whose peer, at the same priority, floods. Two servers on the same tenants, one sharing the
// event loop by weight (the default) and one taking door work first come within a priority
// (--no-door-share); every cell runs on both in each round, in alternating order.
//   A: globex (normal priority, weight 1, 2,000 samples/s) sends 1-row requests to mnist-mlp-wide:
//      gRPC at 80% of its quota (h2load --rps) and flooding (64 streams of one connection); binary
//      REST at 80% of its quota (bench/lib/flood.ts) and flooding (wrk, 64 connections); its
//      generators at nice 19.
//   P: peer (normal priority, weight 1, 20 ms SLO on mnist-mlp) sends a steady 100 requests/s of 1
//      row, and a probe asks /v2/health/live 50 times a second.
// Per cell and server: P's p50 and p99 (pooled over the rounds; P alone on each server is the
// reference), and each tenant's front-door seconds from pareto_front_door_cpu_seconds_total.
// Then weights: two tenants of one priority, weights 2 and 1, each flooding its own model with
// 1-row binary REST (wrk, 64 connections each, quotas far above what the loop can take): each
// one's answers a second and front-door seconds on both servers, from 3 s into the floods.
// Options: --quick (one round of 4 s per cell).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { loadMnist } from '../src/datasets/mnist.js';
import { onPath } from '../src/on-path.js';
import type { Outcome } from '../src/loadgen/runner.js';
import { hashKey } from '../src/tenancy/tenants.js';
import { metricSamples } from '../src/telemetry/prometheus-text.js';
import { startChild, startFlood, type Child } from './lib/processes.js';
import { grpcBodyFile, runH2load } from './lib/h2load.js';
import { bodyFile, runWrk } from './lib/wrk.js';
import { serverCores, undisturbed } from './lib/resources.js';
import { measureSteady, summarizeSteady } from './lib/steady-stream.js';
import { fmt } from './lib/format.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const { values: args } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
const ROUNDS = args.quick ? 1 : 3;
const CELL_MS = args.quick ? 4000 : 8000;
const A_KEY = 'demo-globex-key';
const P_KEY = 'bench-peer-key';
const A_QUOTA = 2000;
const A_MODEL = 'mnist-mlp-wide';

if (!onPath('wrk') || !onPath('h2load')) {
  console.error('bench:door-share needs wrk and h2load (run scripts/install-wrk.sh and scripts/install-h2load.sh as root)');
  process.exit(1);
}

const digits = loadMnist('test').pixels;
const scratch = mkdtempSync(join(tmpdir(), 'pareto-door-share-'));
const tenants = join(scratch, 'tenants.yaml');
writeFileSync(tenants, `${readFileSync(join(ROOT, 'tenants.yaml'), 'utf8').trimEnd()}
  # globex's peer: its priority and weight, a tight SLO.
  - id: peer
    keys: ["${hashKey(P_KEY)}"]
    models: ["*"]
    rate_limit: { samples_per_second: 5000, burst: 500 }
    max_concurrency: 256
    weight: 1
    priority: normal
    slo:
      default: { latency_ms: 20 }
  # Two floods of one priority and different weights.
  - { id: heavy, keys: ["${hashKey('bench-heavy-key')}"], models: ["*"], weight: 2, priority: normal, max_concurrency: 256, rate_limit: { samples_per_second: 1000000, burst: 100000 } }
  - { id: light, keys: ["${hashKey('bench-light-key')}"], models: ["*"], weight: 1, priority: normal, max_concurrency: 256, rate_limit: { samples_per_second: 1000000, burst: 100000 } }
`);

/** Front-door seconds charged to each tenant so far. */
async function doorSeconds(origin: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${origin}/metrics`)).text();
  return Object.fromEntries(metricSamples(text, 'pareto_front_door_cpu_seconds_total').map((s) => [s.labels.tenant, s.value]));
}

/** Requests answered to each tenant so far. */
async function answered(origin: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${origin}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const s of metricSamples(text, 'pareto_inference_request_total')) if (s.labels.outcome === 'success') out[s.labels.tenant] = (out[s.labels.tenant] ?? 0) + s.value;
  return out;
}

/** Floods run this long before they are measured: the door's shares follow use over the last seconds. */
const SETTLE_MS = 3000;

/** heavy (weight 2) and light (weight 1) flooding at once, measured for `ms` once settled: answers a second and door seconds of each. */
async function weights(origin: string, ms: number) {
  const flood = (key: string, model: string) => runWrk(scratch, `${origin}/v2/models/${model}/infer`, bodyFile(scratch, digits, 1, false), { seconds: (SETTLE_MS + ms) / 1000, connections: 64, key, niceness: 19 });
  const floods = Promise.all([flood('bench-heavy-key', 'mnist-mlp'), flood('bench-light-key', A_MODEL)]);
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const [a0, d0] = [await answered(origin), await doorSeconds(origin)];
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const [a1, d1] = [await answered(origin), await doorSeconds(origin)];
  const seconds = (performance.now() - t0) / 1000;
  await floods;
  const of = (t: string) => ({ perSecond: ((a1[t] ?? 0) - (a0[t] ?? 0)) / seconds, doorSeconds: (d1[t] ?? 0) - (d0[t] ?? 0) });
  return { heavy: of('heavy'), light: of('light') };
}

type Cell = { name: string; start: (server: Child, origin: string, seed: number) => Promise<() => Promise<unknown>> };
const seconds = Math.ceil(CELL_MS / 1000) + 2;
const cells: Cell[] = [
  { name: 'A at 80% of its quota, 1-row gRPC', start: async (server) => {
    const run = runH2load(`http://127.0.0.1:${server.ports.grpc_port}`, grpcBodyFile(scratch, digits, 1, A_MODEL), { seconds, streams: 64, perSecond: 0.8 * A_QUOTA, key: A_KEY, niceness: 19 });
    return () => run;
  } },
  { name: 'A flooding (64 in flight), 1-row gRPC', start: async (server) => {
    const run = runH2load(`http://127.0.0.1:${server.ports.grpc_port}`, grpcBodyFile(scratch, digits, 1, A_MODEL), { seconds, streams: 64, key: A_KEY, niceness: 19 });
    return () => run;
  } },
  { name: 'A at 80% of its quota, 1-row binary REST', start: async (_server, origin, seed) => {
    const flood = await startFlood(['--origin', origin, '--model', A_MODEL, '--key', A_KEY, '--rate', String(0.8 * A_QUOTA), '--ms', String(seconds * 1000), '--seed', String(seed), '--rows', '1'], 19);
    return () => flood.done;
  } },
  { name: 'A flooding (wrk, 64 conns), 1-row binary REST', start: async (_server, origin) => {
    const run = runWrk(scratch, `${origin}/v2/models/${A_MODEL}/infer`, bodyFile(scratch, digits, 1, false), { seconds, connections: 64, key: A_KEY, niceness: 19 });
    return () => run;
  } },
];

const serverArgs = (share: boolean) => [join(ROOT, 'dist/src/cli/main.js'), 'serve', '--tenants', tenants, '--repository', join(ROOT, 'models'),
  '--http-port', '0', '--grpc-port', '0', '--log-level', 'warn', '--open-metrics', ...(share ? [] : ['--no-door-share'])];
const servers = [
  { label: 'shared by weight', server: await startChild(serverArgs(true), /^pareto serving/) },
  { label: 'first come', server: await startChild(serverArgs(false), /^pareto serving/) },
];
const peer = { key: P_KEY, model: 'mnist-mlp', rate: 100, sloMs: 20, pixels: digits };
let seed = 500;
const pooled = servers.map(() => ({ alone: [] as Outcome[], cells: cells.map(() => ({ p: [] as Outcome[], door: [] as Array<Record<string, number>>, cores: [] as number[] })) }));
const stolen: number[] = [];
const weighted: Array<Array<Awaited<ReturnType<typeof weights>>>> = servers.map(() => []);

try {
  console.log(`door share: P (peer, normal, 20 ms SLO) at 100 requests/s beside A (globex, normal, quota ${fmt(A_QUOTA)} samples/s) to ${A_MODEL}; ${ROUNDS} round(s) of ${CELL_MS / 1000} s per cell on each server`);
  for (const { server } of servers) {
    const origin = `http://127.0.0.1:${server.ports.http_port}`;
    await measureSteady(origin, peer, 3000, ++seed); // warm-up: JIT and connections
  }
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? [0, 1] : [1, 0];
    for (const s of order) {
      const origin = `http://127.0.0.1:${servers[s].server.ports.http_port}`;
      pooled[s].alone.push(...(await measureSteady(origin, peer, CELL_MS, ++seed)));
    }
    for (const [c, cell] of cells.entries()) {
      for (const s of order) {
        const { server, label } = servers[s];
        const origin = `http://127.0.0.1:${server.ports.http_port}`;
        const { result, stolen: st } = await undisturbed(async () => {
          const door0 = await doorSeconds(origin);
          const finished = await cell.start(server, origin, ++seed);
          await new Promise((r) => setTimeout(r, 1000));
          const cpu = serverCores(server.process.pid!);
          const p = await measureSteady(origin, peer, CELL_MS, ++seed);
          const cores = cpu();
          await finished();
          const door1 = await doorSeconds(origin);
          const door = Object.fromEntries(Object.keys(door1).map((t) => [t, door1[t] - (door0[t] ?? 0)]));
          return { p, door, cores };
        }, (r) => r.cores.stolen);
        stolen.push(st);
        const one = summarizeSteady(result.p);
        console.log(`  round ${round + 1}, ${cell.name}, ${label}: P p50 ${fmt(one.p50, 2)} ms, p99 ${fmt(one.p99, 2)} ms, ${JSON.stringify(one.statuses)}; door seconds globex ${fmt(result.door.globex ?? 0, 2)}, peer ${fmt(result.door.peer ?? 0, 2)}; server event loop ${fmt(result.cores.main, 2)} cores; ${fmt(100 * st)}% stolen`);
        pooled[s].cells[c].p.push(...result.p);
        pooled[s].cells[c].door.push(result.door);
        pooled[s].cells[c].cores.push(result.cores.main);
      }
    }
  }
  console.log(`\nweights: heavy (weight 2) to mnist-mlp and light (weight 1) to ${A_MODEL}, both normal priority, each flooding (wrk, 64 conns, 1-row binary); ${ROUNDS} round(s) of ${CELL_MS / 1000} s on each server, measured from ${SETTLE_MS / 1000} s into the floods`);
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of round % 2 === 0 ? [0, 1] : [1, 0]) {
      const origin = `http://127.0.0.1:${servers[s].server.ports.http_port}`;
      const w = await weights(origin, CELL_MS);
      weighted[s].push(w);
      console.log(`  round ${round + 1}, ${servers[s].label}: heavy ${fmt(w.heavy.perSecond)} answers/s, ${fmt(w.heavy.doorSeconds, 2)} door s; light ${fmt(w.light.perSecond)} answers/s, ${fmt(w.light.doorSeconds, 2)} door s`);
    }
  }
} finally {
  await Promise.all(servers.map(({ server }) => server.stop()));
  rmSync(scratch, { recursive: true, force: true });
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
console.log(`\n| A beside P | P p99, ${servers[0].label} | P p99, ${servers[1].label} | ratio | P p50 (shared / first come) | globex's part of the door (shared) |\n|---|---|---|---|---|---|`);
const alone = pooled.map((x) => summarizeSteady(x.alone));
console.log(`| P alone | ${fmt(alone[0].p99, 2)} ms | ${fmt(alone[1].p99, 2)} ms | ${fmt(alone[0].p99 / alone[1].p99, 2)} | ${fmt(alone[0].p50, 2)} / ${fmt(alone[1].p50, 2)} ms | |`);
const results = cells.map((cell, c) => {
  const [on, off] = pooled.map((x) => summarizeSteady(x.cells[c].p));
  const door = pooled[0].cells[c].door;
  const aPart = sum(door.map((d) => d.globex ?? 0)) / Math.max(1e-9, sum(door.map((d) => (d.globex ?? 0) + (d.peer ?? 0))));
  console.log(`| ${cell.name} | ${fmt(on.p99, 2)} ms | ${fmt(off.p99, 2)} ms | ${fmt(on.p99 / off.p99, 2)} | ${fmt(on.p50, 2)} / ${fmt(off.p50, 2)} ms | ${fmt(100 * aPart)}% |`);
  return { cell: cell.name, shared: on, firstCome: off, globexDoorPart: aPart, door: pooled.map((x) => x.cells[c].door), eventLoopCores: pooled.map((x) => x.cells[c].cores) };
});
const split = weighted.map((runs) => {
  const heavy = sum(runs.map((r) => r.heavy.doorSeconds)), light = sum(runs.map((r) => r.light.doorSeconds));
  return { heavyDoorPart: heavy / Math.max(1e-9, heavy + light), answersRatio: sum(runs.map((r) => r.heavy.perSecond)) / Math.max(1e-9, sum(runs.map((r) => r.light.perSecond))) };
});
console.log(`\n| weights 2 : 1, both flooding | heavy's part of the door | heavy : light answers |\n|---|---|---|`);
for (const [s, x] of split.entries()) console.log(`| ${servers[s].label} | ${fmt(100 * x.heavyDoorPart)}% (its weight: 67%) | ${fmt(x.answersRatio, 2)} |`);
console.log(`\nmost of the machine's time stolen in one attempt: ${fmt(100 * Math.max(...stolen), 1)}%`);
mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
const file = args.quick ? 'door-share-quick.json' : 'door-share.json';
writeFileSync(join(ROOT, 'bench/results', file), JSON.stringify({ rounds: ROUNDS, cellMs: CELL_MS, alone, results, weights: servers.map((x, i) => ({ server: x.label, runs: weighted[i], ...split[i] })) }, null, 2));
console.log(`written: bench/results/${file}`);
