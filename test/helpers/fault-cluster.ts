// A whole cluster across network namespaces, for network faults: Redis, three workers, two
// gateways and the client, each a real process on a host of its own (test/helpers/netns.ts), all
// on one bridge. The gateways and workers log at info; their routing and heartbeat events are
// collected with the time they were logged.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startRole, type RoleProcess } from '../../src/cluster/local-cluster.js';
import { startRedisServer, type RedisServer } from '../../src/cluster/redis-server.js';
import { hashKey } from '../../src/tenancy/tenants.js';
import { clusterRepository, until } from './cluster.js';
import type { FaultClientOptions } from '../../bench/lib/fault-client.js';
import { TestNetwork } from './netns.js';

export const KEY = 'fault-key';
const PORT = 8000;
const CLIENT = fileURLToPath(new URL('../../bench/lib/fault-client.js', import.meta.url));

export interface LogEvent {
  /** Epoch ms, as logged. */
  at: number;
  /** The host that logged it (w0, g1, …). */
  host: string;
  msg: string;
  fields: Record<string, unknown>;
}

export interface Outcome {
  sentAt: number;
  latencyMs: number;
  /** HTTP status; 0: no answer within the client's timeout. */
  status: number;
  gateway: number;
}

export class FaultCluster {
  readonly events: LogEvent[] = [];
  private readonly roles: RoleProcess[] = [];
  private redis?: RedisServer;
  private readonly repo = clusterRepository();

  private constructor(readonly net: TestNetwork, readonly workers: string[], readonly gateways: string[]) {}

  /** `sloMs`: the tenant's latency SLO. */
  static async start(sloMs: number, log: (line: string) => void = () => undefined): Promise<FaultCluster> {
    const workers = ['w0', 'w1', 'w2'];
    const gateways = ['g0', 'g1'];
    const c = new FaultCluster(new TestNetwork(['redis', ...workers, ...gateways, 'client']), workers, gateways);
    try {
      const tenants = join(c.repo.dir, 'tenants.yaml');
      writeFileSync(tenants, `tenants:
  - id: steady
    keys: ["${hashKey(KEY)}"]
    models: ["*"]
    rate_limit: { samples_per_second: 100000, burst: 10000 }
    max_concurrency: 4096
    slo: { default: { latency_ms: ${sloMs} } }
`);
      c.redis = await startRedisServer(6379, c.net.ip('redis'), (argv) => c.net.command('redis', argv));
      await Promise.all(workers.map((host) => c.role(host, ['worker', '-r', c.repo.dir, '--executors', '1', '--redis', c.redis!.url], log)));
      await Promise.all(gateways.map((host) => c.role(host, ['gateway', '--redis', c.redis!.url, '--tenants', tenants, '--gateway-id', host], log)));
      await until(() => gateways.every((g) => workers.every((w) => c.routing(g, w, 0).some((e) => e.msg === 'worker up'))), 20_000, 'both gateways route to all three workers');
    } catch (e) {
      await c.close();
      throw e;
    }
    return c;
  }

  private async role(host: string, args: string[], log: (line: string) => void): Promise<void> {
    const ip = this.net.ip(host);
    const p = await startRole([...args, '--host', ip, '--http-port', String(PORT), '--grpc-port', String(PORT + 1), '--log-level', 'info'], (line) => {
      const json = line.slice(line.indexOf(': ') + 2);
      try {
        const { time, msg, level: _l, pid: _p, hostname: _h, ...fields } = JSON.parse(json) as Record<string, unknown>;
        this.events.push({ at: Number(time), host, msg: String(msg), fields });
      } catch { log(`${host}: ${line}`); }
    }, (argv) => this.net.command(host, argv));
    this.roles.push(p);
  }

  origin(host: string): string {
    return `http://${this.net.ip(host)}:${PORT}`;
  }

  /** Events about routing to `worker` logged by `gateway` since `since` (epoch ms). */
  routing(gateway: string, worker: string, since: number): LogEvent[] {
    // Over REST (the default) a gateway names a worker by its origin, over gRPC by host:port.
    const addresses = [this.origin(worker), `${this.net.ip(worker)}:${PORT + 1}`];
    return this.events.filter((e) => e.host === gateway && e.at >= since && addresses.includes(String(e.fields.address)) && /^worker (up|down|left)$/.test(e.msg));
  }

  /** The first requests of a fresh cluster are slow (connections, JIT): not part of any "before". */
  async warmUp(rate: number, ms = 3000): Promise<void> {
    await this.traffic(rate, ms);
  }

  /** Runs the client in its namespace for `durationMs` at `rate` requests/s; resolves with every request's outcome. */
  traffic(rate: number, durationMs: number, timeoutMs = 3000): Promise<Outcome[]> {
    const opts: FaultClientOptions = { gateways: this.gateways.map((g) => this.origin(g)), key: KEY, rate, durationMs, timeoutMs };
    const [cmd, ...args] = this.net.command('client', [process.execPath, CLIENT, JSON.stringify(opts)]);
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const out: Outcome[] = [];
    return new Promise((resolve, reject) => {
      let done = false;
      createInterface({ input: child.stdout }).on('line', (line) => {
        if (line === 'done') { done = true; return; }
        const [sentAt, latencyMs, status, gateway] = line.split(' ').map(Number);
        out.push({ sentAt: sentAt!, latencyMs: latencyMs!, status: status!, gateway: gateway! });
      });
      child.once('exit', (code) => (done ? resolve(out) : reject(new Error(`the fault client exited with ${code} before it was done`))));
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.roles.map((p) => {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      return p.exited;
    }));
    await this.redis?.stop();
    this.net.remove();
    this.repo.remove();
  }
}
