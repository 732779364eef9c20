// The gRPC port's HTTP/2 on a thread of its own. Node hands each request header value outside
// HPACK's static table to JavaScript as an external string, which V8 allocates in the old
// generation (mark-compact-pacer.ts): on the event loop, under a flood of unary calls, freeing them
// was a third to a half of every paced mark-compact, and the other tenants waited through each.
// Here they live and die in this thread's heap, whose collections stop only this thread.
// A plain ModelInfer call runs UnaryInferCall here, with handlers that ask the event loop
// (grpc-thread-host.ts): its key at the headers, before its message is read; then its message,
// transferred; its answer's bytes come back. Every other stream is relayed (relay-stream.ts) to
// grpc-js on the event loop over a loopback connection of its own: calls of those kinds are few.
import http2 from 'node:http2';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import * as grpc from '@grpc/grpc-js';
import { ChurnTable } from '../../churn-set.js';
import { nameThisThread } from '../../runtime/this-thread.js';
import { MarkCompactPacer } from '../../runtime/mark-compact-pacer.js';
import { PostBatch } from '../../runtime/post-batch.js';
import { tensorBuffers } from '../../tensor/buffer-pool.js';
import { rawContentsPad } from './infer-codec.js';
import { replaceStreamTable } from './stream-table.js';
import { serveUnaryInfer, type Admission, type CallStatus, type UnaryInferHandlers } from './unary-infer-stream.js';
import { RelayUpstream } from './relay-stream.js';
import type { GrpcThreadData, HostReply, ThreadCall, WireStatus } from './grpc-thread-messages.js';

nameThisThread('pareto-grpc');
const data = workerData as GrpcThreadData;
const host = parentPort!;
const batch = new PostBatch<ThreadCall>(host);
const post = (call: ThreadCall, transfer?: ArrayBuffer[]) => batch.post(call, transfer);

/** A call the event loop has yet to answer: its admission, then its inference. */
interface Waiting {
  refuse: (status: CallStatus) => void;
  admitted?: (a: Admission<number>) => void;
  answered?: { resolve: (bytes: Uint8Array) => void; reject: (status: CallStatus) => void };
}
// Not a Map: one set and deleted per call would keep every call's graph alive until a mark-compact (churn-set.ts).
const waiting = new ChurnTable<Waiting>();
let lastId = 0;

const callStatus = (s: WireStatus): CallStatus => {
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(s.trailers ?? {})) for (const one of Array.isArray(v) ? v : [v]) metadata.add(k, one);
  return { code: s.code, details: s.details, metadata };
};

const end = (id: number) => {
  if (waiting.delete(id)) post({ op: 'end', id });
};

/**
 * Memory a message is gathered into, the call's own so that it can be transferred; placed as the
 * event loop places it (grpc-server.ts). From this thread's pool, which the event loop refills with
 * its answers: fresh memory is page-faulted in as it is first written, and a 32-row call's
 * 100 KB message was fresh every time.
 */
function place(head: Uint8Array, length: number): Buffer {
  const pad = rawContentsPad(head);
  return Buffer.from(tensorBuffers.take(length + pad), pad, length);
}

const handlers: UnaryInferHandlers<number> = {
  maxMessageBytes: data.maxMessageBytes,
  admit(auth, refuse) {
    const id = ++lastId;
    return new Promise<Admission<number>>((resolve) => {
      waiting.set(id, { refuse, admitted: resolve });
      post({ op: 'admit', id, auth });
    });
  },
  release: end,
  place,
  infer(message, _auth, id) {
    const call = id === undefined ? undefined : waiting.get(id);
    if (!call) return Promise.reject({ code: grpc.status.CANCELLED, details: 'Cancelled' });
    // A message that came in one chunk is a view of Node's read buffer: copied to memory of its own.
    let mine = message;
    if (!tensorBuffers.isOwned(message.buffer)) {
      mine = place(message, message.length);
      mine.set(message);
    }
    return new Promise<Uint8Array>((resolve, reject) => {
      call.answered = { resolve, reject };
      post({ op: 'infer', id: id!, bytes: mine.buffer as ArrayBuffer, offset: mine.byteOffset, length: mine.length }, [mine.buffer as ArrayBuffer]);
    });
  },
  statusOf: (e) => (typeof e === 'object' && e !== null && 'code' in e ? e as CallStatus : { code: grpc.status.INTERNAL, details: 'internal server error' }),
};

host.on('message', (replies: HostReply[]) => {
  for (const reply of replies) hear(reply);
});

function hear(reply: HostReply): void {
  switch (reply.op) {
    case 'admitted': {
      const call = waiting.get(reply.id);
      const admitted = call?.admitted;
      if (!call || !admitted) return;
      call.admitted = undefined;
      admitted(reply.refused ? { refused: () => end(reply.id) } : { held: reply.id });
      return;
    }
    case 'status': {
      const call = waiting.get(reply.id);
      if (!call) return;
      const status = callStatus(reply.status);
      if (call.answered) call.answered.reject(status);
      else call.refuse(status);
      return;
    }
    case 'answer':
      if (reply.spare) tensorBuffers.adopt(reply.spare);
      waiting.get(reply.id)?.answered?.resolve(new Uint8Array(reply.bytes));
      return;
    case 'close':
      close(reply.force);
  }
}

new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if ((e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) post({ op: 'collected' });
}).observe({ entryTypes: ['gc'] });

const relay = new RelayUpstream(`http://127.0.0.1:${data.relayPort}`);
const pacer = new MarkCompactPacer(data.gcEveryStreams);
const sessions = new Set<http2.ServerHttp2Session>();
// As grpc-js makes its servers.
const server = http2.createServer({
  maxSendHeaderBlockLength: Number.MAX_SAFE_INTEGER,
  maxSessionMemory: Number.MAX_SAFE_INTEGER,
});
server.setTimeout(0);
server.on('session', (session) => {
  replaceStreamTable(session);
  sessions.add(session);
  session.once('close', () => {
    sessions.delete(session);
    if (closing && sessions.size === 0) closed();
  });
});
server.on('stream', (stream, headers) => {
  pacer.noteStream();
  if (!serveUnaryInfer(stream, headers, handlers)) relay.pass(stream, headers);
});
server.on('error', (e: NodeJS.ErrnoException) => post({ op: 'failed', message: e.message, code: e.code }));
server.listen(data.port, data.host, () => post({ op: 'listening', port: (server.address() as { port: number }).port }));

let closing = false;
let over = false;
function close(force: boolean): void {
  if (!closing) {
    closing = true;
    server.close();
  }
  for (const s of sessions) {
    if (force) s.destroy();
    else s.close();
  }
  if (sessions.size === 0) closed();
}

function closed(): void {
  if (over) return;
  over = true;
  relay.close();
  post({ op: 'closed' });
}
