// A request's shape class: what must be equal for two requests to share a batch. Batched inputs
// must agree on every dimension but the batch axis, and unbatched inputs (a sample rate) on their
// values too, or the batch would be concatenated wrongly (and answered wrongly, with status 200).
import { hash } from 'node:crypto';
import { byteView, elementCount, type Tensor } from './tensor.js';
import type { TensorSignature } from './validate.js';

/** Values up to this many bytes are part of the key as they are; longer ones by their SHA-256. */
const INLINE_VALUE_BYTES = 64;

/** Whether requests to this signature can differ in class at all (else every class is ''). */
export function hasShapeClasses(signature: readonly TensorSignature[]): boolean {
  return signature.some((s) => s.batchAxis === null || s.shape.some((d, i) => d === -1 && i !== s.batchAxis));
}

/**
 * The class key of one request's inputs (in signature order). `valued`: unbatched inputs' values
 * are part of it (they are when requests can share a batch).
 */
export function shapeClass(inputs: readonly Tensor[], signature: readonly TensorSignature[], valued: boolean): string {
  let key = '';
  for (let i = 0; i < signature.length; i++) {
    const spec = signature[i];
    const t = inputs[i];
    let dims = '';
    for (let a = 0; a < t.shape.length; a++) {
      if (a === spec.batchAxis) dims += a === 0 ? 'N' : 'xN';
      else dims += a === 0 ? `${t.shape[a]}` : `x${t.shape[a]}`;
    }
    key += `${i === 0 ? '' : ';'}${dims}`;
    if (spec.batchAxis === null && valued) key += `=${valueKey(t)}`;
  }
  return key;
}

function valueKey(t: Tensor): string {
  if (Array.isArray(t.data)) {
    const json = JSON.stringify(t.data);
    return json.length <= INLINE_VALUE_BYTES ? json : hash('sha256', json);
  }
  const bytes = byteView(t.data);
  return bytes.byteLength <= INLINE_VALUE_BYTES ? Buffer.from(bytes).toString('hex') : hash('sha256', bytes);
}

/** Input elements per row of a request (inputs in signature order): the batched inputs' elements over their batch axis. */
export function rowElements(inputs: readonly Tensor[], signature: readonly TensorSignature[]): number {
  let n = 0;
  signature.forEach((s, i) => {
    if (s.batchAxis !== null) n += elementCount(inputs[i].shape) / Math.max(1, inputs[i].shape[s.batchAxis]);
  });
  return n;
}
