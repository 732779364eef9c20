// The door's limits on what one caller can take from the event loop: a body that arrives too
// slowly is cut off (408), and a caller refused over and over has its refusals held back, its
// bodies unread, while everyone else is answered at once.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { inferenceService } from '../../src/protocol/grpc/proto.js';
import { hashKey } from '../../src/tenancy/tenants.js';
import { ADMIN_TOKEN, binaryInfer, digits, jsonInfer, startTestServer, type TestServer } from '../helpers/server.js';
import { metricValue } from '../../src/telemetry/prometheus-text.js';

const DELAY_MS = 1500;
let server: TestServer;

before(async () => {
  server = await startTestServer({ tenantsYaml: `tenants:
  - { id: a, keys: ["${hashKey('a-key')}"], models: [mnist-mlp] }
  - { id: b, keys: ["${hashKey('b-key')}"], models: ["*"] }
  - { id: one, keys: ["${hashKey('one-key')}"], models: ["*"], max_concurrency: 1 }
  - { id: slow, keys: ["${hashKey('slow-key')}"], models: ["*"], rate_limit: { samples_per_second: 0.01, burst: 1 } }
  - { id: mixed, keys: ["${hashKey('mixed-key')}"], models: ["*"], rate_limit: { samples_per_second: 0.01, burst: 40 } }
  - { id: busy, keys: ["${hashKey('busy-key')}"], models: ["*"] }
  - { id: quiet, keys: ["${hashKey('quiet-key')}"], models: ["*"] }
  - { id: bad, keys: ["${hashKey('bad-key')}"], models: ["*"] }
  - { id: gone, keys: ["${hashKey('gone-key')}"], models: [mnist-mlp] }
`, minBodyBytesPerSecond: 100_000, refusalsPerSecond: 2, refusalDelayMs: DELAY_MS, maxRefusalWaitMs: 10_000 });
});
after(async () => { await server.close(); });

async function timed(model: string, key: string): Promise<{ status: number; ms: number }> {
  const { body, headers } = binaryInfer(digits(0, 1).pixels, 1);
  const start = performance.now();
  const res = await fetch(`${server.url}/v2/models/${model}/infer`, { method: 'POST', body: new Uint8Array(body), headers: { ...headers, authorization: `Bearer ${key}` } });
  await res.arrayBuffer();
  return { status: res.status, ms: performance.now() - start };
}

/** Front-door seconds charged to a tenant so far (GET /metrics). */
async function doorSeconds(tenant: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
  return metricValue(text, 'pareto_front_door_cpu_seconds_total', { tenant }) || 0;
}

