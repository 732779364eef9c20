import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { decodeModel, encodeModel, readModel, OnnxFormatError, type Model } from '../../src/onnx/model.js';
import { GraphBuilder } from '../../src/onnx/graph.js';
import { UnsupportedModelError } from '../../src/optimize/errors.js';
import { convertFp16 } from '../../src/optimize/fp16.js';
import { toHalfBits as toHalf } from '../../src/tensor/fp16.js';
import { mlpFromGraph } from '../../src/optimize/mlp-graph.js';
import { pruneStructured } from '../../src/optimize/prune.js';
import { quantizeDynamic } from '../../src/optimize/quantize-dynamic.js';
import { quantizeStatic, rowFeeds } from '../../src/optimize/quantize-static.js';
import { BUNDLED_MODELS, digits } from '../helpers/server.js';

const reference = () => readModel(`${BUNDLED_MODELS}/mnist-mlp/fp32/model.onnx`);
const N = 200;
const sample = digits(0, N);

async function run(model: Model): Promise<{ logits: Float32Array; dims: readonly number[] }> {
  const session = await ort.InferenceSession.create(encodeModel(model));
  const out = (await session.run({ input: new ort.Tensor('float32', sample.pixels, [N, 784]) })).logits;
  await session.release();
  return { logits: out.data as Float32Array, dims: out.dims };
}

function top1(logits: Float32Array): number[] {
  return Array.from({ length: N }, (_, r) => {
    let best = 0;
    for (let j = 1; j < 10; j++) if (logits[r * 10 + j] > logits[r * 10 + best]) best = j;
    return best;
  });
}

function agreement(a: Float32Array, b: Float32Array): number {
  const ta = top1(a), tb = top1(b);
  return ta.filter((v, i) => v === tb[i]).length / N;
}

describe('model transforms', () => {
  it('fp16 keeps shapes and stays close to the fp32 logits', async () => {
    const ref = await run(reference());
    const half = await run(convertFp16(reference()));
    assert.deepEqual(half.dims, ref.dims);
    let maxDiff = 0;
    for (let i = 0; i < ref.logits.length; i++) maxDiff = Math.max(maxDiff, Math.abs(half.logits[i] - ref.logits[i]));
    assert.ok(maxDiff < 0.1, `max |Δlogit| ${maxDiff}`);
    assert.ok(agreement(ref.logits, half.logits) >= 0.99);
  });

  it('int8 dynamic quantization keeps shapes and top-1 agreement, with int8 weights', async () => {
    const q = quantizeDynamic(reference());
    assert.ok(q.graph!.node!.some((n) => n.opType === 'MatMulInteger'));
    assert.ok(!q.graph!.node!.some((n) => n.opType === 'MatMul'), 'every MatMul was quantized');
    const ref = await run(reference());
    const out = await run(q);
    assert.deepEqual(out.dims, ref.dims);
    assert.ok(agreement(ref.logits, out.logits) >= 0.97, `agreement ${agreement(ref.logits, out.logits)}`);
    assert.ok(encodeModel(q).length < encodeModel(reference()).length / 3, 'weights shrink about 4×');
  });

  it('int8 static (QDQ, calibrated on training digits) keeps top-1 agreement', async () => {
    const train = (await import('../../src/datasets/mnist.js')).loadMnist('train');
    const q = await quantizeStatic(reference(), rowFeeds('input', train.pixels.subarray(0, 500 * 784), [784]));
    assert.ok(q.graph!.node!.some((n) => n.opType === 'QuantizeLinear'));
    const ref = await run(reference());
    const out = await run(q);
    assert.deepEqual(out.dims, ref.dims);
    assert.ok(agreement(ref.logits, out.logits) >= 0.97, `agreement ${agreement(ref.logits, out.logits)}`);
  });

  it('structured pruning removes whole hidden units and the model stays usable', async () => {
    const { model, layers } = pruneStructured(reference(), { ratio: 0.5 });
    assert.deepEqual(layers, [{ before: 256, after: 128 }, { before: 128, after: 64 }]);
    const mlp = mlpFromGraph(model);
    assert.deepEqual(mlp.layers.map((l) => [l.inputs, l.outputs]), [[784, 128], [128, 64], [64, 10]]);
    const ref = await run(reference());
    const out = await run(model);
    assert.deepEqual(out.dims, ref.dims);
    assert.ok(agreement(ref.logits, out.logits) >= 0.8, `agreement before fine-tuning ${agreement(ref.logits, out.logits)}`);
  });

  it('converts float32 to float16 bits exactly where representable, and rounds to nearest even', () => {
    assert.equal(toHalf(1), 0x3c00);
    assert.equal(toHalf(-2), 0xc000);
    assert.equal(toHalf(65504), 0x7bff);
    assert.equal(toHalf(1e6), 0x7c00);
    assert.equal(toHalf(0), 0);
    assert.equal(toHalf(2 ** -24), 1);
    assert.equal(toHalf(1 + 2 ** -11), 0x3c00, 'halfway rounds to even');
  });

  it('a corrupt file gives a clear format error', () => {
    assert.throws(() => decodeModel(new Uint8Array([1, 2, 3, 250, 251]), 'junk.onnx'), (e: Error) => e instanceof OnnxFormatError && /junk\.onnx/.test(e.message));
  });

  it('a model with nothing to transform is refused with the reason', () => {
    const g = new GraphBuilder('relu-only');
    g.node('Relu', ['x'], ['y']);
    const model = decodeModel(g.build([{ name: 'x', type: 'float32', shape: ['batch', 4] }], [{ name: 'y', type: 'float32', shape: ['batch', 4] }]));
    assert.throws(() => quantizeDynamic(model), (e: Error) => e instanceof UnsupportedModelError && /no MatMul/.test(e.message));
    assert.throws(() => convertFp16(model), UnsupportedModelError);
    assert.throws(() => pruneStructured(model, { ratio: 0.5 }), UnsupportedModelError);
    assert.throws(() => mlpFromGraph(model), (e: Error) => /node 'relu_0' is Relu/.test(e.message));
  });
});
