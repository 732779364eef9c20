import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { grpcClient, type GrpcCall } from '../helpers/grpc-client.js';
import { argmax, digits, startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let call: GrpcCall;
let close: () => void;
before(async () => {
  server = await startTestServer({ maxBodyBytes: 1024 * 1024 });
  ({ call, close } = grpcClient(server.grpcAddress));
});
after(async () => { close(); await server.close(); });

const rawRequest = (pixels: Float32Array, rows: number, extra: object = {}) => ({
  model_name: 'mnist-mlp',
  inputs: [{ name: 'input', datatype: 'FP32', shape: [rows, 784] }],
  raw_input_contents: [Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength)],
  ...extra,
});

describe('gRPC inference service', () => {
  it('answers ServerLive, ServerReady, ServerMetadata, ModelReady and ModelMetadata', async () => {
    assert.equal((await call('ServerLive', {})).live, true);
    assert.equal((await call('ServerReady', {})).ready, true);
    const meta = await call('ServerMetadata', {});
    assert.equal(meta.name, 'pareto');
    assert.ok(meta.extensions.includes('binary_tensor_data'));
    assert.equal((await call('ModelReady', { name: 'mnist-mlp' })).ready, true);
    // Triton answers false for a model it does not know, and its clients expect that, not NOT_FOUND.
    assert.equal((await call('ModelReady', { name: 'no-such-model' })).ready, false);
    const model = await call('ModelMetadata', { name: 'mnist-mlp', version: 'fp32' });
    assert.deepEqual(model.inputs, [{ name: 'input', datatype: 'FP32', shape: [-1, 784] }]);
    assert.equal(model.platform, 'onnxruntime_onnx');
  });

  it('classifies digits sent as raw_input_contents and returns raw_output_contents', async () => {
    const n = 20;
    const { pixels, labels } = digits(200, n);
    const res = await call('ModelInfer', rawRequest(pixels, n, { id: 'g1' }));
    assert.equal(res.id, 'g1');
    assert.equal(res.model_version, res.parameters.variant.string_param);
    assert.deepEqual(res.outputs[0].shape, [n, 10]);
    const raw: Buffer = res.raw_output_contents[0];
    const logits = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    let correct = 0;
    for (let r = 0; r < n; r++) if (argmax(logits, r * 10, 10) === labels[r]) correct++;
    assert.ok(correct >= 19, `${correct}/${n}`);
    assert.ok(res.parameters.batch_size.int64_param >= n);
  });

  it('accepts typed contents (fp32_contents) and gives the same result as raw', async () => {
    const { pixels } = digits(300, 2);
    const raw = await call('ModelInfer', rawRequest(pixels, 2, { model_version: 'fp32' }));
    const typed = await call('ModelInfer', {
      model_name: 'mnist-mlp',
      model_version: 'fp32',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 784], contents: { fp32_contents: Array.from(pixels) } }],
    });
    assert.deepEqual(typed.raw_output_contents[0], raw.raw_output_contents[0]);
  });

  it('maps errors to gRPC status codes with a message', async () => {
    const { pixels } = digits(0, 1);
    await assert.rejects(call('ModelInfer', { ...rawRequest(pixels, 1), model_name: 'nope' }), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND && /nope/.test(e.details));
    await assert.rejects(call('ModelInfer', { ...rawRequest(pixels, 1), model_version: 'int3' }), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND);
    await assert.rejects(call('ModelInfer', rawRequest(pixels.subarray(0, 100), 1)), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && /bytes/.test(e.details));
    await assert.rejects(call('ModelInfer', { ...rawRequest(pixels, 1), inputs: [{ name: 'input', datatype: 'FP64', shape: [1, 392] }] }), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT);
    await assert.rejects(call('ModelMetadata', { name: 'nope' }), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND);
    const big = new Float32Array(300 * 1024);
    await assert.rejects(call('ModelInfer', rawRequest(big, 1)), (e: grpc.ServiceError) => e.code === grpc.status.RESOURCE_EXHAUSTED);
    const ok = await call('ModelInfer', rawRequest(pixels, 1));
    assert.equal(ok.outputs[0].name, 'logits');
  });
});
