// Real cluster parts for tests: redis-server processes (src/cluster/redis-server.ts), worker processes
// (`pareto worker`, so kill -9 kills a real process), and a small model repository for them.
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRole, type RoleProcess } from '../../src/cluster/local-cluster.js';
import { redisServerInstalled } from '../../src/cluster/redis-server.js';
import { hashKey } from '../../src/tenancy/tenants.js';
import { Pool } from 'undici';
import { performance } from 'node:perf_hooks';
import { binaryInfer, BUNDLED_MODELS, digits } from './server.js';

/** Why cluster tests cannot run here, or false. CI installs Redis (scripts/install-redis.sh). */
export function redisMissing(): string | false {
  return !redisServerInstalled() && !process.env.CI ? 'redis-server is not installed (run scripts/install-redis.sh)' : false;
}

export type WorkerProcess = TestRole;
export { startRedisServer as startRedis, type RedisServer as RedisProcess } from '../../src/cluster/redis-server.js';

/** A repository with mnist-mlp only: workers load in about a second. */
export function clusterRepository(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'pareto-cluster-'));
  cpSync(join(BUNDLED_MODELS, 'mnist-mlp'), join(dir, 'mnist-mlp'), { recursive: true });
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A tenants file in `dir`: one tenant, `metered` (key `metered-key`), held to `rate` samples/s with a burst of 20. */
export function meteredTenants(dir: string, rate: number): string {
  const path = join(dir, 'tenants.yaml');
  writeFileSync(path, `tenants:
  - id: metered
    keys: ["${hashKey('metered-key')}"]
    models: ["*"]
    rate_limit: { samples_per_second: ${rate}, burst: 20 }
`);
  return path;
}

export interface Offered {
  /** When it was sent and how long its answer took, ms from the start of the offer; status 0: no answer. */
  requests: Array<{ at: number; ms: number; status: number }>;
  statuses: Map<number, number>;
}

/**
 * The metered tenant's open loop: `rate` requests/s of one sample to mnist-mlp (binary), alternating
 * over `origins`, for `ms`; `during` runs at every tick. Through undici pools, not fetch: on a
 * starved machine fetch's own cost made the offer lag behind its schedule.
 */
export async function offerMetered(origins: string[], rate: number, ms: number, during?: (elapsed: number) => Promise<void> | void): Promise<Offered> {
  const { body, headers } = binaryInfer(digits(0, 1).pixels, 1);
  const pools = origins.map((o) => new Pool(o, { connections: 128 }));
  const requests: Offered['requests'] = [];
  const pending: Promise<void>[] = [];
  const start = performance.now();
  const send = async (i: number) => {
    const at = performance.now() - start;
    let status = 0;
    try {
      const res = await pools[i % pools.length]!.request({ path: '/v2/models/mnist-mlp/infer', method: 'POST', body, headers: { ...headers, authorization: 'Bearer metered-key' } });
      await res.body.dump();
      status = res.statusCode;
    } catch { /* no answer */ }
    requests.push({ at, ms: performance.now() - start - at, status });
  };
  try {
    let sent = 0;
    while (performance.now() - start < ms) {
      for (const due = Math.floor(((performance.now() - start) / 1000) * rate); sent < due; sent++) pending.push(send(sent));
      await during?.(performance.now() - start);
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(pending);
  } finally {
    await Promise.all(pools.map((p) => p.close()));
  }
  const statuses = new Map<number, number>();
  for (const r of requests) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
  return { requests, statuses };
}

/**
 * 200s per second by when they were answered, between `from` and `to` ms of the offer. Counted by
 * answer time, not divided by the offer's length: on a starved machine the answers trail the
 * offer by a backlog cleared after it (426/s read for R = 200 beside three busy loops).
 */
export function admittedPerSecond(offered: Offered, from: number, to: number): number {
  return offered.requests.filter((r) => r.status === 200 && r.at + r.ms >= from && r.at + r.ms < to).length / ((to - from) / 1000);
}

export interface TestRole extends RoleProcess {
  /** The gRPC address, 127.0.0.1:port. */
  address: string;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

export function startWorkerProcess(repository: string, redisUrl?: string, extra: string[] = []): Promise<TestRole> {
  return startTestRole(['worker', '-r', repository, '--executors', '1', ...(redisUrl ? ['--redis', redisUrl] : []), ...extra]);
}

export function startGatewayProcess(redisUrl: string, extra: string[] = []): Promise<TestRole> {
  return startTestRole(['gateway', '--redis', redisUrl, ...extra]);
}

/** `pareto <role>` as a child process on free loopback ports. */
async function startTestRole(args: string[]): Promise<TestRole> {
  const p = await startRole([...args, '--host', '127.0.0.1', '--http-port', '0', '--grpc-port', '0', '--log-level', 'warn']);
  return {
    ...p, address: `127.0.0.1:${p.grpcPort}`,
    async kill(signal = 'SIGKILL') {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill(signal);
      return p.exited;
    },
  };
}

/** Polls until `check` is true; the time it took, ms. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - start;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'host']);

type ReportTampering = 'pass' | 'slow' | 'refuse' | 'reset' | 'stall-once';

/**
 * A pass-through HTTP proxy to a real worker that can tamper with its load report only:
 * `reports` 'slow' holds each one 1.5 s (past a gateway's 1 s timeout), 'refuse' answers 503,
 * 'reset' resets its connection (a TCP RST), 'stall-once' holds the next one 1.5 s (a connection
 * stalled by a lost segment) and lets later ones pass. `reportsSeen` counts reports asked for.
 */
export async function reportGate(origin: string): Promise<{ server: Server; url: string; reports: ReportTampering; reportsSeen: number; close(): Promise<void> }> {
  const upstream = new Pool(origin, { connections: 16 });
  const gate = {
    reports: 'pass' as ReportTampering,
    reportsSeen: 0,
    server: createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      if (req.url?.startsWith('/v2/pareto/load')) {
        gate.reportsSeen++;
        if (gate.reports === 'refuse') return res.writeHead(503).end('{"error":"not yet"}');
        if (gate.reports === 'reset') return req.socket.resetAndDestroy();
        if (gate.reports === 'slow') await new Promise((r) => setTimeout(r, 1500));
        if (gate.reports === 'stall-once') {
          gate.reports = 'pass';
          await new Promise((r) => setTimeout(r, 1500));
        }
      }
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !HOP_BY_HOP.has(k))) as Record<string, string>;
      try {
        const r = await upstream.request({ path: req.url!, method: req.method as 'GET', headers, body: chunks.length ? Buffer.concat(chunks) : undefined });
        const body = Buffer.from(await r.body.arrayBuffer());
        res.writeHead(r.statusCode, Object.fromEntries(Object.entries(r.headers).filter(([k]) => !HOP_BY_HOP.has(k))) as Record<string, string>);
        res.end(body);
      } catch {
        res.destroy(); // the gate is closing
      }
    }),
    url: '',
    async close() {
      gate.server.closeAllConnections();
      await new Promise((r) => gate.server.close(r));
      await upstream.close();
    },
  };
  await new Promise<void>((r) => gate.server.listen(0, '127.0.0.1', r));
  gate.url = `http://127.0.0.1:${(gate.server.address() as { port: number }).port}`;
  return gate;
}
