// `pareto cluster up`: a whole cluster on this machine, as separate processes — redis-server (unless
// one is given), gateways and workers — with the autoscaler acting for real: every interval it sums
// the gateways' pareto_autoscaler_desired_workers, rounds up, clamps to [min, max], starts workers
// at once when more are needed and stops one (SIGTERM: it leaves, finishes, exits) per interval
// when fewer are, after the need has stayed lower for two intervals.
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { NODE_ENV, NODE_FLAGS } from '../cli/node-flags.js';
import { metricValue } from '../telemetry/prometheus-text.js';
import { startRedisServer, type RedisServer } from './redis-server.js';

const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));

export interface LocalClusterOptions {
  repository: string;
  tenants?: string;
  gateways: number;
  minWorkers: number;
  maxWorkers: number;
  /** Executor threads per worker. */
  executorsPerWorker: number;
  host: string;
  /** The first gateway's ports (0: free ones); further gateways take free ports. */
  httpPort: number;
  grpcPort: number;
  redis?: string;
  scaleIntervalMs: number;
  targetUtilization: number;
  /** Seconds over which gateways smooth arrival rates. */
  autoscaleWindowS: number;
  adminToken?: string;
  log: (line: string) => void;
}

export interface RoleProcess {
  child: ChildProcess;
  httpPort: number;
  grpcPort: number;
  /** Its exit code (null when a signal ended it). */
  exited: Promise<number | null>;
}

/**
 * Starts `pareto <args>` (serve, worker, gateway) with Pareto's node flags and resolves once it
 * serves, with the ports it printed; after that its output goes on to `log`, prefixed with its role.
 * `wrap`: the command line it runs under (a network namespace, in the fault tests).
 */
export function startRole(args: string[], log: (line: string) => void = () => undefined, wrap: (argv: string[]) => string[] = (argv) => argv): Promise<RoleProcess> {
  return new Promise((resolve, reject) => {
    let serving = false;
    const [cmd, ...rest] = wrap([process.execPath, ...NODE_FLAGS, CLI, ...args]);
    const child = spawn(cmd, rest, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...NODE_ENV } });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const ports: Record<string, number> = {};
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (serving) return log(`${args[0]} ${child.pid}: ${line}`);
      const m = /^(http|grpc)_port=(\d+)$/.exec(line);
      if (m) ports[m[1]] = Number(m[2]);
      if (/^pareto \w+ on /.test(line)) {
        serving = true;
        resolve({ child, httpPort: ports.http, grpcPort: ports.grpc, exited });
      }
    });
    child.once('exit', (code) => reject(new Error(`pareto ${args[0]} exited with ${code} before it was serving`)));
  });
}

export class LocalCluster {
  /** The gateways' /metrics token: this process reads their autoscaling need there. */
  private readonly metricsToken = randomBytes(18).toString('base64url');
  private redisServer?: RedisServer;
  redisUrl = '';
  readonly gateways: RoleProcess[] = [];
  readonly workers: RoleProcess[] = [];
  private timer: NodeJS.Timeout | undefined;
  private lowerFor = 0;
  private stopping = false;
  /** Desired worker counts as decided, newest last (for tests and the log). */
  readonly decisions: number[] = [];

  constructor(private readonly opts: LocalClusterOptions) {}

  async up(): Promise<void> {
    const o = this.opts;
    if (o.redis) this.redisUrl = o.redis;
    else {
      this.redisServer = await startRedisServer();
      this.redisUrl = this.redisServer.url;
      o.log(`redis-server on ${this.redisUrl}`);
    }
    await Promise.all(Array.from({ length: o.minWorkers }, () => this.addWorker()));
    for (let i = 0; i < o.gateways; i++) {
      const g = await startRole([
        'gateway', '--host', o.host, '--redis', this.redisUrl,
        '--http-port', String(i === 0 ? o.httpPort : 0), '--grpc-port', String(i === 0 ? o.grpcPort : 0),
        '--target-utilization', String(o.targetUtilization), '--autoscale-window', String(o.autoscaleWindowS), '--log-level', 'warn',
        '--metrics-token', this.metricsToken,
        ...(o.tenants ? ['--tenants', o.tenants] : []), ...(o.adminToken ? ['--admin-token', o.adminToken] : []),
      ], o.log);
      this.gateways.push(g);
      await this.untilReady(g);
      o.log(`gateway ${i + 1} on http://${o.host}:${g.httpPort} (REST) and ${o.host}:${g.grpcPort} (gRPC)`);
    }
    this.timer = setInterval(() => void this.scale(), o.scaleIntervalMs);
  }

  /** A gateway is ready once a worker has reported to it. */
  private async untilReady(g: RoleProcess): Promise<void> {
    for (let i = 0; i < 200; i++) {
      const ok = await fetch(`http://127.0.0.1:${g.httpPort}/v2/health/ready`).then((r) => r.ok, () => false);
      if (ok) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`gateway on port ${g.httpPort} did not become ready in 10 s`);
  }

  private async addWorker(): Promise<void> {
    const o = this.opts;
    const w = await startRole([
      'worker', '-r', o.repository, '--host', o.host, '--http-port', '0', '--grpc-port', '0',
      '--executors', String(o.executorsPerWorker), '--redis', this.redisUrl, '--log-level', 'warn',
      ...(o.adminToken ? ['--admin-token', o.adminToken] : []),
    ], o.log);
    this.workers.push(w);
    // A worker that dies is replaced at the next scaling step (the count falls below the need).
    void w.exited.then(() => { const i = this.workers.indexOf(w); if (i >= 0) this.workers.splice(i, 1); });
  }

  /** The gateways' summed need, rounded up and clamped; NaN if no gateway answered. */
  async desired(): Promise<number> {
    const loads = await Promise.all(this.gateways.map(async (g) => {
      try {
        const text = await (await fetch(`http://127.0.0.1:${g.httpPort}/metrics`, { headers: { authorization: `Bearer ${this.metricsToken}` }, signal: AbortSignal.timeout(1000) })).text();
        const load = metricValue(text, 'pareto_autoscaler_desired_workers');
        return Number.isNaN(load) ? 0 : load;
      } catch {
        return NaN;
      }
    }));
    const answered = loads.filter((x) => !Number.isNaN(x));
    if (answered.length === 0) return NaN;
    const sum = answered.reduce((a, b) => a + b, 0);
    return Math.min(this.opts.maxWorkers, Math.max(this.opts.minWorkers, Math.ceil(sum - 1e-9)));
  }

  private scaling = false;

  async scale(): Promise<void> {
    if (this.scaling || this.stopping) return;
    this.scaling = true;
    try {
      const want = await this.desired();
      if (Number.isNaN(want)) return;
      this.decisions.push(want);
      const have = this.workers.length;
      if (want > have) {
        this.lowerFor = 0;
        this.opts.log(`autoscaler: ${have} → ${want} workers`);
        await Promise.all(Array.from({ length: want - have }, () => this.addWorker()));
      } else if (want < have) {
        if (++this.lowerFor < 2) return;
        this.lowerFor = 0;
        const w = this.workers.pop()!;
        this.opts.log(`autoscaler: ${have} → ${have - 1} workers`);
        w.child.kill('SIGTERM');
        await w.exited;
      } else this.lowerFor = 0;
    } finally {
      this.scaling = false;
    }
  }

  async down(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    const stop = async (p: RoleProcess) => { p.child.kill('SIGTERM'); await p.exited; };
    await Promise.all(this.gateways.map(stop));
    await Promise.all(this.workers.map(stop));
    await this.redisServer?.stop();
  }
}
