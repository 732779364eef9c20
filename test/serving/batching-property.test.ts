// Property: whatever mix of shapes, datatypes, batch sizes and unbatched values arrives at once,
// every batched answer equals the same request run alone in ONNX Runtime.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import onnxProto from 'onnx-proto';
import ort from 'onnxruntime-node';
import { GraphBuilder } from '../../src/onnx/graph.js';
import { DTYPE } from '../../src/tensor/dtype.js';
import { toHalfBits } from '../../src/tensor/fp16.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { grpcClient } from '../helpers/grpc-client.js';
import { binaryBody, grpcRequest, jsonBody } from '../helpers/real-models.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { fromBytes } from '../../src/tensor/tensor.js';

// Inputs of every kind a signature can have: batched on axis 0 with a variable width (FP32),
// batched on axis 1 (INT64, like an RNN state), an unbatched scalar (FP32), BYTES, FP16, BOOL.
const CONFIG = `name: mixer
inputs:
  - { name: a, datatype: FP32, shape: [-1, -1] }
  - { name: b, datatype: INT64, shape: [3, -1], batch_axis: 1 }
  - { name: k, datatype: FP32, shape: [], batched: false }
  - { name: s, datatype: BYTES, shape: [-1] }
  - { name: h, datatype: FP16, shape: [-1, 2] }
  - { name: f, datatype: BOOL, shape: [-1] }
outputs:
  - { name: y, datatype: FP32, shape: [-1, -1] }
  - { name: m, datatype: FP32, shape: [-1] }
  - { name: bb, datatype: INT64, shape: [3, -1], batch_axis: 1 }
  - { name: s_out, datatype: BYTES, shape: [-1] }
  - { name: h_out, datatype: FP16, shape: [-1, 2] }
  - { name: nf, datatype: BOOL, shape: [-1] }
batching: { max_batch_size: 16, max_queue_delay_ms: 5 }
variants: [{ name: v1 }]
`;

function mixerModel(): Uint8Array {
  const g = new GraphBuilder('mixer');
  g.node('Mul', ['a', 'k'], ['y']);
  g.node('ReduceSum', ['a', g.initializer('axes', [1], BigInt64Array.from([1n]))], ['m'], { keepdims: 0 });
  g.node('Mul', ['b', 'b'], ['bb']);
  g.node('Identity', ['s'], ['s_out']);
  g.node('Identity', ['h'], ['h_out']);
  g.node('Not', ['f'], ['nf']);
  const inputs = [
    { name: 'a', type: 'float32' as const, shape: ['N', 'W'] },
    { name: 'b', type: 'int64' as const, shape: [3, 'N'] },
    { name: 'k', type: 'float32' as const, shape: [] },
    { name: 'h', type: 'float16' as const, shape: ['N', 2] },
  ];
  const bytes = g.build(inputs, [
    { name: 'y', type: 'float32', shape: ['N', 'W'] },
    { name: 'm', type: 'float32', shape: ['N'] },
    { name: 'bb', type: 'int64', shape: [3, 'N'] },
    { name: 'h_out', type: 'float16', shape: ['N', 2] },
  ]);
  return addStringAndBool(bytes);
}

/** GraphBuilder knows numeric types only: add the string and bool tensors by hand. */
function addStringAndBool(bytes: Uint8Array): Uint8Array {
  return patch(bytes, (graph) => {
    const value = (name: string, elemType: number) => ({ name, type: { tensorType: { elemType, shape: { dim: [{ dimParam: 'N' }] } } } });
    graph.input.push(value('s', 8), value('f', 9)); // 8 = STRING, 9 = BOOL
    graph.output.push(value('s_out', 8), value('nf', 9));
  });
}

function patch(bytes: Uint8Array, edit: (graph: { input: unknown[]; output: unknown[] }) => void): Uint8Array {
  const model = onnxProto.onnx.ModelProto.decode(bytes);
  edit(model.graph as never);
  return onnxProto.onnx.ModelProto.encode(model).finish();
}

let server: TestServer;
let dir: string;
let session: ort.InferenceSession;
let grpc: ReturnType<typeof grpcClient>;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pareto-mixer-'));
  mkdirSync(join(dir, 'mixer', 'v1'), { recursive: true });
  writeFileSync(join(dir, 'mixer', 'v1', 'model.onnx'), mixerModel());
  writeFileSync(join(dir, 'mixer', 'model.yaml'), CONFIG);
  server = await startTestServer({ repository: dir });
  session = await ort.InferenceSession.create(join(dir, 'mixer', 'v1', 'model.onnx'));
  grpc = grpcClient(server.grpcAddress);
});
after(async () => {
  grpc.close();
  await server.close();
  await session.release();
  rmSync(dir, { recursive: true, force: true });
});

interface Spec { rows: number; width: number; k: number; seed: number; wire: 0 | 1 | 2 }

