import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { digitPage } from '../../src/datasets/digit-pages.js';
import { GraphBuilder } from '../../src/onnx/graph.js';
import { optimizeGraph } from '../../src/optimize/optimize-graph.js';
import { toJsonData, type Tensor } from '../../src/tensor/tensor.js';
import { difference, f32, jsonBody, REAL_MODEL_FILES, restOutputs } from '../helpers/real-models.js';
import { startTestServer } from '../helpers/server.js';

let dir: string;
before(() => { dir = mkdtempSync(join(tmpdir(), 'pareto-optimize-')); });
after(() => rmSync(dir, { recursive: true, force: true }));

function sampleFile(name: string, samples: Tensor[][]): string {
  const file = join(dir, name);
  writeFileSync(file, samples.map((inputs) => JSON.stringify({ inputs: inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape, data: toJsonData(t) })) })).join('\n') + '\n');
  return file;
}

describe('pareto optimize --samples on real graphs', () => {
  // The detector on pages of handwritten digits (it finds text there, so agreement means something);
  // the recogniser on noise (top-1 per position of 6,625 classes agrees or not either way).
  const cases = [
    { model: 'ocr-det' as const, samples: () => Array.from({ length: 4 }, (_, i) => [digitPage(64, 128, 40 + i)]), variants: ['fp32', 'fp16', 'int8', 'int8-static', 'half-res'], floors: { fp16: 0.99, int8: 0.9 } as Record<string, number> },
    { model: 'ocr-rec' as const, samples: () => Array.from({ length: 4 }, (_, i) => [f32('x', [1, 3, 48, 96], 40 + i, -1, 1)]), variants: ['fp32', 'fp16', 'int8', 'int8-static'], floors: { fp16: 0.99, int8: 0.75, 'int8-static': 0.75 } as Record<string, number> },
  ];
  for (const { model, samples: make, variants, floors } of cases) {
    it(`${model}: ${variants.slice(1).join(', ')} pass verification against fp32 on the samples, dynamic dims stay dynamic, and they serve`, async () => {
      const samples = sampleFile(`${model}.jsonl`, make());
      const out = join(dir, 'repo', model);
      const results = await optimizeGraph({ source: REAL_MODEL_FILES[model], out, samples });
      const made = results.filter((r) => !r.skipped);
      assert.deepEqual(made.map((r) => r.name), variants, JSON.stringify(results.filter((r) => r.skipped)));
      for (const r of made.slice(1)) assert.ok(r.agreement! >= (floors[r.name] ?? 0.5), `${r.name}: ${r.metric} agreement ${r.agreement}`);
      if (model === 'ocr-rec') assert.match(results.find((r) => r.name === 'half-res')!.skipped!, /not maps of the input's height and width/);
      const config = parse(readFileSync(join(out, 'model.yaml'), 'utf8'));
      assert.deepEqual(config.variants.map((v: { name: string }) => v.name), variants);
      assert.equal(config.inputs[0].shape.filter((d: number) => d === -1).length, model === 'ocr-det' ? 3 : 2);
      assert.deepEqual(readdirSync(out).filter((f) => f.startsWith('.')), [], 'no staging folder left');

      // A size the samples never had: every variant answers it (dims stayed dynamic), shaped as fp32 does.
      const server = await startTestServer({ repository: join(dir, 'repo') });
      try {
        const x = [model === 'ocr-det' ? digitPage(96, 64, 99) : f32('x', [1, 3, 48, 160], 99, -1, 1)];
        const answer = async (v: string) => (await restOutputs(await fetch(`${server.url}/v2/models/${model}/versions/${v}/infer`, { method: 'POST', body: jsonBody(x) }))).outputs;
        const want = await answer('fp32');
        for (const v of variants.slice(1)) assert.equal(difference(await answer(v), want, 1), undefined, v);
      } finally {
        await server.close();
      }
    });
  }

  it('refuses with the reason what it cannot transform (Silero keeps its weights in If subgraphs), leaving only fp32', async () => {
    const samples = sampleFile('vad.jsonl', [[f32('input', [1, 512], 1, -0.5, 0.5), f32('state', [2, 1, 128], 2), { name: 'sr', datatype: 'INT64', shape: [], data: BigInt64Array.of(16000n) }]]);
    const out = join(dir, 'repo2', 'vad');
    const results = await optimizeGraph({ source: REAL_MODEL_FILES['silero-vad'], out, samples });
    for (const r of results.slice(1)) assert.match(r.skipped ?? '', /If nodes, whose subgraphs these transforms do not enter/);
    assert.deepEqual(readdirSync(out).sort(), ['fp32', 'model.yaml', 'variants.json', 'warmup.jsonl']);
  });

  it('never leaves a variant ONNX Runtime cannot run: it is refused and its staging folder removed', async () => {
    // Range has no float16 kernel on the CPU: the fp16 variant of this graph loads nowhere.
    const g = new GraphBuilder('ranged');
    const r = g.op('Range', [g.initializer('start', [], Float32Array.of(0)), g.initializer('limit', [], Float32Array.of(4)), g.initializer('delta', [], Float32Array.of(1))]);
    g.node('Add', ['x', r], ['y']);
    const source = join(dir, 'ranged.onnx');
    writeFileSync(source, g.build([{ name: 'x', type: 'float32', shape: ['n', 4] }], [{ name: 'y', type: 'float32', shape: ['n', 4] }]));
    const out = join(dir, 'repo3', 'ranged');
    const results = await optimizeGraph({ source, out, samples: sampleFile('ranged.jsonl', [[f32('x', [2, 4], 3)]]) });
    const fp16 = results.find((x) => x.name === 'fp16')!;
    assert.match(fp16.skipped ?? '', /ONNX Runtime cannot run it/);
    assert.ok(!readdirSync(out).includes('fp16') && !readdirSync(out).some((f) => f.startsWith('.')));
  });
});
