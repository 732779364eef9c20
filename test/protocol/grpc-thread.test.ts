// The gRPC port's HTTP/2 on a thread of its own (grpc-thread.ts): what it relays to grpc-js on the
// event loop arrives whole (a large compressed call, through flow control both ways), a port taken
// fails the start and leaves nothing behind, shutdown drains a call in flight, and /metrics shows the
// thread. The calls themselves are tested through it everywhere else (grpc-*.test.ts run on it).
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { inferenceService } from '../../src/protocol/grpc/proto.js';
import { metricSamples } from '../../src/telemetry/prometheus-text.js';
import { hashKey } from '../../src/tenancy/tenants.js';
import { grpcClient } from '../helpers/grpc-client.js';
import { ADMIN_TOKEN, argmax, digits, startTestServer, type TestServer } from '../helpers/server.js';

const { requestSerialize } = inferenceService(String).service.ModelInfer;
const ROWS = 64;

const request = (rows: number) => ({
  model_name: 'mnist-mlp',
  model_version: 'fp32',
  inputs: [{ name: 'input', datatype: 'FP32', shape: [rows, 784] }],
  raw_input_contents: [Buffer.from(digits(0, rows).pixels.buffer)],
});

const metrics = async (url: string) => (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();

describe('the gRPC thread', () => {
  let server: TestServer;
  before(async () => { server = await startTestServer(); });
  after(() => server.close());

  it('relays a large compressed call to grpc-js and answers it exactly as the thread answers the same call uncompressed', async () => {
    const plain = grpcClient(server.grpcAddress);
    const gzip = grpcClient(server.grpcAddress, { 'grpc.default_compression_algorithm': 2 });
    try {
      // ~200 KB: three times a stream's 64 KB window, on both connections.
      const [a, b] = await Promise.all([plain.call('ModelInfer', request(ROWS)), gzip.call('ModelInfer', request(ROWS))]);
      assert.equal(a.outputs[0].shape.map(Number).join(','), `${ROWS},10`);
      assert.deepEqual(b.raw_output_contents, a.raw_output_contents);
      const logits = new Float32Array(new Uint8Array(a.raw_output_contents[0]).slice().buffer);
      const labels = digits(0, ROWS).labels;
      const right = labels.filter((label, i) => argmax(logits, i * 10, 10) === label).length;
      assert.ok(right / ROWS > 0.9, `the answers are the model's: ${right} of ${ROWS} digits right`);
    } finally {
      plain.close();
      gzip.close();
    }
  });

  it('relays a client\'s reset of a stream it relays, and the relay carries on', async () => {
    const session = http2.connect(`http://${server.grpcAddress}`);
    try {
      const stream = session.request({ ':method': 'POST', ':path': '/inference.GRPCInferenceService/ModelStreamInfer', 'content-type': 'application/grpc', te: 'trailers' });
      stream.on('error', () => undefined);
      stream.write(Buffer.from([0, 0, 0, 0, 2]));
      stream.close(http2.constants.NGHTTP2_CANCEL);
      await new Promise((resolve) => stream.once('close', resolve));
      const live = grpcClient(server.grpcAddress);
      try {
        assert.equal((await live.call('ServerLive', {})).live, true);
      } finally {
        live.close();
      }
    } finally {
      session.close();
    }
  });

  it('shows in /metrics: its busy share and its own mark-compacts', async () => {
    const text = await metrics(server.url);
    const busy = metricSamples(text, 'pareto_grpc_thread_utilization')[0]?.value;
    assert.ok(busy !== undefined && busy >= 0 && busy <= 1, `utilization ${busy}`);
    assert.ok(metricSamples(text, 'pareto_grpc_thread_mark_compacts_total').length === 1);
  });

  it('is not there with grpcThread off: /metrics has neither', async () => {
    const own = await startTestServer({ grpcThread: false });
    try {
      const text = await metrics(own.url);
      assert.equal(metricSamples(text, 'pareto_grpc_thread_utilization').length, 0);
      const client = grpcClient(own.grpcAddress);
      try {
        assert.equal((await client.call('ModelInfer', request(1))).model_name, 'mnist-mlp');
      } finally {
        client.close();
      }
    } finally {
      await own.close();
    }
  });

  it('a gRPC port already taken fails the start with EADDRINUSE, and the first server serves on', async () => {
    await assert.rejects(startTestServer({ grpcPort: server.grpcPort }), (e: NodeJS.ErrnoException) => e.code === 'EADDRINUSE');
    const client = grpcClient(server.grpcAddress);
    try {
      assert.equal((await client.call('ServerLive', {})).live, true);
    } finally {
      client.close();
    }
  });
});

describe('the gRPC thread at shutdown', () => {
  it('answers a call whose headers came before close(), ends idle connections, and close() returns', async () => {
    const server = await startTestServer({ drainTimeoutMs: 10_000, tenantsYaml: `tenants:
  - { id: one, keys: ["${hashKey('one-key')}"], models: ["*"], max_concurrency: 1 }
` });
    const idle = http2.connect(`http://${server.grpcAddress}`);
    const busy = http2.connect(`http://${server.grpcAddress}`);
    const idleClosed = new Promise((resolve) => idle.once('close', resolve));
    idle.on('error', () => undefined);
    try {
      await new Promise((resolve) => idle.once('connect', resolve));
      const message = requestSerialize(request(1));
      const framed = Buffer.alloc(5 + message.length);
      framed.writeUInt32BE(message.length, 1);
      message.copy(framed, 5);
      const call = () => busy.request({ ':method': 'POST', ':path': '/inference.GRPCInferenceService/ModelInfer', 'content-type': 'application/grpc', te: 'trailers', authorization: 'Bearer one-key' });
      const stream = call();
      const status = new Promise<{ code: number; error?: string }>((resolve, reject) => {
        stream.on('response', (h) => { if (h['grpc-status'] !== undefined) resolve({ code: Number(h['grpc-status']), error: h['pareto-error-code'] as string }); });
        stream.on('trailers', (h) => resolve({ code: Number(h['grpc-status']), error: h['pareto-error-code'] as string }));
        stream.on('error', reject);
        stream.on('data', () => undefined);
      });
      // Half the message, so that the call is open when close() begins; the rest after it. It holds
      // its tenant's one place once the server has its headers: a second call refused says so.
      stream.write(framed.subarray(0, 100));
      const second = call();
      second.end(framed);
      const [refused] = await once(second, 'response') as [http2.IncomingHttpHeaders];
      assert.equal(refused['pareto-error-code'], 'PARETO_ERR_RATE_LIMITED');
      const closed = server.close();
      stream.end(framed.subarray(100));
      const { code, error } = await status;
      // Answered, or refused as the server stops taking work: never reset, never lost.
      assert.ok(code === grpc.status.OK || (code === grpc.status.UNAVAILABLE && error === 'PARETO_ERR_SHUTTING_DOWN'), `status ${code} ${error}`);
      await closed;
      await idleClosed;
    } finally {
      idle.destroy();
      busy.destroy();
    }
  });
});
