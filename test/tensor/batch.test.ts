import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidRequestError } from '../../src/errors.js';
import { concatBatch, splitBatch } from '../../src/tensor/batch.js';
import { fromBytes, fromJson, toJsonData } from '../../src/tensor/tensor.js';

describe('tensor batching', () => {
  it('concatenates along axis 0 and splits back to the same rows', () => {
    const a = fromJson('x', 'FP32', [1, 3], [[1, 2, 3]]);
    const b = fromJson('x', 'FP32', [2, 3], [4, 5, 6, 7, 8, 9]);
    const batched = concatBatch([a, b]);
    assert.deepEqual(batched.shape, [3, 3]);
    assert.deepEqual(Array.from(batched.data as Float32Array), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const [a2, b2] = splitBatch(batched, [1, 2]);
    assert.deepEqual(a2.shape, [1, 3]);
    assert.deepEqual(Array.from(b2.data as Float32Array), [4, 5, 6, 7, 8, 9]);
  });

  it('reads misaligned binary data by copying, and rejects a wrong byte count', () => {
    const bytes = Buffer.alloc(13);
    Buffer.from(new Float32Array([1.5, -2, 3]).buffer).copy(bytes, 1);
    const t = fromBytes('x', 'FP32', [1, 3], bytes.subarray(1));
    assert.deepEqual(Array.from(t.data as Float32Array), [1.5, -2, 3]);
    assert.throws(() => fromBytes('x', 'FP32', [1, 4], bytes.subarray(1)), InvalidRequestError);
  });

  it('copies misaligned inputs into separate, aligned parts of a shared slab, and big ones into their own buffer', () => {
    const misaligned = (values: number[]) => {
      const bytes = Buffer.alloc(values.length * 8 + 3);
      Buffer.from(new Float64Array(values).buffer).copy(bytes, 3);
      return fromBytes('x', 'FP64', [values.length], bytes.subarray(3, 3 + values.length * 8));
    };
    const a = misaligned([1, 2, 3]);
    const b = misaligned([4, 5]);
    assert.equal(a.data.buffer, b.data.buffer);
    assert.equal(a.data.byteOffset % 8, 0);
    assert.equal(b.data.byteOffset % 8, 0);
    (a.data as Float64Array).fill(0);
    assert.deepEqual(Array.from(b.data as Float64Array), [4, 5]);
    // Not the whole of its buffer: ExecutorPool copies it rather than transferring the slab.
    assert.ok(a.data.byteLength < a.data.buffer.byteLength);
    const big = misaligned(Array.from({ length: 4096 }, (_, i) => i));
    assert.equal(big.data.byteLength, big.data.buffer.byteLength);
    assert.equal((big.data as Float64Array)[4095], 4095);
  });

  it('rejects JSON data of the wrong count or element type', () => {
    assert.throws(() => fromJson('x', 'FP32', [1, 3], [1, 2]), /needs 3 elements/);
    assert.throws(() => fromJson('x', 'FP32', [1, 2], [1, 'a']), /must be a number/);
    assert.throws(() => fromJson('x', 'INT32', [1, 2], [1, 2.5]), /integer/);
    assert.throws(() => fromJson('x', 'BOOL', [2], [true, 1]), /boolean/);
    assert.throws(() => fromJson('x', 'FP16', [1], [1]), /binary/);
  });

  it('round-trips 64-bit integers and booleans through JSON form', () => {
    assert.deepEqual(toJsonData(fromJson('x', 'INT64', [2], [5, -7])), [5, -7]);
    assert.deepEqual(toJsonData(fromJson('x', 'BOOL', [2], [true, false])), [true, false]);
  });
});
