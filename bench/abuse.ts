// npm run bench:abuse — the front door against what clients send, measured in one run on the real
// server. The server has the machine's cores; the noisy tenant's generators run at the lowest CPU
// priority (nice 19) and the process that measures B at a raised one, so that what B sees is the
// server's doing, not a generator's. (Pinned to one core of two, the server's event loop,
// executor and decoder shared it, and B's p99 beside any flood read 20–70 ms even when the flood
// went to a bare node:http server instead of Pareto: the loopback traffic alone did that.)
//   1. isolation: tenant A (globex: 2,000 samples/s, weight 1) sends 1- and 32-row requests, JSON,
//      binary and gRPC, to B's model and to another, within its quota (an open-loop process at 80%
//      of it: Poisson arrivals from bench/lib/flood.ts for REST, h2load at a constant rate for
//      gRPC) and far past it (64 in flight, closed loop: wrk's 64 connections for REST, 64 streams
//      of one h2load connection for gRPC, as one channel), while B (acme: 20 ms SLO, high
//      priority) sends a steady 100 requests/s of 1 row and a probe asks /v2/health/live 50 times a
//      second. Targets per cell: B's p99 ≤ 1.5× its p99 alone, B's 504s ≤ 1%, liveness p99 ≤ 20 ms.
//      Every cell runs once per round (3 rounds) and its rounds are pooled; B alone is measured
//      between them (after a warm-up) and pooled likewise.
//      Controls: each kind of load at the rate A reached in its cells, sent to a bare server
//      instead (bench/echo-server.ts, bench/grpc-echo-server.ts), B measured against Pareto
//      meanwhile: the machine's own share of B's tail, which no design of Pareto's front door can
//      remove. Each cell prints its control's ratio beside its own, and its batches' thread hops
//      over 2.5 ms (pareto_executor_handoff_seconds): whether B's tail waited there.
//   2. nested JSON: 8 MB and 64 MB bodies of `[`: the answer, and the longest a liveness probe
//      (every 5 ms) waited meanwhile (target: 400, ≤ 100 ms).
//   3. held bodies: 30 connections on one key each send 60 MB of a declared 64 MB and stop;
//   4. 24 concurrent 60 MB gRPC ModelInfer messages with no key. Targets: RSS grows by ≤ the
//      tenant's body budget + 128 MB, returns near its baseline after, and B is served throughout.
// A round, a window of B alone or an attack during which the hypervisor took over 3% of the cores'
// time (steal) while B was measured is measured again, at most twice (bench/lib/resources.ts);
// each attempt set aside is printed and kept in the JSON.
// Options: --quick (shorter cells), --only isolation,nested,held,grpc, --cells gRPC,JSON (only the
// isolation cells whose name contains one of these; split at commas, so a part cannot span the
// comma inside "flooding (wrk, 64 conns)").
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { loadMnist } from '../src/datasets/mnist.js';
import { onPath } from '../src/on-path.js';
import { runClosedLoop, type Outcome } from '../src/loadgen/runner.js';
import { Senders } from '../src/loadgen/senders.js';
import { rssMiB, startChild, startFlood, startHelper, type Child } from './lib/processes.js';
import { median } from './lib/stats.js';
import { bodyFile, runWrk, type BodyFile } from './lib/wrk.js';
import { grpcBodyFile, restArgs, runH2load, runH2loadArgs } from './lib/h2load.js';
import { livenessProbe } from './lib/liveness-probe.js';
import { serverCores, STEAL_LIMIT, undisturbed } from './lib/resources.js';
import { measureSteady, summarizeSteady, tailText, type SteadySummary } from './lib/steady-stream.js';
import { metricSamples } from '../src/telemetry/prometheus-text.js';
import { fmt } from './lib/format.js';

