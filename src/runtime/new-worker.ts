// Worker threads with heaps of their own size. Pareto's processes start with heap flags sized for
// the event loop (cli/node-flags.ts), but V8 applies those flags to every isolate and lets them
// override a Worker's resourceLimits: each worker thread (executors, decoders, the body sink, the
// gRPC thread) could grow a 2 × 64 MiB young generation and hold an old generation's floor of
// garbage before its first full collection. Under bench:soak, worker heaps stepped RSS up for
// minutes. The flags are cleared once, before the first worker starts: the main isolate keeps the
// sizes it was configured with at start-up, and each worker gets V8's defaults (or its resourceLimits).
import { setFlagsFromString } from 'node:v8';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { NODE_FLAGS } from '../cli/node-flags.js';

let cleared = false;

/** A worker thread whose heap is sized by V8's defaults and `options.resourceLimits`, not by the process's heap flags. */
export function newWorker(url: URL | string, options?: WorkerOptions): Worker {
  if (!cleared) {
    cleared = true;
    // Each is a heap size, where 0 is V8's own choice.
    for (const flag of NODE_FLAGS) setFlagsFromString(flag.replace(/=.*$/, '=0'));
  }
  return new Worker(url, options);
}
