// npm run bench:front-door — what a request costs the server outside its model: CPU per request
// on the event loop and on every other thread (V8's GC helpers, executors), full collections, and
// throughput, for REST bodies sent by wrk closed loop to mnist-mlp-wide pinned to `distilled`
// (~0.02 ms of compute per batch, so nearly all of it is the front door's). Side by side in one
// run, alternating: the server with the V8 flags Pareto ships with (src/cli/node-flags.ts), and
// without the old-generation floor. wrk's own CPU per request is reported too.
// Options: --seconds N per cell (default 6), --rounds N (default 3).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { NODE_FLAGS } from '../src/cli/node-flags.js';
import { loadMnist } from '../src/datasets/mnist.js';
import { onPath } from '../src/on-path.js';
import { metricValue } from '../src/telemetry/prometheus-text.js';
import { startChild, threadCpuSeconds } from './lib/processes.js';
import { median } from './lib/stats.js';
import { bodyFile, runWrk } from './lib/wrk.js';
import { fmt } from './lib/format.js';

const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '6' }, rounds: { type: 'string', default: '3' } } });
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
const ROOT = new URL('../..', import.meta.url).pathname;
const ARMS = [
  { name: 'shipped flags', flags: NODE_FLAGS },
  { name: 'no old-space floor', flags: NODE_FLAGS.filter((f) => !f.startsWith('--initial-old-space-size')) },
];
const CELLS = [
  { rows: 32, json: false, connections: 4 },
  { rows: 32, json: false, connections: 16 },
  { rows: 1, json: false, connections: 16 },
  { rows: 32, json: true, connections: 4 },
];

interface Measure { perSecond: number; mainMs: number; othersMs: number; totalMs: number; fullGcPerSecond: number; gcPauseMsPerSecond: number; wrkMs: number; non2xx: number }

const cellName = (c: typeof CELLS[number]) => `${c.rows}-row ${c.json ? 'JSON' : 'binary'}, c=${c.connections}`;

async function gcStats(origin: string): Promise<{ full: number; pauseSeconds: number }> {
  const text = await (await fetch(`${origin}/metrics`)).text();
  return { full: metricValue(text, 'pareto_nodejs_gc_duration_seconds_count', { kind: 'major' }), pauseSeconds: ['major', 'minor', 'incremental'].reduce((a, kind) => a + (metricValue(text, 'pareto_nodejs_gc_duration_seconds_sum', { kind }) || 0), 0) };
}

async function measureArm(flags: string[], scratch: string, pixels: Float32Array): Promise<Measure[]> {
  const server = await startChild([join(ROOT, 'dist/src/cli/main.js'), 'serve', '--repository', join(ROOT, 'models'), '--http-port', '0', '--grpc-port', '0', '--open-metrics', '--log-level', 'warn'], /^pareto serving/, 0, undefined, flags);
  const pid = server.process.pid!;
  const origin = `http://127.0.0.1:${server.ports.http_port}`;
  const out: Measure[] = [];
  try {
    for (const cell of CELLS) {
      const body = bodyFile(scratch, pixels, cell.rows, cell.json);
      const cpu0 = threadCpuSeconds(pid);
      const gc0 = await gcStats(origin);
      const run = await runWrk(scratch, `${origin}/v2/models/mnist-mlp-wide/versions/distilled/infer`, body, { seconds: SECONDS, connections: cell.connections });
      const cpu1 = threadCpuSeconds(pid);
      const gc1 = await gcStats(origin);
      const perRequest = (s: number) => (s * 1000) / run.requests;
      out.push({
        perSecond: run.perSecond,
        mainMs: perRequest(cpu1.main - cpu0.main),
        othersMs: perRequest(cpu1.others - cpu0.others),
        totalMs: perRequest(cpu1.main - cpu0.main + cpu1.others - cpu0.others),
        fullGcPerSecond: (gc1.full - gc0.full) / SECONDS,
        gcPauseMsPerSecond: ((gc1.pauseSeconds - gc0.pauseSeconds) * 1000) / SECONDS,
        wrkMs: perRequest(run.cpuSeconds),
        non2xx: run.non2xx,
      });
    }
  } finally {
    await server.stop();
  }
  return out;
}

async function main(): Promise<void> {
  if (!onPath('wrk')) {
    console.error('bench:front-door needs wrk (run scripts/install-wrk.sh as root)');
    process.exit(1);
  }
  const scratch = mkdtempSync(join(tmpdir(), 'pareto-front-door-'));
  const pixels = loadMnist('test').pixels;
  const runs: Measure[][][] = ARMS.map(() => []);
  console.log(`bench:front-door — ${ROUNDS} rounds, ${SECONDS} s per cell, mnist-mlp-wide/distilled, wrk closed loop`);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, arm] of ARMS.entries()) {
      runs[i].push(await measureArm(arm.flags, scratch, pixels));
      console.log(`  round ${round + 1}, ${arm.name}: ${runs[i].at(-1)!.map((m, c) => `${cellName(CELLS[c])} ${fmt(m.perSecond)}/s ${fmt(m.totalMs, 3)} ms`).join('; ')}`);
    }
  }
  rmSync(scratch, { recursive: true, force: true });

  const med = (arm: number, cell: number, key: keyof Measure) => median(runs[arm].map((r) => r[cell][key]));
  console.log(`\nmedians of ${ROUNDS} rounds (server CPU per request, ms: all threads = event loop + others)`);
  console.log('| cell | arm | requests/s | CPU/request | event loop | other threads | full GCs/s | GC pause ms/s | wrk CPU/request | non-2xx |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  const results: Record<string, unknown> = {};
  for (const [c, cell] of CELLS.entries()) {
    for (const [a, arm] of ARMS.entries()) {
      console.log(`| ${cellName(cell)} | ${arm.name} | ${fmt(med(a, c, 'perSecond'))} | ${fmt(med(a, c, 'totalMs'), 3)} | ${fmt(med(a, c, 'mainMs'), 3)} | ${fmt(med(a, c, 'othersMs'), 3)} | ${fmt(med(a, c, 'fullGcPerSecond'), 1)} | ${fmt(med(a, c, 'gcPauseMsPerSecond'), 1)} | ${fmt(med(a, c, 'wrkMs'), 3)} | ${fmt(med(a, c, 'non2xx'))} |`);
    }
    const ratio = med(1, c, 'totalMs') / med(0, c, 'totalMs');
    results[cellName(cell)] = { arms: Object.fromEntries(ARMS.map((arm, a) => [arm.name, runs[a].map((r) => r[c])])), cpuRatio: ratio };
    console.log(`| ${cellName(cell)} | CPU per request, ${ARMS[1].name} ÷ ${ARMS[0].name} | **${fmt(ratio, 2)}×** | | | | | | | |`);
  }
  writeFileSync(join(ROOT, 'bench/results/front-door.json'), JSON.stringify({ seconds: SECONDS, rounds: ROUNDS, flags: Object.fromEntries(ARMS.map((a) => [a.name, a.flags])), results }, null, 2));
}

await main();
