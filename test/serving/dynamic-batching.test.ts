import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { binaryInfer, digits, jsonInfer, scratchRepository, startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let repo: ReturnType<typeof scratchRepository>;

before(async () => {
  // A queue delay makes batching deterministic here: concurrent requests that arrive within it share a batch.
  repo = scratchRepository();
  const file = join(repo.dir, 'mnist-mlp', 'model.yaml');
  writeFileSync(file, readFileSync(file, 'utf8').replace('max_queue_delay_ms: 0', 'max_queue_delay_ms: 200'));
  server = await startTestServer({ repository: repo.dir });
});
after(async () => { await server.close(); repo.remove(); });

const url = () => `${server.url}/v2/models/mnist-mlp/versions/fp32/infer`;

describe('dynamic batching', () => {
  it('batches concurrent requests, and batched results equal unbatched ones', async () => {
    const n = 48;
    const { pixels } = digits(100, n);
    // Unbatched reference: ONNX Runtime itself, one digit per run.
    const session = await ort.InferenceSession.create(join(repo.dir, 'mnist-mlp/fp32/model.onnx'));
    const single: number[][] = [];
    for (let i = 0; i < n; i++) {
      const out = await session.run({ input: new ort.Tensor('float32', pixels.slice(i * 784, (i + 1) * 784), [1, 784]) });
      single.push(Array.from(out.logits.data as Float32Array));
    }
    await session.release();
    const concurrent = await Promise.all(Array.from({ length: n }, async (_, i) => {
      const { body, headers } = binaryInfer(pixels.subarray(i * 784, (i + 1) * 784), 1, false);
      return (await fetch(url(), { method: 'POST', body: new Uint8Array(body), headers })).json();
    }));
    const batchSizes = concurrent.map((b) => b.parameters.batch_size as number);
    assert.ok(Math.max(...batchSizes) > 1, `some requests shared a batch (sizes ${[...new Set(batchSizes)]})`);
    concurrent.forEach((b, i) => {
      b.outputs[0].data.forEach((v: number, j: number) => assert.ok(Math.abs(v - single[i][j]) < 1e-4, `request ${i} logit ${j}: ${v} vs ${single[i][j]}`));
    });
  });

  it('a request carrying several rows counts as that many samples', async () => {
    const { pixels } = digits(0, 5);
    const body = await (await fetch(url(), { method: 'POST', body: jsonInfer(pixels, 5) })).json();
    assert.equal(body.parameters.batch_size, 5);
    assert.deepEqual(body.outputs[0].shape, [5, 10]);
  });
});
