// Tensor values are exactly what the client sent, or refused: an integer outside its datatype's
// range is a 400, not wrapped (300 into INT8 read 44); 64-bit integers past 2^53 travel exactly
// wherever the protocol can carry them (JSON answers, gRPC's int64_contents); a BOOL byte other
// than 0 or 1 is refused (ONNX Runtime's Not of 2 is 3: true again).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { InvalidRequestError } from '../../src/errors.js';
import { GraphBuilder } from '../../src/onnx/graph.js';
import { BIGINT_RANGE, NUMBER_RANGE, type Datatype } from '../../src/tensor/dtype.js';
import { parseNonFiniteArray } from '../../src/tensor/non-finite-json.js';
import { fromBytes, fromJson, type Tensor } from '../../src/tensor/tensor.js';
import { grpcClient } from '../helpers/grpc-client.js';
import { binaryBody } from '../helpers/real-models.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const WIDE = [2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n + 1n, -(2n ** 53n) - 3n, 0n];

describe('integer ranges in JSON data', () => {
  it('accepts each integer datatype’s bounds and refuses one past them, whatever the datatype', () => {
    for (const [datatype, [lo, hi]] of Object.entries(NUMBER_RANGE) as Array<[Datatype, [number, number]]>) {
      assert.deepEqual(Array.from(fromJson('x', datatype, [2], [lo, hi]).data as ArrayLike<unknown>, Number), [lo, hi], datatype);
      for (const v of [lo - 1, hi + 1]) {
        assert.throws(() => fromJson('x', datatype, [1], [v]), (e: unknown) => e instanceof InvalidRequestError && /element 0/.test(e.message), `${datatype} ${v}`);
      }
    }
  });

  it('takes 64-bit integers as bigints to their full range (gRPC’s contents), and no further', () => {
    for (const [datatype, [lo, hi]] of Object.entries(BIGINT_RANGE) as Array<[Datatype, [bigint, bigint]]>) {
      assert.deepEqual([...fromJson('x', datatype, [2], [lo, hi]).data as BigInt64Array], [lo, hi]);
      assert.throws(() => fromJson('x', datatype, [1], [hi + 1n]), /outside/);
      assert.throws(() => fromJson('x', datatype, [1], [lo - 1n]), /outside/);
    }
  });
});

describe('NaN and ±Infinity in JSON tensor data', () => {
  it('reads them in a flat array of numbers, and nothing else that is not JSON', () => {
    assert.deepEqual(parseNonFiniteArray(' [NaN, Infinity,-Infinity,\n1.5e3 , -0, 0.1] '), [NaN, Infinity, -Infinity, 1500, -0, 0.1]);
    for (const text of ['[1, 2]', '[nan]', '[NaN,]', '[1,,NaN]', '[01, NaN]', '[NaN] x', '[[NaN]]', '[+1, NaN]', '["NaN"]', '[NaN\u00a0]', '[]', '[-NaN]']) {
      assert.equal(parseNonFiniteArray(text), undefined, text);
    }
  });
});

describe('BOOL bytes', () => {
  it('takes 0 and 1 and refuses any other byte, wherever it falls', () => {
    assert.deepEqual([...fromBytes('f', 'BOOL', [3], Uint8Array.from([0, 1, 1])).data as Uint8Array], [0, 1, 1]);
    for (const [at, byte] of [[0, 2], [2, 255], [1, 128]]) {
      const bytes = Uint8Array.from([1, 0, 1]);
      bytes[at] = byte;
      assert.throws(() => fromBytes('f', 'BOOL', [3], bytes), (e: unknown) => e instanceof InvalidRequestError && e.message.includes(`BOOL element ${at} is the byte ${byte}`));
    }
  });
});

