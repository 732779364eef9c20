// Which resource limited a run: the server's front door (its event loop), its executors, or the
// machine's cores (shared with the load generator). Sampled once a second from the server's own
// gauges (pareto_event_loop_utilization, pareto_executor_utilization: each since the last scrape),
// every 100 ms from /proc (the machine's busy share, the CPU of the server's event-loop thread, of
// its other threads and of the generating process), and over the whole run from the processes'
// CPU time. Averages over a bursty run hide its peaks, and so do seconds: a burst's first 300 ms
// saturated both cores (server ~1.1, generator ~0.7) inside seconds that averaged 55% busy. The
// bottleneck is named from the 100 ms windows in which requests that missed their SLO waited.
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { cpuSeconds, threadCpuSeconds } from './processes.js';

export interface Utilisation {
  /** Busy fractions: the server's event loop, its executors, all the machine's cores. */
  eventLoop: number;
  executors: number;
  machine: number;
}

/** One 100 ms window, from /proc: busy fraction of the machine, and cores' worth of CPU. */
export interface Window {
  /** Its start, ms since the epoch. */
  at: number;
  /** Share of the cores' time this machine's own processes ran. */
  machine: number;
  /**
   * Share of the cores' time the hypervisor gave to others while this machine had work (steal).
   * On this VM it read under 1% in a quiet hour, and up to 39% in a bench's 100 ms windows: time
   * neither the server nor the generator could have used, which no part of Pareto can win back.
   */
  steal: number;
  eventLoopCores: number;
  otherServerCores: number;
  generatorCores: number;
}

export interface Resources extends Utilisation {
  /** Share of the cores' time stolen by the hypervisor over the run (see Window). */
  steal: number;
  /** Cores' worth of CPU the server and this (generating) process used over the run. */
  serverCores: number;
  generatorCores: number;
  /** One sample per second of the run. */
  seconds: Utilisation[];
  /** One per 100 ms. */
  windows: Window[];
}

export const WINDOW_MS = 100;

/** /proc/stat's first line: user nice system idle iowait irq softirq steal guest guest_nice. */
function machineTicks(): { busy: number; steal: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + (f[4] ?? 0), steal = f[7] ?? 0;
  // guest and guest_nice are already counted in user and nice.
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - idle - steal, steal, total };
}

/** The share of the cores' time the hypervisor stole from now until the returned function is called. */
/**
 * The server's CPU from now until the returned function is called: cores on its event loop and on
 * its other threads; and the share of the machine's cores the hypervisor took meanwhile (steal).
 */
export function serverCores(pid: number): () => { main: number; others: number; stolen: number } {
  const cpu0 = threadCpuSeconds(pid);
  const t0 = performance.now();
  const steal = stealMeter();
  return () => {
    const seconds = (performance.now() - t0) / 1000;
    const cpu1 = threadCpuSeconds(pid);
    return { main: (cpu1.main - cpu0.main) / seconds, others: (cpu1.others - cpu0.others) / seconds, stolen: steal() };
  };
}

export function stealMeter(): () => number {
  const t0 = machineTicks();
  return () => {
    const t1 = machineTicks();
    return (t1.steal - t0.steal) / Math.max(1, t1.total - t0.total);
  };
}

/**
 * Steal above this share of the cores' time marks a measurement as the hypervisor's rather than
 * Pareto's: on this VM it read under 1% with both cores busy in a quiet hour, and 5–24% in the
 * hours the benches' tails blew up (bench:abuse, 2026-12-03: B's p99 beside a flood 4.3–9.4 ms in
 * rounds with ≤ 1% stolen, 12–47 ms in rounds with ≥ 5%).
 */
export const STEAL_LIMIT = 0.03;
/** Measurements repeated, at most, after the first when it was disturbed. */
export const STEAL_RETRIES = 2;

/**
 * Runs `measure` until the hypervisor stole at most STEAL_LIMIT of the cores' time while it ran,
 * at most 1 + STEAL_RETRIES times, and returns the last attempt. The disturbed attempts are
 * returned too (the bench prints them: nothing measured is hidden).
 */
