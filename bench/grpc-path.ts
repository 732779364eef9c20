// npm run bench:grpc-path — what a gRPC ModelInfer call costs the server on each of its paths: the
// raw HTTP/2 stream (src/protocol/grpc/unary-infer-stream.ts) on the gRPC thread (the default,
// grpc-thread.ts) and on the event loop (`--no-grpc-thread`), and grpc-js (`--no-grpc-raw-infer`).
// Three servers side by side, the same keyed tenant without a rate limit,
// calls from h2load on one connection (as one gRPC channel) to mnist-mlp-wide pinned to
// `distilled` (~0.02 ms of compute per batch, so nearly all of it is the front door's), alternating
// which server goes first each round. Per call: the server's CPU on its event loop and on its other
// threads; calls per second; h2load's own CPU. Options: --seconds N per cell (default 6), --rounds N
// (default 3).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadMnist } from '../src/datasets/mnist.js';
import { onPath } from '../src/on-path.js';
import { hashKey } from '../src/tenancy/tenants.js';
import { grpcBodyFile, runH2load } from './lib/h2load.js';
import { startChild, threadCpuSeconds, type Child } from './lib/processes.js';
import { median } from './lib/stats.js';
import { fmt } from './lib/format.js';

const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '6' }, rounds: { type: 'string', default: '3' } } });
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
const ROOT = new URL('../..', import.meta.url).pathname;
const KEY = 'bench-grpc-path-key';
const ARMS = [
  { name: 'raw stream, gRPC thread', flags: [] as string[] },
  { name: 'raw stream, event loop', flags: ['--no-grpc-thread'] },
  { name: 'grpc-js', flags: ['--no-grpc-raw-infer'] },
];
/** The arm the others are compared with. */
const BASE = ARMS.length - 1;
const CELLS = [
  { rows: 1, streams: 64, perSecond: 1600 },
  { rows: 1, streams: 64 },
  { rows: 32, streams: 16 },
];

interface Measure { perSecond: number; mainMs: number; othersMs: number; totalMs: number; h2loadMs: number }

const cellName = (c: typeof CELLS[number]) => `${c.rows}-row, ${c.streams} in flight${c.perSecond ? `, ${fmt(c.perSecond)} calls/s` : ', as fast as answered'}`;

async function measureCell(server: Child, body: string, cell: typeof CELLS[number]): Promise<Measure> {
  const pid = server.process.pid!;
  const cpu0 = threadCpuSeconds(pid);
  const run = await runH2load(`http://127.0.0.1:${server.ports.grpc_port}`, body, { seconds: SECONDS, streams: cell.streams, perSecond: cell.perSecond, key: KEY });
  const cpu1 = threadCpuSeconds(pid);
  const perCall = (s: number) => (s * 1000) / run.calls;
  return {
    perSecond: run.calls / SECONDS,
    mainMs: perCall(cpu1.main - cpu0.main),
    othersMs: perCall(cpu1.others - cpu0.others),
    totalMs: perCall(cpu1.main - cpu0.main + cpu1.others - cpu0.others),
    h2loadMs: perCall(run.cpuSeconds),
  };
}

async function main(): Promise<void> {
  if (!onPath('h2load')) {
    console.error('bench:grpc-path needs h2load (run scripts/install-h2load.sh as root)');
    process.exit(1);
  }
  const scratch = mkdtempSync(join(tmpdir(), 'pareto-grpc-path-'));
  const tenants = join(scratch, 'tenants.yaml');
  writeFileSync(tenants, `tenants:\n  - { id: bench, keys: ["${hashKey(KEY)}"], models: ["*"] }\n`);
  const pixels = loadMnist('test').pixels;
  const bodies = CELLS.map((c) => grpcBodyFile(scratch, pixels, c.rows, 'mnist-mlp-wide', 'distilled'));
  const servers = await Promise.all(ARMS.map((arm) => startChild([join(ROOT, 'dist/src/cli/main.js'), 'serve', '--repository', join(ROOT, 'models'), '--tenants', tenants,
    '--http-port', '0', '--grpc-port', '0', '--log-level', 'warn', ...arm.flags], /^pareto serving/)));
  const runs: Measure[][][] = ARMS.map(() => CELLS.map(() => []));
  console.log(`bench:grpc-path — ${ROUNDS} rounds, ${SECONDS} s per cell, mnist-mlp-wide/distilled, h2load on one connection`);
  try {
    // Warm them up (JIT, the executors' sessions) before anything is measured.
    for (const server of servers) await runH2load(`http://127.0.0.1:${server.ports.grpc_port}`, bodies[1], { seconds: 2, streams: 16, key: KEY });
    for (let round = 0; round < ROUNDS; round++) {
      for (const [c, cell] of CELLS.entries()) {
        // Rotating which server goes first, so none always has the quieter part.
        const order = ARMS.map((_, a) => (a + round) % ARMS.length);
        for (const a of order) runs[a][c].push(await measureCell(servers[a], bodies[c], cell));
        console.log(`  round ${round + 1}, ${cellName(cell)}: ${ARMS.map((arm, a) => `${arm.name} ${fmt(runs[a][c].at(-1)!.perSecond)}/s, ${fmt(runs[a][c].at(-1)!.mainMs, 3)} ms event loop + ${fmt(runs[a][c].at(-1)!.othersMs, 3)} ms others`).join('; ')}`);
      }
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(scratch, { recursive: true, force: true });
  }

  const med = (a: number, c: number, key: keyof Measure) => median(runs[a][c].map((m) => m[key]));
  console.log(`\nmedians of ${ROUNDS} rounds (server CPU per call, ms)`);
  console.log('| cell | path | calls/s | CPU/call | event loop | other threads | h2load CPU/call |');
  console.log('|---|---|---|---|---|---|---|');
  const results: Record<string, unknown> = {};
  for (const [c, cell] of CELLS.entries()) {
    for (const [a, arm] of ARMS.entries()) {
      console.log(`| ${cellName(cell)} | ${arm.name} | ${fmt(med(a, c, 'perSecond'))} | ${fmt(med(a, c, 'totalMs'), 3)} | ${fmt(med(a, c, 'mainMs'), 3)} | ${fmt(med(a, c, 'othersMs'), 3)} | ${fmt(med(a, c, 'h2loadMs'), 3)} |`);
    }
    const ratios = ARMS.slice(0, BASE).map((arm, a) => ({ arm: arm.name, eventLoopRatio: med(a, c, 'mainMs') / med(BASE, c, 'mainMs'), cpuRatio: med(a, c, 'totalMs') / med(BASE, c, 'totalMs') }));
    results[cellName(cell)] = { arms: Object.fromEntries(ARMS.map((arm, a) => [arm.name, runs[a][c]])), ratios };
    for (const r of ratios) console.log(`| ${cellName(cell)} | ${r.arm} ÷ ${ARMS[BASE].name} | | **${fmt(r.cpuRatio, 2)}×** | **${fmt(r.eventLoopRatio, 2)}×** | | |`);
  }
  writeFileSync(join(ROOT, 'bench/results/grpc-path.json'), JSON.stringify({ seconds: SECONDS, rounds: ROUNDS, results }, null, 2));
}

await main();
