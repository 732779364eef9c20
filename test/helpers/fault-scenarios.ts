// The network faults of issue #18, each as iptables rules inside one host's namespace, and one
// run of a fault under steady traffic: before, during, after healing.
import { percentile, sortedCopy } from '../../bench/lib/stats.js';
import type { FaultCluster, LogEvent } from './fault-cluster.js';

export interface Scenario {
  name: string;
  /** The host whose namespace gets the rules. */
  host: string;
  rules(c: FaultCluster): string[][];
  /** Workers the gateways should take out of routing, per gateway; none: every worker stays routed. */
  down(c: FaultCluster): Map<string, string[]>;
  /** Workers the gateways may take out or keep (a lossy one: routed around as slow, or out). */
  mayGo?(c: FaultCluster): Map<string, string[]>;
}

const both = (ip: string) => [['OUTPUT', '-d', ip, '-j', 'DROP'], ['INPUT', '-s', ip, '-j', 'DROP']];
const everyGateway = (c: FaultCluster, worker: string) => new Map(c.gateways.map((g) => [g, [worker]]));

export const SCENARIOS: Scenario[] = [
  {
    name: 'a worker blackholed (DROP both ways)', host: 'w0',
    rules: () => [['INPUT', '!', '-i', 'lo', '-j', 'DROP'], ['OUTPUT', '!', '-o', 'lo', '-j', 'DROP']],
    down: (c) => everyGateway(c, 'w0'),
  },
  {
    name: 'a worker resets every connection', host: 'w0',
    rules: () => [['INPUT', '!', '-i', 'lo', '-p', 'tcp', '-j', 'REJECT', '--reject-with', 'tcp-reset']],
    down: (c) => everyGateway(c, 'w0'),
  },
  {
    name: 'one gateway → one worker, one way', host: 'g0',
    rules: (c) => [['OUTPUT', '-d', c.net.ip('w0'), '-j', 'DROP']],
    down: () => new Map([['g0', ['w0']]]),
  },
  {
    name: 'a worker cut from Redis only', host: 'w0',
    rules: (c) => both(c.net.ip('redis')),
    down: () => new Map(),
  },
  {
    name: 'a gateway cut from Redis', host: 'g0',
    rules: (c) => both(c.net.ip('redis')),
    down: () => new Map(),
  },
  {
    name: 'a gateway cut from every worker', host: 'g0',
    rules: (c) => c.workers.flatMap((w) => both(c.net.ip(w))),
    down: (c) => new Map([['g0', c.workers]]),
  },
  {
    name: '5% packet loss on a worker', host: 'w0',
    rules: () => ['INPUT', 'OUTPUT'].map((chain) => [chain, '!', chain === 'INPUT' ? '-i' : '-o', 'lo', '-m', 'statistic', '--mode', 'random', '--probability', '0.05', '-j', 'DROP']),
    down: () => new Map(),
    mayGo: (c) => everyGateway(c, 'w0'),
  },
];

export interface FaultRun {
  scenario: string;
  requests: number;
  lost: number;
  /** Answers by status during the fault. */
  during: Record<number, number>;
  p99BeforeMs: number;
  p99DuringMs: number;
  p99AfterMs: number;
  /** Per gateway and expected-down worker: ms from the fault to its first down (or left); undefined: never. */
  downAfterMs: Record<string, number | undefined>;
  /** Per gateway and expected-down worker: ms from healing to its first up; undefined: never. */
  upAfterMs: Record<string, number | undefined>;
  /** Routing changes (down, left) for workers that should have stayed routed. */
  wrongDowns: LogEvent[];
  /** Routing changes beyond one down and one up per expected worker and gateway. */
  flaps: number;
  /** Worker log lines about failed heartbeats during the fault. */
  heartbeatWarnings: number;
  /** Rate-limit mode changes logged by gateways during the run. */
  rateLimitFlips: number;
}

const p99 = (xs: number[]) => percentile(sortedCopy(xs), 0.99);

export async function runFault(c: FaultCluster, s: Scenario, o: { rate: number; beforeMs: number; faultMs: number; afterMs: number }): Promise<FaultRun> {
  const start = Date.now();
  const traffic = c.traffic(o.rate, o.beforeMs + o.faultMs + o.afterMs);
  await new Promise((r) => setTimeout(r, o.beforeMs));
  const faultAt = Date.now();
  c.net.fault(s.host, s.rules(c));
  await new Promise((r) => setTimeout(r, o.faultMs));
  const healAt = Date.now();
  c.net.heal(s.host);
  const outcomes = await traffic;
  // Reports and membership settle after the last request.
  await new Promise((r) => setTimeout(r, 1000));

  const answered = (from: number, to: number) => outcomes.filter((x) => x.status !== 0 && x.sentAt >= from && x.sentAt < to).map((x) => x.latencyMs);
  const during: Record<number, number> = {};
  for (const x of outcomes) if (x.sentAt >= faultAt && x.sentAt < healAt) during[x.status] = (during[x.status] ?? 0) + 1;
  const expected = s.down(c);
  const downAfterMs: FaultRun['downAfterMs'] = {};
  const upAfterMs: FaultRun['upAfterMs'] = {};
  const wrongDowns: LogEvent[] = [];
  let flaps = 0;
  for (const g of c.gateways) {
    for (const w of c.workers) {
      // Transitions only: a worker that is down and then leaves membership went out once.
      let routed = true;
      const outs: LogEvent[] = [];
      const ins: LogEvent[] = [];
      for (const e of c.routing(g, w, faultAt)) {
        if (e.msg === 'worker up' && !routed) { routed = true; ins.push(e); }
        if (e.msg !== 'worker up' && routed) { routed = false; outs.push(e); }
      }
      if (!(expected.get(g)?.includes(w) ?? false)) {
        if (s.mayGo?.(c).get(g)?.includes(w)) flaps += Math.max(0, outs.length - 1);
        else wrongDowns.push(...outs);
        continue;
      }
      const down = outs.find((e) => e.at < healAt);
      const up = ins.find((e) => e.at >= healAt);
      downAfterMs[`${g}→${w}`] = down && down.at - faultAt;
      upAfterMs[`${g}→${w}`] = up && up.at - healAt;
      flaps += Math.max(0, outs.length - 1) + Math.max(0, ins.length - 1);
    }
  }
  return {
    scenario: s.name,
    requests: outcomes.length,
    lost: outcomes.filter((x) => x.status === 0).length,
    during,
    p99BeforeMs: p99(answered(start, faultAt)),
    p99DuringMs: p99(answered(faultAt, healAt)),
    p99AfterMs: p99(answered(healAt + 2000, Infinity)),
    downAfterMs, upAfterMs, wrongDowns, flaps,
    heartbeatWarnings: c.events.filter((e) => e.host.startsWith('w') && e.at >= faultAt && /heartbeat/.test(e.msg)).length,
    rateLimitFlips: c.events.filter((e) => e.host.startsWith('g') && e.at >= start && /rate limits/i.test(e.msg)).length,
  };
}
