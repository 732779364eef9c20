// Node's HTTP/2 hands each request header value outside HPACK's static table to JavaScript as an
// external string (node_http2.h, ExternalHeader), and V8 allocates every external string in the old
// generation (factory.cc), where only a mark-compact frees it. A unary gRPC call brings a handful
// (path, content-type, te, user-agent, authorization, ...), so under 1,900 calls/s the old generation
// filled with them in about a minute and the one mark-compact that then freed them all stopped the
// event loop for 218–315 ms, 89–152 ms of it finalizing external strings. A collection started
// every N streams instead finds few: at 8,192, 9–33 ms each (bench:gc, bench/RESULTS.md). It runs
// in whichever thread serves HTTP/2: the gRPC thread's (protocol/grpc/grpc-thread.ts), or the event loop.
// The module, not a named import: a Node without measureMemory must still load this file.
import vm from 'node:vm';

/** Streams between collections: at 1,900 unary calls/s, one every ~4 s. */
export const DEFAULT_GC_EVERY_STREAMS = 8192;

export class MarkCompactPacer {
  private since = 0;

  /** `every`: HTTP/2 streams between collections; 0: never start one. */
  constructor(private readonly every: number, private readonly start: () => void = startMarking) {}

  /** One more stream (one more header block) has come in. */
  noteStream(): void {
    if (this.every <= 0 || ++this.since < this.every) return;
    this.since = 0;
    this.start();
  }
}

/**
 * Starts a mark-compact the way V8 starts its own: incremental marking now, mostly on helper
 * threads, and a short pause to finish it. vm.measureMemory with eager execution does that (V8's
 * MemoryMeasurement); gc() would mark everything inside its pause: 31–49 ms against 14–27 ms here,
 * measured under the same load. Node warns once that the call is experimental: nothing an operator
 * can act on, so that warning is not passed on. Where the call is gone, nothing is started.
 */
export function startMarking(): void {
  if (typeof vm.measureMemory !== 'function') return;
  const emitWarning = process.emitWarning;
  process.emitWarning = () => undefined;
  try {
    vm.measureMemory({ mode: 'summary', execution: 'eager' }).catch(() => undefined);
  } catch { /* options it no longer takes: V8 collects on its own schedule */ } finally {
    process.emitWarning = emitWarning;
  }
}
