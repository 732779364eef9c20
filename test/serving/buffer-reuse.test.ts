// Request bodies and batches reuse memory (tensor/buffer-pool.ts), and a batch of one request hands
// its body to the executor whole. Under concurrent 50–100 KB binary requests whose tensors start at
// every offset modulo 8, every answer must still equal the same rows run alone in ONNX Runtime.
// gRPC likewise: the gRPC thread gathers messages into memory the event loop hands back with its
// answers (grpc-thread.ts), so each message lands in memory another call's message filled before.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { Pool } from 'undici';
import { grpcClient } from '../helpers/grpc-client.js';
import { difference, directRun, f32, grpcOutputs, grpcRequest, restOutputs } from '../helpers/real-models.js';
import { BUNDLED_MODELS, startTestServer, type TestServer } from '../helpers/server.js';
import { tensorBytes, type Tensor } from '../../src/tensor/tensor.js';

let server: TestServer;
let session: ort.InferenceSession;
before(async () => {
  server = await startTestServer({ tenants: undefined });
  session = await ort.InferenceSession.create(join(BUNDLED_MODELS, 'mnist-mlp-wide/fp32/model.onnx'), { intraOpNumThreads: 1 });
});
after(async () => {
  await server.close();
  await session.release();
});

/** A binary-extension body whose JSON header is `pad` bytes longer (an id), moving the tensor's offset. */
function body(input: Tensor, pad: number): { body: Buffer; headers: Record<string, string> } {
  const raw = tensorBytes(input);
  const header = Buffer.from(JSON.stringify({
    id: 'x'.repeat(pad),
    inputs: [{ name: input.name, datatype: input.datatype, shape: input.shape, parameters: { binary_data_size: raw.byteLength } }],
    parameters: { binary_data_output: true },
  }));
  return { body: Buffer.concat([header, raw]), headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) } };
}

describe('reused request and batch buffers', () => {
  it('concurrent large binary requests at every alignment get exactly their own answers', async () => {
    const requests = Array.from({ length: 240 }, (_, i) => ({ input: f32('input', [[16, 24, 32][i % 3], 784], 1000 + i), pad: i % 8 }));
    const pool = new Pool(server.url, { connections: 48 });
    const batchSizes: number[] = [];
    let next = 0;
    const failures: string[] = [];
    const worker = async () => {
      while (next < requests.length) {
        const i = next++;
        const { input, pad } = requests[i];
        const res = await pool.request({ path: '/v2/models/mnist-mlp-wide/versions/fp32/infer', method: 'POST', ...body(input, pad) });
        const bytes = Buffer.from(await res.body.arrayBuffer());
        const { outputs, parameters } = await restOutputs(new Response(bytes, { status: res.statusCode, headers: res.headers as Record<string, string> }));
        batchSizes.push(Number(parameters.batch_size));
        const why = difference(outputs, await directRun(session, [input]));
        if (why) failures.push(`request ${i} (${input.shape[0]} rows, header +${pad}): ${why}`);
      }
    };
    await Promise.all(Array.from({ length: 48 }, worker));
    await pool.close();
    assert.deepEqual(failures, []);
    // Both paths ran: batches of one request (its body handed over whole) and of several (bodies copied, then reused).
    assert.ok(batchSizes.some((b) => b <= 32), `batch sizes ${[...new Set(batchSizes)]}`);
    assert.ok(batchSizes.some((b) => b > 32), `batch sizes ${[...new Set(batchSizes)]}`);
  });

  it('concurrent large gRPC calls through the gRPC thread get exactly their own answers', async () => {
    const { call, close } = grpcClient(server.grpcAddress);
    const calls = Array.from({ length: 240 }, (_, i) => ({ input: f32('input', [[16, 24, 32][i % 3], 784], 5000 + i), pad: i % 8 }));
    const batchSizes: number[] = [];
    const failures: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < calls.length) {
        const i = next++;
        const { input, pad } = calls[i];
        // The id moves the raw contents' offset in the message.
        const res = await call('ModelInfer', { ...grpcRequest('mnist-mlp-wide', [input]), model_version: 'fp32', id: 'x'.repeat(pad) });
        const { outputs, batchSize } = grpcOutputs(res);
        batchSizes.push(batchSize);
        const why = difference(outputs, await directRun(session, [input]));
        if (why) failures.push(`call ${i} (${input.shape[0]} rows, id +${pad}): ${why}`);
      }
    };
    await Promise.all(Array.from({ length: 48 }, worker));
    close();
    assert.deepEqual(failures, []);
    assert.ok(batchSizes.some((b) => b <= 32), `batch sizes ${[...new Set(batchSizes)]}`);
    assert.ok(batchSizes.some((b) => b > 32), `batch sizes ${[...new Set(batchSizes)]}`);
  });
});
