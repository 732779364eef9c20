// ModelInfer served on the raw HTTP/2 stream (unary-infer-stream.ts), spoken to frame by frame:
// the framing, limits, deadline and status of each edge case, the passes given back, and the calls
// it leaves to grpc-js (compressed, a malformed deadline).
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { once } from 'node:events';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { inferenceService } from '../../src/protocol/grpc/proto.js';
import { peekModelName, rawContentsAt } from '../../src/protocol/grpc/infer-codec.js';
import { hashKey } from '../../src/tenancy/tenants.js';
import { metricSamples } from '../../src/telemetry/prometheus-text.js';
import { until } from '../helpers/cluster.js';
import { grpcClient } from '../helpers/grpc-client.js';
import { ADMIN_TOKEN, digits, startTestServer, type TestServer } from '../helpers/server.js';

const MAX_BYTES = 1024 * 1024;
const { requestSerialize, requestDeserialize, responseDeserialize } = inferenceService(String).service.ModelInfer;
let server: TestServer;
let session: http2.ClientHttp2Session;

before(async () => {
  server = await startTestServer({ tenantsYaml: `tenants:
  - { id: a, keys: ["${hashKey('a-key')}"], models: ["*"] }
  - { id: one, keys: ["${hashKey('one-key')}"], models: ["*"], max_concurrency: 1 }
`, maxBodyBytes: MAX_BYTES });
  session = http2.connect(`http://${server.grpcAddress}`);
});
after(async () => { session.close(); await server.close(); });

const message = (extra: object = {}) => requestSerialize({
  model_name: 'mnist-mlp',
  inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 784] }],
  raw_input_contents: [Buffer.from(digits(7, 1).pixels.buffer)],
  ...extra,
});

/** A gRPC frame: not compressed (or `flag`), the length, the message. */
function frame(msg: Buffer, flag = 0): Buffer {
  const out = Buffer.alloc(5 + msg.length);
  out[0] = flag;
  out.writeUInt32BE(msg.length, 1);
  msg.copy(out, 5);
  return out;
}

interface RawAnswer {
  status: number;
  details: string;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  errorCode?: string;
}

/**
 * One ModelInfer call on `session`: `parts` written one by one (each its own DATA frame), the
 * request ended after them unless `end` is false. Resolves once the server has sent its status.
 */
function rawCall(parts: Buffer[], opts: { key?: string; headers?: http2.OutgoingHttpHeaders; end?: boolean; on?: http2.ClientHttp2Session } = {}): { stream: http2.ClientHttp2Stream; answer: Promise<RawAnswer> } {
  const stream = (opts.on ?? session).request({
    ':method': 'POST', ':path': '/inference.GRPCInferenceService/ModelInfer', 'content-type': 'application/grpc', te: 'trailers',
    authorization: `Bearer ${opts.key ?? 'a-key'}`, ...opts.headers,
  });
  const answer = new Promise<RawAnswer>((resolve, reject) => {
    let headers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    const settle = (h: http2.IncomingHttpHeaders) => resolve({
      status: Number(h['grpc-status']), details: decodeURI(String(h['grpc-message'] ?? '')), headers, body: Buffer.concat(chunks),
      errorCode: h['pareto-error-code'] as string | undefined,
    });
    stream.on('response', (h) => { headers = h; if (h['grpc-status'] !== undefined) settle(h); });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('trailers', settle);
    stream.on('error', reject);
  });
  void (async () => {
    for (const part of parts) {
      if (!stream.write(part)) await once(stream, 'drain');
      await new Promise((r) => setImmediate(r));
    }
    if (opts.end !== false) stream.end();
  })();
  return { stream, answer };
}

