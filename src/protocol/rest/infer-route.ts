// POST /v2/models/{model}[/versions/{version}]/infer on node:http itself, ahead of fastify. It is
// the one route on the hot path: without fastify's routing, hooks, body parser and reply, a request
// costs ~15% less event-loop CPU (~52 → ~44 µs at c=64 in the same run) and 24 → 20 KiB of garbage
// (measured under bench:serve's load). The key, the model's access and the quota are checked
// before the body is read, so a refused request costs no body reading or parsing (bench:slo).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { InvalidRequestError, isParetoError, PayloadTooLargeError, RateLimitedError, ServerShuttingDownError, type ParetoError } from '../../errors.js';
import type { InferenceService } from '../../serving/inference-service.js';
import type { DoorPass, Tenant } from '../../tenancy/tenants.js';
import type { Telemetry } from '../../telemetry/telemetry.js';
import { requestRecord } from '../request-record.js';
import type { DoorTurns } from '../door-turns.js';
import { requestRows, type InferenceRequest, type ServingInfo } from '../types.js';
import type { BodyBudget } from './body-budget.js';
import { decodeCost, type DecoderPool } from './decoder-pool.js';
import type { SlowBodies } from './slow-bodies.js';
import { UNAUTHENTICATED, type RefusalTarpit } from '../refusal-tarpit.js';
import type { BodySink, SinkBody } from './body-sink.js';
import { BINARY_HEADER, decodeInferBody, DEPTH_SCAN_BYTES, encodeInferResponse, JsonDepthScan, JsonTooDeepError } from './infer-codec.js';
import { MAX_JSON_DEPTH } from '../../tensor/tensor.js';
import { freeNow, tensorBuffers } from '../../tensor/buffer-pool.js';
import { decodeBody, encodeBody, requestCoding, responseCoding } from './content-coding.js';

const INFER_PATH = /^\/v2\/models\/([^/?]+)(?:\/versions\/([^/?]+))?\/infer(?:\?|$)/;
const JSON_TYPE = 'application/json; charset=utf-8';
/**
 * Declared bodies from this size on are gathered into one buffer of their own as they arrive: one
 * copy, where chunks joined at the end (Buffer.concat) and then a misaligned tensor copied again
 * made two, each into fresh memory. Smaller bodies mostly arrive in one chunk, used as it is.
 */
const WHOLE_BODY_BYTES = 16 * 1024;
/** Bodies from this size on are read a chunk per event-loop turn. */
const PACED_BODY_BYTES = 1024 * 1024;

export interface InferRouteOptions {
  service: InferenceService;
  telemetry: Telemetry;
  maxBodyBytes: number;
  maxJsonBytes: number;
  bodies: BodyBudget;
  /**
   * Decoder threads for bodies whose decoding costs as much as `offloadBytes` of JSON (decodeCost);
   * absent: every body is decoded on the event loop.
   */
  decoders?: DecoderPool;
  offloadBytes?: number;
  /** Gathers bodies too large for the buffer pool off the event loop; absent: on it. */
  sink?: BodySink;
  /** The floor on how fast a body arrives (408 below it). */
  slowBodies?: SlowBodies;
  /** Holds refusals of a caller refused too often. */
  tarpit?: RefusalTarpit;
  /** Orders the work past reading a body by its tenant's priority; absent: first come. */
  turns?: DoorTurns;
  /** True once the server is shutting down: a new request gets 503 and its connection closed, its body unread. */
  draining?: () => boolean;
}

/** What one request has come to, for its telemetry record. */
interface Exchange {
  start: number;
  model: string;
  tenant?: Tenant;
  samples: number;
  serving?: ServingInfo;
  id?: string;
  /** Counts it against its tenant's limits from its headers on. */
  pass?: DoorPass;
  /** Counted as one of its tenant's requests in the door's ledger. */
  counted?: boolean;
}

/**
 * A refused body larger than this is not read: its answer says Connection: close and the socket
 * is closed after it. Before, 26 bodies of 60 MB refused at their headers were each read and
 * dropped (1.5 GB through the event loop), and another tenant's requests meanwhile got 504. A
 * client still uploading when its socket closes may see the reset before the answer, so smaller
 * bodies are still read and dropped (at 1 MiB, a fetch of an 8 MB body got 'other side closed').
 */
const DRAIN_BYTES = 16 * 1024 * 1024;

