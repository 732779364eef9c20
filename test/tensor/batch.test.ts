import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidRequestError } from '../../src/errors.js';
import { concatBatch, splitBatch } from '../../src/tensor/batch.js';
import { fromBytes, fromJson, tensorBytes, toJsonData } from '../../src/tensor/tensor.js';
import fc from 'fast-check';

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
    assert.equal((a.data as Float64Array).buffer, (b.data as Float64Array).buffer);
    assert.equal((a.data as Float64Array).byteOffset % 8, 0);
    assert.equal((b.data as Float64Array).byteOffset % 8, 0);
    (a.data as Float64Array).fill(0);
    assert.deepEqual(Array.from(b.data as Float64Array), [4, 5]);
    // Not the whole of its buffer: ExecutorPool copies it rather than transferring the slab.
    assert.ok((a.data as Float64Array).byteLength < (a.data as Float64Array).buffer.byteLength);
    const big = misaligned(Array.from({ length: 4096 }, (_, i) => i));
    assert.equal((big.data as Float64Array).byteLength, (big.data as Float64Array).buffer.byteLength);
    assert.equal((big.data as Float64Array)[4095], 4095);
  });

  it('rejects JSON data of the wrong count or element type', () => {
    assert.throws(() => fromJson('x', 'FP32', [1, 3], [1, 2]), /needs 3 elements/);
    assert.throws(() => fromJson('x', 'FP32', [1, 2], [1, 'a']), /must be a number/);
    assert.throws(() => fromJson('x', 'INT32', [1, 2], [1, 2.5]), /integer/);
    assert.throws(() => fromJson('x', 'BOOL', [2], [true, 1]), /boolean/);
    assert.throws(() => fromJson('x', 'FP16', [1], ['1']), /number for FP16/);
    assert.throws(() => fromJson('x', 'BYTES', [2], ['a', 1]), /string for BYTES/);
  });

  it('round-trips 64-bit integers, booleans, FP16 and BYTES through JSON form', () => {
    assert.deepEqual(toJsonData(fromJson('x', 'INT64', [2], [5, -7])), [5, -7]);
    assert.deepEqual(toJsonData(fromJson('x', 'BOOL', [2], [true, false])), [true, false]);
    // Values exact in half precision come back exactly; others round to the nearest half.
    assert.deepEqual(toJsonData(fromJson('x', 'FP16', [5], [1.5, -2, 65504, 0.000061035156, 0])), [1.5, -2, 65504, 0.00006103515625, 0]);
    assert.deepEqual(toJsonData(fromJson('x', 'FP16', [2], [0.1, 1e6])), [0.0999755859375, Infinity]);
    assert.deepEqual(toJsonData(fromJson('x', 'BYTES', [1, 2], [['héllo', '']])), ['héllo', '']);
  });

  it('reads BYTES as 4-byte length-prefixed elements and writes them back the same way', () => {
    const t = fromJson('x', 'BYTES', [3], ['ab', '', 'ünï']);
    const bytes = tensorBytes(t);
    assert.equal(bytes.byteLength, 4 + 2 + 4 + 0 + 4 + 5); // ü and ï take two bytes each
    assert.deepEqual(fromBytes('x', 'BYTES', [3], bytes).data, ['ab', '', 'ünï']);
    assert.throws(() => fromBytes('x', 'BYTES', [4], bytes), /ends after 3 of the 4/);
    assert.throws(() => fromBytes('x', 'BYTES', [2], bytes), /follow the 2 elements/);
    assert.throws(() => fromBytes('x', 'BYTES', [1], new Uint8Array([2, 0, 0, 0, 0xff, 0xfe])), /not valid UTF-8/);
    assert.throws(() => fromBytes('x', 'BYTES', [1], new Uint8Array([9, 0, 0, 0, 1])), /past the end/);
  });

  it('concatenates and splits along an inner batch axis (an RNN state [layers, batch, hidden])', () => {
    const a = fromJson('s', 'FP32', [2, 1, 2], [1, 2, 3, 4]);
    const b = fromJson('s', 'FP32', [2, 2, 2], [5, 6, 7, 8, 9, 10, 11, 12]);
    const batched = concatBatch([a, b], 1);
    assert.deepEqual(batched.shape, [2, 3, 2]);
    assert.deepEqual(Array.from(batched.data as Float32Array), [1, 2, 5, 6, 7, 8, 3, 4, 9, 10, 11, 12]);
    const [a2, b2] = splitBatch(batched, [1, 2], 1);
    assert.deepEqual(a2.shape, [2, 1, 2]);
    assert.deepEqual(Array.from(a2.data as Float32Array), [1, 2, 3, 4]);
    assert.deepEqual(Array.from(b2.data as Float32Array), [5, 6, 7, 8, 9, 10, 11, 12]);
  });

  it('splits what it concatenated, on any axis, for any rows and datatype (property)', () => {
    const datatypes = ['FP32', 'INT64', 'UINT8', 'BYTES', 'FP16'] as const;
    fc.assert(fc.property(
      fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 0, maxLength: 3 }),
      fc.nat(3),
      fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 5 }),
      fc.constantFrom(...datatypes),
      (dims, axisPick, rows, datatype) => {
        const axis = axisPick % (dims.length + 1);
        let next = 0;
        const parts = rows.map((r) => {
          const shape = [...dims.slice(0, axis), r, ...dims.slice(axis)];
          const n = shape.reduce((x, y) => x * y, 1);
          const values = Array.from({ length: n }, () => next++ % 200);
          return fromJson('t', datatype, shape, datatype === 'BYTES' ? values.map(String) : values);
        });
        const batched = concatBatch(parts, axis);
        assert.equal(batched.shape[axis], rows.reduce((x, y) => x + y, 0));
        const back = splitBatch(batched, rows, axis);
        back.forEach((t, i) => {
          assert.deepEqual(t.shape, parts[i].shape);
          assert.deepEqual(Array.from(t.data as ArrayLike<unknown>), Array.from(parts[i].data as ArrayLike<unknown>));
        });
      },
    ));
  });
});
