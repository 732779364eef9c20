// Structured pruning: removes whole hidden units between two MatMuls (MatMul → Add → Relu →
// MatMul), so the pruned model is really smaller and faster, not just sparse. A unit's score is
// the product of the L2 norms of its incoming and outgoing weights.
import { cloneModel, dims, floatData, floatTensor, graphOf, initializerMap, soleConsumer, type Model } from '../onnx/model.js';
import { UnsupportedModelError } from './errors.js';

export interface PruneOptions {
  /** Fraction of hidden units removed from each prunable layer, in (0, 1). */
  ratio: number;
}

export function pruneStructured(source: Model, opts: PruneOptions): { model: Model; layers: Array<{ before: number; after: number }> } {
  if (!(opts.ratio > 0 && opts.ratio < 1)) throw new RangeError('prune ratio must be in (0, 1)');
  const model = cloneModel(source);
  const g = graphOf(model);
  const inits = initializerMap(model);
  const layers: Array<{ before: number; after: number }> = [];
  for (const mm1 of g.node.filter((n) => n.opType === 'MatMul')) {
    const w1t = inits.get(mm1.input![1]);
    const add = soleConsumer(model, mm1.output![0]);
    const b1t = add?.opType === 'Add' ? inits.get(add.input!.find((i) => i !== mm1.output![0])!) : undefined;
    const relu = add && soleConsumer(model, add.output![0]);
    const mm2 = relu?.opType === 'Relu' ? soleConsumer(model, relu.output![0]) : undefined;
    const w2t = mm2?.opType === 'MatMul' && mm2.input![0] === relu!.output![0] ? inits.get(mm2.input![1]) : undefined;
    if (!w1t || !b1t || !w2t) continue;
    const w1 = floatData(w1t), b1 = floatData(b1t), w2 = floatData(w2t);
    if (!w1 || !b1 || !w2) continue;
    const [k, h] = dims(w1t);
    const [h2, m] = dims(w2t);
    if (h !== h2 || b1.length !== h) continue;
    const score = new Float64Array(h);
    for (let j = 0; j < h; j++) {
      let a = 0, b = 0;
      for (let i = 0; i < k; i++) a += w1[i * h + j] ** 2;
      for (let i = 0; i < m; i++) b += w2[j * m + i] ** 2;
      score[j] = Math.sqrt(a) * Math.sqrt(b);
    }
    const keepCount = Math.max(1, Math.round(h * (1 - opts.ratio)));
    const keep = Array.from({ length: h }, (_, j) => j).sort((a, b) => score[b] - score[a]).slice(0, keepCount).sort((a, b) => a - b);
    const nw1 = new Float32Array(k * keepCount), nb1 = new Float32Array(keepCount), nw2 = new Float32Array(keepCount * m);
    keep.forEach((j, c) => {
      for (let i = 0; i < k; i++) nw1[i * keepCount + c] = w1[i * h + j];
      nb1[c] = b1[j];
      nw2.set(w2.subarray(j * m, (j + 1) * m), c * m);
    });
    replace(model, w1t.name!, floatTensor(w1t.name!, [k, keepCount], nw1));
    replace(model, b1t.name!, floatTensor(b1t.name!, [keepCount], nb1));
    replace(model, w2t.name!, floatTensor(w2t.name!, [keepCount, m], nw2));
    inits.set(w2t.name!, graphOf(model).initializer.find((t) => t.name === w2t.name)!);
    layers.push({ before: h, after: keepCount });
  }
  if (layers.length === 0) throw new UnsupportedModelError('structured pruning: found no MatMul → Add → Relu → MatMul chain with float initializers');
  g.valueInfo = [];
  return { model, layers };
}

function replace(model: Model, name: string, tensor: ReturnType<typeof floatTensor>): void {
  const g = graphOf(model);
  g.initializer = g.initializer.map((t) => (t.name === name ? tensor : t));
}
