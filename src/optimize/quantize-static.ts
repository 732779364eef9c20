// int8 static quantization in QDQ form, calibrated: each MatMul (or Conv) with a float weight gets
// QuantizeLinear → DequantizeLinear on its activation input and on its output (uint8, ranges
// measured on calibration data) and int8 per-column weights behind DequantizeLinear. ONNX Runtime
// fuses DQ → MatMul → Q into QLinearMatMul (and Conv into QLinearConv); the output Q is what lets it (without it the weights
// would be de-quantized on every run).
import ort from 'onnxruntime-node';
import { cloneModel, DataType, dims, dropUnusedInitializers, encodeModel, floatData, floatTensor, graphOf, initializerMap, intAttr, makeNode, makeTensor, type Model, type Node } from '../onnx/model.js';
import { UnsupportedModelError } from './errors.js';
import { SOFTMAX_LIKE, upgradeOpset } from './opset.js';
import { quantizeChannels, quantizeColumns } from './quantize-dynamic.js';

interface Range {
  min: number;
  max: number;
}

/** Inputs for calibration runs: one feed per run (a batch of rows, or one of the user's samples). */
export type CalibrationFeeds = Array<Record<string, ort.Tensor>>;

/** Feeds of up to 64 rows each from a flat float array of rows of `sampleShape` (one input). */
export function rowFeeds(input: string, rows: Float32Array, sampleShape: number[]): CalibrationFeeds {
  const width = sampleShape.reduce((a, b) => a * b, 1);
  const count = rows.length / width;
  const out: CalibrationFeeds = [];
  for (let start = 0; start < count; start += 64) {
    const n = Math.min(64, count - start);
    out.push({ [input]: new ort.Tensor('float32', rows.subarray(start * width, (start + n) * width), [n, ...sampleShape]) });
  }
  return out;
}

/** Runs the float model on the calibration feeds and records the range and rank of each named value. */
async function calibrate(model: Model, values: string[], feeds: CalibrationFeeds): Promise<{ ranges: Map<string, Range>; ranks: Map<string, number> }> {
  const probe = cloneModel(model);
  const g = graphOf(probe);
  const known = new Set(g.output.map((o) => o.name));
  for (const v of values) if (!known.has(v)) g.output.push({ name: v, type: { tensorType: { elemType: DataType.FLOAT } } });
  const session = await ort.InferenceSession.create(encodeModel(probe), { intraOpNumThreads: 2 });
  const ranges = new Map<string, Range>(values.map((v) => [v, { min: 0, max: 0 }]));
  const ranks = new Map<string, number>();
  for (const feed of feeds) {
    const out = await session.run(feed);
    for (const v of values) {
      ranks.set(v, out[v].dims.length);
      const r = ranges.get(v)!;
      for (const x of out[v].data as Float32Array) { if (x < r.min) r.min = x; if (x > r.max) r.max = x; }
    }
  }
  await session.release();
  return { ranges, ranks };
}

/** uint8 asymmetric parameters covering [min, max] (always including 0, so zero is exact). */
function uint8Params(r: Range): { scale: number; zeroPoint: number } {
  const lo = Math.min(0, r.min), hi = Math.max(0, r.max);
  const scale = hi > lo ? (hi - lo) / 255 : 1;
  return { scale, zeroPoint: Math.min(255, Math.max(0, Math.round(-lo / scale))) };
}

