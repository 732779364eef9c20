import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { paretoFrontier } from '../../src/profile/frontier.js';
import { measureVariant } from '../../src/profile/measure.js';
import { exportMlp, initMlp } from '../../src/zoo/mlp.js';
import { BUNDLED_MODELS, mnistTest } from '../helpers/server.js';

describe('profiler', () => {
  it('measures a slower variant as slower, from real runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pareto-profile-'));
    try {
      writeFileSync(join(dir, 'wide.onnx'), exportMlp(initMlp([784, 1024, 1024, 10], 1), 'wide'));
      writeFileSync(join(dir, 'narrow.onnx'), exportMlp(initMlp([784, 16, 10], 1), 'narrow'));
      const data = { ...mnistTest(), count: 500, pixels: mnistTest().pixels.subarray(0, 500 * 784) };
      const wide = await measureVariant(join(dir, 'wide.onnx'), data, { maxBatch: 32, runs: 30 });
      const narrow = await measureVariant(join(dir, 'narrow.onnx'), data, { maxBatch: 32, runs: 30 });
      const at32 = (p: typeof wide) => p.latency.find((l) => l.batch_size === 32)!.p50_ms;
      assert.deepEqual(wide.latency.map((l) => l.batch_size), [1, 2, 4, 8, 16, 32]);
      assert.ok(at32(wide) > 5 * at32(narrow), `wide ${at32(wide)} ms vs narrow ${at32(narrow)} ms at batch 32`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reproduces the committed accuracy of the bundled model on the test digits', async () => {
    const profile = JSON.parse(readFileSync(join(BUNDLED_MODELS, 'mnist-mlp/fp32/profile.json'), 'utf8'));
    const measured = await measureVariant(join(BUNDLED_MODELS, 'mnist-mlp/fp32/model.onnx'), mnistTest(), { maxBatch: 1, runs: 5 });
    assert.equal(measured.accuracy.value, profile.accuracy.value);
    assert.ok(measured.accuracy.value > 0.97);
  });

  it('finds the Pareto frontier', () => {
    const points = [
      { name: 'fp32', latency: 5, accuracy: 0.98 },
      { name: 'fp16', latency: 5.1, accuracy: 0.98 },
      { name: 'int8', latency: 2, accuracy: 0.979 },
      { name: 'pruned', latency: 2.5, accuracy: 0.975 },
      { name: 'tiny', latency: 1, accuracy: 0.95 },
    ];
    assert.deepEqual(paretoFrontier(points).map((p) => p.name), ['tiny', 'int8', 'fp32']);
  });
});
