// Real cluster parts for tests: redis-server processes (src/cluster/redis-server.ts), worker processes
// (`pareto worker`, so kill -9 kills a real process), and a small model repository for them.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRole, type RoleProcess } from '../../src/cluster/local-cluster.js';
import { redisServerInstalled } from '../../src/cluster/redis-server.js';
import { BUNDLED_MODELS } from './server.js';

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
