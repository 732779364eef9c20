// Reads an MLP back out of an ONNX graph (a chain of MatMul → Add [→ Relu]), so pruned models can
// be fine-tuned and teachers inspected with the same typed-array trainer that made them.
import { dims, floatData, graphOf, initializerMap, soleConsumer, type Model } from '../onnx/model.js';
import type { Mlp } from '../zoo/mlp.js';
import { UnsupportedModelError } from './errors.js';

export function mlpFromGraph(model: Model): Mlp {
  const g = graphOf(model);
  const inits = initializerMap(model);
  const layers: Mlp['layers'] = [];
  let value = g.input[0]?.name ?? '';
  for (;;) {
    const mm = soleConsumer(model, value);
    if (!mm) break;
    if (mm.opType !== 'MatMul') throw new UnsupportedModelError(`not a plain MLP: node '${mm.name}' is ${mm.opType}, expected MatMul`);
    const w = inits.get(mm.input![1]);
    const add = soleConsumer(model, mm.output![0]);
    const b = add?.opType === 'Add' ? inits.get(add.input!.find((i) => i !== mm.output![0])!) : undefined;
    const wd = w && floatData(w), bd = b && floatData(b);
    if (!w || !b || !wd || !bd) throw new UnsupportedModelError(`not a plain MLP: node '${mm.name}' is not MatMul + Add with float initializers`);
    const [inputs, outputs] = dims(w);
    layers.push({ inputs, outputs, weight: wd, bias: bd });
    const next = soleConsumer(model, add!.output![0]);
    value = next?.opType === 'Relu' ? next.output![0] : add!.output![0];
    if (next?.opType !== 'Relu') break;
  }
  if (layers.length === 0) throw new UnsupportedModelError('not a plain MLP: no MatMul follows the graph input');
  return { layers };
}
