// npm run bench:shm — Triton's system shared memory against binary HTTP for a 1 MiB input, at
// concurrency 1 and 16, side by side in interleaved rounds on one server (a child process).
//
// The model sums its 262,144-float input row (ReduceSum): its compute is small, so what differs is
// how the tensor reaches the executor. Binary HTTP sends the 1 MiB through the socket and the
// server's body path; shared memory sends ~200 bytes of JSON and the server preads the region. To
// charge shared memory its whole cost, each shared-memory request first writes its tensor into its
// client's region (pwrite: a copy, as a client's memcpy into its mapping would be).
// Reported per arm: requests/s, p50/p99, and the CPU the server and this client spent per request.
// Options: --seconds N (per measurement, default 3), --rounds N (default 5).
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { GraphBuilder } from '../src/onnx/graph.js';
import { cpuSeconds, startChild } from './lib/processes.js';
import { median, percentile, sortedCopy } from './lib/stats.js';

const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '3' }, rounds: { type: 'string', default: '5' } } });
const PHASE_MS = Number(args.seconds) * 1000;
const ROUNDS = Number(args.rounds);
const ROOT = new URL('../..', import.meta.url).pathname;
const WIDTH = 262_144; // floats: 1 MiB per request
const BYTES = WIDTH * 4;
const CONCURRENCIES = [1, 16];

function buildRepository(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pareto-bench-shm-'));
  const g = new GraphBuilder('wide-sum');
  g.node('ReduceSum', ['input', g.initializer('axes', [1], BigInt64Array.from([1n]))], ['sum'], { keepdims: 1 });
  mkdirSync(join(dir, 'wide-sum/fp32'), { recursive: true });
  writeFileSync(join(dir, 'wide-sum/fp32/model.onnx'), g.build([{ name: 'input', type: 'float32', shape: ['N', WIDTH] }], [{ name: 'sum', type: 'float32', shape: ['N', 1] }]));
  writeFileSync(join(dir, 'wide-sum/model.yaml'), `name: wide-sum
inputs: [{ name: input, datatype: FP32, shape: [-1, ${WIDTH}] }]
outputs: [{ name: sum, datatype: FP32, shape: [-1, 1] }]
batching: { max_batch_size: 16, max_queue_delay_ms: 0 }
variants: [{ name: fp32 }]
`);
  return dir;
}

interface Arm {
  name: string;
  /** Before each request of client `slot`: what it sends. */
  request(slot: number): { body: Buffer; headers: Record<string, string> };
}

interface Measured { rps: number; p50: number; p99: number; serverCpuUs: number; clientCpuUs: number; errors: number }

async function run(origin: string, pid: number, arm: Arm, concurrency: number): Promise<Measured> {
  const pool = new Pool(origin, { connections: concurrency, pipelining: 1 });
  const latencies: number[] = [];
  let errors = 0;
  const cpu0 = cpuSeconds(pid), client0 = process.cpuUsage();
  const start = performance.now(), deadline = start + PHASE_MS;
  await Promise.all(Array.from({ length: concurrency }, async (_, slot) => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      const { body, headers } = arm.request(slot);
      const res = await pool.request({ path: '/v2/models/wide-sum/versions/fp32/infer', method: 'POST', body, headers });
      await res.body.arrayBuffer();
      if (res.statusCode === 200) latencies.push(performance.now() - t0);
      else errors++;
    }
  }));
  const seconds = (performance.now() - start) / 1000;
  const client = process.cpuUsage(client0);
  const serverCpu = cpuSeconds(pid) - cpu0;
  await pool.close();
  const sorted = sortedCopy(latencies);
  const n = Math.max(1, latencies.length);
  return { rps: latencies.length / seconds, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), serverCpuUs: serverCpu * 1e6 / n, clientCpuUs: (client.user + client.system) / n, errors };
}

const tensor = new Float32Array(WIDTH);
for (let i = 0; i < WIDTH; i++) tensor[i] = (i % 97) / 97;
const tensorBytes = Buffer.from(tensor.buffer);

const binary: Arm = (() => {
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [1, WIDTH], datatype: 'FP32', parameters: { binary_data_size: BYTES } }], outputs: [{ name: 'sum', parameters: { binary_data: true } }] }));
  const body = Buffer.concat([header, tensorBytes]);
  const headers = { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) };
  return { name: 'binary HTTP', request: () => ({ body, headers }) };
})();