export async function quantizeStatic(source: Model, calibration: CalibrationFeeds): Promise<Model> {
  const model = cloneModel(source);
  const g = graphOf(model);
  const inits = initializerMap(model);
  const weightRank = (n: Node) => (inits.has(n.input![1]) && floatData(inits.get(n.input![1])!) ? dims(inits.get(n.input![1])!).length : 0);
  const targets = g.node.filter((n) => (n.opType === 'MatMul' && weightRank(n) === 2) || (n.opType === 'Conv' && weightRank(n) === 4));
  if (targets.length === 0) throw new UnsupportedModelError('int8 static: no MatMul or Conv with a float weight initializer to quantize');
  // Softmax's meaning changed at 13 except on the last axis: the calibration run tells the ranks.
  const softmaxInputs = g.node.filter((n) => SOFTMAX_LIKE.has(n.opType!)).map((n) => n.input![0]);
  const { ranges, ranks } = await calibrate(source, [...new Set([...targets.flatMap((n) => [n.input![0], n.output![0]]), ...softmaxInputs])], calibration);
  upgradeOpset(model, 13, (v) => ranks.get(v)); // per-axis DequantizeLinear needs opset 13

  /** Scale of each dequantized activation: a quantized op feeding another shares its Q/DQ pair. */
  const dqScale = new Map<string, number>();
  const qdq = (value: string, tag: string, out: Node[]): string => {
    if (dqScale.has(value)) return value;
    const { scale, zeroPoint } = uint8Params(ranges.get(value)!);
    dqScale.set(`${tag}_dq`, scale);
    g.initializer.push(floatTensor(`${tag}_scale`, [], Float32Array.of(scale)), makeTensor(`${tag}_zp`, [], Uint8Array.of(zeroPoint), DataType.UINT8));
    out.push(
      makeNode('QuantizeLinear', [value, `${tag}_scale`, `${tag}_zp`], [`${tag}_q`], `${tag}_quant`),
      makeNode('DequantizeLinear', [`${tag}_q`, `${tag}_scale`, `${tag}_zp`], [`${tag}_dq`], `${tag}_dequant`),
    );
    return `${tag}_dq`;
  };

  const nodes: Node[] = [];
  const renamed = new Map<string, string>();
  for (const node of g.node) {
    node.input = node.input!.map((v) => renamed.get(v) ?? v);
    if (!targets.includes(node)) {
      nodes.push(node);
      continue;
    }
    const weight = inits.get(node.input![1])!;
    const shape = dims(weight);
    const conv = node.opType === 'Conv';
    // MatMul weights [K, N] are quantized per output column (axis 1), Conv weights per output channel (axis 0).
    const q = conv ? quantizeChannels(floatData(weight)!, shape[0]) : quantizeColumns(floatData(weight)!, shape[0], shape[1], 127);
    const channels = q.scales.length;
    const p = `${node.name || weight.name}_qdq`;
    g.initializer.push(
      makeTensor(`${p}_w`, shape, q.values, DataType.INT8),
      floatTensor(`${p}_w_scale`, [channels], q.scales),
      makeTensor(`${p}_w_zp`, [channels], new Int8Array(channels), DataType.INT8),
    );
    const x = qdq(node.input![0], `${p}_x`, nodes);
    nodes.push(makeNode('DequantizeLinear', [`${p}_w`, `${p}_w_scale`, `${p}_w_zp`], [`${p}_w_dq`], `${p}_w_dequant`, [intAttr('axis', conv ? 0 : 1)]));
    const y = node.output![0];
    const inputs = [x, `${p}_w_dq`];
    const bias = conv && node.input![2] ? inits.get(node.input![2]) : undefined;
    if (bias) {
      // Bias as int32 at scale x_scale × w_scale, the form ORT's QLinearConv fusion expects.
      const xs = dqScale.get(x)!;
      const b = floatData(bias)!;
      const bq = Int32Array.from(b, (v, c) => Math.round(v / (xs * q.scales[c])));
      g.initializer.push(
        makeTensor(`${p}_b`, [channels], bq, DataType.INT32),
        floatTensor(`${p}_b_scale`, [channels], Float32Array.from(q.scales, (s) => s * xs)),
        makeTensor(`${p}_b_zp`, [channels], new Int32Array(channels), DataType.INT32),
      );
      nodes.push(makeNode('DequantizeLinear', [`${p}_b`, `${p}_b_scale`, `${p}_b_zp`], [`${p}_b_dq`], `${p}_b_dequant`, [intAttr('axis', 0)]));
      inputs.push(`${p}_b_dq`);
    }
    nodes.push(makeNode(node.opType!, inputs, [`${p}_y`], node.name ?? `${p}_op`, conv ? node.attribute ?? [] : []));
    ranges.set(`${p}_y`, ranges.get(y)!);
    renamed.set(y, qdq(`${p}_y`, `${p}_y`, nodes));
  }
  // A graph output produced by a quantized MatMul keeps its name: route it through an Identity.
  for (const o of g.output) {
    const r = renamed.get(o.name!);
    if (r) nodes.push(makeNode('Identity', [r], [o.name!], `${o.name}_out`));
  }
  g.node = nodes;
  g.valueInfo = [];
  dropUnusedInitializers(model);
  return model;
}
