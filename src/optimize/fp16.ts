// fp16: float initializers stored as float16 and the graph computed in float16, with casts at the
// boundaries so clients still send and receive FP32. Parameters that must stay float32 (Resize's
// roi and scales) stay so: an initializer there is left as it is, a computed value is cast back.
import { toHalfBits } from '../tensor/fp16.js';
import { cloneModel, DataType, dims, floatData, graphOf, makeNode, makeTensor, type Model } from '../onnx/model.js';
import { UnsupportedModelError } from './errors.js';

/** Inputs that are parameters, not data, and that ONNX Runtime takes only as float32: op → positions. */
const FLOAT32_PARAMETERS: Record<string, number[]> = { Resize: [1, 2], Upsample: [1] };

export function convertFp16(source: Model): Model {
  const model = cloneModel(source);
  const g = graphOf(model);
  const keep = new Set<string>();
  for (const n of g.node) for (const i of FLOAT32_PARAMETERS[n.opType!] ?? []) if (n.input![i]) keep.add(n.input![i]);
  const initialized = new Set(g.initializer.map((t) => t.name!));
  let converted = 0;
  const kept: typeof g.initializer = [];
  g.initializer = g.initializer.map((t) => {
    const data = floatData(t);
    if (!data) return t;
    // Used both as a parameter and as data: the parameter gets a float32 copy of its own.
    if (keep.has(t.name!)) kept.push({ ...t, name: `${t.name}_fp32` });
    converted++;
    return makeTensor(t.name!, dims(t), Uint16Array.from(data, toHalfBits), DataType.FLOAT16);
  });
  g.initializer.push(...kept);
  if (converted === 0) throw new UnsupportedModelError('fp16: the model has no float initializers to convert');
  const rename = new Map<string, string>();
  const head = g.input.filter((i) => i.type?.tensorType?.elemType === DataType.FLOAT).map((i) => {
    rename.set(i.name!, `${i.name}_fp16`);
    return makeNode('Cast', [i.name!], [`${i.name}_fp16`], `${i.name}_to_fp16`, [{ name: 'to', type: 2, i: DataType.FLOAT16 }]);
  });
  const tail = g.output.filter((o) => o.type?.tensorType?.elemType === DataType.FLOAT).map((o) => {
    const inner = `${o.name}_fp16`;
    for (const n of g.node) n.output = n.output!.map((v) => (v === o.name ? inner : v));
    for (const n of g.node) n.input = n.input!.map((v) => (v === o.name ? inner : v));
    return makeNode('Cast', [inner], [o.name!], `${o.name}_to_fp32`, [{ name: 'to', type: 2, i: DataType.FLOAT }]);
  });
  for (const n of g.node) n.input = n.input!.map((v) => rename.get(v) ?? v);
  // Cast nodes inside the graph that produce float must now produce float16.
  for (const n of g.node) {
    if (n.opType !== 'Cast') continue;
    for (const a of n.attribute ?? []) if (a.name === 'to' && Number(a.i) === DataType.FLOAT) a.i = DataType.FLOAT16;
  }
  // Float32 parameters: initializers point at their float32 copy; computed values get a Cast back.
  const casts: typeof g.node = [];
  const body = g.node.flatMap((n) => {
    const positions = FLOAT32_PARAMETERS[n.opType!];
    if (!positions) return [n];
    const before: typeof g.node = [];
    n.input = n.input!.map((v, i) => {
      if (!v || !positions.includes(i)) return v;
      if (initialized.has(v)) return `${v}_fp32`;
      before.push(makeNode('Cast', [v], [`${v}_as_fp32_${casts.length + before.length}`], `${v}_param_fp32_${casts.length + before.length}`, [{ name: 'to', type: 2, i: DataType.FLOAT }]));
      return before[before.length - 1].output![0];
    });
    casts.push(...before);
    return [...before, n];
  });
  g.node = [...head, ...body, ...tail];
  g.valueInfo = [];
  return model;
}
