// The pacer starts a mark-compact every N HTTP/2 streams, and the gRPC server tells it of each one:
// ModelInfer on the raw stream, and the calls grpc-js serves.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { MarkCompactPacer, startMarking } from '../../src/runtime/mark-compact-pacer.js';
import { grpcClient } from '../helpers/grpc-client.js';
import { ADMIN_TOKEN, digits, startTestServer } from '../helpers/server.js';
import { until } from '../helpers/cluster.js';
import { metricSamples } from '../../src/telemetry/prometheus-text.js';

/** Mark-compacts of this process's main heap from now on. */
function majorCollections(): { count: () => number; next: (after: number) => Promise<void>; stop: () => void } {
  let count = 0;
  const waiting: Array<{ after: number; resolve: () => void }> = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if ((e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) count++;
    for (const w of waiting.splice(0)) if (count > w.after) w.resolve(); else waiting.push(w);
  });
  observer.observe({ entryTypes: ['gc'] });
  return {
    count: () => count,
    // A timer keeps the event loop up meanwhile: V8's marking runs in tasks, which an idle loop would not wait for.
    next: (n) => new Promise((resolve, reject) => {
      if (count > n) return resolve();
      const timer = setTimeout(() => reject(new Error(`no mark-compact within 20 s (${count} so far)`)), 20_000);
      waiting.push({ after: n, resolve: () => { clearTimeout(timer); resolve(); } });
    }),
    stop: () => observer.disconnect(),
  };
}

describe('MarkCompactPacer', () => {
  it('starts one collection every N streams, and none at 0', () => {
    let started = 0;
    const pacer = new MarkCompactPacer(3, () => { started++; });
    for (let i = 0; i < 8; i++) pacer.noteStream();
    assert.equal(started, 2);
    pacer.noteStream();
    assert.equal(started, 3);
    const off = new MarkCompactPacer(0, () => { started++; });
    for (let i = 0; i < 100; i++) off.noteStream();
    assert.equal(started, 3);
  });

  it('starts a real mark-compact, without a warning', async () => {
    const gcs = majorCollections();
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const before = gcs.count();
      startMarking();
      await gcs.next(before);
      assert.deepEqual(warnings.map((w) => w.message), []);
    } finally {
      process.off('warning', onWarning);
      gcs.stop();
    }
  });
});

describe('gRPC streams pace the collections', () => {
  const gcs = majorCollections();
  after(() => gcs.stop());
  const request = { model_name: 'mnist-mlp', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 784] }], raw_input_contents: [Buffer.from(digits(7, 1).pixels.buffer)] };

  /** The gRPC thread's mark-compacts, as /metrics counts them. */
  const threadCollections = async (url: string) => {
    const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
    return metricSamples(text, 'pareto_grpc_thread_mark_compacts_total')[0]?.value ?? 0;
  };

  const paths = [
    { name: 'ModelInfer on the gRPC thread, and the calls it relays to grpc-js, in that thread\'s heap', options: {}, thread: true },
    { name: 'ModelInfer on the raw stream on the event loop, and the calls grpc-js serves', options: { grpcThread: false }, thread: false },
    { name: 'ModelInfer through grpc-js, and the calls grpc-js serves', options: { grpcRawInfer: false }, thread: false },
  ];
  for (const path of paths) {
    it(`counts ${path.name}`, async () => {
      const server = await startTestServer({ gcEveryStreams: 4, ...path.options });
      const client = grpcClient(server.grpcAddress);
      try {
        // Rounds of 4 streams each wait for a collection: a stray one (the server's start) can
        // answer one round, not six.
        for (let round = 0; round < 6; round++) {
          const before = path.thread ? await threadCollections(server.url) : gcs.count();
          for (let i = 0; i < 4; i++) {
            if (round % 2 === 0) assert.equal((await client.call('ModelInfer', request)).model_name, 'mnist-mlp');
            else assert.equal((await client.call('ServerLive', {})).live, true);
          }
          if (path.thread) await until(async () => (await threadCollections(server.url)) > before, 20_000, `a mark-compact of the gRPC thread's heap after round ${round + 1}`);
          else await gcs.next(before);
        }
      } finally {
        client.close();
        await server.close();
      }
    });
  }
});
