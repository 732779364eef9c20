// fp16: float initializers stored as float16 and the graph computed in float16, with casts at the
// boundaries so clients still send and receive FP32. What must stay float32 stays so:
// - parameters ONNX Runtime takes only as float32 (Resize's roi and scales);
// - ops whose float16 CPU kernels are wrong or missing (BatchNormalization: measured on PP-OCRv4
//   det, its float16 output differed from float32 by more than the values themselves; the whole
//   fp16 variant then agreed with fp32 on 0% of the text a page holds).
// An initializer used there keeps a float32 copy; a computed value is cast to float32 and back.
import { toHalfBits } from '../tensor/fp16.js';
import { cloneModel, DataType, dims, floatData, graphOf, makeNode, makeTensor, type Model, type Node } from '../onnx/model.js';
import { UnsupportedModelError } from './errors.js';

/** Inputs that are parameters, not data, and that ONNX Runtime takes only as float32: op → positions. */
const FLOAT32_PARAMETERS: Record<string, number[]> = { Resize: [1, 2], Upsample: [1] };

/** Ops computed in float32 inside the fp16 graph: every float input cast up, the output cast down. */
const FLOAT32_OPS = new Set(['BatchNormalization']);

const cast = (from: string, to: string, type: number, name: string): Node => makeNode('Cast', [from], [to], name, [{ name: 'to', type: 2, i: type }]);

export function convertFp16(source: Model): Model {
  const model = cloneModel(source);
  const g = graphOf(model);
  const fp32Inputs = (n: Node): number[] => (FLOAT32_OPS.has(n.opType!) ? n.input!.map((_, i) => i) : FLOAT32_PARAMETERS[n.opType!] ?? []);
  const keep = new Set<string>();
  for (const n of g.node) for (const i of fp32Inputs(n)) if (n.input![i]) keep.add(n.input![i]);
  const floatInitializers = new Set<string>();
  const kept: typeof g.initializer = [];
  g.initializer = g.initializer.map((t) => {
    const data = floatData(t);
    if (!data) return t;
    floatInitializers.add(t.name!);
    // Used both in float32 and as data: the float32 use gets a copy of its own.
    if (keep.has(t.name!)) kept.push({ ...t, name: `${t.name}_fp32` });
    return makeTensor(t.name!, dims(t), Uint16Array.from(data, toHalfBits), DataType.FLOAT16);
  });
  if (floatInitializers.size === 0) throw new UnsupportedModelError('fp16: the model has no float initializers to convert');
  g.initializer.push(...kept);
  const rename = new Map<string, string>();
  const head = g.input.filter((i) => i.type?.tensorType?.elemType === DataType.FLOAT).map((i) => {
    rename.set(i.name!, `${i.name}_fp16`);
    return cast(i.name!, `${i.name}_fp16`, DataType.FLOAT16, `${i.name}_to_fp16`);
  });
  const tail = g.output.filter((o) => o.type?.tensorType?.elemType === DataType.FLOAT).map((o) => {
    const inner = `${o.name}_fp16`;
    for (const n of g.node) n.output = n.output!.map((v) => (v === o.name ? inner : v));
    for (const n of g.node) n.input = n.input!.map((v) => (v === o.name ? inner : v));
    return cast(inner, o.name!, DataType.FLOAT, `${o.name}_to_fp32`);
  });
  for (const n of g.node) n.input = n.input!.map((v) => rename.get(v) ?? v);
  // Cast nodes inside the graph that produce float must now produce float16.
  for (const n of g.node) {
    if (n.opType !== 'Cast') continue;
    for (const a of n.attribute ?? []) if (a.name === 'to' && Number(a.i) === DataType.FLOAT) a.i = DataType.FLOAT16;
  }
  let count = 0;
  const body = g.node.flatMap((n) => {
    const positions = fp32Inputs(n);
    if (positions.length === 0) return [n];
    const before: Node[] = [];
    const after: Node[] = [];
    n.input = n.input!.map((v, i) => {
      if (!v || !positions.includes(i)) return v;
      if (floatInitializers.has(v)) return `${v}_fp32`;
      const up = `${v}_as_fp32_${count++}`;
      before.push(cast(v, up, DataType.FLOAT, `${up}_cast`));
      return up;
    });
    if (FLOAT32_OPS.has(n.opType!)) {
      const out = n.output![0];
      n.output = [`${out}_fp32`, ...n.output!.slice(1)];
      after.push(cast(`${out}_fp32`, out, DataType.FLOAT16, `${out}_to_fp16`));
    }
    return [...before, n, ...after];
  });
  g.node = [...head, ...body, ...tail];
  g.valueInfo = [];
  return model;
}