export async function undisturbed<T>(measure: () => Promise<T>, stolenIn?: (r: T) => number): Promise<{ result: T; stolen: number; disturbed: Array<{ result: T; stolen: number }> }> {
  const disturbed: Array<{ result: T; stolen: number }> = [];
  for (;;) {
    const steal = stealMeter();
    const result = await measure();
    // `stolenIn`: the steal over the part that counts, where the measurement also waits (RSS settling).
    const stolen = stolenIn ? stolenIn(result) : steal();
    if (stolen <= STEAL_LIMIT || disturbed.length === STEAL_RETRIES) return { result, stolen, disturbed };
    disturbed.push({ result, stolen });
  }
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
  const { origin, token, serverPid } = workerData as { origin: string; token: string; serverPid: number };
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
  const sample = () => ({ at: performance.timeOrigin + performance.now(), machine: machineTicks(), server: threadCpuSeconds(serverPid), generator: cpuSeconds(process.pid) });
  let prev = sample();
  const fine = setInterval(() => {
    const now = sample();
    const s = (now.at - prev.at) / 1000;
    const w: Window = {
      at: prev.at,
      machine: (now.machine.busy - prev.machine.busy) / Math.max(1, now.machine.total - prev.machine.total),
      steal: (now.machine.steal - prev.machine.steal) / Math.max(1, now.machine.total - prev.machine.total),
      eventLoopCores: (now.server.main - prev.server.main) / s,
      otherServerCores: (now.server.others - prev.server.others) / s,
      generatorCores: (now.generator - prev.generator) / s,
    };
    prev = now;
    parentPort!.postMessage(w);
  }, WINDOW_MS);
  parentPort!.once('message', () => { clearInterval(timer); clearInterval(fine); parentPort!.close(); });
}

/** Starts measuring; the returned function ends the window. */
export async function watchResources(origin: string, token: string, serverPid: number): Promise<() => Promise<Resources>> {
  const worker = new Worker(new URL(import.meta.url), { workerData: { sampler: true, origin, token, serverPid } });
  const seconds: Utilisation[] = [];
  const windows: Window[] = [];
  worker.on('message', (m: Utilisation | Window | 'ready') => {
    if (m === 'ready') return;
    if ('at' in m) windows.push(m);
    else seconds.push(m);
  });
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
      steal: (m1.steal - m0.steal) / Math.max(1, m1.total - m0.total),
      serverCores: (cpuSeconds(serverPid) - s0) / wall,
      generatorCores: (gen.user + gen.system) / 1e6 / wall,
      seconds,
      windows,
    };
  };
}

export type WindowMeans = Omit<Window, 'at'>;

/** The mean of each measure over some windows. */
export function meanWindow(windows: readonly Window[]): WindowMeans {
  const n = Math.max(1, windows.length);
  const mean = (f: (w: Window) => number) => windows.reduce((a, w) => a + f(w), 0) / n;
  return { machine: mean((w) => w.machine), steal: mean((w) => w.steal), eventLoopCores: mean((w) => w.eventLoopCores), otherServerCores: mean((w) => w.otherServerCores), generatorCores: mean((w) => w.generatorCores) };
}

/**
 * The windows in which requests that missed their SLO were waiting: from each one's arrival
 * (`startedAt` + at, ms since the epoch) to its answer or its SLO, whichever came first.
 */
export function windowsOfMisses(windows: readonly Window[], startedAt: number, missed: ReadonlyArray<{ at: number; latency: number; sloMs?: number }>): { inMisses: Window[]; others: Window[] } {
  const hit = new Set<Window>();
  for (const o of missed) {
    const from = startedAt + o.at, to = from + Math.min(o.latency, o.sloMs ?? o.latency);
    for (const w of windows) if (w.at < to && w.at + WINDOW_MS > from) hit.add(w);
  }
  return { inMisses: windows.filter((w) => hit.has(w)), others: windows.filter((w) => !hit.has(w)) };
}

/**
 * What limited the windows with misses, on average over them, most likely first: the cores (≥ 90%
 * busy, this machine's processes and steal together), the hypervisor (≥ 15% of the cores' time
 * stolen: ~1–3% here when it is quiet), or the front door (event loop ≥ 90% of a core).
 */
export function windowBottleneck(inMisses: readonly Window[]): string {
  const at = meanWindow(inMisses);
  const stolen = `${Math.round(100 * at.steal)}% of the cores' time taken by the hypervisor`;
  if (at.machine + at.steal >= 0.9) return `the machine's ${availableParallelism()} cores (shared with the generator${at.steal >= 0.1 ? `; ${stolen}` : ''})`;
  if (at.steal >= 0.15) return `the hypervisor: ${stolen}`;
  return at.eventLoopCores >= 0.9 ? 'the front door (event loop)' : 'none saturated';
}
