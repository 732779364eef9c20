// Lifting tensor data out of an infer body before parsing must never change what the body means:
// every body decodes to the same request, or fails with the same error, as parsing it whole.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isParetoError } from '../../src/errors.js';
import { decodeInferBody, decodeParsedBody } from '../../src/protocol/rest/infer-codec.js';
import { LIFT_MIN_BYTES, liftTensorData } from '../../src/protocol/rest/lifted-tensor-data.js';

type Outcome = { request: unknown } | { code: string; message: string };

function outcome(f: () => unknown): Outcome {
  try {
    const request = f() as { inputs: Array<{ data: unknown }> };
    // Typed arrays compared element by element with Object.is (-0, NaN).
    return { request: JSON.parse(JSON.stringify(request, (_k, v) => ArrayBuffer.isView(v) ? { [v.constructor.name]: Array.from(v as Float32Array, (x) => Object.is(x, -0) ? '-0' : typeof x === 'bigint' ? String(x) : x) } : v)) };
  } catch (e) {
    if (!isParetoError(e)) throw e;
    return { code: e.code, message: e.message };
  }
}

/** Parsing the whole JSON, as the server did before lifting. */
function whole(body: Buffer, headerLength?: number): Outcome {
  let raw: unknown;
  try {
    raw = JSON.parse(body.toString('utf8', 0, headerLength ?? body.length));
  } catch (e) {
    return { code: 'PARETO_ERR_MALFORMED_JSON', message: `request body is not valid JSON: ${(e as Error).message}` };
  }
  return outcome(() => decodeParsedBody('m', undefined, body, headerLength, raw));
}

function assertSameAsWhole(body: Buffer, headerLength?: number): Outcome {
  const want = whole(body, headerLength);
  assert.deepEqual(outcome(() => decodeInferBody('m', undefined, body, headerLength)), want, body.toString('utf8', 0, Math.min(300, body.length)));
  return want;
}

const floats = (n: number, seed: number) => Array.from({ length: n }, (_, i) => Math.fround(Math.sin(seed + i) * 3));
const pad = 'p'.repeat(LIFT_MIN_BYTES);
const fp32 = (name: string, n: number, seed = 1) => ({ name, shape: [1, n], datatype: 'FP32', data: floats(n, seed) });

