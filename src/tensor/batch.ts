// Concatenation and split along a tensor's batch axis, the heart of dynamic batching. The batch
// axis need not be the first (an RNN's state is [layers, batch, hidden]): a tensor is then `outer`
// blocks, each holding its rows contiguously, and each part contributes its rows to every block.
import { DTYPE, type TensorData, type TypedArray } from './dtype.js';
import { elementCount, type Tensor } from './tensor.js';
import { tensorBuffers } from './buffer-pool.js';

function allocate(like: Tensor, length: number): TensorData {
  if (like.datatype === 'BYTES') return new Array<string>(length);
  const info = DTYPE[like.datatype];
  return new info.array(tensorBuffers.take(length * info.bytes), 0, length);
}

function copy(from: TensorData, fromStart: number, to: TensorData, toStart: number, length: number): void {
  if (Array.isArray(from)) {
    for (let i = 0; i < length; i++) (to as string[])[toStart + i] = from[fromStart + i];
  } else {
    (to as Float32Array).set((from as Float32Array).subarray(fromStart, fromStart + length), toStart);
  }
}

/**
 * Concatenates same-named tensors of several requests along `axis`. The caller guarantees every
 * other dimension is equal (requests are grouped by shape class before they are batched).
 */
export function concatBatch(parts: readonly Tensor[], axis = 0): Tensor {
  const first = parts[0];
  if (parts.length === 1) return first;
  const outer = elementCount(first.shape.slice(0, axis));
  const inner = elementCount(first.shape.slice(axis + 1));
  let rows = 0;
  for (const p of parts) rows += p.shape[axis];
  const out = allocate(first, outer * rows * inner);
  if (outer === 1) {
    let offset = 0;
    for (const p of parts) {
      copy(p.data, 0, out, offset, p.data.length);
      offset += p.data.length;
    }
  } else {
    for (let o = 0; o < outer; o++) {
      let offset = o * rows * inner;
      for (const p of parts) {
        const block = p.shape[axis] * inner;
        copy(p.data, o * block, out, offset, block);
        offset += block;
      }
    }
  }
  const shape = [...first.shape];
  shape[axis] = rows;
  return { name: first.name, datatype: first.datatype, shape, data: out };
}

/** Splits a batched tensor back into parts of `rows[i]` rows each along `axis` (views where contiguous). */
export function splitBatch(t: Tensor, rows: readonly number[], axis = 0): Tensor[] {
  const outer = elementCount(t.shape.slice(0, axis));
  const inner = elementCount(t.shape.slice(axis + 1));
  const total = t.shape[axis];
  const out: Tensor[] = [];
  let start = 0;
  for (const r of rows) {
    const shape = [...t.shape];
    shape[axis] = r;
    let data: TensorData;
    if (outer === 1) {
      data = Array.isArray(t.data) ? t.data.slice(start * inner, (start + r) * inner) : (t.data.subarray(start * inner, (start + r) * inner) as TypedArray);
    } else {
      data = allocate(t, outer * r * inner);
      for (let o = 0; o < outer; o++) copy(t.data, (o * total + start) * inner, data, o * r * inner, r * inner);
    }
    out.push({ name: t.name, datatype: t.datatype, shape, data });
    start += r;
  }
  return out;
}
