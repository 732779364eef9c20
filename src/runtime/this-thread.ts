// The calling thread as the OS sees it (Linux; elsewhere these do nothing): its priority and its
// name; and a clock every thread reads alike.
import { readFileSync, writeFileSync } from 'node:fs';
import { setPriority } from 'node:os';

/**
 * Lowers the calling thread's CPU priority (a thread's niceness is its own; setpriority on its
 * TID), so bulk work on a worker thread yields the core to the event loop and the executors.
 */
export function niceThisThread(niceness: number): void {
  if (niceness <= 0) return;
  try {
    setPriority(Number(readFileSync('/proc/thread-self/stat', 'utf8').split(' ')[0]), niceness);
  } catch { /* not Linux, or not permitted: run at the process's priority */ }
}

/**
 * Names the calling thread (at most 15 bytes), so that `top -H`, `ps -L` and
 * /proc/PID/task/TID/schedstat tell Pareto's threads apart: every thread of a Node process is
 * otherwise "node". Found that way: the run-queue wait of the executor threads, not the event
 * loop, is where a steady tenant's slowest requests spent their time (bench/RESULTS.md).
 */
export function nameThisThread(name: string): void {
  try {
    writeFileSync('/proc/thread-self/comm', name.slice(0, 15));
  } catch { /* not Linux: unnamed */ }
}

/**
 * Milliseconds on the process's monotonic clock, the same in every thread (performance.now() counts
 * from each thread's own start): for the time a message takes from one thread to another.
 */
export function crossThreadMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
