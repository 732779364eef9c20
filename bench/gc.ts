// npm run bench:gc — what the server's garbage collector does per request, by protocol: a
// `pareto serve` child per protocol (Pareto's node flags plus --trace-gc-nvp), 1-row calls to
// mnist-mlp at a fixed rate from h2load, over gRPC (one connection, as one channel), over REST
// binary (HTTP/1.1, 64 connections) and as messages of gRPC ModelStreamInfer streams, in turn.
// For the measured window only, the main isolate's scavenges and mark-compacts: bytes promoted to
// the old generation (what brings mark-compacts), the longest scavenge, and each mark-compact's
// pause with its part clearing external strings (node:http2 makes header values external strings;
// a stream's come once for all its messages). A 1-row gRPC call promoted ~460 B while its request
// was a spread copy (bench/RESULTS.md); REST ~15 B. The last cell is gRPC again on a server whose
// mark-compacts come on V8's schedule alone (`--gc-every-streams 0`), not every N streams
// (runtime/mark-compact-pacer.ts). The gRPC cells but the first serve HTTP/2 on the event loop
// (`--no-grpc-thread`), as before the gRPC thread (protocol/grpc/grpc-thread.ts); the first, on
// its thread, shows what is left on the main isolate: the calls' header strings are the thread's.
// Options: --seconds N per cell (default 30), --rounds N (default 3), --rate N calls/s (default
// 1,600: 80% of the demo tenant globex's quota).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { NODE_FLAGS } from '../src/cli/node-flags.js';
import { DEFAULT_GC_EVERY_STREAMS } from '../src/runtime/mark-compact-pacer.js';
import { loadMnist } from '../src/datasets/mnist.js';
import { onPath } from '../src/on-path.js';
import { fmt } from './lib/format.js';
import { grpcArgs, grpcBodyFile, restArgs, runH2loadArgs } from './lib/h2load.js';
import { startChild } from './lib/processes.js';
import { bodyFile } from './lib/wrk.js';

const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '30' }, rounds: { type: 'string', default: '3' }, rate: { type: 'string', default: '1600' } } });
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
const RATE = Number(args.rate);
const ROOT = new URL('../..', import.meta.url).pathname;
const KEY = 'demo-globex-key'; // tenants.yaml's globex: 2,000 samples/s
const MODEL = 'mnist-mlp';
const STREAM_MESSAGES = 64;

interface Window { calls: number; promotedMB: number; scavenges: number; longestScavengeMs: number; markCompacts: number[]; externalStringsMs: number[] }

/** The isolate of a `--trace-gc-nvp` line: `[pid:0xISOLATE] … key=value …`. */
const isolateOf = (line: string) => /^\[\d+:(0x[0-9a-f]+)\]/.exec(line)?.[1];

/** The main isolate's lines. */
function gcWindow(lines: string[], mainIsolate: string | undefined, calls: number): Window {
  const main = lines.filter((l) => isolateOf(l) === mainIsolate);
  const field = (line: string, key: string) => Number(new RegExp(` ${key.replace('.', '\\.')}=([0-9.]+)`).exec(line)?.[1] ?? NaN);
  const scavenges = main.filter((l) => / gc=s /.test(l));
  const compacts = main.filter((l) => / gc=mc /.test(l));
  return {
    calls,
    promotedMB: [...scavenges, ...compacts].reduce((n, l) => n + field(l, 'promoted'), 0) / 1e6,
    scavenges: scavenges.length,
    longestScavengeMs: Math.max(0, ...scavenges.map((l) => field(l, 'pause'))),
    markCompacts: compacts.map((l) => field(l, 'pause')),
    externalStringsMs: compacts.map((l) => field(l, 'clear.external_string_table')),
  };
}

interface GcTrace {
  /** Lines of the window being measured; undefined between windows. */
  lines: string[] | undefined;
  /** The main thread's isolate: the first to collect, while the server loads, before any worker starts. */
  main: string | undefined;
}

/** `perRequest`: calls in each of h2load's requests (a stream's messages). */
async function measure(gc: GcTrace, argv: string[], perRequest: number): Promise<Window> {
  gc.lines = [];
  const run = await runH2loadArgs([`-D${SECONDS}`, ...argv]);
  const lines = gc.lines;
  gc.lines = undefined;
  return gcWindow(lines, gc.main, run.calls * perRequest);
}

