// The body sink's thread: gathers large request bodies from the chunks the event loop hands it
// (body-sink.ts), each into one buffer of its own, and hands a body back whole once it is complete.
import { parentPort, workerData } from 'node:worker_threads';
import { nameThisThread, niceThisThread } from '../../runtime/this-thread.js';
import { freeNow } from '../../tensor/buffer-pool.js';
import type { SinkCall, SinkReply } from './body-sink.js';

// Copying and page-faulting in bodies is bulk work: below the event loop and the executors.
nameThisThread('pareto-bodies');
niceThisThread((workerData as { niceness: number }).niceness);

const bodies = new Map<number, { bytes: Uint8Array; at: number }>();

parentPort!.on('message', (call: SinkCall) => {
  switch (call.op) {
    case 'open':
      bodies.set(call.id, { bytes: new Uint8Array(call.bytes), at: call.start });
      return;
    case 'chunk': {
      const body = bodies.get(call.id);
      if (body) {
        const chunk = new Uint8Array(call.chunk);
        body.bytes.set(chunk.subarray(0, Math.max(0, body.bytes.length - body.at)), body.at);
        body.at += chunk.length;
      }
      parentPort!.postMessage({ op: 'spent', id: call.id, chunk: call.chunk } satisfies SinkReply, [call.chunk]);
      return;
    }
    case 'finish': {
      const body = bodies.get(call.id);
      bodies.delete(call.id);
      const buffer = body?.bytes.buffer as ArrayBuffer | undefined;
      parentPort!.postMessage({ op: 'body', id: call.id, buffer } satisfies SinkReply, buffer ? [buffer] : []);
      return;
    }
    case 'drop': {
      const body = bodies.get(call.id);
      bodies.delete(call.id);
      if (body) freeNow(body.bytes.buffer as ArrayBuffer);
    }
  }
});