const { values: args } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' }, cells: { type: 'string' } } });
const runs = (part: string) => !args.only || args.only.split(',').includes(part);
const ROOT = new URL('../..', import.meta.url).pathname;
const CELL_MS = args.quick ? 3000 : 10_000;
const ROUNDS = args.quick ? 1 : 3;
const WARM_MS = args.quick ? 2000 : 5000;
/** A window of B alone before every this many cells. */
const ALONE_EVERY = 4;
const A_KEY = 'demo-globex-key';
const B_KEY = 'demo-acme-key';
const A_QUOTA = 2000;
const B_RATE = 100;
const MB = 1_000_000;
const MiB = 1024 * 1024;
const TENANT_BODY_BUDGET = 256 * MiB;

const rows: string[][] = [];
const verdict = (name: string, value: string, target: string, ok: boolean) => {
  rows.push([name, value, target, ok ? 'PASS' : 'FAIL']);
  console.log(`  ${ok ? 'PASS' : 'FAIL'}  ${name}: ${value} (target ${target})`);
};

/** Attempts measured again because the hypervisor took more than STEAL_LIMIT of the cores meanwhile. */
const disturbedAttempts: Array<{ what: string; stolen: number; result: string }> = [];

/** `measure`, again while the hypervisor disturbs it (bench/lib/resources.ts); each attempt set aside is printed. */
async function steadily<T>(what: string, measure: () => Promise<T>, describe: (r: T) => string, stolenIn?: (r: T) => number): Promise<{ result: T; stolen: number }> {
  const { result, stolen, disturbed } = await undisturbed(measure, stolenIn);
  for (const d of disturbed) {
    console.log(`  (${what}: measured again: ${fmt(100 * d.stolen, 1)}% of the machine's time stolen, over ${fmt(100 * STEAL_LIMIT)}%; that attempt: ${describe(d.result)})`);
    disturbedAttempts.push({ what, stolen: d.stolen, result: describe(d.result) });
  }
  return { result, stolen };
}

const digits = loadMnist('test').pixels;
const scratch = mkdtempSync(join(tmpdir(), 'pareto-abuse-'));

/** B's steady stream and a liveness probe for `ms`. */
const measureB = (origin: string, ms: number, seed: number) => measureSteady(origin, { key: B_KEY, model: 'mnist-mlp', rate: B_RATE, sloMs: 20, pixels: digits }, ms, seed);
const summarizeB = summarizeSteady;
type BSummary = SteadySummary;

const scrape = async (origin: string) => (await fetch(`${origin}/metrics`)).text();

/**
 * The server's longest event-loop delay, ms, since the last scrape (the metric resets on each):
 * tells a stall of the server from one of the machine or of the process measuring B.
 */
const lagMaxMsOf = (text: string) => 1000 * (metricSamples(text, 'pareto_nodejs_eventloop_lag_max_seconds')[0]?.value ?? NaN);
const serverLagMaxMs = async (origin: string) => lagMaxMsOf(await scrape(origin));

/**
 * The server's counters so far: thread hops between the event loop and the executors and how many
 * took over 2.5 ms (pareto_executor_handoff_seconds), and the event loop's full collections (a
 * major GC stops it: pareto_nodejs_gc_duration_seconds).
 */
interface Counters { to: number; toSlow: number; from: number; fromSlow: number; majorGcs: number; majorGcMs: number }

function countersOf(text: string): Counters {
  const of = (metric: string, direction: string, le?: string) =>
    metricSamples(text, metric).find((s) => s.labels.direction === direction && (le === undefined || s.labels.le === le))?.value ?? 0;
  const count = (direction: string) => of('pareto_executor_handoff_seconds_count', direction);
  const slow = (direction: string) => count(direction) - of('pareto_executor_handoff_seconds_bucket', direction, '0.0025');
  const gc = (metric: string) => metricSamples(text, metric).find((s) => s.labels.kind === 'major')?.value ?? 0;
  return { to: count('to_executor'), toSlow: slow('to_executor'), from: count('from_executor'), fromSlow: slow('from_executor'), majorGcs: gc('pareto_nodejs_gc_duration_seconds_count'), majorGcMs: 1000 * gc('pareto_nodejs_gc_duration_seconds_sum') };
}

