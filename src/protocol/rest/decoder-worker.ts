// A decoder thread: parses REST infer bodies (JSON, or the binary extension's header and tensors)
// off the event loop, and hands back the request with its tensors' memory transferred, not copied.
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { isParetoError } from '../../errors.js';
import type { InferenceRequest } from '../types.js';
import { decodeInferBody } from './infer-codec.js';
import { nameThisThread, niceThisThread } from '../../runtime/this-thread.js';
import type { DecodeCall, DecodeReply } from './decoder-pool.js';

// Decoding is bulk work: below the event loop (which answers probes and small requests) and the
// executors in the CPU's eyes.
nameThisThread('pareto-decoder');
niceThisThread((workerData as { niceness: number }).niceness);

/** The typed arrays' memory, as buffers that can be transferred: the body's own, or copies of views into shared slabs. */
function transferable(req: InferenceRequest, body: ArrayBuffer): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const t of req.inputs) {
    if (Array.isArray(t.data)) continue;
    const a = t.data;
    const own = a.buffer === body || (a.byteOffset === 0 && a.byteLength === a.buffer.byteLength);
    if (!own) t.data = a.slice() as typeof a;
    out.add(t.data.buffer as ArrayBuffer);
  }
  return [...out];
}

parentPort!.on('message', (call: DecodeCall) => {
  const start = performance.now(); // the thread does nothing else: its wall time is its work
  let reply: DecodeReply;
  let transfer: ArrayBuffer[] = [];
  try {
    const body = Buffer.from(call.body.buffer, call.body.byteOffset, call.body.byteLength);
    const request = decodeInferBody(call.model, call.version, body, call.headerLength, call.maxJsonBytes, call.depthScanned);
    transfer = transferable(request, call.body.buffer as ArrayBuffer);
    reply = { id: call.id, request, cpuMs: 0 };
  } catch (e) {
    const error = isParetoError(e)
      ? { code: e.code, message: e.message, httpStatus: e.httpStatus, grpcStatus: e.grpcStatus }
      : { code: 'PARETO_ERR_INTERNAL', message: `decoding failed: ${(e as Error).message}`, httpStatus: 500, grpcStatus: 13 };
    reply = { id: call.id, error, cpuMs: 0 };
  }
  reply.cpuMs = performance.now() - start;
  parentPort!.postMessage(reply, transfer);
});