function closeUnread(req: IncomingMessage, res: ServerResponse): void {
  if (!res.headersSent) res.setHeader('connection', 'close');
  res.once('finish', () => req.socket.destroy());
}

/** A node:http request handler for the infer route: true when it took the request. */
export function inferRoute(opts: InferRouteOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { service, telemetry, maxBodyBytes, maxJsonBytes, bodies, decoders } = opts;
  const offloadBytes = opts.offloadBytes ?? Infinity;
  const tarpit = opts.tarpit;
  const turns = opts.turns;

  const finish = (x: Exchange, status: number, error?: string) => {
    telemetry.request(requestRecord(service, x.model, x.tenant?.id, x.serving, status, x.samples, performance.now() - x.start, x.id, error));
  };

  const fail = (x: Exchange, res: ServerResponse, e: unknown) => {
    // A refused or failed request cost the loop its framing too: its tenant's share of that.
    if (turns && x.tenant && !x.counted) turns.charge(service.doorOrder(x.tenant, x.model, x.start), 0, true);
    const error: ParetoError | undefined = isParetoError(e) ? e : undefined;
    const status = error?.httpStatus ?? 500;
    service.malformed(x.tenant, status);
    if (!res.headersSent && !res.destroyed) {
      const headers: Record<string, string | number> = { 'content-type': JSON_TYPE };
      if (error instanceof RateLimitedError) headers['retry-after'] = error.retryAfterSeconds;
      const body = JSON.stringify(error ? { error: error.message, code: error.code } : { error: 'internal server error', code: 'PARETO_ERR_INTERNAL' });
      // With writeHead, Node would otherwise send the body chunked: Triton and its clients frame by length.
      headers['content-length'] = Buffer.byteLength(body);
      res.writeHead(status, headers);
      res.end(body);
    }
    finish(x, status, error?.message ?? (e as Error).message);
  };

  const answer = async (x: Exchange, req: IncomingMessage, res: ServerResponse, version: string | undefined, body: Buffer, depthScanned: boolean) => {
    const order = service.doorOrder(x.tenant, x.model, x.start);
    await turns?.turn(order, true);
    // Each piece of door work is timed and charged to its tenant (door-ledger.ts).
    let at = performance.now();
    // Key and model access (401/403) were checked before the body was read; unknown model or version: 404.
    service.models.variant(service.models.get(x.model), version);
    if (body.length === 0) throw new InvalidRequestError('the request has no body; send a JSON inference request');
    const header = req.headers[BINARY_HEADER];
    let headerLength: number | undefined;
    if (header !== undefined) {
      headerLength = Number(header);
      if (!Number.isInteger(headerLength)) throw new InvalidRequestError(`Inference-Header-Content-Length must be an integer, got '${header}'`);
    }
    // By cost, not size: a binary body is mostly a copy, and sending it to a thread and back cost
    // more than it saved (bench:tradeoff's 100 KB binary requests: adaptive met 93.8% of SLOs).
    let request: InferenceRequest;
    if (decoders && decodeCost(body.length, headerLength) >= offloadBytes) {
      turns?.charge(order, performance.now() - at);
      request = await decoders.decode({ ...order, model: x.model, version, body, handOver: true, headerLength, depthScanned });
      at = performance.now();
    } else {
      request = decodeInferBody(x.model, version, body, headerLength, maxJsonBytes, depthScanned);
    }
    request.authorization = req.headers.authorization;
    request.caller = { tenant: x.tenant, pass: x.pass };
    x.samples = requestRows(request);
    x.id = request.id;
    const admitted = service.infer(request);
    turns?.charge(order, performance.now() - at, true);
    x.counted = true;
    const response = await admitted;
    await turns?.turn(order);
    at = performance.now();
    const s = (x.serving = response.serving);
    const encoded = encodeInferResponse(request, response);
    const headers: Record<string, string | number> = {
      'pareto-variant': s.variant,
      'pareto-batch-size': s.batchSize,
      'pareto-queue-ms': s.queueMs.toFixed(3),
      'pareto-compute-ms': s.computeMs.toFixed(3),
    };
    headers['pareto-accuracy'] = s.accuracy ?? 'unmeasured';
    if (encoded.headerLength !== undefined) {
      headers['inference-header-content-length'] = encoded.headerLength;
      headers['content-type'] = 'application/octet-stream';
    } else {
      headers['content-type'] = JSON_TYPE;
    }
    const out = responseCoding(req.headers['accept-encoding'], encoded.body.length);
    if (out) {
      headers['content-encoding'] = out;
      headers.vary = 'accept-encoding';
    }
    let payload = encoded.body;
    if (out) {
      turns?.charge(order, performance.now() - at);
      payload = await encodeBody(encoded.body, out);
      at = performance.now();
    }
    headers['content-length'] = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
    res.writeHead(200, headers);
    res.end(payload);
    turns?.charge(order, performance.now() - at);
    finish(x, 200);
  };

  return (req, res) => {
    if (req.method !== 'POST') return false;
    const m = INFER_PATH.exec(req.url ?? '');
    if (!m) return false;
    const x: Exchange = { start: performance.now(), model: m[1], samples: 0 };
    const declared = Number(req.headers['content-length']);
    const binaryAt = Number(req.headers[BINARY_HEADER]); // NaN for a JSON body
    if (opts.draining?.()) {
      closeUnread(req, res);
      fail(x, res, new ServerShuttingDownError());
      return true;
    }
    let version: string | undefined;
    let coding: ReturnType<typeof requestCoding>;
    try {
      x.model = decodeURIComponent(m[1]);
      version = m[2] === undefined ? undefined : decodeURIComponent(m[2]);
      x.tenant = service.identify(req.headers.authorization);
      coding = requestCoding(req.headers['content-encoding']);
      // Counted against the tenant's concurrency from its headers on: a body still arriving holds
      // a connection and memory as surely as a request in the queue.
      x.pass = service.precheck(x.tenant, x.model, true);
      if (x.pass) res.once('close', x.pass.release);
      // A body the decoders could not finish before its deadline is refused before it is read.
      if (decoders && declared > 0) {
        const cost = decodeCost(declared, binaryAt >= 0 ? binaryAt : undefined);
        if (cost >= offloadBytes) {
          const order = service.doorOrder(x.tenant, x.model, x.start);
          decoders.checkDeadline(cost, order.priority, order.deadline);
        }
      }
    } catch (e) {
      const refuse = (close: boolean) => {
        const unread = close || declared > DRAIN_BYTES;
        if (unread) closeUnread(req, res);
        fail(x, res, e instanceof URIError ? new InvalidRequestError(`the path is not valid percent-encoding: ${req.url}`) : e);
        if (!unread) req.resume(); // discard the body; the connection stays usable
      };
      // A caller refused too often waits its turn, its body unread meanwhile; gone, it takes none.
      if (tarpit) res.once('close', tarpit.refuse(x.tenant?.id ?? UNAUTHENTICATED, refuse));
      else refuse(false);
      return true;
    }
    // Over the limit: answered at once; the rest of a small body is read and dropped, so the
    // connection stays usable (and a client still sending it gets its 413, not a reset).
    // A body with no binary part is all JSON, which has its own, smaller limit.
    const json = req.headers[BINARY_HEADER] === undefined;
    const limit = json ? Math.min(maxBodyBytes, maxJsonBytes) : maxBodyBytes;
    const overLimit = (size: number) => json && limit < maxBodyBytes ? new PayloadTooLargeError(size, limit, 'JSON', '--max-json-bytes; large tensors travel as binary data') : new PayloadTooLargeError(size, limit);
    let tooLarge = declared > limit;
    if (tooLarge && declared > DRAIN_BYTES) closeUnread(req, res);
    if (tooLarge) fail(x, res, overLimit(declared));
    // The body's memory is held from its headers on (its declared length), or as it arrives, and
    // given back when the answer is sent or the connection closes.
    const hold = bodies.hold(x.tenant?.id ?? 'anonymous');
    res.once('close', hold.release);
    const declaredHeld = !tooLarge && declared > 0;
    if (declaredHeld) {
      try {
        hold.grow(declared);
      } catch (e) {
        tooLarge = true;
        if (declared > DRAIN_BYTES) closeUnread(req, res);
        fail(x, res, e);
      }
    }
    let chunks: Buffer[] = [];
    // A large declared body is copied into one buffer of its own as it arrives, not kept as the
    // socket's 64 KiB reads and joined at the end: no doubled peak, and one large allocation goes
    // back to the system when freed, where a thousand small ones stayed in the allocator (30 held
    // 60 MB bodies left RSS 276 MiB above its baseline after they closed). The body starts where
    // its binary part falls on an 8-byte boundary, so its tensors are views, not copies; and as the
    // buffer is the request's alone, a batch of this request alone hands it to its executor whole.
    let whole: Buffer | undefined;
    // A body too large for the pool is gathered by the sink's thread (body-sink.ts says why), or,
    // without one, here; either way it comes back whole.
    let sunk: SinkBody | undefined;
    // A body too large for the pool would go back to the system only at V8's next full collection:
    // with no other traffic that can be minutes (4 held 60 MB bodies cut 408 left RSS 104–240 MiB
    // above its baseline 20 s later). Refused, or answered, it is read no more: it is freed at once.
    let large = false;
    const dropWhole = () => {
      if (whole && large) freeNow(whole.buffer as ArrayBuffer);
      whole = undefined;
      sunk?.drop();
    };
    let pad = 0;
    if (declaredHeld && declared >= WHOLE_BODY_BYTES) {
      pad = Number.isInteger(binaryAt) && binaryAt > 0 ? (8 - (binaryAt % 8)) % 8 : 0;
      large = !tensorBuffers.pools(declared + pad);
      if (large) sunk = opts.sink?.open(declared, pad);
      if (!sunk) whole = Buffer.from(tensorBuffers.take(declared + pad), pad, declared);
      // A client gone mid-body: what the sink gathered goes (a body being answered is still in use).
      if (large) res.once('close', () => { if (res.writableFinished) dropWhole(); else sunk?.drop(); });
    }
    let length = 0;
    /** Refuses the body part way: what has arrived is let go, and what still arrives is read and dropped. */
    const refuseBody = (e: unknown) => {
      tooLarge = true;
      chunks = [];
      dropWhole();
      fail(x, res, e);
    };
    const progress = {
      bytes: 0,
      tooSlow: (e: Error) => {
        if (!res.headersSent) res.setHeader('connection', 'close');
        refuseBody(e);
      },
    };
    const arrived = opts.slowBodies?.watch(progress);
    if (arrived) res.once('close', arrived);
    // A large JSON body is scanned as it arrives (~1 ms per MB, a chunk at a time): one that nests
    // too deep is refused at its first chunk, before it is buffered or queued for a decoder (which
    // would refuse 8 MB of '[' with a 504, its deadline too close for the decoding, not a 400).
    const depth = json && !coding && (declared > DEPTH_SCAN_BYTES || Number.isNaN(declared)) ? new JsonDepthScan(MAX_JSON_DEPTH) : undefined;
    req.on('data', (chunk: Buffer) => {
      if (tooLarge) return;
      length += chunk.length;
      progress.bytes = length;
      if (length > limit) return refuseBody(overLimit(length));
      if (!declaredHeld) {
        try {
          hold.grow(chunk.length);
        } catch (e) {
          return refuseBody(e);
        }
      }
      if (depth?.feed(chunk)) return refuseBody(new JsonTooDeepError());
      if (sunk) {
        // The sink's thread is behind: the rest waits in the socket, not in this heap.
        if (!sunk.write(chunk)) return void (req.pause(), sunk.drained(() => req.resume()));
      } else if (whole && length <= whole.length) chunk.copy(whole, length - chunk.length);
      else chunks.push(chunk);
      // A large body is read a chunk per event-loop turn: a socket read drains up to 32 chunks at
      // once, and four 60 MB uploads copied (and page-faulted in) 8 MB a turn, stalling every
      // other tenant's requests behind them (B got 504s beside 30 held bodies).
      if (declared >= PACED_BODY_BYTES && !req.isPaused()) {
        req.pause();
        setImmediate(() => req.resume());
      }
    });
    req.on('end', () => {
      arrived?.();
      if (tooLarge) return;
      const body = sunk
        ? sunk.finish().then((buffer) => (whole = Buffer.from(tensorBuffers.owned(buffer), pad, length)))
        : Promise.resolve(whole ? whole.subarray(0, length) : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, length));
      // The decoded body has the limits a plain one has, and is counted in the body budget too.
      const decoded = coding ? body.then((b) => decodeBody(b, coding, limit, overLimit)).then((plain) => { hold.grow(plain.length); return plain; }) : body;
      decoded.then((plain) => answer(x, req, res, version, plain, depth !== undefined)).catch((e: unknown) => fail(x, res, e));
    });
    req.on('error', () => undefined); // a client that goes away mid-body has nothing to be told
    return true;
  };
}