const KEYS = ['to', 'toSlow', 'from', 'fromSlow', 'majorGcs', 'majorGcMs'] as const;
const eachCounter = (value: (k: (typeof KEYS)[number]) => number) => Object.fromEntries(KEYS.map((k) => [k, value(k)])) as unknown as Counters;
const countersBetween = (a: Counters, b: Counters) => eachCounter((k) => b[k] - a[k]);
const addCounters = (a: Counters, b: Counters) => eachCounter((k) => a[k] + b[k]);
const NO_COUNTS = eachCounter(() => 0);
const countersText = (h: Counters) => `hops over 2.5 ms: ${fmt(h.toSlow)} of ${fmt(h.to)} to an executor, ${fmt(h.fromSlow)} of ${fmt(h.from)} back; event loop's major GCs ${fmt(h.majorGcs)} (${fmt(h.majorGcMs, 1)} ms)`;

/** A's requests so far by outcome ("success" or the HTTP status), from the server's metrics: h2load sees no gRPC status. */
async function aOutcomes(origin: string): Promise<Record<string, number>> {
  const text = await scrape(origin);
  const out: Record<string, number> = {};
  for (const s of metricSamples(text, 'pareto_inference_request_total')) {
    if (s.labels.tenant === 'globex') out[s.labels.outcome] = (out[s.labels.outcome] ?? 0) + s.value;
  }
  return out;
}

/** A's flood: wrk at the lowest CPU priority, a noisy neighbour and not the instrument (the process
 * that measures B shares its core, and runs at a raised priority). */
const wrkFlood = (url: string, body: BodyFile, seconds: number, connections: number) => runWrk(scratch, url, body, { seconds, connections, key: A_KEY, niceness: 19 });

/** Samples RSS of `pid` every 50 ms until stopped: its peak. */
function rssPeak(pid: number): { stop(): number } {
  let peak = rssMiB(pid);
  const timer = setInterval(() => { peak = Math.max(peak, rssMiB(pid)); }, 50);
  return { stop: () => { clearInterval(timer); return Math.max(peak, rssMiB(pid)); } };
}

/** Waits until RSS stops falling (three readings a second apart within 2 MiB), at most `ms`. */
async function settledRss(pid: number, ms: number): Promise<number> {
  const until = performance.now() + ms;
  let last = rssMiB(pid);
  let steady = 0;
  while (performance.now() < until && steady < 3) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = rssMiB(pid);
    steady = Math.abs(now - last) < 2 ? steady + 1 : 0;
    last = now;
  }
  return last;
}

