// Which resource limited a run: the server's front door (its event loop), its executors, or the
// machine's cores (shared with the load generator). Sampled once a second from the server's own
// gauges (pareto_event_loop_utilization, pareto_executor_utilization: each since the last scrape)
// and /proc/stat, and over the whole run from the processes' CPU time. Averages over a bursty run
// hide its peaks: the bottleneck is named from the seconds in which requests missed their SLO.
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { cpuSeconds } from './processes.js';

export interface Utilisation {
  /** Busy fractions: the server's event loop, its executors, all the machine's cores. */
  eventLoop: number;
  executors: number;
  machine: number;
}

export interface Resources extends Utilisation {
  /** Cores' worth of CPU the server and this (generating) process used over the run. */
  serverCores: number;
  generatorCores: number;
  /** One sample per second of the run. */
  seconds: Utilisation[];
}

function machineTicks(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + (f[4] ?? 0);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

async function gauges(origin: string, token: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${origin}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^(pareto_event_loop_utilization|pareto_executor_utilization) ([\d.e+-]+)$/gm)) out[m[1]] = Number(m[2]);
  return out;
}

// The sampling runs on a thread of its own: a scrape costs its process 3–20 ms of CPU, and on the
// generator's event loop that once a second made requests leave late (p99 4–7 ms in bench:tradeoff).
if (!isMainThread && workerData?.sampler) {
  const { origin, token } = workerData as { origin: string; token: string };
  await gauges(origin, token); // the gauges count from this scrape
  parentPort!.postMessage('ready');
  let last = machineTicks();
  const timer = setInterval(async () => {
    const g = await gauges(origin, token);
    const m = machineTicks();
    const u: Utilisation = { eventLoop: g.pareto_event_loop_utilization ?? NaN, executors: g.pareto_executor_utilization ?? NaN, machine: (m.busy - last.busy) / Math.max(1, m.total - last.total) };
    last = m;
    parentPort!.postMessage(u);
  }, 1000);
  parentPort!.once('message', () => { clearInterval(timer); parentPort!.close(); });
}

/** Starts measuring; the returned function ends the window. */
export async function watchResources(origin: string, token: string, serverPid: number): Promise<() => Promise<Resources>> {
  const worker = new Worker(new URL(import.meta.url), { workerData: { sampler: true, origin, token } });
  const seconds: Utilisation[] = [];
  worker.on('message', (m: Utilisation | 'ready') => { if (m !== 'ready') seconds.push(m); });
  await once(worker, 'message');
  const t0 = performance.now(), m0 = machineTicks(), s0 = cpuSeconds(serverPid), g0 = process.cpuUsage();
  return async () => {
    worker.postMessage('stop');
    await once(worker, 'exit');
    const wall = (performance.now() - t0) / 1000, m1 = machineTicks();
    const gen = process.cpuUsage(g0);
    const mean = (f: (u: Utilisation) => number) => seconds.reduce((a, u) => a + f(u), 0) / Math.max(1, seconds.length);
    return {
      eventLoop: mean((u) => u.eventLoop),
      executors: mean((u) => u.executors),
      machine: (m1.busy - m0.busy) / Math.max(1, m1.total - m0.total),
      serverCores: (cpuSeconds(serverPid) - s0) / wall,
      generatorCores: (gen.user + gen.system) / 1e6 / wall,
      seconds,
    };
  };
}

/** What was saturated (≥ 90% busy) on average over the given seconds, most likely first. */
export function bottleneck(seconds: readonly Utilisation[]): { name: string; at: Utilisation } {
  const n = Math.max(1, seconds.length);
  const at = {
    eventLoop: seconds.reduce((a, u) => a + u.eventLoop, 0) / n,
    executors: seconds.reduce((a, u) => a + u.executors, 0) / n,
    machine: seconds.reduce((a, u) => a + u.machine, 0) / n,
  };
  const name = at.machine >= 0.9 ? `the machine's ${availableParallelism()} cores (shared with the generator)`
    : at.executors >= 0.9 && at.executors >= at.eventLoop ? 'the executors'
      : at.eventLoop >= 0.9 ? 'the front door (event loop)' : 'none saturated';
  return { name, at };
}
