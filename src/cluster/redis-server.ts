// Starts a real redis-server process on a loopback port, for `pareto cluster up`, tests and
// bench:cluster (Debian's package, installed by scripts/install-redis.sh). No persistence: the
// cluster's state in Redis is soft (heartbeats, token buckets) and rebuilds itself.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { onPath } from '../on-path.js';

export function redisServerInstalled(): boolean {
  return onPath('redis-server');
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

export interface RedisServer {
  url: string;
  port: number;
  /** Kills it (SIGKILL: what a crash looks like to clients). */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
  /** Sends it a signal: SIGSTOP makes a Redis that stops answering with its connections open. */
  signal(signal: NodeJS.Signals): void;
}

/** `host` and `wrap` (the command line it runs under) place it in a test's network namespace. */
export async function startRedisServer(port?: number, host = '127.0.0.1', wrap: (argv: string[]) => string[] = (argv) => argv): Promise<RedisServer> {
  const chosen = port ?? await freePort();
  let child: ChildProcess | undefined;
  const start = () => new Promise<void>((resolve, reject) => {
    const [cmd, ...args] = wrap(['redis-server', '--port', String(chosen), '--bind', host, '--protected-mode', host === '127.0.0.1' ? 'yes' : 'no', '--save', '', '--appendonly', 'no']);
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      if (/Ready to accept connections/.test(out)) {
        c.stdout!.off('data', onData);
        c.stdout!.resume();
        resolve();
      }
    };
    c.stdout!.on('data', onData);
    c.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    c.once('error', (e) => reject(new Error(`cannot start redis-server (install it with scripts/install-redis.sh): ${e.message}`)));
    c.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${out.trim().split('\n').slice(-3).join(' | ')}`)));
  });
  await start();
  return {
    url: `redis://${host}:${chosen}`,
    port: chosen,
    start,
    signal: (signal) => { child?.kill(signal); },
    async stop() {
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await exited;
    },
  };
}
