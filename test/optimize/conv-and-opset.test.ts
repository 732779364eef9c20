import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { GraphBuilder } from '../../src/onnx/graph.js';
import { constantsToInitializers, decodeModel, encodeModel, graphOf, type Model } from '../../src/onnx/model.js';
import { upgradeOpset, opsetOf } from '../../src/optimize/opset.js';
import { rowFeeds } from '../../src/optimize/quantize-static.js';
import { quantizeDynamic } from '../../src/optimize/quantize-dynamic.js';
import { quantizeStatic } from '../../src/optimize/quantize-static.js';
import { gaussian, seededRandom } from '../../src/zoo/random.js';

const normal = gaussian(seededRandom(5));
const randn = (n: number, scale: number) => Float32Array.from({ length: n }, () => normal() * scale);

/** x [N,3,16,16] → Conv(8, 3×3, pad 1) + bias → Relu → Conv(4, 3×3) → GlobalAveragePool. */
function convNet(opset = 17): Model {
  const g = new GraphBuilder('convnet');
  const w1 = g.initializer('w1', [8, 3, 3, 3], randn(8 * 27, 0.3));
  const b1 = g.initializer('b1', [8], randn(8, 0.1));
  const w2 = g.initializer('w2', [4, 8, 3, 3], randn(4 * 72, 0.2));
  const h = g.op('Relu', [g.op('Conv', ['x', w1, b1], { pads: [1, 1, 1, 1] })]);
  g.node('GlobalAveragePool', [g.op('Conv', [h, w2])], ['y']);
  return decodeModel(g.build([{ name: 'x', type: 'float32', shape: ['n', 3, 16, 16] }], [{ name: 'y', type: 'float32', shape: ['n', 4, 1, 1] }], opset));
}

async function run(model: Model, feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(encodeModel(model));
  const out = await s.run(feeds);
  await s.release();
  return Object.values(out)[0].data as Float32Array;
}

const input = new ort.Tensor('float32', randn(4 * 3 * 256, 1), [4, 3, 16, 16]);

function maxRelError(a: Float32Array, b: Float32Array): number {
  let scale = 0, diff = 0;
  for (let i = 0; i < a.length; i++) { scale = Math.max(scale, Math.abs(a[i])); diff = Math.max(diff, Math.abs(a[i] - b[i])); }
  return diff / scale;
}

describe('convolutions and old opsets', () => {
  it('int8 dynamic quantizes Conv into ConvInteger and stays close', async () => {
    const net = convNet();
    const ref = await run(net, { x: input });
    const q = quantizeDynamic(net);
    assert.equal(graphOf(q).node.filter((n) => n.opType === 'ConvInteger').length, 2);
    assert.ok(maxRelError(ref, await run(q, { x: input })) < 0.05);
  });

  it('int8 static (QDQ) quantizes Conv with int32 bias and stays close', async () => {
    const net = convNet();
    const ref = await run(net, { x: input });
    const q = await quantizeStatic(net, rowFeeds('x', input.data as Float32Array, [3, 16, 16]));
    assert.ok(graphOf(q).initializer.some((t) => t.name!.endsWith('_b')), 'bias quantized to int32');
    assert.ok(maxRelError(ref, await run(q, { x: input })) < 0.05);
  });

  it('raises opset 9 to 11, rewriting Clip and Slice attributes as inputs', async () => {
    const g = new GraphBuilder('old');
    const c = g.op('Clip', ['x'], { min: -0.5, max: 0.5 });
    g.node('Slice', [c], ['y'], { starts: [0, 1], ends: [2, 3], axes: [0, 1] });
    const model = decodeModel(g.build([{ name: 'x', type: 'float32', shape: [3, 4] }], [{ name: 'y', type: 'float32', shape: [2, 2] }], 9));
    const x = new ort.Tensor('float32', Float32Array.from({ length: 12 }, (_, i) => i / 6 - 1), [3, 4]);
    const before = await run(model, { x });
    upgradeOpset(model, 11);
    assert.equal(opsetOf(model), 11);
    assert.deepEqual(Array.from(await run(model, { x })), Array.from(before));
  });

  it('raises opset 9 to 13, moving Squeeze, Unsqueeze, Split and ReduceSum attributes into inputs', async () => {
    const g = new GraphBuilder('old13');
    const u = g.op('Unsqueeze', ['x'], { axes: [0] });
    const s = g.op('Squeeze', [u], { axes: [0] });
    const [a, b] = g.node('Split', [s], ['a', 'b'], { axis: 1, split: [1, 3] });
    const r = g.op('ReduceSum', [b], { axes: [1], keepdims: 1 });
    g.node('Add', [a, r], ['y']);
    const model = decodeModel(g.build([{ name: 'x', type: 'float32', shape: [3, 4] }], [{ name: 'y', type: 'float32', shape: [3, 1] }], 9));
    const x = new ort.Tensor('float32', Float32Array.from({ length: 12 }, (_, i) => i - 5), [3, 4]);
    const before = await run(model, { x });
    upgradeOpset(model, 13);
    assert.equal(opsetOf(model), 13);
    assert.deepEqual(Array.from(await run(model, { x })), Array.from(before));
  });

  it('refuses, by node name, an op whose meaning changed and is not rewritten', () => {
    const g = new GraphBuilder('pad');
    g.node('Pad', ['x'], ['y'], { pads: [0, 1, 0, 1] });
    const model = decodeModel(g.build([{ name: 'x', type: 'float32', shape: [2, 2] }], [{ name: 'y', type: 'float32', shape: [2, 4] }], 9));
    assert.throws(() => upgradeOpset(model, 11), /node 'pad_0' \(Pad\)/);
  });

  it('moves Constant-node weights into initializers', async () => {
    const g = new GraphBuilder('const');
    const w = randn(4 * 2, 1);
    g.node('Constant', [], ['w'], {});
    const model = decodeModel(g.build([{ name: 'x', type: 'float32', shape: [1, 4] }], [{ name: 'y', type: 'float32', shape: [1, 2] }]));
    const graph = graphOf(model);
    graph.node[0].attribute = [{ name: 'value', type: 4, t: { dims: [4, 2], dataType: 1, rawData: new Uint8Array(w.buffer) } }];
    graph.node.push({ opType: 'MatMul', input: ['x', 'w'], output: ['y'], name: 'mm' });
    const x = new ort.Tensor('float32', Float32Array.of(1, 2, 3, 4), [1, 4]);
    const before = await run(model, { x });
    assert.equal(constantsToInitializers(model), 1);
    assert.equal(graphOf(model).node.length, 1);
    assert.deepEqual(Array.from(await run(model, { x })), Array.from(before));
  });
});
