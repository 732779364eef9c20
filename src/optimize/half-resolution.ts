// half-res: a dense-prediction model (an image [N, C, H, W] in, maps [N, K, H, W] out, such as a
// text detector) run on the image at half its height and width, its maps resized back to H × W.
// A quarter of the pixels costs about a quarter of the compute; small details are what it loses,
// measured as agreement with the full-resolution model. The half size is rounded up to a multiple
// of 32, the stride detectors' feature pyramids need (PP-OCRv4 det refuses other sizes), so the
// variant takes every input the full model takes.
import { cloneModel, DataType, floatTensor, graphOf, makeNode, makeTensor, type Model } from '../onnx/model.js';
import { UnsupportedModelError } from './errors.js';
import { opsetOf } from './opset.js';

const STRIDE = 32;

export function halfResolution(source: Model, mapOutputs: boolean): Model {
  const model = cloneModel(source);
  const g = graphOf(model);
  const rank = (v: (typeof g.input)[number]) => v.type?.tensorType?.shape?.dim?.length;
  if (g.input.length !== 1 || rank(g.input[0]) !== 4 || g.input[0].type?.tensorType?.elemType !== DataType.FLOAT) {
    throw new UnsupportedModelError('half-res: needs one float image input [N, C, H, W]');
  }
  if (!mapOutputs) throw new UnsupportedModelError('half-res: the outputs are not maps of the input\'s height and width (on the samples), so they cannot be resized back');
  if (opsetOf(model) < 11) throw new UnsupportedModelError(`half-res: Resize with sizes needs opset ≥ 11, the model has ${opsetOf(model)}`);
  const x = g.input[0].name!;
  const p = 'half_res';
  const small = `${p}_x`;
  for (const n of g.node) n.input = n.input!.map((v) => (v === x ? small : v));
  const int64 = (name: string, values: number[]) => makeTensor(name, [values.length], BigInt64Array.from(values.map(BigInt)), DataType.INT64);
  g.initializer.push(
    int64(`${p}_0`, [0]), int64(`${p}_2`, [2]), int64(`${p}_4`, [4]),
    int64(`${p}_round`, [2 * STRIDE - 1]), int64(`${p}_div`, [2 * STRIDE]), int64(`${p}_mul`, [STRIDE]),
    // Resize-11 takes roi and scales as inputs even when sizes are given: empty ones.
    floatTensor(`${p}_roi`, [0], new Float32Array(0)), floatTensor(`${p}_scales`, [0], new Float32Array(0)),
  );
  const linear = [{ name: 'mode', type: 3, s: new TextEncoder().encode('linear') }];
  const head = [
    makeNode('Shape', [x], [`${p}_shape`], `${p}_shape`),
    makeNode('Slice', [`${p}_shape`, `${p}_0`, `${p}_2`], [`${p}_nc`], `${p}_nc`),
    makeNode('Slice', [`${p}_shape`, `${p}_2`, `${p}_4`], [`${p}_hw`], `${p}_hw`),
    // ceil(H / 64) × 32: half the size, rounded up to the stride.
    makeNode('Add', [`${p}_hw`, `${p}_round`], [`${p}_hw_up`], `${p}_hw_up`),
    makeNode('Div', [`${p}_hw_up`, `${p}_div`], [`${p}_hw_q`], `${p}_hw_q`),
    makeNode('Mul', [`${p}_hw_q`, `${p}_mul`], [`${p}_half`], `${p}_half`),
    makeNode('Concat', [`${p}_nc`, `${p}_half`], [`${p}_sizes`], `${p}_sizes`, [{ name: 'axis', type: 2, i: 0 }]),
    makeNode('Resize', [x, `${p}_roi`, `${p}_scales`, `${p}_sizes`], [small], `${p}_down`, linear),
  ];
  const tail = g.output.map((o, i) => {
    const inner = `${o.name}_${p}`;
    for (const n of g.node) n.output = n.output!.map((v) => (v === o.name ? inner : v));
    for (const n of g.node) n.input = n.input!.map((v) => (v === o.name ? inner : v));
    return [
      makeNode('Shape', [inner], [`${p}_oshape${i}`], `${p}_oshape${i}`),
      makeNode('Slice', [`${p}_oshape${i}`, `${p}_0`, `${p}_2`], [`${p}_onc${i}`], `${p}_onc${i}`),
      makeNode('Concat', [`${p}_onc${i}`, `${p}_hw`], [`${p}_osizes${i}`], `${p}_osizes${i}`, [{ name: 'axis', type: 2, i: 0 }]),
      makeNode('Resize', [inner, `${p}_roi`, `${p}_scales`, `${p}_osizes${i}`], [o.name!], `${p}_up${i}`, linear),
    ];
  }).flat();
  g.node = [...head, ...g.node, ...tail];
  g.valueInfo = [];
  return model;
}
