// Real cluster parts for tests: a redis-server process on a free loopback port, worker processes
// (`pareto worker`, so kill -9 kills a real process), and a small model repository for them.
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUNDLED_MODELS } from './server.js';

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;

/** Why cluster tests cannot run here, or false. CI installs Redis (scripts/install-redis.sh). */
export function redisMissing(): string | false {
  const found = (process.env.PATH ?? '').split(':').some((d) => existsSync(join(d, 'redis-server')));
  return !found && !process.env.CI ? 'redis-server is not installed (run scripts/install-redis.sh)' : false;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface RedisProcess {
  url: string;
  port: number;
  stop(): Promise<void>;
  /** Starts it again on the same port (after stop). */
  start(): Promise<void>;
}

export async function startRedis(): Promise<RedisProcess> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await waitForLine(child, /Ready to accept connections/);
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    start,
    async stop() {
      if (!child || child.exitCode !== null) return;
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

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

export interface WorkerProcess {
  child: ChildProcess;
  address: string;
  httpPort: number;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function startWorkerProcess(repository: string, redisUrl?: string, extra: string[] = []): Promise<WorkerProcess> {
  const args = [CLI, 'worker', '-r', repository, '--host', '127.0.0.1', '--http-port', '0', '--grpc-port', '0', '--executors', '1', '--log-level', 'warn', ...extra];
  if (redisUrl) args.push('--redis', redisUrl);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
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
