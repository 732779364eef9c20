import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { profileWithSamples } from '../../src/profile/profile-samples.js';
import { toJsonData, type Tensor } from '../../src/tensor/tensor.js';
import { f32, jsonBody, realModelRepository } from '../helpers/real-models.js';
import { startTestServer } from '../helpers/server.js';

let repo: ReturnType<typeof realModelRepository>;
const line = (inputs: Tensor[], extra: Record<string, unknown> = {}) => JSON.stringify({ inputs: inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape, data: toJsonData(t) })), ...extra });

before(() => {
  repo = realModelRepository(['ocr-det', 'ocr-cls']);
  // A second variant of the detector (here the same graph): agreement with fp32 must come out at 100%.
  mkdirSync(join(repo.dir, 'ocr-det', 'copy'));
  symlinkSync(join(repo.dir, 'ocr-det', 'fp32', 'model.onnx'), join(repo.dir, 'ocr-det', 'copy', 'model.onnx'));
  const yaml = join(repo.dir, 'ocr-det', 'model.yaml');
  writeFileSync(yaml, readFileSync(yaml, 'utf8').replace('variants: [{ name: fp32 }]', 'variants: [{ name: fp32 }, { name: copy }]'));
  const det = Array.from({ length: 6 }, (_, i) => line([f32('x', [1, 3, i < 4 ? 32 : 64, 64], 900 + i, -1, 1)]));
  writeFileSync(join(repo.dir, 'det.jsonl'), `${det.join('\n')}\n`);
  const cls = Array.from({ length: 4 }, (_, i) => line([f32('x', [1, 3, 48, 96], 950 + i, -1, 1)], { label: i % 2 }));
  writeFileSync(join(repo.dir, 'cls.jsonl'), `${cls.join('\n')}\n`);
});
after(() => repo.remove());

describe('pareto profile on your own samples', () => {
  it('measures a detector per batch size on its most common shape, and agreement with the reference as IoU; the server then serves the measured accuracy', async () => {
    const results = await profileWithSamples({ modelDir: join(repo.dir, 'ocr-det'), data: join(repo.dir, 'det.jsonl'), runs: 3 });
    assert.deepEqual(results.map((r) => r.name), ['fp32', 'copy']);
    for (const { profile } of results) {
      assert.equal(profile.accuracy.metric, 'iou-agreement');
      assert.equal(profile.accuracy.value, 1);
      assert.deepEqual(profile.latency.map((l) => l.batch_size), [1, 2, 4, 8]);
      assert.equal(profile.measured.shape_class, 'Nx3x32x64');
      assert.equal(profile.measured.row_elements, 3 * 32 * 64);
    }
    const server = await startTestServer({ repository: repo.dir });
    try {
      const res = await fetch(`${server.url}/v2/models/ocr-det/infer`, { method: 'POST', body: jsonBody([f32('x', [1, 3, 32, 64], 1, -1, 1)]) });
      const body = await res.json();
      assert.equal(res.status, 200, JSON.stringify(body));
      assert.equal(body.parameters.accuracy, 1);
    } finally {
      await server.close();
    }
  });

  it('scores top-1 against labels where the samples carry them', async () => {
    const [{ profile }] = await profileWithSamples({ modelDir: join(repo.dir, 'ocr-cls'), data: join(repo.dir, 'cls.jsonl'), runs: 2 });
    assert.equal(profile.accuracy.metric, 'top1');
    assert.equal(profile.accuracy.reference, 'labels');
    assert.ok(profile.accuracy.value >= 0 && profile.accuracy.value <= 1);
  });

  it('scores with the user\'s own metric module, and refuses one that returns no score in [0, 1]', async () => {
    // Share of the map's pixels within 0.05 of the reference: a metric written by a user.
    const metric = join(repo.dir, 'close-pixels.mjs');
    writeFileSync(metric, `export default (out, ref) => {
  const a = out['sigmoid_0.tmp_0'].data, b = ref['sigmoid_0.tmp_0'].data;
  let close = 0; for (let i = 0; i < b.length; i++) if (Math.abs(a[i] - b[i]) <= 0.05) close++;
  return close / b.length;
};\n`);
    const results = await profileWithSamples({ modelDir: join(repo.dir, 'ocr-det'), data: join(repo.dir, 'det.jsonl'), runs: 1, metricModule: metric });
    for (const { profile } of results) {
      assert.equal(profile.accuracy.metric, 'close-pixels');
      assert.equal(profile.accuracy.value, 1); // both variants are the same graph
    }
    const broken = join(repo.dir, 'broken.mjs');
    writeFileSync(broken, 'export default () => 2;\n');
    await assert.rejects(profileWithSamples({ modelDir: join(repo.dir, 'ocr-det'), data: join(repo.dir, 'det.jsonl'), runs: 1, metricModule: broken }), /broken\.mjs: the metric returned 2; it must return a number in \[0, 1\]/);
  });

  it('names the file and sample of an input the model does not take', async () => {
    writeFileSync(join(repo.dir, 'bad.jsonl'), `${line([f32('x', [1, 3, 32], 1)])}\n`);
    await assert.rejects(profileWithSamples({ modelDir: join(repo.dir, 'ocr-det'), data: join(repo.dir, 'bad.jsonl') }), /bad\.jsonl: sample 1: input 'x': shape \[1,3,32\] does not match/);
  });
});