describe('integer tensors through the server', () => {
  let dir: string;
  let server: TestServer;
  let grpcCall: ReturnType<typeof grpcClient>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pareto-ints-'));
    const g = new GraphBuilder('ints');
    g.node('Identity', ['wide'], ['wide_out']);
    g.node('Identity', ['small'], ['small_out']);
    g.node('Identity', ['real'], ['real_out']);
    mkdirSync(join(dir, 'ints', 'v1'), { recursive: true });
    writeFileSync(join(dir, 'ints', 'v1', 'model.onnx'), g.build(
      [{ name: 'wide', type: 'int64', shape: ['N'] }, { name: 'small', type: 'int8', shape: ['N'] }, { name: 'real', type: 'float32', shape: ['N'] }],
      [{ name: 'wide_out', type: 'int64', shape: ['N'] }, { name: 'small_out', type: 'int8', shape: ['N'] }, { name: 'real_out', type: 'float32', shape: ['N'] }],
    ));
    writeFileSync(join(dir, 'ints', 'model.yaml'), `name: ints
inputs:
  - { name: wide, datatype: INT64, shape: [-1] }
  - { name: small, datatype: INT8, shape: [-1] }
  - { name: real, datatype: FP32, shape: [-1] }
outputs:
  - { name: wide_out, datatype: INT64, shape: [-1] }
  - { name: small_out, datatype: INT8, shape: [-1] }
  - { name: real_out, datatype: FP32, shape: [-1] }
batching: { max_batch_size: 256 }
variants: [{ name: v1 }]
`);
    server = await startTestServer({ repository: dir });
    grpcCall = grpcClient(server.grpcAddress);
  });
  after(async () => {
    grpcCall.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const inputs = (wide: bigint[]): Tensor[] => [
    { name: 'wide', datatype: 'INT64', shape: [wide.length], data: BigInt64Array.from(wide) },
    { name: 'small', datatype: 'INT8', shape: [wide.length], data: Int8Array.from(wide, (_, i) => (i % 2 ? -128 : 127)) },
    { name: 'real', datatype: 'FP32', shape: [wide.length], data: Float32Array.from(wide, (_, i) => [NaN, Infinity, -Infinity, 0.1, -0][i % 5]) },
  ];
  const postJson = (body: unknown) => fetch(`${server.url}/v2/models/ints/infer`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const jsonInputs = (wide: number[], small: number[]) => ({ inputs: [
    { name: 'wide', datatype: 'INT64', shape: [wide.length], data: wide },
    { name: 'small', datatype: 'INT8', shape: [small.length], data: small },
    { name: 'real', datatype: 'FP32', shape: [small.length], data: small },
  ] });

  it('answers 64-bit integers past 2^53 in JSON with every digit, and NaN and ±Infinity as Triton writes them', async () => {
    // Binary in, JSON out: the answer's text must hold the digits sent (a double cannot).
    const { body, headers } = binaryBody(inputs(WIDE));
    const header = JSON.parse(Buffer.from(body.subarray(0, Number(headers['inference-header-content-length']))).toString());
    delete header.parameters; // JSON outputs
    const json = Buffer.from(JSON.stringify(header));
    const res = await fetch(`${server.url}/v2/models/ints/infer`, {
      method: 'POST',
      body: Buffer.concat([json, body.subarray(Number(headers['inference-header-content-length']))]),
      headers: { ...headers, 'inference-header-content-length': String(json.length) },
    });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    const wideOut = /"name":"wide_out".*?"data":\[([^\]]*)\]/.exec(text);
    assert.ok(wideOut, text);
    assert.deepEqual(wideOut[1].split(',').map(BigInt), WIDE);
    assert.match(text, /"name":"real_out".*?"data":\[NaN,Infinity,-Infinity,0\.10000000149011612,0\]/);
    // Data a double holds exactly stays plain numbers.
    assert.deepEqual((JSON.parse(text.replace(/("name":"real_out".*?"data":)\[[^\]]*\]/, '$1null')) as { outputs: Array<{ name: string; data: number[] }> }).outputs.find((o) => o.name === 'small_out')!.data, [127, -128, 127, -128, 127]);
  });

  it('refuses JSON integers its datatype cannot hold, and reads the ones it can exactly', async () => {
    let res = await postJson(jsonInputs([1, 2], [127, 300]));
    let text = await res.text();
    assert.equal(res.status, 400, text);
    assert.match(text, /input 'small': element 1 is 300, outside INT8's range \[-128, 127\]/);
    res = await postJson(jsonInputs([Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER], [-128, 127]));
    text = await res.text();
    assert.equal(res.status, 200, text);
    const outputs = (JSON.parse(text) as { outputs: Array<{ name: string; data: number[] }> }).outputs;
    assert.deepEqual(outputs.find((o) => o.name === 'wide_out')!.data, [Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER]);
    assert.deepEqual(outputs.find((o) => o.name === 'small_out')!.data, [-128, 127]);
  });

  // The body as text: JSON.stringify would round these digits before they were sent.
  const postText = (wide: string, n: number) => fetch(`${server.url}/v2/models/ints/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: `{"inputs":[{"name":"wide","datatype":"INT64","shape":[${n}],"data":${wide}},{"name":"small","datatype":"INT8","shape":[${n}],"data":[${Array(n).fill(1)}]},{"name":"real","datatype":"FP32","shape":[${n}],"data":[${Array(n).fill(0.5)}]}]}`,
  });
  const wideOut = (text: string) => /"name":"wide_out".*?"data":\[([^\]]*)\]/.exec(text)![1].split(',').map(BigInt);

  it('reads 64-bit JSON integers past 2^53 from their digits, in small bodies and large', async () => {
    for (const n of [WIDE.length, 200]) {
      const wide = Array.from({ length: n }, (_, i) => WIDE[i % WIDE.length]);
      const res = await postText(` [ ${wide.join(' ,\n')} ] `, n);
      const text = await res.text();
      assert.equal(res.status, 200, text);
      assert.deepEqual(wideOut(text), wide, `${n} values`);
    }
  });

  it('reads NaN and ±Infinity in float data as Triton does, in small bodies and large, and only there', async () => {
    for (const n of [5, 200]) {
      const real = Array.from({ length: n }, (_, i) => ['NaN', 'Infinity', '-Infinity', '0.5', '-0'][i % 5]);
      const res = await fetch(`${server.url}/v2/models/ints/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: `{"inputs":[{"name":"wide","datatype":"INT64","shape":[${n}],"data":[${Array(n).fill(1)}]},{"name":"small","datatype":"INT8","shape":[${n}],"data":[${Array(n).fill(1)}]},{"name":"real","datatype":"FP32","shape":[${n}],"data":[${real.join(', ')}]}]}`,
      });
      const text = await res.text();
      assert.equal(res.status, 200, text);
      assert.equal(/"name":"real_out".*?"data":\[([^\]]*)\]/.exec(text)![1], real.map((v) => (v === '-0' ? '0' : v)).join(','), `${n} values`);
    }
    for (const [wide, real] of [['[NaN]', '[1]'], ['[1]', '[[NaN]]'], ['[1]', '[1], "parameters": {"x": NaN}']]) {
      const res = await fetch(`${server.url}/v2/models/ints/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: `{"inputs":[{"name":"wide","datatype":"INT64","shape":[1],"data":${wide}},{"name":"small","datatype":"INT8","shape":[1],"data":[1]},{"name":"real","datatype":"FP32","shape":[1],"data":${real}}]}`,
      });
      const text = await res.text();
      assert.equal(res.status, 400, `${wide} ${real}: ${text}`);
      assert.match(text, /PARETO_ERR_MALFORMED_JSON/);
    }
  });

  it('refuses what it cannot read exactly, with the reason', async () => {
    const cases: Array<[string, number, RegExp]> = [
      ['[9223372036854775808]', 1, /element 0 is 9223372036854775808, outside INT64's range/],
      ['[-9223372036854775809, 1]', 2, /element 0 is -9223372036854775809, outside INT64's range/],
      // A million digits: refused without being read (BigInt: 220 ms), and not echoed.
      [`[1, ${'9'.repeat(1_000_000)}]`, 2, /element 1 is 9{21}… \(1000000 digits\), outside INT64's range/],
      // Nested, or not plain digits: read through a double, refused past 2^53.
      ['[[9007199254740993], [1]]', 2, /element 0 reads as 9007199254740992, beyond ±9007199254740991.*plain digits in a flat 'data' array/],
      ['[9.007199254740993e15]', 1, /element 0 reads as 9007199254740992/],
      ['[1.5]', 1, /element 0 must be an integer for INT64/],
    ];
    for (const [wide, n, expected] of cases) {
      const res = await postText(wide, n);
      const text = await res.text();
      // The case named short: an assertion message of a million digits took node:test minutes to print.
      assert.equal(res.status, 400, `${wide.slice(0, 40)}: ${text}`);
      assert.match(text, expected, wide.slice(0, 40));
    }
  });

  it('reads gRPC int64_contents past 2^53 exactly, and refuses int_contents outside INT8', async () => {
    const res = await grpcCall.call('ModelInfer', {
      model_name: 'ints',
      inputs: [
        { name: 'wide', datatype: 'INT64', shape: [WIDE.length], contents: { int64_contents: WIDE.map(String) } },
        { name: 'small', datatype: 'INT8', shape: [WIDE.length], contents: { int_contents: [1, 2, 3, 4, 5] } },
        { name: 'real', datatype: 'FP32', shape: [WIDE.length], contents: { fp32_contents: [1, 2, 3, 4, 5] } },
      ],
    });
    const i = res.outputs.findIndex((o: { name: string }) => o.name === 'wide_out');
    assert.deepEqual([...fromBytes('wide_out', 'INT64', [WIDE.length], res.raw_output_contents[i]).data as BigInt64Array], WIDE);
    await assert.rejects(grpcCall.call('ModelInfer', {
      model_name: 'ints',
      inputs: [
        { name: 'wide', datatype: 'INT64', shape: [1], contents: { int64_contents: ['1'] } },
        { name: 'small', datatype: 'INT8', shape: [1], contents: { int_contents: [300] } },
        { name: 'real', datatype: 'FP32', shape: [1], contents: { fp32_contents: [1] } },
      ],
    }), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && /outside INT8's range/.test(e.details));
  });
});
