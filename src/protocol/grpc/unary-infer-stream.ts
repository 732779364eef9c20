// ModelInfer, the call clients make most, served straight on node:http2's stream instead of through
// grpc-js. Measured with h2load at 1,600 1-row calls/s: a bare grpc-js server took 144 µs of its
// event loop per call against 108 µs for the same answers framed here, and grpc-js decodes each
// message (protobufjs) as it arrives, before the door can order it by its tenant. Here the message
// is only gathered at arrival (into reused memory, placed so that its tensor is a view of it);
// the call's door work (decoding included) waits its turn.
// Only the plain case is taken: an identity-encoded (uncompressed) call with a well-formed
// grpc-timeout, if any. Everything else (other methods, compressed messages) stays with grpc-js, so
// behaviour at the edges is grpc-js's own. What grpc-js does per call is mirrored: the status codes
// and texts of its unary handler, the deadline, the message size limits, headers and trailers.
import http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';

const MODEL_INFER_PATH = '/inference.GRPCInferenceService/ModelInfer';

/** A call's outcome: grpc-js's StatusObject, its metadata (sent as trailers) optional. */
export type CallStatus = Pick<grpc.StatusObject, 'code' | 'details'> & { metadata?: grpc.Metadata };

/** A call let through at its headers (its hold on its tenant), or refused (what cancels a refusal still scheduled). */
export type Admission<Held> = { held?: Held } | { refused: () => void };

/** What a call needs from the server around it. */
export interface UnaryInferHandlers<Held> {
  maxMessageBytes: number;
  /**
   * At the headers, before the message is read: the call's hold on its tenant (released through
   * `release` once answered or gone), or, once the refusal's status is sent or scheduled, how to
   * cancel a scheduled one should the call go first. Asynchronous where the door is on another
   * thread (grpc-thread.ts): the message stays unread until the answer comes.
   */
  admit(auth: string | undefined, refuse: (status: CallStatus) => void): Admission<Held> | Promise<Admission<Held>>;
  release(held: Held): void;
  /** A buffer of `length` bytes for a message that arrives in several frames, `head` its first part. */
  place(head: Uint8Array, length: number): Buffer;
  /**
   * Runs the call's message; resolves to the response message's bytes, rejects with its status.
   * `call.whenGone(cancel)`: what to undo should the call go first (a refusal it holds).
   */
  infer(message: Buffer, auth: string | undefined, held: Held | undefined, call: GoneWatch): Promise<Uint8Array>;
  statusOf(error: unknown): CallStatus;
}

/**
 * Told what to undo if a call goes (answered, reset, past its deadline) while it still waits;
 * returns what stops the watch once there is nothing left to undo (a stream outlives many waits).
 */
export interface GoneWatch {
  whenGone(cancel: () => void): () => void;
}

const drop = () => undefined;

const RESPONSE_HEADERS = {
  ':status': 200,
  'content-type': 'application/grpc+proto',
  'grpc-accept-encoding': 'identity,deflate,gzip', // what the server takes (compressed calls go to grpc-js)
  'grpc-encoding': 'identity',
};
const OK_TRAILERS = { 'grpc-status': String(grpc.status.OK), 'grpc-message': 'OK' };
const DEADLINE_EXCEEDED: CallStatus = { code: grpc.status.DEADLINE_EXCEEDED, details: 'Deadline exceeded' };
const TIMEOUT = /^(\d{1,8})\s*([HMSmun])$/;
const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** Longest timer Node keeps (a longer one fires at once): a deadline past it is no deadline. */
const LONGEST_TIMER_MS = 2 ** 31 - 1;

/** A grpc-timeout header in ms; undefined where it is malformed (grpc-js then answers it). */
function timeoutMs(value: string): number | undefined {
  const m = TIMEOUT.exec(value.trim());
  return m ? Math.floor(Number(m[1]) * UNIT_MS[m[2]]) : undefined;
}

/**
 * Takes a stream if it is a plain ModelInfer call (true), else leaves it to grpc-js (false).
 * `headers` are the stream's request headers.
 */
export function serveUnaryInfer<Held>(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, handlers: UnaryInferHandlers<Held>): boolean {
  if (headers[':path'] !== MODEL_INFER_PATH) return false;
  const type = headers['content-type'];
  if (type !== 'application/grpc' && type !== 'application/grpc+proto') return false;
  const encoding = headers['grpc-encoding'];
  if (encoding !== undefined && encoding !== 'identity') return false;
  const timeout = headers['grpc-timeout'];
  const ms = typeof timeout === 'string' ? timeoutMs(timeout) : undefined;
  if (timeout !== undefined && ms === undefined) return false;
  const auth = headers.authorization;
  new UnaryInferCall(stream, typeof auth === 'string' ? auth : undefined, ms, handlers);
  return true;
}

class UnaryInferCall<Held> implements GoneWatch {
  /** A status is sent, or the stream is gone: nothing more is written. */
  private done = false;
  private held: Held | undefined;
  /** A refusal the call waits on in the tarpit (at its headers, or once its message was read): cancelled if it goes first. */
  private cancelRefusal: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The message's first bytes while its 5-byte prefix is incomplete. */
  private head: Buffer | undefined;
  private message: Buffer | undefined;
  private filled = 0;
  private readonly onData = (chunk: Buffer) => this.read(chunk);

