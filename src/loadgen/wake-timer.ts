// Wakes the event loop at a time to within ~0.1 ms, without polling it. Node's timers fire up to
// ~1 ms late, so the open-loop generator used to poll with setImmediate near each arrival; at
// bench:tradeoff's bursts (~1,200 requests/s) that poll never stopped, and at the generator's
// raised priority it took most of a core from the server it measured (the server's latency
// collapsed to seconds with its event loop 55–70% busy). Here a thread of its own sleeps in
// Atomics.wait (a futex, with a sub-millisecond timeout) and posts a message when it is time,
// which wakes the event loop at once.
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';

const SLEEPER = `
const { parentPort } = require('node:worker_threads');
const cell = new Int32Array(new SharedArrayBuffer(4));
parentPort.on('message', (ms) => {
  if (ms > 0) Atomics.wait(cell, 0, 0, ms);
  parentPort.postMessage(0);
});
`;

export class WakeTimer {
  // No inherited exec arguments: under --input-type=module the CommonJS sleeper would not run.
  private readonly worker = new Worker(SLEEPER, { eval: true, execArgv: [] });
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
    this.worker.postMessage(ms);
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