describe('tensor data lifted out of an infer body', () => {
  it('lifts flat data and reads it as parsing the whole body would', () => {
    const body = Buffer.from(JSON.stringify({ id: 'a', inputs: [fp32('x', 784), fp32('y', 3, 7)], outputs: [{ name: 'z' }] }));
    assert.ok(liftTensorData(body, body.length), 'lifted');
    const out = assertSameAsWhole(body) as { request: { inputs: Array<{ data: { Float32Array: number[] } }> } };
    assert.equal(out.request.inputs[0].data.Float32Array.length, 784);
  });

  it('gives the same request or error for bodies that play with keys, strings and types', () => {
    const data = floats(600, 3);
    const text = JSON.stringify(data);
    const cases: string[] = [
      // data before datatype and shape; keys in any order
      `{"inputs":[{"data":${text},"name":"x","datatype":"FP32","shape":[600]}]}`,
      // a second data key: the last wins
      `{"inputs":[{"name":"x","shape":[600],"datatype":"FP32","data":${text},"data":${JSON.stringify(data.map((v) => -v))}}]}`,
      `{"inputs":[{"name":"x","shape":[3],"datatype":"FP32","data":${text},"data":[1,2,3]}]}`,
      `{"inputs":[{"name":"x","shape":[600],"datatype":"FP32","data":[1,2,3],"data":${text}}]}`,
      // an escaped key JSON.parse reads as data
      `{"inputs":[{"name":"x","shape":[600],"datatype":"FP32","data":${text},"d\\u0061ta":${JSON.stringify(data.map((v) => v * 2))}}]}`,
      `{"inputs":[{"name":"x","shape":[600],"datatype":"FP32","d\\u0061ta":${text}}]}`,
      // two inputs keys: the last wins
      `{"inputs":[{"name":"x","shape":[600],"datatype":"FP32","data":${text}}],"inputs":[{"name":"y","shape":[2],"datatype":"FP32","data":[5,6]}],"p":"${pad}"}`,
      // data-like text in strings and parameters
      `{"id":"\\"data\\":[1,2]","parameters":{"note":"{\\"inputs\\":[{\\"data\\":[9]}]}"},"inputs":[{"name":"x\\"","shape":[600],"datatype":"FP32","data":${text}}]}`,
      `{"inputs":[{"name":"[\\"data\\":","parameters":{"data":"[1,2]"},"shape":[600],"datatype":"FP32","data":${text}}]}`,
      // data outside inputs, or deeper
      `{"data":${text},"inputs":[{"name":"x","shape":[2],"datatype":"FP32","data":[1,2]}]}`,
      `{"inputs":[{"name":"x","shape":[600],"datatype":"FP32","data":${text},"parameters":{"data":${text.length > 0 ? '1' : '0'}}}],"outputs":[{"name":"y","data":${text}}]}`,
      // other datatypes
      `{"inputs":[{"name":"x","shape":[600],"datatype":"FP64","data":${text}}]}`,
      `{"inputs":[{"name":"x","shape":[600],"datatype":"FP16","data":${text}}]}`,
      `{"inputs":[{"name":"x","shape":[600],"datatype":"INT32","data":${text}}]}`,
      `{"inputs":[{"name":"x","shape":[600],"datatype":"INT64","data":${JSON.stringify(data.map((_, i) => i * 1e6))}}]}`,
      `{"inputs":[{"name":"x","shape":[600],"datatype":"BOOL","data":${text}}]}`,
      `{"inputs":[{"name":"x","shape":[2],"datatype":"BYTES","data":["a]","b"]},{"name":"y","shape":[600],"datatype":"FP32","data":${text}}]}`,
      // data nested as its shape, mixed, or wrong
      `{"inputs":[{"name":"x","shape":[20,30],"datatype":"FP32","data":${JSON.stringify(Array.from({ length: 20 }, (_, r) => data.slice(r * 30, r * 30 + 30)))}}]}`,
      `{"inputs":[{"name":"x","shape":[601],"datatype":"FP32","data":[${text}, 1]}]}`,
      `{"inputs":[{"name":"x","shape":[601],"datatype":"FP32","data":${text.slice(0, -1)},[1]]}]}`,
      `{"inputs":[{"name":"x","shape":[599],"datatype":"FP32","data":${text}}]}`,
      `{"inputs":[{"name":"x","shape":[601],"datatype":"FP32","data":${text}}]}`,
      `{"inputs":[{"name":"x","shape":[600],"datatype":"FP32","data":${text.replace(',', ',"s",')}}]}`,
      `{"inputs":[{"name":"x","shape":[600],"datatype":"FP32","data":${text.replace(',', ',01,')}}]}`,
      `{"inputs":[{"name":"x","shape":[600],"datatype":"FP32","data":${text.replace(',', ',NaN,')}}]}`,
      `{"inputs":[{"name":"x","shape":[600],"datatype":"FP32","data":${text}}]`,
      `{"inputs":[{"name":"x","shape":[600],"datatype":"FP32","data":${text}}],}`,
      `{"inputs":[{"name":"x","shape":[600],"datatype":"FP32","data":${text}},{"name":"x2","shape":[600],"datatype":"FP32","data":${text}}]}`,
      `{"inputs":[{"name":"x","shape":[600],"datatype":"FP32","data":"\\u0000pareto-data-0000000000000000-0"},{"name":"y","shape":[600],"datatype":"FP32","data":${text}}]}`,
      `{"inputs":[{"name":"x","shape":[600],"datatype":"FP32","data" : \n${text} }]}`,
      `[{"inputs":[{"name":"x","shape":[600],"datatype":"FP32","data":${text}}]}]`,
      `{"inputs":{"0":{"name":"x","shape":[600],"datatype":"FP32","data":${text}}}}`,
    ];
    for (const json of cases) assertSameAsWhole(Buffer.from(json));
  });

  it('reads a binary body\'s JSON header with lifted data and its binary tensors after it', () => {
    const header = Buffer.from(JSON.stringify({ inputs: [fp32('x', 700), { name: 'b', shape: [2], datatype: 'INT32', parameters: { binary_data_size: 8 } }] }));
    const body = Buffer.concat([header, Buffer.from(new Int32Array([7, -7]).buffer)]);
    const out = assertSameAsWhole(body, header.length);
    assert.ok('request' in out);
  });

  it('any change to a body gives the same request or error as parsing it whole', () => {
    const base = JSON.stringify({ id: 'r', parameters: { a: '[x]' }, inputs: [fp32('x', 300), { name: 'n', shape: [3], datatype: 'INT64', data: [1, 2, 3] }, fp32('y', 200, 5)] });
    const edit = fc.tuple(fc.nat(base.length - 1), fc.nat(2), fc.constantFrom(...'[]{}",:0.-e\\ 1"a'.split('')));
    fc.assert(fc.property(fc.array(edit, { minLength: 1, maxLength: 3 }), (edits) => {
      let text = base;
      for (const [at, kind, ch] of edits) {
        const i = at % text.length;
        text = kind === 0 ? text.slice(0, i) + text.slice(i + 1) : kind === 1 ? text.slice(0, i) + ch + text.slice(i) : text.slice(0, i) + ch + text.slice(i + 1);
      }
      assertSameAsWhole(Buffer.from(text));
    }), { numRuns: 3000 });
  });
});
