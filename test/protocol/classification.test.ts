// Triton's classification extension: an output requested with `classification: k` comes back as
// the k highest scores per row, "score:index", highest first — the same numbers as the raw output.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FASHION_CLASSES } from '../../src/datasets/fashion-mnist.js';
import { ModelConfigSchema, tensorSignatures } from '../../src/repository/model-config.js';
import { grpcClient } from '../helpers/grpc-client.js';
import { digits, startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let rpc: ReturnType<typeof grpcClient>;
before(async () => { server = await startTestServer(); rpc = grpcClient(server.grpcAddress); });
after(async () => { rpc.close(); await server.close(); });

const { pixels } = digits(20, 2);
const url = () => `${server.url}/v2/models/mnist-mlp/versions/fp32/infer`;
const post = async (outputs?: unknown) => {
  const res = await fetch(url(), { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'input', shape: [2, 784], datatype: 'FP32', data: Array.from(pixels) }], ...(outputs ? { outputs } : {}) }) });
  return { status: res.status, body: await res.json() };
};

describe('classification extension', () => {
  it('REST: the top k per row as "score:index", matching the raw logits', async () => {
    const raw = (await post()).body.outputs[0];
    const { status, body } = await post([{ name: 'logits', parameters: { classification: 3 } }]);
    assert.equal(status, 200);
    const out = body.outputs[0];
    assert.deepEqual([out.datatype, out.shape], ['BYTES', [2, 3]]);
    for (let r = 0; r < 2; r++) {
      const row: number[] = raw.data.slice(r * 10, r * 10 + 10);
      const expected = row.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, 3).map(([v, i]) => `${v.toFixed(6)}:${i}`);
      assert.deepEqual(out.data.slice(r * 3, r * 3 + 3), expected);
    }
  });

  it('gRPC: the same strings as BYTES in raw_output_contents', async () => {
    const res = await rpc.call('ModelInfer', {
      model_name: 'mnist-mlp', model_version: 'fp32',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 784] }],
      raw_input_contents: [Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength)],
      outputs: [{ name: 'logits', parameters: { classification: { int64_param: 2 } } }],
    });
    assert.deepEqual([res.outputs[0].datatype, res.outputs[0].shape], ['BYTES', [2, 2]]);
    const bytes: Buffer = res.raw_output_contents[0];
    const strings: string[] = [];
    for (let o = 0; o < bytes.length;) { const n = bytes.readUInt32LE(o); strings.push(bytes.subarray(o + 4, o + 4 + n).toString()); o += 4 + n; }
    const rest = (await post([{ name: 'logits', parameters: { classification: 2 } }])).body.outputs[0].data;
    assert.deepEqual(strings, rest);
  });

  it('a class count that is not a non-negative integer is a 400 that names it', async () => {
    for (const bad of [-1, 1.5, 'three']) {
      const { status, body } = await post([{ name: 'logits', parameters: { classification: bad } }]);
      assert.equal(status, 400);
      assert.match(body.error, /classification/);
    }
    assert.equal((await post([{ name: 'logits', parameters: { classification: 0 } }])).body.outputs[0].datatype, 'FP32', '0: the raw output');
  });

  it('labels from model.yaml: "score:index:label", and label_filename in the configuration', async () => {
    const res = await fetch(`${server.url}/v2/models/fashion-mlp/versions/fp32/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'input', shape: [2, 784], datatype: 'FP32', data: Array.from(pixels) }], outputs: [{ name: 'logits', parameters: { classification: 2 } }] }) });
    const out = (await res.json()).outputs[0];
    assert.equal(out.data.length, 4);
    for (const entry of out.data as string[]) {
      const [score, index, ...label] = entry.split(':');
      assert.ok(Number.isFinite(Number(score)));
      assert.equal(label.join(':'), FASHION_CLASSES[Number(index)]);
    }
    const config = await (await fetch(`${server.url}/v2/models/fashion-mlp/config`)).json();
    assert.equal(config.output[0].label_filename, 'labels.txt');
  });

  it('a labels file must be inside the model\'s folder, and only outputs have one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pareto-labels-'));
    try {
      writeFileSync(join(dir, 'labels.txt'), 'cat\r\ndog\n');
      const cfg = (labels: string) => ModelConfigSchema.parse({ name: 'm', inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }], outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2], labels }], variants: [{ name: 'v' }] });
      assert.deepEqual(tensorSignatures(cfg('labels.txt'), 'outputs', dir)[0].labels, ['cat', 'dog']);
      for (const escape of ['../labels.txt', '/etc/hostname', 'missing.txt']) {
        assert.throws(() => tensorSignatures(cfg(escape), 'outputs', dir), (e: Error & { code?: string }) => e.code === 'PARETO_ERR_MODEL_CONFIG', escape);
      }
      assert.throws(() => ModelConfigSchema.parse({ name: 'm', inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2], labels: 'labels.txt' }], outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }], variants: [{ name: 'v' }] }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
