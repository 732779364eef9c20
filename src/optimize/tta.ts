// Test-time augmentation as a variant: the model runs on the image shifted by every offset in a
// (2r+1)² window and the logits are averaged. More accurate, and (2r+1)² times the work: a real
// point at the slow, accurate end of the frontier. For models over 28×28 single-channel images.
import { cloneModel, DataType, graphOf, intAttr, makeNode, makeTensor, type Model } from '../onnx/model.js';
import { UnsupportedModelError } from './errors.js';

export function testTimeAugment(source: Model, radius: number): Model {
  const model = cloneModel(source);
  const g = graphOf(model);
  const input = g.input[0], output = g.output[0];
  const dims = (input.type?.tensorType?.shape?.dim ?? []).map((d) => Number(d.dimValue ?? -1));
  if (g.input.length !== 1 || g.output.length !== 1 || dims.length !== 2 || dims[1] !== 784) {
    throw new UnsupportedModelError('test-time augmentation: expects one input [batch, 784] (a 28×28 image) and one output');
  }
  const x = input.name!, y = output.name!;
  const inner = `${x}_tta`, innerOut = `${y}_tta`;
  for (const n of g.node) {
    n.input = n.input!.map((v) => (v === x ? inner : v));
    n.output = n.output!.map((v) => (v === y ? innerOut : v));
  }
  const side = 2 * radius + 1;
  const i64 = (name: string, values: number[]) => makeTensor(name, [values.length], BigInt64Array.from(values.map(BigInt)), DataType.INT64);
  g.initializer.push(
    i64('tta_image_shape', [-1, 1, 28, 28]),
    i64('tta_flat_shape', [-1, 784]),
    i64('tta_pads', [0, 0, radius, radius, 0, 0, radius, radius]),
    i64('tta_axes', [2, 3]),
    i64('tta_stack_shape', [side * side, -1, Number(output.type?.tensorType?.shape?.dim?.[1]?.dimValue ?? 10)]),
  );
  const head = [
    makeNode('Reshape', [x, 'tta_image_shape'], ['tta_image'], 'tta_reshape_in'),
    makeNode('Pad', ['tta_image', 'tta_pads'], ['tta_padded'], 'tta_pad'),
  ];
  const shifted: string[] = [];
  for (let dy = -radius; dy <= radius; dy++) {
    for (let dx = -radius; dx <= radius; dx++) {
      const tag = `tta_${dy + radius}_${dx + radius}`;
      g.initializer.push(i64(`${tag}_starts`, [radius + dy, radius + dx]), i64(`${tag}_ends`, [radius + dy + 28, radius + dx + 28]));
      head.push(
        makeNode('Slice', ['tta_padded', `${tag}_starts`, `${tag}_ends`, 'tta_axes'], [`${tag}_img`], `${tag}_slice`),
        makeNode('Reshape', [`${tag}_img`, 'tta_flat_shape'], [`${tag}_flat`], `${tag}_flatten`),
      );
      shifted.push(`${tag}_flat`);
    }
  }
  head.push(makeNode('Concat', shifted, [inner], 'tta_concat', [intAttr('axis', 0)]));
  const tail = [
    makeNode('Reshape', [innerOut, 'tta_stack_shape'], ['tta_stacked'], 'tta_stack'),
    makeNode('ReduceMean', ['tta_stacked'], [y], 'tta_mean', [{ name: 'axes', type: 7, ints: [0] }, intAttr('keepdims', 0)]),
  ];
  g.node = [...head, ...g.node, ...tail];
  g.valueInfo = [];
  return model;
}
