// Real cluster parts for tests: redis-server processes (src/cluster/redis-server.ts), worker processes
// (`pareto worker`, so kill -9 kills a real process), and a small model repository for them.
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { redisServerInstalled } from '../../src/cluster/redis-server.js';
import { BUNDLED_MODELS } from './server.js';

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;

/** Why cluster tests cannot run here, or false. CI installs Redis (scripts/install-redis.sh). */
export function redisMissing(): string | false {
  return !redisServerInstalled() && !process.env.CI ? 'redis-server is not installed (run scripts/install-redis.sh)' : false;
}

export type WorkerProcess = RoleProcess;
export { startRedisServer as startRedis, type RedisServer as RedisProcess } from '../../src/cluster/redis-server.js';

function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}; output:\n${out}`)), timeoutMs);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = out.match(pattern);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        resolve(m);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`exited with ${code} before ${pattern}; output:\n${out}`)); });
  });
}

/** A repository with mnist-mlp only: workers load in about a second. */
export function clusterRepository(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'pareto-cluster-'));
  cpSync(join(BUNDLED_MODELS, 'mnist-mlp'), join(dir, 'mnist-mlp'), { recursive: true });
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface RoleProcess {
  child: ChildProcess;
  address: string;
  httpPort: number;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

export function startWorkerProcess(repository: string, redisUrl?: string, extra: string[] = []): Promise<RoleProcess> {
  return startRole(['worker', '-r', repository, '--executors', '1', ...(redisUrl ? ['--redis', redisUrl] : []), ...extra]);
}

export function startGatewayProcess(redisUrl: string, extra: string[] = []): Promise<RoleProcess> {
  return startRole(['gateway', '--redis', redisUrl, ...extra]);
}

/** `pareto <role>` as a child process on free loopback ports. */
async function startRole(args: string[]): Promise<RoleProcess> {
  const child = spawn(process.execPath, [CLI, ...args, '--host', '127.0.0.1', '--http-port', '0', '--grpc-port', '0', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const [, http, grpcPort] = await waitForLine(child, /http_port=(\d+)\ngrpc_port=(\d+)/);
  return {
    child, address: `127.0.0.1:${grpcPort}`, httpPort: Number(http), exited,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
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
