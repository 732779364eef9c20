// Lowers the calling thread's CPU priority (Linux: a thread's niceness is its own; setpriority on
// its TID), so bulk work on a worker thread yields the core to the event loop and the executors.
import { readFileSync } from 'node:fs';
import { setPriority } from 'node:os';

export function niceThisThread(niceness: number): void {
  if (niceness <= 0) return;
  try {
    setPriority(Number(readFileSync('/proc/thread-self/stat', 'utf8').split(' ')[0]), niceness);
  } catch { /* not Linux, or not permitted: run at the process's priority */ }
}