async function isolation(origin: string) {
  console.log(`\n1. isolation: B (acme, 20 ms SLO) at ${B_RATE} requests/s beside A (globex, quota ${fmt(A_QUOTA)} samples/s); ${ROUNDS} round(s) of ${CELL_MS / 1000} s per cell`);
  // Both ends warm first: B's p50 alone fell from 3.5 to 2.0 ms over its first 40 s (JIT), and a
  // cold first window made the reference.
  const warm = new Senders(8);
  try {
    const send = warm.rest(origin, { model: 'mnist-mlp', key: B_KEY, pixels: digits.slice(0, 784), rows: 1 }, true);
    await runClosedLoop([{ tenant: 'b', samples: 1, send, concurrency: 4 }], WARM_MS);
  } finally {
    await warm.close();
  }
  // This machine stalls in episodes (one every 20–40 s, each ~10 of B's requests over 8 ms), so
  // the p99 of one 8 s window of B alone was over 1.5× the median window's in 21–29% of windows
  // (24 s windows: none). Each cell is therefore measured in every round, its rounds pooled, and
  // B alone likewise, in windows spread between the cells; the reference is the pooled p99.
  const cellNames: Array<{ name: string; load: 'quota' | 'flood'; rows: number; encoding: 'binary' | 'JSON' | 'gRPC'; model: string }> = [];
  for (const load of ['quota', 'flood'] as const) {
    for (const rowsPerRequest of [1, 32]) {
      for (const encoding of ['binary', 'JSON', 'gRPC'] as const) {
        for (const model of ['mnist-mlp', 'mnist-mlp-wide']) {
          const flood = encoding === 'gRPC' ? 'flooding (64 in flight)' : 'flooding (wrk, 64 conns)';
          const name = `A ${load === 'quota' ? 'at 80% of its quota' : flood}, ${rowsPerRequest}-row ${encoding} to ${model === 'mnist-mlp' ? "B's model" : 'another model'}`;
          if (!args.cells || args.cells.split(',').some((part) => name.includes(part))) cellNames.push({ name, load, rows: rowsPerRequest, encoding, model });
        }
      }
    }
  }
  const alone: Outcome[][] = [];
  const samples = cellNames.map(() => ({ b: [] as Outcome[], aSamplesPerSecond: [] as number[], aStatuses: [] as Array<Record<string, number>>, serverLagMaxMs: [] as number[], counts: [] as Counters[], serverCores: [] as Array<{ main: number; others: number; stolen: number }> }));
  let seed = 100;
  /**
   * B once A's flood has run a second, with the server's longest event-loop delay and its CPU
   * (cores, on the event loop and on its other threads: decoders, executors) meanwhile.
   */
  const measureBeside = async (bSeed: number) => {
    await new Promise((r) => setTimeout(r, 1000));
    const before = countersOf(await scrape(origin)); // and the lag's maximum starts again
    const cpu = serverCores(server.process.pid!);
    const b = await measureB(origin, CELL_MS, bSeed);
    // Over the time measured, which runs a little past the window while B's last answers come in.
    const cores = cpu();
    const after = await scrape(origin);
    return { b, serverLag: lagMaxMsOf(after), cores, counts: countersBetween(before, countersOf(after)) };
  };
  /** One round of a cell: A's load and B beside it. */
  const measureCell = async (cell: (typeof cellNames)[number]) => {
    if (cell.encoding === 'gRPC') {
      const before = await aOutcomes(origin);
      const seconds = Math.ceil(CELL_MS / 1000) + 2;
      const flood = runH2load(`http://127.0.0.1:${server.ports.grpc_port}`, grpcBodyFile(scratch, digits, cell.rows, cell.model),
        { seconds, streams: 64, perSecond: cell.load === 'quota' ? (0.8 * A_QUOTA) / cell.rows : undefined, key: A_KEY, niceness: 19 });
      const beside = await measureBeside(++seed);
      const result = await flood;
      const after = await aOutcomes(origin);
      const aStatuses: Record<string, number> = {};
      for (const [outcome, n] of Object.entries(after)) if (n > (before[outcome] ?? 0)) aStatuses[outcome] = n - (before[outcome] ?? 0);
      return { ...beside, aStatuses, aSendLagP99: undefined, generatorCores: result.cpuSeconds / seconds, sent: (result.calls * cell.rows) / seconds };
    }
    if (cell.load === 'quota') {
      const flood = await startFlood(['--origin', origin, '--model', cell.model, '--key', A_KEY, '--rate', String(0.8 * A_QUOTA), '--ms', String(CELL_MS + 2000), '--seed', String(++seed), '--rows', String(cell.rows), ...(cell.encoding === 'JSON' ? ['--json'] : [])], 19);
      const beside = await measureBeside(++seed);
      const result = await flood.done;
      // Its send lag says whether it kept its rate inside B's window (a late generator sends less there and more after).
      return { ...beside, aStatuses: result.statuses, aSendLagP99: result.sendLagP99, generatorCores: undefined, sent: (result.requests * cell.rows) / ((CELL_MS + 2000) / 1000) };
    }
    const flood = wrkFlood(`${origin}/v2/models/${cell.model}/infer`, bodyFile(scratch, digits, cell.rows, cell.encoding === 'JSON'), Math.ceil(CELL_MS / 1000) + 2, 64);
    const beside = await measureBeside(++seed);
    const result = await flood;
    return { ...beside, sent: result.perSecond * cell.rows, aStatuses: { '200': result.requests - result.non2xx, 'refused': result.non2xx } as Record<string, number>, aSendLagP99: undefined, generatorCores: result.cpuSeconds / (Math.ceil(CELL_MS / 1000) + 2) };
  };
  const bOf = (b: Outcome[]) => { const one = summarizeB(b); return `B p50 ${fmt(one.p50, 2)} ms, p99 ${fmt(one.p99, 2)} ms, statuses ${JSON.stringify(one.statuses)}; liveness p99 ${fmt(one.liveP99, 2)} ms; B's send lag p99 ${fmt(one.sendLagP99, 2)} ms; B's ${tailText(one.tail)}`; };
  const aloneWindow = async () => alone.push((await steadily('B alone', () => measureB(origin, CELL_MS, ++seed), bOf)).result);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, cell] of cellNames.entries()) {
      if (i % ALONE_EVERY === 0) await aloneWindow();
      const { result: { b, serverLag, cores, counts, sent, aStatuses, aSendLagP99, generatorCores } } = await steadily(`round ${round + 1}, ${cell.name}`, () => measureCell(cell), (r) => bOf(r.b), (r) => r.cores.stolen);
      console.log(`  round ${round + 1}, ${cell.name}: A sent ${fmt(sent)} samples/s (${fmt(sent / A_QUOTA, 1)}× quota) ${JSON.stringify(aStatuses)}${aSendLagP99 === undefined ? '' : `, its send lag p99 ${fmt(aSendLagP99, 1)} ms`}${generatorCores === undefined ? '' : `, its generator ${fmt(generatorCores, 2)} cores`}; ${bOf(b)}; server event loop's longest delay ${fmt(serverLag, 0)} ms; ${countersText(counts)}; server cores ${fmt(cores.main, 2)} event loop + ${fmt(cores.others, 2)} other threads; ${fmt(100 * cores.stolen)}% of the machine's time stolen`);
      samples[i].b.push(...b);
      samples[i].counts.push(counts);
      samples[i].aSamplesPerSecond.push(sent);
      samples[i].aStatuses.push(aStatuses);
      samples[i].serverLagMaxMs.push(serverLag);
      samples[i].serverCores.push(cores);
    }
  }
  await aloneWindow();
  // Controls: each kind of load the cells sent (load, rows, encoding), at the rate A's requests
  // reached there (the larger of its two models' medians), sent to a bare server instead (REST:
  // fastify, bench/echo-server.ts; gRPC: node:http2, bench/grpc-echo-server.ts), B measured
  // against Pareto meanwhile. What B loses there is the machine's doing (the generator, the
  // loopback traffic, a second server's CPU), the floor under any design of Pareto's front door
  // here; not judged against the target. Closed loop, a bare server answers 10–30× the calls that
  // Pareto, pacing A's refusals, does: so the floods are sent at A's rate by h2load (wrk has no
  // rate), and the REST loads within quota by the cells' own generator.
  const controls: Array<{ name: string; load: 'quota' | 'flood'; rows: number; encoding: 'binary' | 'JSON' | 'gRPC'; requestsPerSecond: number; b: BSummary }> = [];
  const kinds = new Map(cellNames.map((c) => [`${c.load} ${c.rows} ${c.encoding}`, c]));
  for (const { load, rows: rowsPerRequest, encoding } of kinds.values()) {
    const matching = cellNames.flatMap((c, i) => (c.load === load && c.rows === rowsPerRequest && c.encoding === encoding ? [median(samples[i].aSamplesPerSecond)] : []));
    const perSecond = Math.max(...matching) / rowsPerRequest;
    const name = `control: A ${load === 'quota' ? 'at 80% of its quota' : 'flooding'}, ${rowsPerRequest}-row ${encoding}, ${fmt(perSecond)} requests/s to a bare server`;
    const b: Outcome[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const { result } = await steadily(`round ${round + 1}, ${name}`, async () => {
        const seconds = Math.ceil(CELL_MS / 1000) + 2;
        const bare = encoding === 'gRPC'
          ? await startChild([join(ROOT, 'dist/bench/grpc-echo-server.js'), String(rowsPerRequest)], /^grpc_port=/, 19)
          : await startChild([join(ROOT, 'dist/bench/echo-server.js'), '64'], /^http_port=/, 19);
        try {
          const bareOrigin = `http://127.0.0.1:${encoding === 'gRPC' ? bare.ports.grpc_port : bare.ports.http_port}`;
          const flood = encoding === 'gRPC'
            ? runH2load(bareOrigin, grpcBodyFile(scratch, digits, rowsPerRequest, 'mnist-mlp'), { seconds, streams: 64, perSecond, key: A_KEY, niceness: 19 })
            : load === 'quota'
              ? startFlood(['--origin', bareOrigin, '--model', 'mnist-mlp', '--key', A_KEY, '--rate', String(perSecond * rowsPerRequest), '--ms', String(seconds * 1000), '--seed', String(++seed), '--rows', String(rowsPerRequest), ...(encoding === 'JSON' ? ['--json'] : [])], 19).then((f) => f.done)
              : runH2loadArgs([`-D${seconds}`, ...restArgs(`${bareOrigin}/v2/models/mnist-mlp/infer`, bodyFile(scratch, digits, rowsPerRequest, encoding === 'JSON'), { connections: 64, perSecond, key: A_KEY })], 19);
          const beside = await measureBeside(++seed);
          await flood;
          return beside;
        } finally {
          await bare.stop();
        }
      }, (r) => bOf(r.b), (r) => r.cores.stolen);
      b.push(...result.b);
    }
    controls.push({ name, load, rows: rowsPerRequest, encoding, requestsPerSecond: perSecond, b: summarizeB(b) });
  }
  const windows = alone.map(summarizeB);
  const aloneAll = summarizeB(alone.flat());
  const reference = aloneAll.p99;
  console.log(`  B alone, ${windows.length} windows pooled (${aloneAll.requests} requests): p50 ${fmt(aloneAll.p50, 2)} ms, p99 ${fmt(reference, 2)} ms (the reference); one window's p99 from ${fmt(Math.min(...windows.map((w) => w.p99)), 2)} to ${fmt(Math.max(...windows.map((w) => w.p99)), 2)} ms`);
  for (const c of controls) console.log(`  ${c.name}: B p50 ${fmt(c.b.p50, 2)} ms, p99 ${fmt(c.b.p99, 2)} ms (${fmt(c.b.p99 / reference, 2)}× alone), liveness p99 ${fmt(c.b.liveP99, 2)} ms`);
  const cells = cellNames.map((cell, i) => {
    const b = summarizeB(samples[i].b);
    const ok = b.p99 <= 1.5 * reference && b.deadline504 <= 0.01 && b.liveP99 <= 20 && b.lost === 0;
    // The control of the same load, rows and encoding, where there is one: how far above the machine's floor the cell is.
    const control = controls.find((c) => c.load === cell.load && c.rows === cell.rows && c.encoding === cell.encoding);
    console.log(`  ${ok ? 'pass' : 'FAIL'}  ${cell.name}: A ${fmt(median(samples[i].aSamplesPerSecond))} samples/s; B p50 ${fmt(b.p50, 2)} ms, p99 ${fmt(b.p99, 2)} ms = ${fmt(b.p99 / reference, 2)}× alone${control ? ` (its control ${fmt(control.b.p99 / reference, 2)}×)` : ''}, 504 ${fmt(100 * b.deadline504, 2)}% of ${b.requests}; B's ${tailText(b.tail)}; liveness p99 ${fmt(b.liveP99, 1)} ms; server's longest event-loop delay ${fmt(Math.max(...samples[i].serverLagMaxMs))} ms; ${countersText(samples[i].counts.reduce(addCounters, NO_COUNTS))}; server cores (median round) ${fmt(median(samples[i].serverCores.map((c) => c.main)), 2)} event loop + ${fmt(median(samples[i].serverCores.map((c) => c.others)), 2)} other threads; stolen ${fmt(100 * Math.max(...samples[i].serverCores.map((c) => c.stolen)))}% of the machine's time (worst round)`);
    return { ...cell, ...samples[i], b, controlP99: control?.b.p99, ok };
  });
  const passed = cells.filter((c) => c.ok).length;
  const worst = Math.max(...cells.map((c) => c.b.p99 / reference));
  const worstLive = Math.max(...cells.map((c) => c.b.liveP99));
  const worst504 = Math.max(...cells.map((c) => c.b.deadline504));
  verdict('isolation cells passed', `${passed} of ${cells.length}; worst B p99 ${fmt(worst, 2)}× alone, worst B 504s ${fmt(100 * worst504, 2)}%, worst liveness p99 ${fmt(worstLive, 1)} ms`, 'all: ≤ 1.5×, ≤ 1%, ≤ 20 ms', passed === cells.length);
  return { rounds: ROUNDS, alone: { pooled: aloneAll, windows }, referenceP99: reference, cells, controls };
}