describe('a call over its rate once its message is read, held in the tarpit', () => {
  let held: TestServer;
  let own: http2.ClientHttp2Session;
  before(async () => {
    // A rate that does not refill within the test; 40 samples of burst. One refusal a second
    // answered at once, the rest held 10 s (the most there is), one at most.
    held = await startTestServer({ tenantsYaml: `tenants:
  - { id: r, keys: ["${hashKey('r-key')}"], models: ["*"], rate_limit: { samples_per_second: 0.001, burst: 40 } }
`, refusalsPerSecond: 1, refusalDelayMs: 10_000, maxRefusalWaitMs: 10_000, maxHeldRefusals: 1 });
    own = http2.connect(`http://${held.grpcAddress}`);
  });
  after(async () => { own.destroy(); await held.close(); });

  const waiting = async () => metricSamples(await (await fetch(`${held.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text(), 'pareto_refusals_waiting')[0]?.value;
  /** A ModelInferRequest of `n` digits, as grpc-js's client takes it. */
  const request = (n: number, model = 'mnist-mlp') => ({ model_name: model, inputs: [{ name: 'input', datatype: 'FP32', shape: [n, 784] }], raw_input_contents: [Buffer.from(digits(0, n).pixels.buffer)] });
  const call = (n: number, model = 'mnist-mlp') => rawCall([frame(requestSerialize(request(n, model)))], { key: 'r-key', on: own });

  /** Sends `send()` one at a time until one is held (the one a second answered at once aside). */
  async function holdOne<T>(send: () => T, answered: (sent: T) => boolean): Promise<T> {
    await until(async () => (await waiting()) === 0, 15_000, 'nothing is held from before');
    for (let tries = 0; tries < 5; tries++) {
      const sent = send();
      await until(async () => (await waiting()) === 1 || answered(sent), 10_000, 'the refusal is answered or held');
      if ((await waiting()) === 1) return sent;
    }
    throw new Error('no refusal was held');
  }

  it('leaves the line when its client resets it, instead of holding a place until its turn', async () => {
    // r's smallest requests (1 row, to another model) are what its metadata is checked for
    // (tenants.ts): its 32-row messages are then refused only once read, and held in the tarpit
    // like a refusal at the metadata (grpc-server.ts).
    assert.equal((await call(1, 'mnist-mlp-wide').answer).status, grpc.status.OK);
    assert.equal((await call(32).answer).status, grpc.status.OK); // 7 samples left
    // The first refusal is answered at once (the tarpit's one a second), the next one is held;
    // which is which depends on the second's clock, so they are sent one at a time until one is held.
    const heldCall = await holdOne(() => {
      const r = call(32);
      r.stream.on('error', () => undefined);
      return r;
    }, (r) => r.stream.closed);
    assert.equal(await waiting(), 1);
    heldCall.stream.close(http2.constants.NGHTTP2_CANCEL);
    // Before, it stayed there until its turn (10 s here), taking the caller's one place.
    await until(async () => (await waiting()) === 0, 5_000, 'the reset call leaves the tarpit');
  });

  it('the same for a compressed call, which grpc-js serves', async () => {
    const compressed = () => rawCall([frame(gzipSync(requestSerialize(request(32))), 1)], { key: 'r-key', on: own, headers: { 'grpc-encoding': 'gzip' } });
    const held = await holdOne(() => {
      const c = compressed();
      c.stream.on('error', () => undefined);
      return c;
    }, (c) => c.stream.closed);
    held.stream.close(http2.constants.NGHTTP2_CANCEL);
    await until(async () => (await waiting()) === 0, 5_000, 'the reset call leaves the tarpit');
  });

  it('the same for a ModelStreamInfer message, when its stream is cancelled', async () => {
    const Client = inferenceService();
    const client = new Client(held.grpcAddress, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Function>;
    const metadata = new grpc.Metadata();
    metadata.set('authorization', 'Bearer r-key');
    const stream = client.ModelStreamInfer(metadata) as grpc.ClientDuplexStream<object, { error_message: string }>;
    stream.on('error', () => undefined);
    let answers = 0;
    stream.on('data', () => answers++);
    try {
      await holdOne(() => {
        stream.write(request(32));
        return answers + 1;
      }, (expected) => answers >= expected);
      stream.cancel();
      await until(async () => (await waiting()) === 0, 5_000, 'the cancelled stream\'s message leaves the tarpit');
    } finally {
      client.close();
    }
  });
});

describe('ModelInfer on the raw stream', () => {
  it('answers a call sent whole, and the same call sent a few bytes per frame, alike', async () => {
    const whole = await rawCall([frame(message())]).answer;
    assert.equal(whole.status, grpc.status.OK, whole.details);
    assert.equal(whole.headers['content-type'], 'application/grpc+proto');
    assert.equal(whole.body.readUInt32BE(1), whole.body.length - 5);
    const res = responseDeserialize(whole.body.subarray(5)) as { model_name: string; raw_output_contents: Buffer[] };
    assert.equal(res.model_name, 'mnist-mlp');
    const logits = new Float32Array(new Uint8Array(res.raw_output_contents[0]).buffer);
    assert.equal(logits.indexOf(Math.max(...logits)), digits(7, 1).labels[0]);
    // The prefix split across frames, then the message in 1 KB pieces.
    const bytes = frame(message());
    const parts = [bytes.subarray(0, 2), bytes.subarray(2, 4), ...Array.from({ length: Math.ceil((bytes.length - 4) / 1024) }, (_, i) => bytes.subarray(4 + i * 1024, 4 + (i + 1) * 1024))];
    const pieces = await rawCall(parts).answer;
    assert.equal(pieces.status, grpc.status.OK, pieces.details);
    assert.deepEqual(responseDeserialize(pieces.body.subarray(5)).raw_output_contents, res.raw_output_contents);
  });

  it('a message that is no ModelInferRequest is INVALID_ARGUMENT, not a server error', async () => {
    const bad = await rawCall([frame(Buffer.from([0x0a, 0xff, 0xff, 0x01]))]).answer;
    assert.equal(bad.status, grpc.status.INVALID_ARGUMENT);
    assert.match(bad.details, /malformed/);
    assert.equal(bad.errorCode, 'PARETO_ERR_INVALID_REQUEST');
  });

  it('a message over the limit is refused at its prefix, before the client has sent it', async () => {
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(MAX_BYTES + 1, 1);
    const { stream, answer } = rawCall([prefix, Buffer.alloc(1000)], { end: false });
    const over = await answer;
    assert.equal(over.status, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(over.details, new RegExp(`larger than max \\(${MAX_BYTES + 1} vs ${MAX_BYTES}\\)`));
    stream.close();
  });

  it('a second message, no message, or a compressed flag without an encoding each get their status', async () => {
    const two = await rawCall([frame(message()), frame(message())]).answer;
    assert.equal(two.status, grpc.status.UNIMPLEMENTED);
    assert.match(two.details, /second request message/);
    const none = await rawCall([]).answer;
    assert.equal(none.status, grpc.status.UNIMPLEMENTED);
    assert.match(none.details, /no request message/);
    const cut = await rawCall([frame(message()).subarray(0, 100)]).answer;
    assert.equal(cut.status, grpc.status.UNIMPLEMENTED);
    const flagged = await rawCall([frame(message(), 1)]).answer;
    assert.equal(flagged.status, grpc.status.INTERNAL);
    assert.match(flagged.details, /compressed message without a grpc-encoding/);
  });

  it('a call that reaches its grpc-timeout is ended DEADLINE_EXCEEDED by the server, and its pass given back', async () => {
    // 1 ns: past on arrival, so ended at once, whatever the machine's speed.
    const late = await rawCall([frame(message())], { key: 'one-key', headers: { 'grpc-timeout': '1n' } }).answer;
    assert.equal(late.status, grpc.status.DEADLINE_EXCEEDED);
    assert.equal(late.details, 'Deadline exceeded');
    // 100 ms, its message never finished: the call holds tenant one's only place until the timer.
    const { stream, answer } = rawCall([frame(message()).subarray(0, 50)], { key: 'one-key', end: false, headers: { 'grpc-timeout': '100m' } });
    const timedOut = await answer;
    stream.close();
    assert.equal(timedOut.status, grpc.status.DEADLINE_EXCEEDED);
    assert.equal(timedOut.details, 'Deadline exceeded');
    const next = await rawCall([frame(message())], { key: 'one-key' }).answer;
    assert.equal(next.status, grpc.status.OK, next.details);
    // The longest grpc-timeout there is (~11,400 years) is no deadline, not one already past.
    const far = await rawCall([frame(message())], { headers: { 'grpc-timeout': '99999999H' } }).answer;
    assert.equal(far.status, grpc.status.OK, far.details);
  });

  it('a call reset by its client gives its tenant\'s place back', async () => {
    // Its headers hold tenant one's only place; its message never ends.
    const held = rawCall([frame(message()).subarray(0, 50)], { key: 'one-key', end: false });
    const refused = await rawCall([frame(message())], { key: 'one-key' }).answer;
    assert.equal(refused.status, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal(refused.errorCode, 'PARETO_ERR_RATE_LIMITED');
    held.stream.close(http2.constants.NGHTTP2_CANCEL);
    await once(held.stream, 'close');
    // The reset reaches the server before the next call's headers on the same connection, but its
    // stream closes on the server a tick later: a call read in the same turn may still be refused.
    let after = await rawCall([frame(message())], { key: 'one-key' }).answer;
    for (let tries = 0; after.status === grpc.status.RESOURCE_EXHAUSTED && tries < 20; tries++) after = await rawCall([frame(message())], { key: 'one-key' }).answer;
    assert.equal(after.status, grpc.status.OK, after.details);
  });

  it('a call without a key is refused at its headers; its message is not waited for', async () => {
    const { stream, answer } = rawCall([frame(message()).subarray(0, 10)], { key: 'no-such-key', end: false });
    const refused = await answer;
    assert.equal(refused.status, grpc.status.UNAUTHENTICATED);
    stream.close();
  });

  it('ends a refused call that is still sending its message, so that it does not stay open on its connection', async () => {
    // A call answered before its message was read, whose client had more to send than the stream's
    // flow-control window (64 KB), stayed open on both ends: its client could send no more, and the
    // server read no more. h2load's 64 streams filled with such calls and it stalled for good (67
    // calls in 10 s, against 2,696 since). The server now drops what arrives and resets the stream
    // (NO_ERROR) after the status.
    const own = http2.connect(`http://${server.grpcAddress}`);
    try {
      const big = frame(message({ raw_input_contents: [Buffer.alloc(256 * 1024)], inputs: [{ name: 'input', datatype: 'FP32', shape: [64 * 1024] }] }));
      const calls = Array.from({ length: 8 }, () => rawCall([big], { key: 'no-such-key', on: own }));
      for (const call of calls) call.stream.on('error', () => undefined);
      const answers = await Promise.all(calls.map((c) => c.answer));
      assert.ok(answers.every((r) => r.status === grpc.status.UNAUTHENTICATED), JSON.stringify(answers.map((r) => r.status)));
      await until(() => calls.every((c) => c.stream.closed), 10_000, 'every refused call\'s stream is closed');
      const valid = await rawCall([frame(message())], { on: own }).answer;
      assert.equal(valid.status, grpc.status.OK, valid.details);
    } finally {
      own.destroy();
    }
  });

  it('leaves compressed calls and a malformed grpc-timeout to grpc-js', async () => {
    const plain = await rawCall([frame(message())]).answer;
    const gzip = grpcClient(server.grpcAddress, { 'grpc.default_compression_algorithm': 2 });
    try {
      const metadata = new grpc.Metadata();
      metadata.set('authorization', 'Bearer a-key');
      const gzipped = await gzip.call('ModelInfer', {
        model_name: 'mnist-mlp', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 784] }], raw_input_contents: [Buffer.from(digits(7, 1).pixels.buffer)],
      }, metadata);
      assert.deepEqual(gzipped.raw_output_contents, responseDeserialize(plain.body.subarray(5)).raw_output_contents);
    } finally {
      gzip.close();
    }
    const malformed = await rawCall([frame(message())], { headers: { 'grpc-timeout': 'soon' } }).answer;
    assert.equal(malformed.status, grpc.status.INTERNAL);
    assert.match(malformed.details, /Invalid grpc-timeout value/);
  });
});

