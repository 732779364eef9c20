// Checks a request's tensors against a model's signature before any model work, so that a bad
// request gets a 400 that says what to fix and never reaches an executor.
import { InvalidRequestError } from '../errors.js';
import type { Datatype } from './dtype.js';
import type { Tensor } from './tensor.js';

export interface TensorSignature {
  name: string;
  datatype: Datatype;
  /** Axis 0 is the batch axis; -1 is any size. */
  shape: number[];
}

/** Validates inputs and returns the request's batch size (rows on axis 0). */
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
  for (const spec of signature) {
    const t = byName.get(spec.name);
    if (!t) throw new InvalidRequestError(`missing input '${spec.name}' (${spec.datatype} [${spec.shape}])`);
    if (t.datatype !== spec.datatype) throw new InvalidRequestError(`input '${spec.name}': datatype ${t.datatype}, but the model expects ${spec.datatype}`);
    if (t.shape.length !== spec.shape.length || t.shape.some((d, i) => spec.shape[i] !== -1 && d !== spec.shape[i])) {
      throw new InvalidRequestError(`input '${spec.name}': shape [${t.shape}] does not match the model's [${spec.shape}] (-1 = any size)`);
    }
    if (rows !== -1 && t.shape[0] !== rows) throw new InvalidRequestError(`inputs disagree on the batch size (axis 0): ${rows} vs ${t.shape[0]} for '${spec.name}'`);
    rows = t.shape[0];
  }
  if (rows < 1) throw new InvalidRequestError(`batch size (axis 0) must be at least 1, got ${rows}`);
  if (rows > maxBatchSize) throw new InvalidRequestError(`batch size ${rows} is over the model's max_batch_size of ${maxBatchSize}`);
  return rows;
}

export function checkShape(name: string, shape: unknown): number[] {
  if (!Array.isArray(shape) || shape.some((d) => typeof d !== 'number' || !Number.isInteger(d) || d < 0)) {
    throw new InvalidRequestError(`input '${name}': 'shape' must be an array of non-negative integers`);
  }
  if (shape.length === 0) throw new InvalidRequestError(`input '${name}': 'shape' must have at least one dimension (the batch axis)`);
  let n = 1;
  for (const d of shape) n *= d;
  if (n > 2 ** 31) throw new InvalidRequestError(`input '${name}': shape [${shape}] has too many elements`);
  return shape as number[];
}