/**
 * On a server of its own without tenants: with an SLO, a body this large is refused (504) on its
 * headers when the decoders could not finish it in time, before its nesting is ever seen.
 */
async function nested(origin: string) {
  console.log('\n2. deeply nested JSON (a body of `[`), with a liveness probe every 5 ms (a server without tenants: no deadline)');
  const out: Array<Record<string, unknown>> = [];
  for (const size of [8 * MB, 64 * MB]) {
    const body = Buffer.alloc(size, '[');
    const probe = await livenessProbe(origin);
    await new Promise((r) => setTimeout(r, 200));
    const started = performance.now();
    const res = await fetch(`${origin}/v2/models/mnist-mlp/infer`, { method: 'POST', body, headers: { 'content-type': 'application/json' } })
      .catch((e: Error) => ({ status: 0, json: async () => ({ code: e.message }) }));
    const answer = (await res.json()) as { code?: string };
    const ms = performance.now() - started;
    await new Promise((r) => setTimeout(r, 200));
    const worst = await probe();
    verdict(`${size / MB} MB of '['`, `${res.status} ${answer.code} in ${fmt(ms)} ms; longest liveness wait ${fmt(worst, 1)} ms`, '400, ≤ 100 ms', res.status === 400 && worst <= 100);
    out.push({ bytes: size, status: res.status, code: answer.code, ms, longestLivenessMs: worst });
  }
  return out;
}

