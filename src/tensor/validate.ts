// Checks a request's tensors against a model's signature before any model work, so that a bad
// request gets a 400 that says what to fix and never reaches an executor.
import { InvalidRequestError } from '../errors.js';
import type { Datatype } from './dtype.js';
import type { Tensor } from './tensor.js';

export interface TensorSignature {
  name: string;
  datatype: Datatype;
  /** The full shape the model takes; -1 is any size (always so on the batch axis). */
  shape: number[];
  /**
   * The axis requests are concatenated along; null when the tensor is not batched: an input then
   * is the same in every request of a batch (a sample rate), an output is the same for all of them.
   */
  batchAxis: number | null;
  /** An output's class names (model.yaml's labels file), for the classification extension. */
  labels?: string[];
}

/** Validates inputs and returns the request's batch size (its rows on the batch axis; 1 for a model without one). */
export function validateInputs(inputs: readonly Tensor[], signature: readonly TensorSignature[], maxBatchSize: number): number {
  const byName = new Map<string, Tensor>();
  for (const t of inputs) {
    if (byName.has(t.name)) throw new InvalidRequestError(`input '${t.name}' is given twice`);
    byName.set(t.name, t);
  }
  for (const name of byName.keys()) {
    if (!signature.some((s) => s.name === name)) {
      throw new InvalidRequestError(`unexpected input '${name}'; the model's inputs are: ${signature.map((s) => s.name).join(', ')}`);
    }
  }
  let rows = -1;
  let rowsFrom = '';
  for (const spec of signature) {
    const t = byName.get(spec.name);
    if (!t) throw new InvalidRequestError(`missing input '${spec.name}' (${spec.datatype} [${spec.shape}])`);
    if (t.datatype !== spec.datatype) throw new InvalidRequestError(`input '${spec.name}': datatype ${t.datatype}, but the model expects ${spec.datatype}`);
    if (t.shape.length !== spec.shape.length || t.shape.some((d, i) => spec.shape[i] !== -1 && d !== spec.shape[i])) {
      throw new InvalidRequestError(`input '${spec.name}': shape [${t.shape}] does not match the model's [${spec.shape}] (-1 = any size)`);
    }
    if (spec.batchAxis === null) continue;
    const r = t.shape[spec.batchAxis];
    if (rows !== -1 && r !== rows) {
      throw new InvalidRequestError(`inputs disagree on the batch size: ${rows} for '${rowsFrom}' vs ${r} for '${spec.name}' (its batch axis is ${spec.batchAxis})`);
    }
    rows = r;
    rowsFrom = spec.name;
  }
  if (rows === -1) return 1; // no batched input: the request is one sample
  if (rows < 1) throw new InvalidRequestError(`batch size must be at least 1, got ${rows} for '${rowsFrom}'`);
  if (rows > maxBatchSize) throw new InvalidRequestError(`batch size ${rows} is over the model's max_batch_size of ${maxBatchSize}`);
  return rows;
}

export function checkShape(name: string, shape: unknown): number[] {
  if (!Array.isArray(shape) || shape.some((d) => typeof d !== 'number' || !Number.isInteger(d) || d < 0)) {
    throw new InvalidRequestError(`input '${name}': 'shape' must be an array of non-negative integers`);
  }
  let n = 1;
  for (const d of shape) n *= d;
  if (n > 2 ** 31) throw new InvalidRequestError(`input '${name}': shape [${shape}] has too many elements`);
  return shape as number[];
}
