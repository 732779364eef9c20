import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { parse } from 'yaml';
import { importModel } from '../../src/repository/import-model.js';
import { toJsonData } from '../../src/tensor/tensor.js';
import { difference, directRun, f32, jsonBody, REAL_MODEL_FILES, restOutputs } from '../helpers/real-models.js';
import { startTestServer } from '../helpers/server.js';

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;
let dir: string;

before(() => { dir = mkdtempSync(join(tmpdir(), 'pareto-import-')); });
after(() => rmSync(dir, { recursive: true, force: true }));

const vadInputs = () => [
  f32('input', [1, 512], 11, -0.5, 0.5),
  f32('state', [2, 1, 128], 12, -1, 1),
  { name: 'sr', datatype: 'INT64' as const, shape: [], data: BigInt64Array.from([16000n]) },
];

describe('pareto import', () => {
  it('declares Silero VAD v5 from its graph, probing the state output with a sample, and the result serves what ONNX Runtime answers', async () => {
    const sample = join(dir, 'vad.jsonl');
    writeFileSync(sample, `# one request\n${JSON.stringify({ inputs: vadInputs().map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape, data: toJsonData(t) })) })}\n`);
    const repo = join(dir, 'repo');
    const { config, notes } = await importModel({ source: REAL_MODEL_FILES['silero-vad'], repository: repo, name: 'vad', sample });
    const byName = (list: unknown): Record<string, any> => Object.fromEntries((list as Array<{ name: string }>).map((t) => [t.name, t]));
    assert.deepEqual(byName(config.inputs), {
      input: { name: 'input', datatype: 'FP32', shape: [-1, -1] },
      state: { name: 'state', datatype: 'FP32', shape: [2, -1, 128], batch_axis: 1 },
      sr: { name: 'sr', datatype: 'INT64', shape: [], batched: false },
    });
    assert.equal(byName(config.outputs).stateN.batch_axis, 1);
    assert.ok(notes.some((n) => n.startsWith('check:') && n.includes("'state'")), notes.join('\n'));
    assert.deepEqual(parse(readFileSync(join(repo, 'vad', 'model.yaml'), 'utf8')), config);

    const server = await startTestServer({ repository: repo });
    const session = await ort.InferenceSession.create(REAL_MODEL_FILES['silero-vad']);
    try {
      const inputs = [f32('input', [2, 512], 21, -0.5, 0.5), f32('state', [2, 2, 128], 22, -1, 1), vadInputs()[2]];
      const { outputs } = await restOutputs(await fetch(`${server.url}/v2/models/vad/infer`, { method: 'POST', body: jsonBody(inputs) }));
      assert.equal(difference(outputs, await directRun(session, inputs)), undefined);
    } finally {
      await server.close();
      await session.release();
    }
  });

  it('gives a fixed-batch head max_batch_size 1, from the command line', () => {
    const out = spawnSync(process.execPath, [CLI, 'import', REAL_MODEL_FILES.wakeword, '-r', join(dir, 'cli'), '--name', 'hey'], { encoding: 'utf8' });
    assert.equal(out.status, 0, out.stderr);
    assert.match(out.stdout, /fixes the batch at 1: max_batch_size: 1/);
    const config = parse(readFileSync(join(dir, 'cli', 'hey', 'model.yaml'), 'utf8'));
    assert.equal(config.batching.max_batch_size, 1);
    assert.deepEqual(config.inputs[0].shape, [-1, 25, 96]);
  });

  it('refuses to overwrite a model, and leaves nothing behind for a file that is not ONNX', async () => {
    await assert.rejects(importModel({ source: REAL_MODEL_FILES.wakeword, repository: join(dir, 'cli'), name: 'hey' }), /exists; .*--force/);
    const bogus = join(dir, 'bogus.onnx');
    writeFileSync(bogus, 'not a model');
    await assert.rejects(importModel({ source: bogus, repository: join(dir, 'bad'), name: 'bogus' }));
    assert.ok(!existsSync(join(dir, 'bad')) || readdirSync(join(dir, 'bad')).length === 0);
  });
});
