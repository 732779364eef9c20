// int8 dynamic quantization: each MatMul whose weight is a 2-D float initializer becomes
// DynamicQuantizeLinear → MatMulInteger → Cast → Mul(scale), the pattern ONNX Runtime fuses into
// DynamicQuantizeMatMul; each Conv with a float weight becomes the ConvInteger equivalent. Weights are int8, symmetric per output column; activations are quantized
// to uint8 at run time. (int8 weights behind a plain DequantizeLinear would be de-quantized on every
// run: measured 20× slower here, so that form is avoided.)
import { cloneModel, DataType, dims, dropUnusedInitializers, floatData, floatTensor, graphOf, initializerMap, makeNode, makeTensor, type Model, type Node, type TensorProto } from '../onnx/model.js';
import { UnsupportedModelError } from './errors.js';
import { upgradeOpset } from './opset.js';

export interface QuantizedWeight {
  values: Int8Array;
  /** One scale per output column. */
  scales: Float32Array;
}

/**
 * Symmetric per-column int8 with a 7-bit range (±63): uint8 × int8 products summed in pairs fit
 * AVX2's 16-bit intermediate (vpmaddubsw) without saturating, the reason ORT offers reduce_range.
 */
export function quantizeColumns(w: Float32Array, rows: number, cols: number, levels = 63): QuantizedWeight {
  const scales = new Float32Array(cols);
  for (let j = 0; j < cols; j++) {
    let max = 0;
    for (let i = 0; i < rows; i++) max = Math.max(max, Math.abs(w[i * cols + j]));
    scales[j] = max > 0 ? max / levels : 1;
  }
  const values = new Int8Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) values[i * cols + j] = Math.round(w[i * cols + j] / scales[j]);
  return { values, scales };
}

/** Symmetric int8 per output channel (axis 0), e.g. of a Conv weight [C_out, C_in/group, kh, kw]. */
export function quantizeChannels(w: Float32Array, channels: number): { values: Int8Array; scales: Float32Array } {
  const per = w.length / channels;
  const scales = new Float32Array(channels);
  const values = new Int8Array(w.length);
  for (let c = 0; c < channels; c++) {
    let max = 0;
    for (let i = 0; i < per; i++) max = Math.max(max, Math.abs(w[c * per + i]));
    scales[c] = max > 0 ? max / 127 : 1;
    for (let i = 0; i < per; i++) values[c * per + i] = Math.round(w[c * per + i] / scales[c]);
  }
  return { values, scales };
}

/** Conv → DynamicQuantizeLinear → ConvInteger → Cast → Mul(scale per channel) [→ Add bias]. */
function quantizeConv(node: Node, weight: TensorProto, w: Float32Array, inits: Map<string, TensorProto>, g: ReturnType<typeof graphOf>, nodes: Node[]): void {
  const [channels] = dims(weight);
  // ORT's ConvInteger takes uint8 weights: the int8 values shifted to a zero point of 128.
  const q = quantizeChannels(w, channels);
  const shifted = Uint8Array.from(q.values, (v) => v + 128);
  const p = `${node.name || weight.name}_q`;
  g.initializer.push(
    makeTensor(`${p}_w`, dims(weight), shifted, DataType.UINT8),
    // ORT's ConvInteger takes only a per-tensor weight zero point; scales stay per channel.
    makeTensor(`${p}_w_zp`, [], Uint8Array.of(128), DataType.UINT8),
    floatTensor(`${p}_w_scale`, [1, channels, 1, 1], q.scales),
  );
  const x = node.input![0];
  const bias = node.input![2] ? inits.get(node.input![2]) : undefined;
  const out = node.output![0];
  nodes.push(
    makeNode('DynamicQuantizeLinear', [x], [`${p}_x`, `${p}_x_scale`, `${p}_x_zp`], `${p}_dql`),
    makeNode('ConvInteger', [`${p}_x`, `${p}_w`, `${p}_x_zp`, `${p}_w_zp`], [`${p}_int32`], `${p}_convi`, node.attribute ?? []),
    makeNode('Cast', [`${p}_int32`], [`${p}_f`], `${p}_cast`, [{ name: 'to', type: 2, i: DataType.FLOAT }]),
    makeNode('Mul', [`${p}_x_scale`, `${p}_w_scale`], [`${p}_scale`], `${p}_scale_mul`),
    makeNode('Mul', [`${p}_f`, `${p}_scale`], [bias ? `${p}_nobias` : out], `${p}_out_mul`),
  );
  if (bias) {
    g.initializer.push(floatTensor(`${p}_bias`, [1, channels, 1, 1], floatData(bias)!));
    nodes.push(makeNode('Add', [`${p}_nobias`, `${p}_bias`], [out], `${p}_bias_add`));
  }
}

export function quantizeDynamic(source: Model): Model {
  const model = cloneModel(source);
  upgradeOpset(model, 11); // DynamicQuantizeLinear and MatMulInteger/ConvInteger need opset ≥ 10/11
  const g = graphOf(model);
  const inits = initializerMap(model);
  const nodes: Node[] = [];
  let quantized = 0;
  for (const node of g.node) {
    if (node.opType === 'Conv') {
      const weight = inits.get(node.input![1]);
      const w = weight && floatData(weight);
      if (weight && w && dims(weight).length === 4) {
        quantizeConv(node, weight, w, inits, g, nodes);
        quantized++;
        continue;
      }
    }
    const weight = node.opType === 'MatMul' ? inits.get(node.input![1]) : undefined;
    const w = weight && floatData(weight);
    if (!weight || !w || dims(weight).length !== 2) {
      nodes.push(node);
      continue;
    }
    const [rows, cols] = dims(weight);
    const q = quantizeColumns(w, rows, cols);
    const p = `${node.name || weight.name}_q`;
    g.initializer.push(
      makeTensor(`${p}_w`, [rows, cols], q.values, DataType.INT8),
      makeTensor(`${p}_w_zp`, [cols], new Int8Array(cols), DataType.INT8),
      floatTensor(`${p}_w_scale`, [cols], q.scales),
    );
    const x = node.input![0];
    nodes.push(
      makeNode('DynamicQuantizeLinear', [x], [`${p}_x`, `${p}_x_scale`, `${p}_x_zp`], `${p}_dql`),
      makeNode('MatMulInteger', [`${p}_x`, `${p}_w`, `${p}_x_zp`, `${p}_w_zp`], [`${p}_int32`], `${p}_mmi`),
      makeNode('Cast', [`${p}_int32`], [`${p}_f`], `${p}_cast`, [{ name: 'to', type: 2, i: DataType.FLOAT }]),
      makeNode('Mul', [`${p}_x_scale`, `${p}_w_scale`], [`${p}_scale`], `${p}_scale_mul`),
      makeNode('Mul', [`${p}_f`, `${p}_scale`], [node.output![0]], `${p}_out_mul`),
    );
    quantized++;
  }
  if (quantized === 0) throw new UnsupportedModelError('int8 dynamic: no MatMul or Conv with a float weight initializer to quantize');
  g.node = nodes;
  g.valueInfo = [];
  dropUnusedInitializers(model);
  return model;
}
