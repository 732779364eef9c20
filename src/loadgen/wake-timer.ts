// Wakes the event loop at a time to within ~0.1 ms, without polling it. Node's timers fire up to
// ~1 ms late, so the open-loop generator used to poll with setImmediate near each arrival; at
// bench:tradeoff's bursts (~1,200 requests/s) that poll never stopped, and at the generator's
// raised priority it took most of a core from the server it measured (the server's latency
// collapsed to seconds with its event loop 55–70% busy). Here a thread of its own sleeps in
// Atomics.wait (a futex, with a sub-millisecond timeout) and posts a message when it is time,
// which wakes the event loop at once.
import { once } from 'node:events';
import type { Worker } from 'node:worker_threads';
import { newWorker } from '../runtime/new-worker.js';

// The sleeper never returns to its event loop: it waits on the shared cells for the next wait
// (the sequence number in cell 0 changes; −1 ends it), sleeps it out, and posts. With a message
// each way its thread cost ~50 µs of CPU per wake, ~42 µs this way; the generator as a whole,
// 216 against 248–260 µs per request (probe at 1,450 requests/s, 3 runs each: bench/RESULTS.md).
const SLEEPER = `
const { parentPort, workerData } = require('node:worker_threads');
const seq = new Int32Array(workerData, 0, 2);
const wait = new Float64Array(workerData, 8, 1);
let seen = 0;
for (;;) {
  Atomics.wait(seq, 0, seen);
  seen = Atomics.load(seq, 0);
  if (seen < 0) break;
  if (wait[0] > 0) Atomics.wait(seq, 1, 0, wait[0]);
  parentPort.postMessage(0);
}
`;

export class WakeTimer {
  /** [sequence number, never set (slept on)], then the wait in ms as a double. */
  private readonly cells = new SharedArrayBuffer(16);
  private readonly seq = new Int32Array(this.cells, 0, 2);
  private readonly wait = new Float64Array(this.cells, 8, 1);
  // No inherited exec arguments: under --input-type=module the CommonJS sleeper would not run.
  private readonly worker = newWorker(SLEEPER, { eval: true, execArgv: [], workerData: this.cells });
  private callback?: () => void;

  /** A timer whose thread is running (a thread takes ~30 ms to start: the first wakes would be late). */
  static async start(): Promise<WakeTimer> {
    const timer = new WakeTimer();
    // Held while it starts: on a thread with nothing else pending (a generator in a worker), an
    // unreferenced thread let the event loop end before 'online' came.
    timer.worker.ref();
    await once(timer.worker, 'online');
    timer.worker.unref();
    return timer;
  }

  private constructor() {
    this.worker.on('message', () => {
      const cb = this.callback;
      this.callback = undefined;
      this.worker.unref();
      cb?.();
    });
    this.worker.unref();
  }

  /** Calls `cb` after `ms`; one wait at a time. */
  after(ms: number, cb: () => void): void {
    this.callback = cb;
    this.worker.ref();
    this.wait[0] = ms;
    // Wraps within the positive numbers: a negative one tells the sleeper to end.
    Atomics.store(this.seq, 0, (Atomics.load(this.seq, 0) + 1) & 0x7fffffff);
    Atomics.notify(this.seq, 0);
  }

  async close(): Promise<void> {
    Atomics.store(this.seq, 0, -1);
    Atomics.notify(this.seq, 0);
    await once(this.worker, 'exit');
  }
}