async function memory(origin: string, server: Child, what: 'held' | 'grpc') {
  const pid = server.process.pid!;
  console.log(what === 'held' ? `\n3. held bodies: 30 connections on one key, each 60 MB of a declared 64 MB, then silence` : `\n4. 24 concurrent 60 MB gRPC ModelInfer messages with no key`);
  const attack = async () => {
    const baseline = await settledRss(pid, 10_000);
    const peak = rssPeak(pid);
    await serverLagMaxMs(origin);
    const cpu = serverCores(pid);
    const b = measureB(origin, 12_000, 77).then(summarizeB);
    const { statuses } = what === 'held'
      ? await (await startHelper<{ statuses: Record<string, number> }>('attacker.js', ['--mode', 'held', '--port', String(server.ports.http_port), '--key', A_KEY, '--count', '30', '--declared', String(64 * MB), '--send', String(60 * MB)])).done
      : await (await startHelper<{ statuses: Record<string, number> }>('attacker.js', ['--mode', 'grpc', '--address', `127.0.0.1:${server.ports.grpc_port}`, '--count', '24', '--bytes', String(60 * MB)])).done;
    const served = await b;
    // The server's CPU over B's window, on its event loop and on its other threads, and the event
    // loop's longest delay meanwhile.
    const cores = cpu();
    const serverLag = await serverLagMaxMs(origin);
    const top = peak.stop();
    return { statuses, baseline, top, after: await settledRss(pid, 20_000), served, cores, serverLag };
  };
  const line = (r: Awaited<ReturnType<typeof attack>>) => `answers ${JSON.stringify(r.statuses)}; RSS ${fmt(r.baseline)} → peak ${fmt(r.top)} → after ${fmt(r.after)} MiB; B meanwhile: p99 ${fmt(r.served.p99, 2)} ms, statuses ${JSON.stringify(r.served.statuses)}; server cores ${fmt(r.cores.main, 2)} event loop + ${fmt(r.cores.others, 2)} other threads, event loop's longest delay ${fmt(r.serverLag)} ms; ${fmt(100 * r.cores.stolen)}% of the machine's time stolen`;
  const { result: r } = await steadily(what === 'held' ? 'held bodies' : 'unauthenticated gRPC', attack, line, (x) => x.cores.stolen);
  console.log(`  ${line(r)}`);
  const grew = r.top - r.baseline;
  const limit = (what === 'held' ? TENANT_BODY_BUDGET / MiB : 0) + 128;
  verdict(what === 'held' ? 'held bodies: RSS growth' : 'unauthenticated gRPC: RSS growth', `${fmt(grew)} MiB, ${fmt(r.after - r.baseline)} MiB left after`, `≤ ${fmt(limit)} MiB, near baseline after`, grew <= limit && r.after - r.baseline <= 64);
  verdict(what === 'held' ? 'held bodies: B served throughout' : 'unauthenticated gRPC: B served throughout', `${r.served.statuses[200] ?? 0} of ${r.served.requests} answered 200`, 'all', (r.served.statuses[200] ?? 0) === r.served.requests);
  return { statuses: r.statuses, rssMiB: { baseline: r.baseline, peak: r.top, after: r.after }, b: r.served, serverCores: r.cores, serverLagMaxMs: r.serverLag };
}

