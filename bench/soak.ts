// npm run bench:soak — a long run with the operator's routine operations on a schedule, as issue
// #17 describes it: three tenants on REST binary, REST JSON and gRPC (open loop, Poisson), a model
// reloaded every --reload-every-s, tenants.yaml rewritten every 90 s (SIGHUP on alternate rounds),
// a burst of malformed bodies and a handful of clients that hang up mid-request every minute.
// Reported: RSS over time and its slope after the first 5 minutes, latency per block, answers by
// status, lost requests (no answer at all), the server's /metrics against the client's counts,
// and the generator's own CPU (it shares the machine with the server).
// Options: --minutes N (default 30), --rate R (requests/s over the three tenants, default 1000),
// --reload-every-s N (default 30), --block-s N (default 180), --chaos-every-s N (default 60).
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { loadMnist } from '../src/datasets/mnist.js';
import { constant, poissonStream } from '../src/loadgen/arrivals.js';
import { Senders, type Reply, type Sender } from '../src/loadgen/senders.js';
import { hashKey } from '../src/tenancy/tenants.js';
import { rssMiB, startChild } from './lib/processes.js';
import { percentile, sortedCopy } from './lib/stats.js';

const { values: args } = parseArgs({ options: {
  minutes: { type: 'string', default: '30' }, rate: { type: 'string', default: '1000' },
  // A block of 180 s holds one whole cycle of the routine operations at the default periods (6
  // reloads: each model twice; a tenants.yaml rewrite with SIGHUP and one without; 3 chaos
  // bursts), so blocks are alike and their p99s compare time with time, not one operation with another.
  'reload-every-s': { type: 'string', default: '30' }, 'block-s': { type: 'string', default: '180' }, 'chaos-every-s': { type: 'string', default: '60' },
} });
const DURATION_MS = Number(args.minutes) * 60_000;
const RATE = Number(args.rate);
const RELOAD_MS = Number(args['reload-every-s']) * 1000;
const BLOCK_MS = Number(args['block-s']) * 1000;
const TENANTS_MS = 90_000;
const CHAOS_MS = Number(args['chaos-every-s']) * 1000;
const RSS_EVERY_MS = 5_000;
const SETTLE_MS = 5 * 60_000;
/** Latencies of the first seconds (connections opening, code warming up: 1–3 s answers) are left out of the blocks. */
const WARMUP_MS = 15_000; // the slope is taken after this much: allocators and JITs settle first
const ROOT = new URL('../..', import.meta.url).pathname;
const ADMIN = 'soak-admin-token';
const METRICS = 'soak-metrics-token';

interface Lane { tenant: string; key: string; model: string; protocol: 'rest-binary' | 'rest-json' | 'grpc'; rows: number }
const LANES: Lane[] = [
  { tenant: 'binary', key: 'soak-binary-key', model: 'mnist-mlp', protocol: 'rest-binary', rows: 4 },
  { tenant: 'json', key: 'soak-json-key', model: 'fashion-mlp', protocol: 'rest-json', rows: 2 },
  { tenant: 'grpc', key: 'soak-grpc-key', model: 'mnist-mlp-wide', protocol: 'grpc', rows: 4 },
];
const CHAOS = { tenant: 'chaos', key: 'soak-chaos-key' };
const RELOADED = ['mnist-mlp', 'fashion-mlp', 'mnist-mlp-wide'];

function tenantsYaml(round: number): string {
  const tenant = (id: string, key: string, weight: number) => `  - id: ${id}
    keys: ["${hashKey(key)}"]
    models: ["*"]
    rate_limit: { samples_per_second: 100000, burst: 10000 }
    max_concurrency: 1024
    weight: ${weight}
    slo: { default: { latency_ms: 250 } }
`;
  // Each rewrite changes a weight, so the reload has something to apply.
  return `# bench:soak round ${round}\ntenants:\n${LANES.map((l, i) => tenant(l.tenant, l.key, i === 2 ? 1 + (round % 2) : 1)).join('')}${tenant(CHAOS.tenant, CHAOS.key, 1)}`;
}

