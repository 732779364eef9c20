// Pareto's worker threads carry names the OS shows (top -H, ps -L, /proc/PID/task/TID/comm), so
// an operator can tell an executor's run-queue wait from a decoder's; unnamed, every one is "node".
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { ExecutorPool } from '../../src/runtime/executor-pool.js';
import { DecoderPool } from '../../src/protocol/rest/decoder-pool.js';

const ROOT = new URL('../../..', import.meta.url).pathname;

/** The names of this process's threads. */
const threadNames = () => readdirSync('/proc/self/task').map((tid) => {
  try { return readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim(); } catch { return ''; }
});

describe('thread names', { skip: process.platform !== 'linux' && 'thread names are read from /proc' }, () => {
  it('names executor and decoder threads, and leaves the main thread as it was', async () => {
    const main = readFileSync('/proc/thread-self/comm', 'utf8').trim();
    const executors = new ExecutorPool({ executors: 2 });
    const decoders = new DecoderPool({ threads: 1, maxJsonBytes: 1 << 20, niceness: 0, now: () => performance.now() });
    try {
      // A round trip to each: each thread has run its module (and named itself) before it answers.
      await executors.load('m', join(ROOT, 'models/mnist-mlp/fp32/model.onnx'), { intraOpThreads: 1, executionProvider: 'cpu', allowSpinning: false });
      await decoders.decode({ tenant: 't', weight: 1, priority: 1, deadline: Infinity, model: 'm', depthScanned: false,
        body: Buffer.from(JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1] }] })) });
      const names = threadNames();
      // Each executor at least once (ORT's own threads, started by an executor, inherit its name).
      assert.ok(names.filter((n) => n === 'pareto-executor').length >= 2, `threads: ${names.join(', ')}`);
      assert.equal(names.filter((n) => n === 'pareto-decoder').length, 1, `threads: ${names.join(', ')}`);
      assert.equal(readFileSync('/proc/thread-self/comm', 'utf8').trim(), main);
    } finally {
      await Promise.all([executors.close(), decoders.close()]);
    }
  });
});
