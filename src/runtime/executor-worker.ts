// Runs inside a worker thread: holds ONNX Runtime sessions and runs batches on them. ORT's run()
// blocks the thread it runs on, which is why this is not on the event loop.
import { collectGarbageSoon } from './collect-garbage.js';
import { parentPort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import ort from 'onnxruntime-node';
import { datatypeFromOrt } from '../tensor/dtype.js';
import type { FromWorker, SessionSignature, ToWorker, WireTensor } from './messages.js';
import { ortFeeds } from './ort-feeds.js';
import { crossThreadMs, nameThisThread } from './this-thread.js';

const port = parentPort!;
nameThisThread('pareto-executor');
const sessions = new Map<string, ort.InferenceSession>();

function reply(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

function signatureOf(session: ort.InferenceSession): SessionSignature {
  const describe = (m: ort.InferenceSession.ValueMetadata) => m.isTensor
    ? { name: m.name, datatype: datatypeFromOrt(m.type), shape: [...m.shape] }
    : { name: m.name };
  return { inputs: session.inputMetadata.map(describe), outputs: session.outputMetadata.map(describe) };
}

async function handle(msg: ToWorker): Promise<void> {
  switch (msg.op) {
    case 'load': {
      const { intraOpThreads, executionProvider, allowSpinning } = msg.options;
      const session = await ort.InferenceSession.create(msg.path, {
        executionProviders: [executionProvider],
        intraOpNumThreads: intraOpThreads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        extra: { session: { intra_op: { allow_spinning: allowSpinning ? '1' : '0' } } },
      });
      await sessions.get(msg.key)?.release();
      sessions.set(msg.key, session);
      reply({ op: 'loaded', id: msg.id, signature: signatureOf(session) });
      return;
    }
    case 'warmup': {
      const session = sessions.get(msg.key);
      if (!session) throw new Error(`no session '${msg.key}' in this executor`);
      for (let i = 0; i < 3; i++) await session.run(ortFeeds(msg.inputs));
      reply({ op: 'warm', id: msg.id });
      return;
    }
    case 'unload': {
      await sessions.get(msg.key)?.release();
      sessions.delete(msg.key);
      collectGarbageSoon(); // this thread's heap too: loading and warm-up left garbage an idle thread never collects
      reply({ op: 'unloaded', id: msg.id });
      return;
    }
    case 'run': {
      const startedAt = crossThreadMs();
      const session = sessions.get(msg.key);
      if (!session) throw new Error(`no session '${msg.key}' in this executor`);
      const t0 = performance.now();
      const results = await session.run(ortFeeds(msg.inputs));
      const computeMs = performance.now() - t0;
      const outputs: WireTensor[] = [];
      const transfer: ArrayBuffer[] = [];
      for (const name of session.outputNames) {
        const t = results[name];
        const datatype = datatypeFromOrt(t.type);
        if (!datatype) throw new Error(`output '${name}' has type ${t.type}, which the protocol cannot carry`);
        if (Array.isArray(t.data)) {
          outputs.push({ name, datatype, shape: [...t.dims], data: t.data as string[] });
          continue;
        }
        let data = t.data as Float32Array;
        // Transfer only buffers this tensor owns whole; otherwise copy out.
        if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength) data = data.slice();
        outputs.push({ name, datatype, shape: [...t.dims], data });
        transfer.push(data.buffer as ArrayBuffer);
      }
      // The inputs go back to the main thread, whose buffer pool reuses them.
      const inputBuffers = new Set<ArrayBuffer>();
      for (const t of msg.inputs) if (!Array.isArray(t.data) && t.data.buffer instanceof ArrayBuffer && !transfer.includes(t.data.buffer)) inputBuffers.add(t.data.buffer);
      reply({ op: 'result', id: msg.id, outputs, computeMs, inputBuffers: [...inputBuffers], startedAt, repliedAt: crossThreadMs() }, [...transfer, ...inputBuffers]);
      return;
    }
  }
}

port.on('message', (msg: ToWorker) => {
  handle(msg).catch((e: unknown) => reply({ op: 'error', id: msg.id, message: e instanceof Error ? e.message : String(e) }));
});