const repo = mkdtempSync(join(tmpdir(), 'pareto-soak-'));
for (const m of RELOADED) cpSync(join(ROOT, 'models', m), join(repo, m), { recursive: true });
const tenantsFile = join(repo, 'tenants.yaml');
writeFileSync(tenantsFile, tenantsYaml(0));
const server = await startChild([join(ROOT, 'dist/src/cli/main.js'), 'serve', '--repository', repo, '--tenants', tenantsFile, '--host', '127.0.0.1',
  '--http-port', '0', '--grpc-port', '0', '--admin-token', ADMIN, '--metrics-token', METRICS, '--log-level', 'warn'], /^pareto serving/);
const pid = server.process.pid!;
const origin = `http://127.0.0.1:${server.ports.http_port}`;
const grpcAddress = `127.0.0.1:${server.ports.grpc_port}`;

const test = loadMnist('test');
const senders = new Senders(256);
const sendOf = (l: Lane, i: number): Sender => senders.for(l.protocol, { origin, grpcAddress }, {
  model: l.model, key: l.key, rows: l.rows, pixels: test.pixels.slice(i * 784 * l.rows, (i + 1) * 784 * l.rows),
});
// A few different requests per lane, so answers are not one cached shape of work.
const lanes = LANES.map((l) => ({ ...l, sends: Array.from({ length: 8 }, (_, i) => sendOf(l, i)) }));

interface Block { sent: number; statuses: Record<string, number>; latencies: number[]; lost: number }
/** The worst latency of each second, to place a slow block against the routine operations. */
const worstBySecond: number[] = [];
const blocks: Block[] = [];
const blockAt = (t: number) => (blocks[Math.floor(t / BLOCK_MS)] ??= { sent: 0, statuses: {}, latencies: [], lost: 0 });
/** Per tenant: answers by outcome as the server's metrics name them ('success' or the status). */
const client: Record<string, Record<string, number>> = Object.fromEntries(LANES.map((l) => [l.tenant, {}]));
const lost: Array<{ tenant: string; at: number; why: string }> = [];
const rss: Array<{ t: number; mib: number }> = [];
const events: Array<{ t: number; what: string; ok: boolean }> = [];
const chaos = { malformed: {} as Record<string, number>, hungUp: 0 };

function record(l: Lane, at: number, reply: Reply | undefined, latency: number, why?: string): void {
  const b = blockAt(at);
  // No answer at all: a transport error on REST, or a gRPC error the server did not send (no code).
  if (!reply || reply.status === 0 || (l.protocol === 'grpc' && reply.status !== 200 && !reply.code)) {
    b.lost++;
    lost.push({ tenant: l.tenant, at, why: why ?? `status ${reply?.status}` });
    return;
  }
  const outcome = reply.status === 200 ? 'success' : String(reply.status);
  b.statuses[outcome] = (b.statuses[outcome] ?? 0) + 1;
  client[l.tenant][outcome] = (client[l.tenant][outcome] ?? 0) + 1;
  if (reply.status === 200 && at >= WARMUP_MS) b.latencies.push(latency);
  const s = Math.floor(at / 1000);
  worstBySecond[s] = Math.max(worstBySecond[s] ?? 0, latency);
}