function request({ rows, width, k, seed }: Spec): Tensor[] {
  const n = (i: number) => ((seed * 7919 + i * 104729) % 2000) / 100 - 10;
  return [
    { name: 'a', datatype: 'FP32', shape: [rows, width], data: Float32Array.from({ length: rows * width }, (_, i) => n(i)) },
    { name: 'b', datatype: 'INT64', shape: [3, rows], data: BigInt64Array.from({ length: 3 * rows }, (_, i) => BigInt(Math.round(n(i) * 1000))) },
    { name: 'k', datatype: 'FP32', shape: [], data: Float32Array.from([k]) },
    { name: 's', datatype: 'BYTES', shape: [rows], data: Array.from({ length: rows }, (_, i) => `r${seed}-${i}${'é'.repeat(i)}`) },
    { name: 'h', datatype: 'FP16', shape: [rows, 2], data: Uint16Array.from({ length: rows * 2 }, (_, i) => toHalfBits(n(i))) },
    { name: 'f', datatype: 'BOOL', shape: [rows], data: Uint8Array.from({ length: rows }, (_, i) => (seed + i) % 2) },
  ];
}

async function alone(inputs: Tensor[]): Promise<Map<string, { shape: number[]; data: unknown[] }>> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const t of inputs) feeds[t.name] = Array.isArray(t.data) ? new ort.Tensor('string', t.data, t.shape) : new ort.Tensor(DTYPE[t.datatype].ort as 'float32', t.data as Float32Array, t.shape);
  const out = await session.run(feeds);
  return new Map(Object.entries(out).map(([name, t]) => [name, { shape: [...t.dims], data: Array.from(t.data as ArrayLike<unknown>, (v) => (typeof v === 'boolean' ? (v ? 1 : 0) : v)) }]));
}

async function served(spec: Spec): Promise<{ outputs: Map<string, { shape: number[]; data: unknown[] }>; batch: number }> {
  const inputs = request(spec);
  let outputs: Array<{ name: string; datatype: 'FP32'; shape: number[]; raw: Uint8Array }>;
  let batch: number;
  if (spec.wire === 2) {
    const res = await grpc.call('ModelInfer', grpcRequest('mixer', inputs));
    outputs = res.outputs.map((o: { name: string; datatype: 'FP32'; shape: string[] }, i: number) => ({ ...o, shape: o.shape.map(Number), raw: res.raw_output_contents[i] }));
    batch = Number(res.parameters.batch_size.int64_param);
  } else {
    // JSON requests ask for binary outputs too: JSON numbers lose INT64 past 2^53 and FP16 bits.
    const init = spec.wire === 0
      ? { body: jsonBody(inputs).replace(/}$/, ',"parameters":{"binary_data_output":true}}'), headers: { 'content-type': 'application/json' } }
      : binaryBody(inputs);
    const res = await fetch(`${server.url}/v2/models/mixer/infer`, { method: 'POST', ...init });
    const bytes = Buffer.from(await res.arrayBuffer());
    assert.equal(res.status, 200, bytes.toString());
    const headerLength = Number(res.headers.get('inference-header-content-length'));
    const header = JSON.parse(bytes.subarray(0, headerLength).toString());
    let offset = headerLength;
    outputs = header.outputs.map((o: { name: string; datatype: 'FP32'; shape: number[]; parameters: { binary_data_size: number } }) => {
      const raw = bytes.subarray(offset, offset + o.parameters.binary_data_size);
      offset += raw.byteLength;
      return { ...o, raw };
    });
    batch = header.parameters.batch_size;
  }
  const map = new Map(outputs.map((o) => {
    const t = fromBytes(o.name, o.datatype, o.shape, o.raw);
    return [o.name, { shape: t.shape, data: Array.from(t.data as ArrayLike<unknown>) }];
  }));
  return { outputs: map, batch };
}

describe('batching property', () => {
  it('every batched answer equals the same request run alone, for random mixes of shapes, datatypes, rows and unbatched values', async () => {
    let shared = 0;
    await fc.assert(fc.asyncProperty(
      fc.array(fc.record({
        rows: fc.integer({ min: 1, max: 3 }),
        width: fc.integer({ min: 1, max: 3 }),
        k: fc.constantFrom(1.5, -2),
        seed: fc.nat(1000),
        wire: fc.constantFrom(0 as const, 1 as const, 2 as const),
      }), { minLength: 1, maxLength: 24 }),
      async (specs) => {
        const [got, want] = await Promise.all([Promise.all(specs.map(served)), Promise.all(specs.map((s) => alone(request(s))))]);
        got.forEach((g, i) => {
          if (g.batch > specs[i].rows) shared++;
          for (const [name, w] of want[i]) assert.deepEqual(g.outputs.get(name), w, `request ${i} (${JSON.stringify(specs[i])}) output ${name}`);
        });
      },
    ), { numRuns: 25, seed: 7 });
    assert.ok(shared > 0, 'some requests shared a batch');
  });
});
