// fp16: float initializers stored as float16 and the graph computed in float16, with casts at the
// boundaries so clients still send and receive FP32.
import { cloneModel, DataType, dims, floatData, graphOf, makeNode, makeTensor, type Model } from '../onnx/model.js';
import { UnsupportedModelError } from './errors.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 binary32 → binary16 bits, round to nearest even, with overflow to ±inf. */
export function toHalf(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rem > mid || (rem === mid && (half & 1)) ? 1 : 0));
  }
  const half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  return sign | (half + (rem > 0x1000 || (rem === 0x1000 && (half & 1)) ? 1 : 0));
}

export function convertFp16(source: Model): Model {
  const model = cloneModel(source);
  const g = graphOf(model);
  let converted = 0;
  g.initializer = g.initializer.map((t) => {
    const data = floatData(t);
    if (!data) return t;
    converted++;
    return makeTensor(t.name!, dims(t), Uint16Array.from(data, toHalf), DataType.FLOAT16);
  });
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
  g.node = [...head, ...g.node, ...tail];
  g.valueInfo = [];
  return model;
}
