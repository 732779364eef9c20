// Raises a model's default-domain opset (quantization needs ≥ 11 for DynamicQuantizeLinear, 13 for
// per-axis DequantizeLinear), rewriting the ops whose signature changed on the way: attributes
// that became inputs (Slice at 10, Clip at 11, Squeeze, Unsqueeze, Split and ReduceSum at 13). Any
// other op that changed in the range is refused by name rather than silently mis-converted; ops
// that did not change in the range pass as they are.
import { DataType, graphOf, makeTensor, floatTensor, type Model, type Node } from '../onnx/model.js';
import { UnsupportedModelError } from './errors.js';

/**
 * Opset versions at which an op's inputs or meaning changed incompatibly, for ops we do not
 * rewrite (from the ONNX operator changelog). Type-only extensions are left out: they accept
 * everything the older version did.
 */
const CHANGED_AT: Record<string, number[]> = {
  Upsample: [9, 10], Resize: [11], Pad: [11], TopK: [10, 11], Dropout: [12], Scan: [9], If: [11], Loop: [11],
  ReduceMean: [18], ReduceMax: [18], ReduceMin: [18], ReduceProd: [18], ReduceL1: [18], ReduceL2: [18], ReduceLogSum: [18], ReduceLogSumExp: [18], ReduceSumSquare: [18],
  BatchNormalization: [9, 14, 15], Softmax: [13], LogSoftmax: [13], Hardmax: [13], Flatten: [9, 11],
};

export const SOFTMAX_LIKE = new Set(['Softmax', 'LogSoftmax', 'Hardmax']);

/** Attributes that became int64 inputs: op → [version, attribute, input position]. */
const ATTR_TO_INPUT: Record<string, [number, string, number]> = {
  Squeeze: [13, 'axes', 1], Unsqueeze: [13, 'axes', 1], ReduceSum: [13, 'axes', 1], Split: [13, 'split', 1],
};

export function opsetOf(model: Model): number {
  const entry = model.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx');
  return entry ? Number(entry.version) : 1;
}

function int64s(name: string, values: number[]) {
  return makeTensor(name, [values.length], BigInt64Array.from(values.map(BigInt)), DataType.INT64);
}

/** `rankOf`: a value's rank where known (from a run), which tells when Softmax's axis is the last one. */
export function upgradeOpset(model: Model, target: number, rankOf: (value: string) => number | undefined = () => undefined): void {
  const current = opsetOf(model);
  if (current >= target) return;
  const g = graphOf(model);
  const crosses = (v: number) => current < v && v <= target;
  for (const node of g.node) {
    if (node.domain && node.domain !== 'ai.onnx') continue;
    const attr = (name: string) => node.attribute?.find((a) => a.name === name);
    const op = node.opType!;
    if (op === 'Clip' && crosses(11)) {
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
    } else if (op === 'Slice' && crosses(10)) {
      const ints = (name: string) => (attr(name)?.ints ?? []).map(Number);
      const axes = ints('axes');
      const p = `${node.name}_slice`;
      g.initializer.push(int64s(`${p}_starts`, ints('starts')), int64s(`${p}_ends`, ints('ends')));
      node.input = [node.input![0], `${p}_starts`, `${p}_ends`];
      if (axes.length) {
        g.initializer.push(int64s(`${p}_axes`, axes));
        node.input.push(`${p}_axes`);
      }
      node.attribute = [];
    } else if (ATTR_TO_INPUT[op] && crosses(ATTR_TO_INPUT[op][0])) {
      moveAttributeToInput(node, g.initializer, ...ATTR_TO_INPUT[op].slice(1) as [string, number]);
    } else if (SOFTMAX_LIKE.has(op) && crosses(13) && isLastAxis(Number(attr('axis')?.i ?? 1), rankOf(node.input![0]))) {
      // Before 13 these flatten the input from `axis` on; on the last axis that is the same thing.
    } else if (CHANGED_AT[op]?.some(crosses)) {
      throw new UnsupportedModelError(`cannot raise opset ${current} → ${target}: node '${node.name}' (${op}) changed at opset ${CHANGED_AT[op].find(crosses)} and is not rewritten`);
    }
  }
  for (const o of model.opsetImport) if (!o.domain || o.domain === 'ai.onnx') o.version = target;
}

function isLastAxis(axis: number, rank: number | undefined): boolean {
  return axis === -1 || (rank !== undefined && axis === rank - 1);
}

function moveAttributeToInput(node: Node, initializers: ReturnType<typeof graphOf>['initializer'], name: string, position: number): void {
  const a = node.attribute?.find((x) => x.name === name);
  if (!a) return; // absent: the input stays absent, which means the same
  const tensor = `${node.name || node.output![0]}_${name}`;
  initializers.push(int64s(tensor, (a.ints ?? []).map(Number)));
  const inputs = [...node.input!];
  while (inputs.length < position) inputs.push('');
  inputs[position] = tensor;
  node.input = inputs;
  node.attribute = node.attribute!.filter((x) => x !== a);
}
