// int8 dynamic quantization: each MatMul whose weight is a 2-D float initializer becomes
// DynamicQuantizeLinear → MatMulInteger → Cast → Mul(scale), the pattern ONNX Runtime fuses into
// DynamicQuantizeMatMul. Weights are int8, symmetric per output column; activations are quantized
// to uint8 at run time. (int8 weights behind a plain DequantizeLinear would be de-quantized on every
// run: measured 20× slower here, so that form is avoided.)
import { cloneModel, DataType, dims, dropUnusedInitializers, floatData, floatTensor, graphOf, initializerMap, makeNode, makeTensor, type Model, type Node } from '../onnx/model.js';
import { UnsupportedModelError } from './errors.js';

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

export function quantizeDynamic(source: Model): Model {
  const model = cloneModel(source);
  const g = graphOf(model);
  const inits = initializerMap(model);
  const nodes: Node[] = [];
  let quantized = 0;
  for (const node of g.node) {
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
  if (quantized === 0) throw new UnsupportedModelError('int8 dynamic: no MatMul with a 2-D float weight initializer to quantize');
  g.node = nodes;
  g.valueInfo = [];
  dropUnusedInitializers(model);
  return model;
}