/** One shared-memory object with a region per client slot, registered on the server. */
async function sharedArm(origin: string, slots: number): Promise<{ arm: Arm; close: () => void }> {
  const key = `/pareto-bench-shm-${process.pid}`;
  const path = join('/dev/shm', key.slice(1));
  writeFileSync(path, Buffer.alloc(BYTES * slots));
  const fd = openSync(path, 'r+');
  const bodies: Buffer[] = [];
  for (let s = 0; s < slots; s++) {
    const res = await fetch(`${origin}/v2/systemsharedmemory/region/in${s}/register`, { method: 'POST', body: JSON.stringify({ key, offset: s * BYTES, byte_size: BYTES }) });
    if (res.status !== 200) throw new Error(`register: ${res.status} ${await res.text()}`);
    bodies.push(Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [1, WIDTH], datatype: 'FP32', parameters: { shared_memory_region: `in${s}`, shared_memory_byte_size: BYTES } }], outputs: [{ name: 'sum', parameters: { binary_data: true } }] })));
  }
  const headers = { 'content-type': 'application/json' };
  return {
    arm: {
      name: 'shared memory',
      request: (slot) => {
        writeSync(fd, tensorBytes, 0, BYTES, slot * BYTES);
        return { body: bodies[slot], headers };
      },
    },
    close: () => { closeSync(fd); rmSync(path, { force: true }); },
  };
}

/** The sum each arm returns, to check both compute the same answer. */
async function sumOf(origin: string, arm: Arm): Promise<number> {
  const { body, headers } = arm.request(0);
  const res = await fetch(`${origin}/v2/models/wide-sum/versions/fp32/infer`, { method: 'POST', body: new Uint8Array(body), headers });
  const buf = Buffer.from(await res.arrayBuffer());
  const headerLength = Number(res.headers.get('inference-header-content-length'));
  return buf.readFloatLE(headerLength);
}

const repo = buildRepository();
const server = await startChild([join(ROOT, 'dist/src/cli/main.js'), 'serve', '--repository', repo, '--host', '127.0.0.1', '--http-port', '0', '--grpc-port', '0', '--log-level', 'warn', '--allow-client-shm', '--executors', '1'], /^pareto serving/);
const origin = `http://127.0.0.1:${server.ports.http_port}`;
const pid = server.process.pid!;
const shm = await sharedArm(origin, Math.max(...CONCURRENCIES));
try {
  const [a, b] = [await sumOf(origin, binary), await sumOf(origin, shm.arm)];
  if (a !== b) throw new Error(`the arms disagree: binary ${a}, shared memory ${b}`);
  console.log(`bench:shm — a 1 MiB FP32 input (wide-sum), ${ROUNDS} interleaved rounds of ${PHASE_MS / 1000} s per arm; both arms returned sum ${a}\n`);
  console.log('| concurrency | arm | req/s | p50 ms | p99 ms | server CPU µs/req | client CPU µs/req | errors |');
  console.log('|---|---|---|---|---|---|---|---|');
  const summary: string[] = [];
  const results: Record<string, unknown> = { date: new Date().toISOString(), rounds: ROUNDS, seconds: PHASE_MS / 1000 };
  for (const c of CONCURRENCIES) {
    const per: Record<string, Measured[]> = { [binary.name]: [], [shm.arm.name]: [] };
    for (let r = 0; r < ROUNDS; r++) {
      for (const arm of r % 2 ? [shm.arm, binary] : [binary, shm.arm]) per[arm.name].push(await run(origin, pid, arm, c));
    }
    const med = (name: string, k: keyof Measured) => median(per[name].map((m) => m[k]));
    for (const name of Object.keys(per)) {
      console.log(`| ${c} | ${name} | ${med(name, 'rps').toFixed(0)} | ${med(name, 'p50').toFixed(2)} | ${med(name, 'p99').toFixed(2)} | ${med(name, 'serverCpuUs').toFixed(0)} | ${med(name, 'clientCpuUs').toFixed(0)} | ${per[name].reduce((n, m) => n + m.errors, 0)} |`);
    }
    const ratios = (k: keyof Measured) => median(per[shm.arm.name].map((m, i) => m[k] / per[binary.name][i][k]));
    results[`c${c}`] = { runs: per, ratios: { rps: ratios('rps'), p50: ratios('p50'), serverCpuUs: ratios('serverCpuUs') } };
    summary.push(`c=${c}: shared memory / binary HTTP — throughput ×${ratios('rps').toFixed(2)}, p50 ×${ratios('p50').toFixed(2)}, server CPU per request ×${ratios('serverCpuUs').toFixed(2)} (medians of per-round ratios)`);
  }
  console.log(`\n${summary.join('\n')}`);
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench/results/shm.json'), JSON.stringify(results, null, 2) + '\n');
} finally {
  shm.close();
  await server.stop();
  rmSync(repo, { recursive: true, force: true });
}