async function main(): Promise<void> {
  if (!onPath('h2load')) {
    console.error('bench:gc needs h2load (run scripts/install-h2load.sh as root)');
    process.exit(1);
  }
  const scratch = mkdtempSync(join(tmpdir(), 'pareto-gc-'));
  const pixels = loadMnist('test').pixels;
  const grpcBody = grpcBodyFile(scratch, pixels, 1, MODEL);
  const streamBody = grpcBodyFile(scratch, pixels, 1, MODEL, '', STREAM_MESSAGES);
  const rest = bodyFile(scratch, pixels, 1, false);
  // A server per protocol: one's garbage must not be collected (and counted) in the other's window.
  const start = async (...flags: string[]) => {
    const gc: GcTrace = { lines: undefined, main: undefined };
    const server = await startChild([join(ROOT, 'dist/src/cli/main.js'), 'serve', '--repository', join(ROOT, 'models'), '--tenants', join(ROOT, 'tenants.yaml'),
      '--http-port', '0', '--grpc-port', '0', '--log-level', 'warn', ...flags], /^pareto serving/, 0, undefined, [...NODE_FLAGS, '--trace-gc-nvp'],
      (line) => { if (line.includes(' pause=')) gc.main ??= isolateOf(line); });
    let partial = '';
    server.process.stdout!.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop()!;
      gc.lines?.push(...lines.filter((l) => l.includes(' pause=')));
    });
    return { server, gc };
  };
  // The last: gRPC with mark-compacts on V8's schedule alone, as before the pacer (runtime/mark-compact-pacer.ts).
  const servers = [await start(), await start('--no-grpc-thread'), await start(), await start(), await start('--no-grpc-thread', '--gc-every-streams', '0')];
  const cells = [
    { name: 'gRPC on its thread', perRequest: 1, argv: grpcArgs(`http://127.0.0.1:${servers[0].server.ports.grpc_port}`, grpcBody, { streams: 64, perSecond: RATE, key: KEY }) },
    { name: 'gRPC on the event loop', perRequest: 1, argv: grpcArgs(`http://127.0.0.1:${servers[1].server.ports.grpc_port}`, grpcBody, { streams: 64, perSecond: RATE, key: KEY }) },
    { name: 'REST binary', perRequest: 1, argv: restArgs(`http://127.0.0.1:${servers[2].server.ports.http_port}/v2/models/${MODEL}/infer`, rest, { connections: 64, perSecond: RATE, key: KEY }) },
    // The same calls as messages of ModelStreamInfer streams: a stream's headers come once.
    { name: `gRPC stream (${STREAM_MESSAGES} a stream)`, perRequest: STREAM_MESSAGES,
      argv: grpcArgs(`http://127.0.0.1:${servers[3].server.ports.grpc_port}`, streamBody, { streams: 8, perSecond: RATE / STREAM_MESSAGES, key: KEY, method: 'ModelStreamInfer' }) },
    { name: 'gRPC on the event loop, --gc-every-streams 0', perRequest: 1, argv: grpcArgs(`http://127.0.0.1:${servers[4].server.ports.grpc_port}`, grpcBody, { streams: 64, perSecond: RATE, key: KEY }) },
  ];
  const runs: Window[][] = cells.map(() => []);
  console.log(`bench:gc — ${ROUNDS} rounds of ${SECONDS} s per protocol (a server each), 1-row calls to ${MODEL} at ${fmt(RATE)}/s, main isolate`);
  try {
    for (const cell of cells) await runH2loadArgs(['-D3', ...cell.argv]); // warm-up
    for (let round = 0; round < ROUNDS; round++) {
      // Rotating which goes first, so none always has the quieter part.
      for (const c of cells.map((_, i) => (i + round) % cells.length)) {
        const w = await measure(servers[c].gc, cells[c].argv, cells[c].perRequest);
        runs[c].push(w);
        console.log(`  round ${round + 1}, ${cells[c].name}: ${fmt(w.calls)} calls, promoted ${fmt(w.promotedMB, 1)} MB (${fmt((w.promotedMB * 1e6) / w.calls)} B/call), ${w.scavenges} scavenges (longest ${fmt(w.longestScavengeMs, 1)} ms), mark-compacts ${w.markCompacts.length ? w.markCompacts.map((p, i) => `${fmt(p, 1)} ms (${fmt(w.externalStringsMs[i], 1)} clearing external strings)`).join(', ') : 'none'}`);
      }
    }
  } finally {
    await Promise.all(servers.map((s) => s.server.stop()));
    rmSync(scratch, { recursive: true, force: true });
  }
  // Pooled over the rounds: mark-compacts are rare enough that a median of two says little.
  const total = (c: number, f: (w: Window) => number) => runs[c].reduce((n, w) => n + f(w), 0);
  const longest = (c: number) => Math.max(0, ...runs[c].flatMap((w) => w.markCompacts));
  const perCall = (c: number) => (total(c, (w) => w.promotedMB) * 1e6) / total(c, (w) => w.calls);
  console.log(`\npooled over ${ROUNDS} rounds`);
  console.log('| protocol | promoted per call | mark-compacts per minute | longest mark-compact | longest scavenge |');
  console.log('|---|---|---|---|---|');
  for (const [c, cell] of cells.entries()) {
    const compacts = (total(c, (w) => w.markCompacts.length) * 60) / (SECONDS * ROUNDS);
    console.log(`| ${cell.name} | ${fmt(perCall(c))} B | ${fmt(compacts, 1)} | ${fmt(longest(c), 1)} ms | ${fmt(Math.max(...runs[c].map((w) => w.longestScavengeMs)), 1)} ms |`);
  }
  console.log(`\ngRPC ÷ REST, promoted per call: on its thread ${fmt(perCall(0) / perCall(2), 1)}×, on the event loop ${fmt(perCall(1) / perCall(2), 1)}×`);
  const compactsOf = (c: number) => `${total(c, (w) => w.markCompacts.length)} mark-compacts in ${SECONDS * ROUNDS} s, the longest ${fmt(longest(c), 1)} ms`;
  console.log(`main isolate, gRPC on its thread: ${compactsOf(0)}; on the event loop, one started every ${DEFAULT_GC_EVERY_STREAMS} streams: ${compactsOf(1)}; on V8's schedule alone: ${compactsOf(4)}`);
  writeFileSync(join(ROOT, 'bench/results/gc.json'), JSON.stringify({ seconds: SECONDS, rounds: ROUNDS, rate: RATE, cells: Object.fromEntries(cells.map((cell, c) => [cell.name, runs[c]])) }, null, 2));
}

await main();