// Before the server starts: a flood that fails at once left it running (the bench died on the
// unhandled rejection).
if (runs('isolation') && (!onPath('wrk') || !onPath('h2load'))) {
  console.error('bench:abuse needs wrk and h2load for its floods (run scripts/install-wrk.sh and scripts/install-h2load.sh as root)');
  process.exit(1);
}
const server = await startChild([join(ROOT, 'dist/src/cli/main.js'), 'serve', '--tenants', join(ROOT, 'tenants.yaml'), '--repository', join(ROOT, 'models'),
  '--http-port', '0', '--grpc-port', '0', '--log-level', 'warn', '--max-json-bytes', String(64 * MiB), '--open-metrics'], /^pareto serving/, 0, process.env.PARETO_SERVER_CPUS);
const origin = `http://127.0.0.1:${server.ports.http_port}`;
const results: Record<string, unknown> = { cellMs: CELL_MS };
try {
  if (runs('isolation')) results.isolation = await isolation(origin);
  if (runs('nested')) {
    const open = await startChild([join(ROOT, 'dist/src/cli/main.js'), 'serve', '--repository', join(ROOT, 'models'), '--http-port', '0', '--grpc-port', '0', '--log-level', 'warn', '--max-json-bytes', String(64 * MiB)], /^pareto serving/);
    try { results.nested = await nested(`http://127.0.0.1:${open.ports.http_port}`); } finally { await open.stop(); }
  }
  if (runs('held')) results.held = await memory(origin, server, 'held');
  if (runs('grpc')) results.grpc = await memory(origin, server, 'grpc');
} finally {
  await server.stop();
  rmSync(scratch, { recursive: true, force: true });
}

console.log('\n| measure | value | target | |\n|---|---|---|---|');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
if (disturbedAttempts.length) console.log(`\n${disturbedAttempts.length} attempt(s) measured again: the hypervisor took over ${fmt(100 * STEAL_LIMIT)}% of the machine's time during them (each printed above).`);
results.disturbedAttempts = disturbedAttempts;
// A partial run (--only, --cells) goes to a file of its own: it must not stand in for the full one.
const part = [args.only && `only-${args.only.split(',').sort().join('-')}`, args.cells && `cells-${args.cells.split(',').sort().join('-').replace(/[^\w-]+/g, '_')}`].filter(Boolean).join('-');
const file = part ? `abuse-${part}.json` : 'abuse.json';
mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
writeFileSync(join(ROOT, 'bench/results', file), JSON.stringify({ ...results, verdicts: rows }, null, 2));
console.log(`\nwritten: bench/results/${file}`);
