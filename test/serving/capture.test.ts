import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readSampleFile } from '../../src/datasets/sample-file.js';
import { profileWithSamples } from '../../src/profile/profile-samples.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';
import { f32, jsonBody, realModelRepository } from '../helpers/real-models.js';

let server: TestServer;
let repo: ReturnType<typeof realModelRepository>;

before(async () => {
  repo = realModelRepository(['silero-vad']);
  const yaml = join(repo.dir, 'silero-vad', 'model.yaml');
  writeFileSync(yaml, `${readFileSync(yaml, 'utf8')}capture: { fraction: 1, max_samples: 5 }\n`);
  server = await startTestServer({ repository: repo.dir });
});
after(async () => { await server.close(); repo.remove(); });

const vad = (rows: number, seed: number, hz: number): Tensor[] => [
  f32('input', [rows, hz === 16000 ? 512 : 256], seed, -0.5, 0.5),
  f32('state', [2, rows, 128], seed + 1, -1, 1),
  { name: 'sr', datatype: 'INT64', shape: [], data: BigInt64Array.of(BigInt(hz)) },
];

describe('capture of live requests (opt-in per model)', () => {
  it('writes a sampled, bounded share of requests in the sample format, which profile then reads', async () => {
    const sent = Array.from({ length: 8 }, (_, i) => vad(1 + (i % 2), 60 + i, i % 3 === 0 ? 8000 : 16000));
    for (const inputs of sent) {
      const res = await fetch(`${server.url}/v2/models/silero-vad/infer`, { method: 'POST', body: jsonBody(inputs) });
      assert.equal(res.status, 200);
    }
    // Unloading closes the capture files.
    const res = await fetch(`${server.url}/v2/repository/models/silero-vad/unload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(res.status, 200);
    const file = join(repo.dir, 'silero-vad', 'captured.jsonl');
    assert.ok(existsSync(file));
    const captured = readSampleFile(file);
    assert.equal(captured.length, 5, 'max_samples bounds it');
    captured.forEach((s, i) => {
      for (const t of sent[i]) {
        const c = s.inputs.find((x) => x.name === t.name)!;
        assert.deepEqual(c.shape, t.shape);
        assert.deepEqual(Array.from(c.data as ArrayLike<unknown>), Array.from(t.data as ArrayLike<unknown>), `sample ${i} ${t.name}`);
      }
    });
    assert.ok(!readFileSync(file, 'utf8').includes('anonymous'), 'no tenant in the capture');
    const [{ profile }] = await profileWithSamples({ modelDir: join(repo.dir, 'silero-vad'), data: file, runs: 2 });
    assert.equal(profile.accuracy.samples, 5);
  });
});