  constructor(private readonly stream: http2.ServerHttp2Stream, private readonly auth: string | undefined, ms: number | undefined, private readonly handlers: UnaryInferHandlers<Held>) {
    // As grpc-js: an error is followed by 'close', which is where a gone call is let go (answered,
    // reset by the client, or its session gone).
    stream.on('error', () => undefined);
    stream.once('close', () => this.settle());
    // (grpc-js truncates to 32 bits, so that 99999999H fires at once.) A deadline under 1 ms has
    // passed already: ended now, not raced against the answer by a timer that fires after ~1 ms
    // (a fast machine answered a 1 ns call OK).
    if (ms === 0) {
      this.finish(DEADLINE_EXCEEDED);
      return;
    }
    if (ms !== undefined && ms <= LONGEST_TIMER_MS) this.timer = setTimeout(() => this.finish(DEADLINE_EXCEEDED), ms);
    const verdict = handlers.admit(auth, (status) => this.finish(status));
    if (verdict instanceof Promise) verdict.then((v) => this.admitted(v), (e: unknown) => this.finish(handlers.statusOf(e)));
    else this.admitted(verdict);
  }

  private admitted(verdict: Admission<Held>): void {
    // Gone while the answer was on its way: what it held is given back at once.
    if (this.done) {
      if ('refused' in verdict) verdict.refused();
      else if (verdict.held !== undefined) this.handlers.release(verdict.held);
      return;
    }
    // A refused call is not read: its stream fills its flow-control window and the client stops sending.
    if ('refused' in verdict) {
      this.cancelRefusal = verdict.refused;
      return;
    }
    this.held = verdict.held;
    // A request that ended with its headers (no message) has emitted 'end' before an admission that waited for its answer.
    if (this.stream.readableEnded) {
      this.run();
      return;
    }
    this.stream.on('data', this.onData);
    this.stream.once('end', () => this.run());
  }

  private read(chunk: Buffer): void {
    if (this.done) return;
    if (this.message === undefined) {
      const head = this.head ? Buffer.concat([this.head, chunk]) : chunk;
      if (head.length < 5) {
        this.head = head;
        return;
      }
      this.head = undefined;
      const length = head.readUInt32BE(1);
      if (head[0] !== 0) return this.finish({ code: grpc.status.INTERNAL, details: head[0] === 1 ? 'Received a compressed message without a grpc-encoding' : 'Received a message with an invalid compression flag' });
      if (length > this.handlers.maxMessageBytes) return this.finish({ code: grpc.status.RESOURCE_EXHAUSTED, details: `Received message larger than max (${length} vs ${this.handlers.maxMessageBytes})` });
      const rest = head.subarray(5);
      // Most messages arrive in one chunk: kept as it came, not copied.
      if (rest.length >= length) {
        this.message = rest.subarray(0, length);
        this.filled = length;
        if (rest.length > length) this.secondMessage();
        return;
      }
      this.message = this.handlers.place(rest, length);
      this.filled = rest.copy(this.message);
      return;
    }
    if (this.filled + chunk.length > this.message.length) return this.secondMessage();
    this.filled += chunk.copy(this.message, this.filled);
  }

  private secondMessage(): void {
    this.finish({ code: grpc.status.UNIMPLEMENTED, details: `Received a second request message for unary method ${MODEL_INFER_PATH}` });
  }

  /** The client has sent everything (half-close): the one message runs. */
  private run(): void {
    if (this.done) return;
    const message = this.message;
    if (!message || this.filled < message.length) {
      this.finish({ code: grpc.status.UNIMPLEMENTED, details: `Received no request message for unary method ${MODEL_INFER_PATH}` });
      return;
    }
    this.message = undefined;
    const failed = (e: unknown) => this.finish(this.handlers.statusOf(e));
    try {
      this.handlers.infer(message, this.auth, this.held, this).then((bytes) => this.answer(bytes), failed);
    } catch (e) {
      failed(e);
    }
  }

  whenGone(cancel: () => void): () => void {
    if (this.done) {
      cancel();
      return drop;
    }
    this.cancelRefusal = cancel;
    return () => { if (this.cancelRefusal === cancel) this.cancelRefusal = undefined; };
  }

  private answer(bytes: Uint8Array): void {
    if (this.done) return;
    if (bytes.length > this.handlers.maxMessageBytes) {
      this.finish({ code: grpc.status.RESOURCE_EXHAUSTED, details: `Sent message larger than max (${bytes.length} vs. ${this.handlers.maxMessageBytes})` });
      return;
    }
    this.settle();
    const frame = Buffer.allocUnsafe(5 + bytes.length);
    frame[0] = 0;
    frame.writeUInt32BE(bytes.length, 1);
    frame.set(bytes, 5);
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return;
    stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers(OK_TRAILERS));
    stream.end(frame);
  }

  /** Ends the call with `status`, as a trailers-only response (nothing was written before it). */
  private finish(status: CallStatus): void {
    if (this.done) return;
    this.settle();
    const stream = this.stream;
    // What the client still sends is read and dropped, and RST_STREAM (NO_ERROR) after the status
    // asks it to stop sending, as grpc-go does. Left unread, a call whose client had more to send
    // than its stream's window stayed open on both ends, taking one of the channel's concurrent
    // streams for good: h2load's 64 streams of 32-row calls past their tenant's rate all became
    // such calls (67 calls in 10 s; 2,696 now). A refusal waiting in the tarpit stays unread until
    // it is answered.
    stream.off('data', this.onData);
    stream.on('data', drop);
    if (stream.destroyed || stream.closed || stream.headersSent) return;
    stream.respond({
      ':status': 200,
      'content-type': 'application/grpc+proto',
      'grpc-status': String(status.code),
      'grpc-message': encodeURI(status.details),
      ...status.metadata?.toHttp2Headers(),
    }, { endStream: true });
    stream.close(http2.constants.NGHTTP2_NO_ERROR);
  }

  private settle(): void {
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.held !== undefined) this.handlers.release(this.held);
    this.held = undefined;
    this.cancelRefusal?.(); // a refusal still waiting in the tarpit leaves it
    this.cancelRefusal = undefined;
    this.message = undefined;
  }
}
