// Concatenation and split along the batch axis (axis 0), the heart of dynamic batching.
import { DTYPE, type TypedArray } from './dtype.js';
import { elementCount, type Tensor } from './tensor.js';

/** Concatenates same-named tensors of several requests along axis 0 into one tensor. */
export function concatBatch(parts: readonly Tensor[]): Tensor {
  const first = parts[0];
  if (parts.length === 1) return first;
  let rows = 0;
  let length = 0;
  for (const p of parts) {
    rows += p.shape[0];
    length += p.data.length;
  }
  const out = new DTYPE[first.datatype].array(length);
  let offset = 0;
  for (const p of parts) {
    (out as Float32Array).set(p.data as Float32Array, offset);
    offset += p.data.length;
  }
  return { name: first.name, datatype: first.datatype, shape: [rows, ...first.shape.slice(1)], data: out };
}

/** Splits a batched tensor back into views of `rows[i]` rows each (no copies). */
export function splitBatch(t: Tensor, rows: readonly number[]): Tensor[] {
  const rowSize = elementCount(t.shape.slice(1));
  const out: Tensor[] = [];
  let start = 0;
  for (const r of rows) {
    const data = t.data.subarray(start * rowSize, (start + r) * rowSize) as TypedArray;
    out.push({ name: t.name, datatype: t.datatype, shape: [r, ...t.shape.slice(1)], data });
    start += r;
  }
  return out;
}