describe('reading a ModelInferRequest without decoding it', () => {
  it('reads the model_name a full decode reads', () => {
    const tensor = fc.record({ name: fc.string(), datatype: fc.constantFrom('FP32', 'INT64', 'BYTES'), shape: fc.array(fc.nat(), { maxLength: 3 }) });
    fc.assert(fc.property(fc.record({
      model_name: fc.string({ unit: 'grapheme' }), model_version: fc.string(), id: fc.string(),
      inputs: fc.array(tensor, { maxLength: 3 }), raw_input_contents: fc.array(fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)), { maxLength: 3 }),
    }), (req) => {
      assert.equal(peekModelName(requestSerialize(req)), req.model_name);
    }));
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const peeked = peekModelName(bytes);
      let decoded: string | undefined;
      try {
        decoded = (requestDeserialize(Buffer.from(bytes)) as { model_name: string }).model_name;
      } catch {
        decoded = undefined;
      }
      // Where both read the message, they agree (a decode also reads what lies inside the inputs).
      if (peeked !== undefined && decoded !== undefined) assert.equal(peeked, decoded);
    }));
    // A model_name that is not length-delimited: protobufjs reads a string there all the same.
    assert.equal(peekModelName(Uint8Array.from([13, 3, 0, 0, 0])), undefined);
    // Two model_name fields: the last wins, as in a full decode.
    const twice = Buffer.concat([requestSerialize({ model_name: 'first' }), requestSerialize({ model_name: 'second' })]);
    assert.equal(peekModelName(twice), 'second');
  });

  it('finds where the first raw contents start, from any first part of the message that reaches them', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme' }), fc.array(fc.string(), { maxLength: 4 }), fc.integer({ min: 1, max: 300 }), fc.nat(), (model, names, size, cut) => {
      const raw = Buffer.alloc(size, 0xa5);
      const bytes = requestSerialize({ model_name: model, inputs: names.map((name) => ({ name, datatype: 'UINT8', shape: [size] })), raw_input_contents: [raw, Buffer.from([1])] });
      // raw_input_contents are serialized last: the first, then the second's key, length and byte.
      const at = bytes.length - 3 - size;
      assert.deepEqual(bytes.subarray(at, at + size), raw);
      const head = bytes.subarray(0, cut % (bytes.length + 1));
      if (head.length >= at) assert.equal(rawContentsAt(head), at);
      else assert.equal(rawContentsAt(head), undefined);
    }));
  });
});
