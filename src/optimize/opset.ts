// Raises a model's default-domain opset (quantization needs ≥ 11 for DynamicQuantizeLinear),
// rewriting the ops whose signature changed on the way: Clip and Slice moved their attributes to
// inputs. Any other op that changed is refused by name rather than silently mis-converted.
import { DataType, graphOf, makeTensor, floatTensor, type Model } from '../onnx/model.js';
import { UnsupportedModelError } from './errors.js';

// Ops whose meaning or signature changed between opset 7 and 11 that we do not rewrite.
const CHANGED_BEFORE_11 = new Set(['Upsample', 'Resize', 'Pad', 'TopK', 'Dropout', 'BatchNormalization_training', 'Scan', 'Split', 'Squeeze', 'Unsqueeze', 'ReduceSum']);

export function opsetOf(model: Model): number {
  const entry = model.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx');
  return entry ? Number(entry.version) : 1;
}

export function upgradeOpset(model: Model, target: number): void {
  const current = opsetOf(model);
  if (current >= target) return;
  const g = graphOf(model);
  for (const node of g.node) {
    if (node.domain && node.domain !== 'ai.onnx') continue;
    const attr = (name: string) => node.attribute?.find((a) => a.name === name);
    if (node.opType === 'Clip' && current < 11) {
      const min = attr('min'), max = attr('max');
      const inputs = [node.input![0]];
      if (min || max) {
        inputs.push(`${node.name}_min`);
        g.initializer.push(floatTensor(`${node.name}_min`, [], Float32Array.of(min ? Number(min.f) : -3.4028234663852886e38)));
      }
      if (max) {
        inputs.push(`${node.name}_max`);
        g.initializer.push(floatTensor(`${node.name}_max`, [], Float32Array.of(Number(max.f))));
      }
      node.input = inputs;
      node.attribute = [];
    } else if (node.opType === 'Slice' && current < 10) {
      const ints = (name: string) => (attr(name)?.ints ?? []).map(Number);
      const starts = ints('starts'), ends = ints('ends'), axes = ints('axes');
      const p = `${node.name}_slice`;
      g.initializer.push(
        makeTensor(`${p}_starts`, [starts.length], BigInt64Array.from(starts.map(BigInt)), DataType.INT64),
        makeTensor(`${p}_ends`, [ends.length], BigInt64Array.from(ends.map(BigInt)), DataType.INT64),
      );
      node.input = [node.input![0], `${p}_starts`, `${p}_ends`];
      if (axes.length) {
        g.initializer.push(makeTensor(`${p}_axes`, [axes.length], BigInt64Array.from(axes.map(BigInt)), DataType.INT64));
        node.input.push(`${p}_axes`);
      }
      node.attribute = [];
    } else if (CHANGED_BEFORE_11.has(node.opType!)) {
      throw new UnsupportedModelError(`cannot raise opset ${current} → ${target}: node '${node.name}' (${node.opType}) changed meaning in between and is not rewritten`);
    }
  }
  for (const o of model.opsetImport) if (!o.domain || o.domain === 'ai.onnx') o.version = target;
}
