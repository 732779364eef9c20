// Typed tensors, and their construction from the wire forms the protocol allows.
import { InvalidRequestError } from '../errors.js';
import { DTYPE, type Datatype, type TypedArray } from './dtype.js';

export interface Tensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  data: TypedArray;
}

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function byteView(data: TypedArray): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** A typed array over raw little-endian bytes; copies only when the bytes are misaligned. */
export function fromBytes(name: string, datatype: Datatype, shape: number[], bytes: Uint8Array): Tensor {
  const info = DTYPE[datatype];
  const expected = elementCount(shape) * info.bytes;
  if (bytes.byteLength !== expected) {
    throw new InvalidRequestError(`input '${name}': ${bytes.byteLength} bytes of binary data, but ${datatype} shape [${shape}] needs ${expected}`);
  }
  const aligned = bytes.byteOffset % info.bytes === 0 ? bytes : alignedCopy(bytes);
  return { name, datatype, shape, data: new info.array(aligned.buffer, aligned.byteOffset, expected / info.bytes) };
}

// Misaligned binary inputs (the usual case: they follow a JSON header of any length) are copied
// into 8-byte-aligned slices of a shared slab, as Node pools small Buffers: one ArrayBuffer per
// 64 KiB instead of one per request, each of which costs an allocation and a sweep in every
// young-generation GC. A slab is never transferred whole (ExecutorPool copies what it does not own).
const SLAB_BYTES = 64 * 1024;
let slab = new ArrayBuffer(SLAB_BYTES);
let slabUsed = 0;

function alignedCopy(bytes: Uint8Array): Uint8Array {
  const n = bytes.byteLength;
  if (n > SLAB_BYTES / 8) return new Uint8Array(bytes); // new Uint8Array(bytes) copies
  let start = (slabUsed + 7) & ~7;
  if (start + n > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES);
    start = 0;
  }
  slabUsed = start + n;
  const out = new Uint8Array(slab, start, n);
  out.set(bytes);
  return out;
}

function flattenInto(value: unknown, out: unknown[]): void {
  if (Array.isArray(value)) for (const v of value) flattenInto(v, out);
  else out.push(value);
}

/** From the JSON `data` field, flat or nested, checked element by element. */
export function fromJson(name: string, datatype: Datatype, shape: number[], data: unknown): Tensor {
  if (datatype === 'FP16') throw new InvalidRequestError(`input '${name}': FP16 has no JSON form; send it as binary data`);
  if (!Array.isArray(data)) throw new InvalidRequestError(`input '${name}': 'data' must be an array`);
  const flat: unknown[] = [];
  flattenInto(data, flat);
  const count = elementCount(shape);
  if (flat.length !== count) throw new InvalidRequestError(`input '${name}': shape [${shape}] needs ${count} elements, 'data' has ${flat.length}`);
  const info = DTYPE[datatype];
  const out = new info.array(count);
  for (let i = 0; i < count; i++) {
    const v = flat[i];
    if (datatype === 'BOOL') {
      if (typeof v !== 'boolean') throw new InvalidRequestError(`input '${name}': element ${i} must be a boolean, got ${JSON.stringify(v)}`);
      out[i] = v ? 1 : 0;
    } else if (typeof v !== 'number' || !Number.isFinite(v) && !isFloat(datatype)) {
      throw new InvalidRequestError(`input '${name}': element ${i} must be a number for ${datatype}, got ${JSON.stringify(v)}`);
    } else if (info.bigint) {
      if (!Number.isInteger(v)) throw new InvalidRequestError(`input '${name}': element ${i} must be an integer for ${datatype}, got ${v}`);
      out[i] = BigInt(v) as never;
    } else {
      if (!isFloat(datatype) && !Number.isInteger(v)) throw new InvalidRequestError(`input '${name}': element ${i} must be an integer for ${datatype}, got ${v}`);
      out[i] = v;
    }
  }
  return { name, datatype, shape, data: out };
}

function isFloat(datatype: Datatype): boolean {
  return datatype === 'FP32' || datatype === 'FP64' || datatype === 'FP16';
}

/** JSON-ready flat data (BOOL as booleans, 64-bit integers as numbers). */
export function toJsonData(t: Tensor): Array<number | boolean> {
  if (t.datatype === 'BOOL') return Array.from(t.data as Uint8Array, (v) => v !== 0);
  if (DTYPE[t.datatype].bigint) return Array.from(t.data as BigInt64Array, (v) => Number(v));
  return Array.from(t.data as Float32Array);
}
