// The ModelInferResponse writer read back by protobufjs's decoder: the same message as
// encodeGrpcInfer's object encoded by protobufjs, for any response the service can give.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { inferenceService } from '../../src/protocol/grpc/proto.js';
import { encodeGrpcInfer } from '../../src/protocol/grpc/infer-codec.js';
import { writeGrpcInfer } from '../../src/protocol/grpc/infer-response-writer.js';
import type { InferenceResponse } from '../../src/protocol/types.js';
import type { Tensor } from '../../src/tensor/tensor.js';

const { responseSerialize, responseDeserialize } = inferenceService(String).service.ModelInfer;

const tensor: fc.Arbitrary<Tensor> = fc.oneof(
  fc.array(fc.nat(6), { maxLength: 3 }).chain((shape) => {
    const n = shape.reduce((a, b) => a * b, 1);
    return fc.oneof(
      fc.float32Array({ minLength: n, maxLength: n }).map((data) => ({ datatype: 'FP32' as const, data })),
      fc.array(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), { minLength: n, maxLength: n }).map((v) => ({ datatype: 'INT64' as const, data: BigInt64Array.from(v) })),
      fc.array(fc.string({ unit: 'grapheme' }), { minLength: n, maxLength: n }).map((data) => ({ datatype: 'BYTES' as const, data })),
    ).map((d) => ({ shape, ...d }));
  }),
).chain((t) => fc.string({ unit: 'grapheme', maxLength: 12 }).map((name) => ({ name, ...t }) as Tensor));

const response: fc.Arbitrary<InferenceResponse> = fc.record({
  model: fc.string({ unit: 'grapheme' }),
  version: fc.string(),
  id: fc.option(fc.string({ unit: 'grapheme' }), { nil: undefined }),
  outputs: fc.uniqueArray(tensor, { maxLength: 3, selector: (t) => t.name }),
  serving: fc.record({
    variant: fc.string(),
    accuracy: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
    batchSize: fc.nat(1 << 20),
    queueMs: fc.double({ min: 0, max: 1e6, noNaN: true }),
    computeMs: fc.double({ min: 0, max: 1e6, noNaN: true }),
  }),
}).chain((res) => fc.subarray(res.outputs.map((o) => o.name)).chain((shared) => fc.record({
  sizes: fc.array(fc.record({ region: fc.string(), byteSize: fc.nat(), offset: fc.nat() }), { minLength: shared.length, maxLength: shared.length }),
}).map(({ sizes }) => ({ ...res, ...(shared.length ? { sharedOutputs: new Map(shared.map((name, i) => [name, sizes[i]])) } : {}) }) as InferenceResponse)));

describe('the ModelInferResponse writer', () => {
  it('writes what protobufjs reads as the message protobufjs itself encodes', () => {
    fc.assert(fc.property(response, (res) => {
      const written = responseDeserialize(Buffer.from(writeGrpcInfer(res)));
      const encoded = responseDeserialize(responseSerialize(encodeGrpcInfer(res)));
      assert.deepEqual(written, encoded);
    }), { numRuns: 300 });
  });

  it('writes a negative int64 parameter as protobuf does (ten bytes)', () => {
    const res: InferenceResponse = {
      model: 'm', version: '1', outputs: [{ name: 'o', datatype: 'FP32', shape: [1], data: new Float32Array([1]) }],
      sharedOutputs: new Map([['o', { region: 'r', byteSize: 4, offset: 0 }]]),
      serving: { variant: 'v', batchSize: 1, queueMs: -1, computeMs: 0.5 },
    } as InferenceResponse;
    assert.deepEqual(responseDeserialize(Buffer.from(writeGrpcInfer(res))), responseDeserialize(responseSerialize(encodeGrpcInfer(res))));
  });

  it('gives an output named __proto__ no shared-memory parameters it was not written with (fast-check found it)', () => {
    const res = {
      model: 'm', version: '1', outputs: [{ name: '__proto__', datatype: 'FP32', shape: [1], data: new Float32Array([1]) }, { name: 'o', datatype: 'FP32', shape: [1], data: new Float32Array([2]) }],
      sharedOutputs: new Map([['o', { region: 'r', byteSize: 4, offset: 0 }]]),
      serving: { variant: 'v', batchSize: 1, queueMs: 0, computeMs: 0 },
    } as InferenceResponse;
    for (const bytes of [Buffer.from(writeGrpcInfer(res)), responseSerialize(encodeGrpcInfer(res))]) {
      const [proto, o] = responseDeserialize(bytes).outputs;
      assert.deepEqual(proto.parameters, {});
      assert.equal(o.parameters.shared_memory_region.string_param, 'r');
    }
  });

  it('sends an integer past 2^53 as a double, exactly, on both paths', () => {
    const res = {
      model: 'm', version: '1', outputs: [{ name: 'o', datatype: 'FP32', shape: [1], data: new Float32Array([1]) }],
      sharedOutputs: new Map([['o', { region: 'r', byteSize: 2 ** 60, offset: 0 }]]),
      serving: { variant: 'v', batchSize: 1, queueMs: 0, computeMs: 0 },
    } as InferenceResponse;
    for (const bytes of [Buffer.from(writeGrpcInfer(res)), responseSerialize(encodeGrpcInfer(res))]) {
      const size = responseDeserialize(bytes).outputs[0].parameters.shared_memory_byte_size;
      assert.equal(size.parameter_choice, 'double_param');
      assert.equal(size.double_param, 2 ** 60);
    }
  });
});
