import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { InvalidRequestError } from '../../src/errors.js';
import { fromJson } from '../../src/tensor/tensor.js';

/** `flat` nested as `shape` says, row-major. */
function nest(flat: number[], shape: number[]): unknown[] {
  if (shape.length === 1) return flat;
  const stride = flat.length / shape[0];
  return Array.from({ length: shape[0] }, (_, i) => nest(flat.slice(i * stride, (i + 1) * stride), shape.slice(1)));
}

describe('tensor data from JSON', () => {
  it('nested and flat data give the same tensor, for any shape', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }), fc.constantFrom('FP32' as const, 'FP64' as const), (shape, datatype) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const flat = Array.from({ length: n }, (_, i) => i / 7 - 1);
      assert.deepEqual(fromJson('x', datatype, shape, nest(flat, shape)).data, fromJson('x', datatype, shape, flat).data);
    }));
  });

  it('nesting that does not match the shape is refused as before', () => {
    assert.throws(() => fromJson('x', 'FP32', [2, 3], [[1, 2, 3], [4, 5]]), (e: unknown) => e instanceof InvalidRequestError && /needs 6 elements, 'data' has 5/.test(e.message));
    assert.throws(() => fromJson('x', 'FP32', [2, 3], [[1, 2, 3], [4, 5, 'six']]), (e: unknown) => e instanceof InvalidRequestError && /element 5 must be a number/.test(e.message));
    // Nested differently but with the right count: accepted, row-major (as Triton does).
    assert.deepEqual([...fromJson('x', 'FP32', [2, 3], [[1, 2], [3, 4], [5, 6]]).data as Float32Array], [1, 2, 3, 4, 5, 6]);
  });
});
