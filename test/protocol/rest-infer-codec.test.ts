// The REST infer body checks, as pure functions: each malformed shape names the field at fault.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidRequestError } from '../../src/errors.js';
import { decodeInferBody } from '../../src/protocol/rest/infer-codec.js';

const decode = (body: unknown) => decodeInferBody('m', undefined, Buffer.from(JSON.stringify(body)), undefined);
const input = { name: 'x', shape: [1, 2], datatype: 'FP32', data: [1, 2] };

describe('REST infer body checks', () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['a body that is not an object', [input], /\(root\): expected an object/],
    ['no inputs', {}, /inputs: expected an array/],
    ['an empty inputs array', { inputs: [] }, /inputs: at least one input is required/],
    ['an input that is not an object', { inputs: [3] }, /inputs\.0: expected an object/],
    ['an input without a name', { inputs: [{ ...input, name: '' }] }, /inputs\.0\.name: must not be empty/],
    ['a datatype that is not a string', { inputs: [{ ...input, datatype: 7 }] }, /inputs\.0\.datatype: expected a string/],
    ['a parameter that is an object', { inputs: [{ ...input, parameters: { a: { b: 1 } } }] }, /inputs\.0\.parameters\.a: expected a string, number or boolean/],
    ['request parameters that are an array', { inputs: [input], parameters: [1] }, /parameters: expected an object/],
    ['an id that is a number', { id: 5, inputs: [input] }, /id: expected a string/],
    ['outputs that are not an array', { inputs: [input], outputs: { name: 'y' } }, /outputs: expected an array/],
    ['an output without a name', { inputs: [input], outputs: [{}] }, /outputs\.0\.name: expected a string/],
  ];
  for (const [name, body, message] of cases) {
    it(`refuses ${name}`, () => {
      assert.throws(() => decode(body), (e: unknown) => e instanceof InvalidRequestError && message.test(e.message) && e.message.startsWith('invalid inference request: '));
    });
  }

  it('accepts fields the protocol does not name (extensions add them) and keeps parameters', () => {
    const req = decode({ id: 'r1', extra: true, parameters: { latency_ms: 50, binary_data_output: true }, inputs: [{ ...input, parameters: { note: 'x' }, more: 1 }] });
    assert.equal(req.id, 'r1');
    assert.deepEqual(req.parameters, { latency_ms: 50, binary_data_output: true });
    assert.deepEqual([...req.inputs[0].data], [1, 2]);
    assert.deepEqual(req.inputs[0].shape, [1, 2]);
  });
});