/** Malformed bodies of every kind the front door meets, from the chaos tenant. */
async function malformedBurst(): Promise<void> {
  const headers = { authorization: `Bearer ${CHAOS.key}` };
  const bodies: Array<[string, BodyInit, Record<string, string>]> = [
    ['not json', '{"inputs": [', {}],
    ['wrong shape', JSON.stringify({ inputs: [{ name: 'input', shape: [1, 783], datatype: 'FP32', data: new Array(783).fill(0) }] }), {}],
    ['nested', '['.repeat(100_000), {}],
    ['bad binary header', 'xx', { 'inference-header-content-length': '999' }],
    ['unknown datatype', JSON.stringify({ inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP33', data: [] }] }), {}],
  ];
  await Promise.all(Array.from({ length: 50 }, async (_, i) => {
    const [what, body, extra] = bodies[i % bodies.length];
    try {
      const res = await fetch(`${origin}/v2/models/mnist-mlp/infer`, { method: 'POST', body, headers: { ...headers, ...extra } });
      await res.arrayBuffer();
      chaos.malformed[`${what} → ${res.status}`] = (chaos.malformed[`${what} → ${res.status}`] ?? 0) + 1;
    } catch {
      chaos.malformed[`${what} → no answer`] = (chaos.malformed[`${what} → no answer`] ?? 0) + 1;
    }
  }));
}

/** Clients that hang up mid-request (an abort 0–5 ms after sending). */
async function hangUps(): Promise<void> {
  const body = JSON.stringify({ inputs: [{ name: 'input', shape: [8, 784], datatype: 'FP32', data: Array.from(test.pixels.subarray(0, 8 * 784)) }] });
  await Promise.all(Array.from({ length: 20 }, async (_, i) => {
    try {
      const res = await fetch(`${origin}/v2/models/mnist-mlp/infer`, { method: 'POST', body, headers: { authorization: `Bearer ${CHAOS.key}` }, signal: AbortSignal.timeout(i % 6) });
      await res.arrayBuffer();
    } catch { /* the point */ }
    chaos.hungUp++;
  }));
}

async function routine(t: number, what: string, op: () => Promise<boolean>): Promise<void> {
  let ok = false;
  try { ok = await op(); } catch { ok = false; }
  events.push({ t, what, ok });
}

const cpu0 = process.cpuUsage();
const start = performance.now();
const now = () => performance.now() - start;
const timers: NodeJS.Timeout[] = [];
const every = (ms: number, fn: (round: number) => void) => { let round = 0; timers.push(setInterval(() => fn(++round), ms)); };
every(RSS_EVERY_MS, () => rss.push({ t: now(), mib: rssMiB(pid) }));
every(RELOAD_MS, (round) => {
  const model = RELOADED[round % RELOADED.length];
  void routine(now(), `reload ${model}`, async () => (await fetch(`${origin}/v2/repository/models/${model}/load`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } })).ok);
});
every(TENANTS_MS, (round) => {
  void routine(now(), `tenants.yaml round ${round}${round % 2 ? ' + SIGHUP' : ''}`, async () => {
    writeFileSync(tenantsFile, tenantsYaml(round));
    if (round % 2) server.process.kill('SIGHUP');
    return true;
  });
});
every(CHAOS_MS, () => { void malformedBurst(); void hangUps(); });

// The three lanes' Poisson arrivals, merged; each request leaves at its time (open loop).
const streams = lanes.map((l, i) => ({ lane: l, it: poissonStream(constant((RATE / lanes.length) * l.rows), l.rows, DURATION_MS, 17 + i), next: 0 as number | undefined, n: 0 }));
for (const s of streams) s.next = s.it.next().value ?? undefined;
const pending = new Set<Promise<void>>();
let maxLag = 0;
await new Promise<void>((done) => {
  const tick = () => {
    const t = now();
    for (const s of streams) {
      while (s.next !== undefined && s.next <= t) {
        const at = s.next;
        maxLag = Math.max(maxLag, t - at);
        const l = s.lane;
        blockAt(at).sent++;
        const p = l.sends[s.n++ % l.sends.length]().then(
          (reply) => record(l, at, reply, now() - at),
          (e: Error) => record(l, at, undefined, now() - at, e.message),
        ).finally(() => pending.delete(p));
        pending.add(p);
        s.next = s.it.next().value ?? undefined;
      }
    }
    if (streams.every((s) => s.next === undefined)) return done();
    const wait = Math.min(...streams.map((s) => s.next ?? Infinity)) - now();
    // Timers only (never a spin on setImmediate): sends leave up to ~1 ms late, and the generator
    // leaves the CPU it does not need to the server it measures (polling took 76% of a core).
    setTimeout(tick, Math.max(1, wait - 1.5));
  };
  tick();
});
await Promise.all(pending);
for (const timer of timers) clearInterval(timer);
const seconds = now() / 1000;
const generatorCpu = process.cpuUsage(cpu0);

// The server's count of each tenant's answers, against the client's.
const metricsText = await (await fetch(`${origin}/metrics`, { headers: { authorization: `Bearer ${METRICS}` } })).text();
const counted: Record<string, Record<string, number>> = {};
for (const m of metricsText.matchAll(/^pareto_inference_request_total\{([^}]*)\} (\d+)/gm)) {
  const labels = Object.fromEntries([...m[1].matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
  if (!(labels.tenant in client)) continue;
  (counted[labels.tenant] ??= {})[labels.outcome] = (counted[labels.tenant]?.[labels.outcome] ?? 0) + Number(m[2]);
}
const reconciled = LANES.every((l) => JSON.stringify(Object.entries(client[l.tenant]).sort()) === JSON.stringify(Object.entries(counted[l.tenant] ?? {}).sort()));

await senders.close();
await server.stop();
rmSync(repo, { recursive: true, force: true });

// RSS slope after the settling time: least squares, MiB per minute.
const tail = rss.filter((r) => r.t >= SETTLE_MS);
const slope = (() => {
  if (tail.length < 3) return NaN;
  const mx = tail.reduce((a, r) => a + r.t, 0) / tail.length, my = tail.reduce((a, r) => a + r.mib, 0) / tail.length;
  const num = tail.reduce((a, r) => a + (r.t - mx) * (r.mib - my), 0), den = tail.reduce((a, r) => a + (r.t - mx) ** 2, 0);
  return (num / den) * 60_000;
})();
const rows = blocks.map((b, i) => {
  const sorted = sortedCopy(b.latencies);
  return { block: i + 1, sent: b.sent, statuses: b.statuses, lost: b.lost, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), rssMiB: rss.filter((r) => r.t < (i + 1) * BLOCK_MS).at(-1)?.mib };
});
const firstP99 = rows[0]?.p99 ?? NaN;
const worstP99Ratio = Math.max(...rows.map((r) => r.p99 / firstP99));
const totalLost = lost.length;

console.log(`bench:soak — ${(seconds / 60).toFixed(1)} min at ${RATE} requests/s over ${LANES.map((l) => `${l.tenant} (${l.protocol}, ${l.model}, ${l.rows} rows)`).join(', ')}; a reload every ${RELOAD_MS / 1000} s, tenants.yaml every 90 s, chaos every 60 s\n`);
console.log('| block | sent | answered by status | lost | p50 ms | p99 ms | RSS MiB |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.block} | ${r.sent} | ${Object.entries(r.statuses).map(([k, v]) => `${k} ${v}`).join(', ')} | ${r.lost} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.rssMiB?.toFixed(0) ?? '—'} |`);
const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
console.log(`\nRSS: ${rss[0]?.mib.toFixed(0)} → ${rss.at(-1)?.mib.toFixed(0)} MiB; slope after ${SETTLE_MS / 60_000} min ${slope.toFixed(3)} MiB/min (target ≤ 0.5: ${verdict(slope <= 0.5)})`);
console.log(`p99 per block (the first ${WARMUP_MS / 1000} s left out): worst ${worstP99Ratio.toFixed(2)}× the first block's (target ≤ 1.2: ${verdict(worstP99Ratio <= 1.2)})`);
console.log(`lost: ${totalLost} (target 0: ${verdict(totalLost === 0)})${totalLost ? `; first: ${JSON.stringify(lost.slice(0, 5))}` : ''}`);
console.log(`/metrics against the client: ${reconciled ? 'equal' : 'DIFFERENT'} (target equal: ${verdict(reconciled)})`);
for (const l of LANES) console.log(`  ${l.tenant}: client ${JSON.stringify(client[l.tenant])}, server ${JSON.stringify(counted[l.tenant] ?? {})}`);
console.log(`routine operations: ${events.length}, failed ${events.filter((e) => !e.ok).map((e) => e.what).join(', ') || 'none'}`);
console.log(`chaos: ${JSON.stringify(chaos.malformed)}; ${chaos.hungUp} requests hung up mid-way`);
console.log(`generator: ${((generatorCpu.user + generatorCpu.system) / 1e6 / seconds * 100).toFixed(0)}% of a core; latest send ${maxLag.toFixed(1)} ms behind its time`);

mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
writeFileSync(join(ROOT, 'bench/results/soak.json'), JSON.stringify({
  date: new Date().toISOString(), minutes: seconds / 60, rate: RATE, reloadEveryS: RELOAD_MS / 1000,
  blocks: rows, worstBySecond, rss, rssSlopeMiBPerMin: slope, worstP99Ratio, lost, client, server: counted, reconciled, events, chaos,
  generatorCoreShare: (generatorCpu.user + generatorCpu.system) / 1e6 / seconds, maxSendLagMs: maxLag,
}, null, 2) + '\n');
