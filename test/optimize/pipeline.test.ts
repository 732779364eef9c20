import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { optimizeModel } from '../../src/optimize/pipeline.js';
import { ModelRepository } from '../../src/repository/model-repository.js';
import { BUNDLED_MODELS } from '../helpers/server.js';

const scratch = mkdtempSync(join(tmpdir(), 'pareto-optimize-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;

describe('pareto optimize', () => {
  it('writes a model folder whose variants all load, and says why it skipped one', async () => {
    const results = await optimizeModel({ source: join(BUNDLED_MODELS, 'mnist-mlp/fp32/model.onnx'), out: join(scratch, 'digits'), name: 'digits' });
    assert.deepEqual(results.filter((r) => !r.skipped).map((r) => r.name), ['fp32', 'fp16', 'tta9', 'int8', 'int8-static', 'pruned50', 'pruned75']);
    assert.match(results.find((r) => r.name === 'distilled')!.skipped!, /no training data/);
    const { config, variants } = new ModelRepository(scratch).read('digits', { profiles: false });
    assert.deepEqual(config.inputs, [{ name: 'input', datatype: 'FP32', shape: [-1, 784] }]);
    assert.equal(variants.length, 7);
  });

  it('fails clearly on a file that is not an ONNX model', () => {
    const bad = join(scratch, 'bad.onnx');
    writeFileSync(bad, 'this is not a protobuf');
    const r = spawnSync(process.execPath, [CLI, 'optimize', bad, '--out', join(scratch, 'bad')], { encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /bad\.onnx is not a valid ONNX model/);
  });
});
