// Starts bench servers as child processes and reads the port lines they print.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { NODE_ENV, NODE_FLAGS } from '../../src/cli/node-flags.js';

export interface Child {
  process: ChildProcess;
  ports: Record<string, number>;
  stop(): Promise<void>;
}

/**
 * `niceness`: run the child at a lower CPU priority, so that on a machine it shares with the load
 * generator an overloaded server cannot make the generator send late.
 */
export async function startChild(args: string[], until: RegExp, niceness = 0, cpus?: string, flags = NODE_FLAGS, onStartLine?: (line: string) => void): Promise<Child> {
  // `cpus`: pin the child to these CPUs (taskset), e.g. to keep a server off the generator's core.
  // Node processes run with the flags Pareto ships with (src/cli/node-flags.ts), echo servers too,
  // unless a bench compares others (`flags`). `onStartLine`: each line of stdout up to `until`.
  const command = [...(cpus ? ['taskset', '-c', cpus] : []), ...(niceness ? ['nice', '-n', String(niceness)] : []), process.execPath, ...flags, ...args];
  const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...NODE_ENV } });
  const ports: Record<string, number> = {};
  const lines = createInterface({ input: child.stdout! });
  for await (const line of lines) {
    onStartLine?.(line);
    const m = /^(\w+_port)=(\d+)$/.exec(line);
    if (m) ports[m[1]] = Number(m[2]);
    if (until.test(line)) break;
  }
  if (child.exitCode !== null) throw new Error(`${args.join(' ')} exited with ${child.exitCode}`);
  child.stdout!.resume();
  return {
    process: child,
    ports,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}

/** Resident set size of a process, in MiB, from /proc. */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** CPU seconds (user + system) a process has used, from /proc. */
export function cpuSeconds(pid: number): number {
  return statCpuSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

/** The fields of a /proc/…/stat line after the command name (which may itself hold ') '). */
export function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
}

/** utime + stime, seconds: fields 14 and 15 of /proc/PID/stat, i.e. 11 and 12 after the command name. */
function statCpuSeconds(stat: string): number {
  const fields = statFields(stat);
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * Runs a C load generator (`argv`, at `niceness`) to its end: its stdout, its exit code and the CPU
 * it used. A shell waits for it, then prints its own /proc stat, whose cutime and cstime (fields 16
 * and 17, 13 and 14 after the command name) are the generator's CPU; NaN when it failed.
 */
export function runMeasured(argv: string[], opts: { niceness?: number; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number | null; out: string; cpuSeconds: number }> {
  const command = [...(opts.niceness ? ['nice', '-n', String(opts.niceness)] : []), 'sh', '-c', '"$@" && cat /proc/$$/stat', 'sh', ...argv];
  const child = spawn(command[0], command.slice(1), { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  return new Promise((resolve) => child.once('exit', (code) => {
    const stat = statFields(out); // the shell's stat line comes last
    resolve({ code, out, cpuSeconds: code === 0 ? (Number(stat[13]) + Number(stat[14])) / 100 : NaN });
  }));
}

export interface FloodResult { requests: number; statuses: Record<string, number>; sendLagP99: number }

/**
 * A helper process that is running. Its result is wrapped in an object: a promise resolved with a
 * promise takes on that promise's outcome, so `await start()` returning the result's promise
 * itself waited for the whole run (bench:abuse's quota cells and bench:slo's isolation measured
 * B only after the flood had ended).
 */
export interface Running<T> { done: Promise<T> }

/**
 * A noisy tenant's open-loop stream from a process of its own (bench/lib/flood.ts, given its
 * flags; at `niceness`): resolves once it is sending.
 */
export function startFlood(flags: string[], niceness = 0): Promise<Running<FloodResult>> {
  return startHelper<FloodResult>('flood.js', flags, niceness);
}

/**
 * One of bench/lib's helper processes (it prints `sending` when it starts, then `result=<json>`):
 * resolves once it is sending; `done` settles once the process has gone.
 */
export async function startHelper<T>(script: string, flags: string[], niceness = 0): Promise<Running<T>> {
  const path = join(new URL('.', import.meta.url).pathname, script);
  const command = [...(niceness ? ['nice', '-n', String(niceness)] : []), process.execPath, ...NODE_FLAGS, path, ...flags];
  const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  let sending!: () => void;
  const started = new Promise<void>((resolve) => { sending = resolve; });
  // Settled once the process has gone, with its connections: hundreds of them closing at once
  // stalled the server for ~20 ms at the start of the round after.
  const result = new Promise<T>((resolve, reject) => {
    let found: T | undefined;
    lines.on('line', (line) => {
      if (line === 'sending') sending();
      else if (line.startsWith('result=')) found = JSON.parse(line.slice('result='.length)) as T;
    });
    child.once('exit', (code) => found !== undefined ? setTimeout(() => resolve(found!), 250) : reject(new Error(`${script} exited with ${code} before its result`)));
  });
  await Promise.race([started, result]);
  return { done: result };
}

/** CPU seconds of a process's main thread, and of all its other threads (V8's GC helpers, workers), from /proc. */
export function threadCpuSeconds(pid: number): { main: number; others: number } {
  let main = 0;
  let others = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // a thread that ended meanwhile
    }
    const seconds = statCpuSeconds(stat);
    if (Number(tid) === pid) main += seconds;
    else others += seconds;
  }
  return { main, others };
}
