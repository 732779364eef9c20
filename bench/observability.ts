// npm run bench:observability — what metrics, dashboard data and request logs cost at saturation:
// the same server with telemetry on and off (--no-telemetry), closed loop c=64 on the tiny
// mnist-mlp (the worst case: the most requests per second), in interleaved rounds.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadMnist } from '../src/datasets/mnist.js';
import { closedLoop, type HttpCase } from './lib/closed-loop.js';
import { startChild } from './lib/processes.js';
import { median } from './lib/stats.js';
import { mkdirSync, writeFileSync } from 'node:fs';

const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '3' }, rounds: { type: 'string', default: '5' } } });
const ROOT = new URL('../..', import.meta.url).pathname;
const CLI = join(ROOT, 'dist/src/cli/main.js');

const pixels = loadMnist('test').pixels.slice(0, 784);
const header = Buffer.from(JSON.stringify({
  inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', parameters: { binary_data_size: pixels.byteLength } }],
  outputs: [{ name: 'logits', parameters: { binary_data: true } }],
}));
const request: HttpCase = {
  path: '/v2/models/mnist-mlp/versions/fp32/infer',
  body: Buffer.concat([header, Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength)]),
  headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
  samples: 1,
};

const serve = (extra: string[]) => startChild([CLI, 'serve', '--repository', join(ROOT, 'models'), '--host', '127.0.0.1', '--http-port', '0', '--grpc-port', '0', '--admin-token', 'bench-admin-token', ...extra], /^pareto serving/);
const on = await serve([]);
const off = await serve(['--no-telemetry']);
const ms = Number(args.seconds) * 1000;
const rounds = Number(args.rounds);
const origin = (c: Awaited<ReturnType<typeof serve>>) => `http://127.0.0.1:${c.ports.http_port}`;
try {
  await closedLoop(origin(on), request, 64, 1000);
  await closedLoop(origin(off), request, 64, 1000);
  const ratios: number[] = [], rOn: number[] = [], rOff: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const a = (await closedLoop(origin(on), request, 64, ms)).requestsPerSecond;
    const b = (await closedLoop(origin(off), request, 64, ms)).requestsPerSecond;
    rOn.push(a); rOff.push(b); ratios.push(a / b);
  }
  const ratio = median(ratios);
  const cost = 1 - ratio;
  console.log(`telemetry on ${median(rOn).toFixed(0)} req/s, off ${median(rOff).toFixed(0)} req/s; on ÷ off per round: ${ratios.map((x) => x.toFixed(3)).join(', ')}`);
  console.log(`  ${cost < 0.05 ? 'PASS' : 'FAIL'}  throughput cost of metrics + logs at saturation: ${(100 * cost).toFixed(1)}% (target < 5%)`);
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench/results/observability.json'), JSON.stringify({ date: new Date().toISOString(), on: median(rOn), off: median(rOff), ratios, cost }, null, 2) + '\n');
} finally {
  await on.stop();
  await off.stop();
}