describe('door limits', () => {
  it('charges each tenant the front door\'s time spent on its requests, over REST and gRPC', async () => {
    const [busy0, quiet0] = [await doorSeconds('busy'), await doorSeconds('quiet')];
    const json = (key: string) => fetch(`${server.url}/v2/models/mnist-mlp/infer`, { method: 'POST', body: jsonInfer(digits(0, 8).pixels, 8), headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` } }).then((r) => r.status);
    assert.deepEqual(await Promise.all(Array.from({ length: 20 }, () => json('busy-key'))), Array(20).fill(200));
    assert.equal(await json('quiet-key'), 200);
    const [busy1, quiet1] = [await doorSeconds('busy'), await doorSeconds('quiet')];
    assert.ok(quiet1 > quiet0, `the quiet tenant's one request is charged: ${quiet1 - quiet0} s`);
    assert.ok(busy1 - busy0 > 5 * (quiet1 - quiet0), `20 requests cost more than one: ${busy1 - busy0} against ${quiet1 - quiet0} s`);
    const { client, send } = grpcCaller('busy-key');
    try {
      for (let i = 0; i < 5; i++) assert.equal((await send(DIGIT)).code, grpc.status.OK);
    } finally {
      client.close();
    }
    assert.ok(await doorSeconds('busy') > busy1, 'gRPC calls are charged too');
  });

  it('charges a tenant the loop\'s framing for its requests that fail, over REST and gRPC', async () => {
    const invalid = () => fetch(`${server.url}/v2/models/mnist-mlp/infer`, { method: 'POST', body: '{"inputs": []}', headers: { 'content-type': 'application/json', authorization: 'Bearer bad-key' } }).then((r) => r.status);
    assert.deepEqual(await Promise.all(Array.from({ length: 10 }, invalid)), Array(10).fill(400));
    const { client, send } = grpcCaller('bad-key');
    try {
      assert.equal((await send({ model_name: 'mnist-mlp', inputs: [] })).code, grpc.status.INVALID_ARGUMENT);
    } finally {
      client.close();
    }
    // Nothing of theirs was timed; their part of the loop's other busy time comes as a window of
    // the ledger closes, which another tenant's request makes it do.
    let seconds = 0;
    for (const until = performance.now() + 10_000; seconds === 0 && performance.now() < until;) {
      assert.equal((await timed('mnist-mlp', 'quiet-key')).status, 200);
      seconds = await doorSeconds('bad');
    }
    assert.ok(seconds > 0, 'the failing tenant is charged');
  });


  it('a body that trickles, or sends most of itself and stops, gets 408 and its connection closed', async () => {
    const answer = async (first: number) => {
      const socket = connect(server.httpPort, '127.0.0.1');
      await once(socket, 'connect');
      socket.write(`POST /v2/models/mnist-mlp/infer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer b-key\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n`);
      socket.write(Buffer.alloc(first, 0x20));
      let text = '';
      socket.on('data', (d) => { text += d.toString(); });
      await once(socket, 'close');
      return text;
    };
    const started = performance.now();
    for (const text of await Promise.all([answer(1024), answer(600_000)])) {
      assert.match(text, /^HTTP\/1\.1 408/);
      assert.match(text, /PARETO_ERR_BODY_TOO_SLOW/);
      assert.match(text, /connection: close/i);
    }
    assert.ok(performance.now() - started < 15_000, 'long before the request timeout');
    assert.equal((await timed('mnist-mlp', 'b-key')).status, 200, 'a body at a normal rate is served');
  });

  it('a refused body over 16 MiB is answered unread, and its connection closed', async () => {
    const socket = connect(server.httpPort, '127.0.0.1');
    await once(socket, 'connect');
    // No valid key: 401 on the headers; the 50 MB it declares is never read.
    socket.write(`POST /v2/models/mnist-mlp/infer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer no-such-key\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n`);
    let text = '';
    socket.on('data', (d) => { text += d.toString(); });
    socket.on('error', () => undefined);
    await once(socket, 'close');
    assert.match(text, /^HTTP\/1\.1 401/);
    assert.match(text, /connection: close/i);
  });

  it('holds back a caller\'s refusals past its rate, and no one else\'s answers', async () => {
    const probes = Array.from({ length: 6 }, () => timed('mnist-mlp-wide', 'a-key')); // a may not use it: 403
    const other = await timed('mnist-mlp-wide', 'b-key');
    const refused = await Promise.all(probes);
    assert.deepEqual(refused.map((r) => r.status), [403, 403, 403, 403, 403, 403]);
    const held = refused.filter((r) => r.ms >= DELAY_MS - 5).length;
    assert.ok(held >= 3 && held <= 4, `2 refusals/s answered at once, the rest held ${DELAY_MS} ms: ${refused.map((r) => Math.round(r.ms))}`);
    assert.equal(other.status, 200);
    assert.ok(other.ms < DELAY_MS, `b is answered at once (${Math.round(other.ms)} ms)`);
  });

  it('lets the held refusals of a caller\'s closed connections go, so that they do not delay its next one', async () => {
    // 12 refusals (403: mnist-mlp-wide is not gone's): 2 answered at once, 10 held, one per 500 ms.
    // Once the first held is answered, all are surely in line; the other 9 then go.
    const sockets = await Promise.all(Array.from({ length: 12 }, async () => {
      const socket = connect(server.httpPort, '127.0.0.1');
      await once(socket, 'connect');
      const { body, headers } = binaryInfer(digits(0, 1).pixels, 1);
      const head = Object.entries({ ...headers, authorization: 'Bearer gone-key', 'content-length': body.length }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      socket.write(`POST /v2/models/mnist-mlp-wide/infer HTTP/1.1\r\nHost: x\r\n${head}\r\n`);
      socket.write(body);
      socket.on('error', () => undefined);
      return socket;
    }));
    await resolvedCount(sockets.map((socket) => once(socket, 'data')), 3);
    for (const socket of sockets) socket.destroy();
    // Its rate's burst is back: of the next 3, the third waits. Behind the 9 gone, it would wait
    // until their turns were over: 0.5 + 9 × 0.5 s.
    const next = await Promise.all(Array.from({ length: 3 }, () => timed('mnist-mlp-wide', 'gone-key')));
    assert.deepEqual(next.map((r) => r.status), [403, 403, 403]);
    const held = Math.max(...next.map((r) => r.ms));
    assert.ok(held >= DELAY_MS - 5 && held < DELAY_MS + 2000, `the third held, in its own turn: ${next.map((r) => Math.round(r.ms))} ms`);
  });

  it('lets the held refusals of cancelled gRPC calls go, so that they do not delay the caller\'s next one', async () => {
    const { client, start, call } = grpcCaller('another-unknown-key', true);
    try {
      const calls = Array.from({ length: 12 }, () => start(DIGIT));
      await resolvedCount(calls.map((c) => c.answer), 3);
      for (const c of calls) c.cancel();
      const next = await Promise.all(Array.from({ length: 3 }, () => timedCall(call)));
      assert.ok(next.every((r) => r.code === grpc.status.UNAUTHENTICATED), JSON.stringify(next));
      const held = Math.max(...next.map((r) => r.ms));
      assert.ok(held >= DELAY_MS - 5 && held < DELAY_MS + 2000, `the third held, in its own turn: ${next.map((r) => Math.round(r.ms))} ms`);
    } finally {
      client.close();
    }
  });

  it('a gRPC call counts against its tenant\'s concurrency from its metadata, before its message is read', async () => {
    const { client, call } = grpcCaller('one-key');
    try {
      const results = await Promise.all(Array.from({ length: 8 }, call));
      const limited = results.filter((r) => r.error === 'PARETO_ERR_RATE_LIMITED');
      assert.ok(limited.length >= 1, JSON.stringify(results));
      assert.ok(limited.every((r) => r.code === grpc.status.RESOURCE_EXHAUSTED));
      assert.ok(results.every((r) => r.error === 'PARETO_ERR_RATE_LIMITED' || r.code === grpc.status.INVALID_ARGUMENT), JSON.stringify(results));
      // Passes are given back: calls one after another all get past the limit.
      for (let i = 0; i < 3; i++) assert.equal((await call()).code, grpc.status.INVALID_ARGUMENT);
    } finally {
      client.close();
    }
  });

  it('a gRPC call past its tenant\'s rate is refused at its metadata, before its message is read', async () => {
    const { client, call, send } = grpcCaller('slow-key');
    try {
      // The one sample of its burst goes to a real request; its rate (0.01 samples/s) then has no room.
      assert.equal((await send(DIGIT)).code, grpc.status.OK);
      // Read, this message would get 400 for its shape; refused at its metadata, 429.
      const refused = await call();
      assert.equal(refused.code, grpc.status.RESOURCE_EXHAUSTED, JSON.stringify(refused));
      assert.equal(refused.error, 'PARETO_ERR_RATE_LIMITED');
      assert.match(refused.details ?? '', /smallest requests carry ~1 samples/);
    } finally {
      client.close();
    }
  });

  it('holds back gRPC refusals over the rate found once the message is read, like those at the metadata', async () => {
    const { client, send } = grpcCaller('mixed-key');
    const rows = (model: string, n: number) => timedCall(() => send({ model_name: model, inputs: [{ name: 'input', datatype: 'FP32', shape: [n, 784] }], raw_input_contents: [Buffer.from(digits(0, n).pixels.buffer)] }));
    try {
      // 1 row to one model, 32 to another: 7 samples of its burst left, and the metadata's check
      // expects 1 (the fewest its requests to any model carry), so 32-row calls are read, then refused.
      assert.equal((await rows('mnist-mlp', 1)).code, grpc.status.OK);
      assert.equal((await rows('mnist-mlp-wide', 32)).code, grpc.status.OK);
      const refused = await Promise.all(Array.from({ length: 6 }, () => rows('mnist-mlp-wide', 32)));
      assert.ok(refused.every((r) => r.code === grpc.status.RESOURCE_EXHAUSTED && !/smallest requests/.test(r.details ?? '')), JSON.stringify(refused));
      const held = refused.filter((r) => r.ms >= DELAY_MS - 5).length;
      assert.ok(held >= 3 && held <= 4, `2 refusals/s answered at once, the rest held ${DELAY_MS} ms: ${refused.map((r) => Math.round(r.ms))}`);
    } finally {
      client.close();
    }
  });

  it('holds back a caller\'s gRPC refusals at the metadata like its REST ones, and no one else\'s answers', async () => {
    const { client, call } = grpcCaller('no-such-key', true);
    const other = grpcCaller('b-key', true);
    try {
      const probes = Array.from({ length: 6 }, () => timedCall(call));
      const b = await timedCall(other.call);
      const refused = await Promise.all(probes);
      assert.ok(refused.every((r) => r.code === grpc.status.UNAUTHENTICATED), JSON.stringify(refused));
      const held = refused.filter((r) => r.ms >= DELAY_MS - 5).length;
      assert.ok(held >= 3 && held <= 4, `2 refusals/s answered at once, the rest held ${DELAY_MS} ms: ${refused.map((r) => Math.round(r.ms))}`);
      assert.equal(b.code, grpc.status.OK);
      assert.ok(b.ms < DELAY_MS, `b is answered at once (${Math.round(b.ms)} ms)`);
    } finally {
      client.close();
      other.client.close();
    }
  });
});

/** One digit's request. */
const DIGIT = { model_name: 'mnist-mlp', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 784] }], raw_input_contents: [Buffer.from(digits(0, 1).pixels.buffer)] };

