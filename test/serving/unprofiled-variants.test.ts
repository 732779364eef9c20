import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { digits, jsonInfer, scratchRepository, startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let repo: ReturnType<typeof scratchRepository>;

before(async () => {
  // Only fp32 keeps its profile: every faster variant is unprofiled.
  repo = scratchRepository();
  for (const v of ['fp16', 'tta9', 'int8', 'int8-static', 'pruned50', 'pruned75', 'distilled']) rmSync(join(repo.dir, 'mnist-mlp', v, 'profile.json'), { force: true });
  server = await startTestServer({ repository: repo.dir });
});
after(async () => { await server.close(); repo.remove(); });

const infer = async (path: string) => {
  const { pixels } = digits(0, 1);
  const res = await fetch(`${server.url}/v2/models/mnist-mlp${path}/infer`, { method: 'POST', body: jsonInfer(pixels, 1, { parameters: { latency_ms: 1 } }) });
  return { status: res.status, header: res.headers.get('pareto-accuracy'), body: await res.json() };
};

describe('unprofiled variants', () => {
  it('are never chosen by the planner, even under a tight SLO: they are not free or exact', async () => {
    const answers = await Promise.all(Array.from({ length: 40 }, () => infer('')));
    assert.ok(answers.some((a) => a.status === 200), 'some were answered');
    for (const a of answers) {
      if (a.status !== 200) continue; // a 504 is an honest answer to a 1 ms SLO
      assert.equal(a.body.model_version, 'fp32');
      assert.equal(typeof a.body.parameters.accuracy, 'number');
    }
  });

  it('serve when pinned, and the answer says its accuracy is unmeasured', async () => {
    const a = await infer('/versions/int8');
    assert.equal(a.status, 200);
    assert.equal(a.body.model_version, 'int8');
    assert.equal(a.body.parameters.accuracy, undefined);
    assert.equal(a.body.parameters.accuracy_measured, false);
    assert.equal(a.header, 'unmeasured');
  });

  it('cannot meet an accuracy floor: 422 saying no variant has a measured accuracy', async () => {
    const { pixels } = digits(0, 1);
    const res = await fetch(`${server.url}/v2/models/mnist-mlp/versions/int8/infer`, { method: 'POST', body: jsonInfer(pixels, 1, { parameters: { min_accuracy: 0.9 } }) });
    assert.equal(res.status, 422);
    assert.match((await res.json()).error, /no variant that serves this request has a measured accuracy/);
  });
});