/**
 * A gRPC client with `key`: `send` makes any ModelInfer call, `call` one with a 4 MB message (or
 * `small`: one digit). A 4 MB message
 * takes many flow-control windows to arrive, so concurrent calls' metadata are all in before the
 * first message is whole; read, it gets 400 for its shape, past the batch size: what is measured is
 * which calls are refused at their metadata, and when.
 */
function grpcCaller(key: string, small = false) {
  const Client = inferenceService();
  const client = new Client(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 64 * 1024 * 1024 }) as unknown as grpc.Client & { ModelInfer: Function };
  const raw = Buffer.alloc(4 * 1024 * 1024);
  const request = small ? DIGIT : { model_name: 'mnist-mlp', inputs: [{ name: 'input', datatype: 'FP32', shape: [raw.length / 4] }], raw_input_contents: [raw] };
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${key}`);
  const start = (req: object) => {
    let call: grpc.ClientUnaryCall | undefined;
    const answer = new Promise<{ code: number; error?: string; details?: string }>((resolve) => {
      call = client.ModelInfer(req, metadata,
        (e: grpc.ServiceError | null) => resolve({ code: e?.code ?? 0, error: e?.metadata.get('pareto-error-code')[0] as string | undefined, details: e?.details }));
    });
    return { answer, cancel: () => call!.cancel() };
  };
  const send = (req: object) => start(req).answer;
  return { client, start, send, call: () => send(request) };
}

/** Resolves once `n` of `promises` have resolved (a rejected one does not count). */
function resolvedCount(promises: Array<Promise<unknown>>, n: number): Promise<void> {
  let done = 0;
  return new Promise((resolve) => { for (const p of promises) p.then(() => { if (++done === n) resolve(); }, () => undefined); });
}

async function timedCall<T extends { code: number }>(call: () => Promise<T>): Promise<T & { ms: number }> {
  const start = performance.now();
  const answer = await call();
  return { ...answer, ms: performance.now() - start };
}
