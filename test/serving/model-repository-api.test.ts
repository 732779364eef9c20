import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN_TOKEN, binaryInfer, digits, scratchRepository, startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let repo: ReturnType<typeof scratchRepository>;

before(async () => {
  repo = scratchRepository();
  // A second copy of the MLP whose config is broken in one field, and one that asks for CUDA.
  const base = readFileSync(join(repo.dir, 'mnist-mlp', 'model.yaml'), 'utf8');
  for (const name of ['broken', 'gpu-only']) cpSync(join(repo.dir, 'mnist-mlp'), join(repo.dir, name), { recursive: true });
  writeFileSync(join(repo.dir, 'broken', 'model.yaml'), base.replace('name: mnist-mlp', 'name: broken').replace('max_batch_size: 64', 'max_batch_size: lots'));
  writeFileSync(join(repo.dir, 'gpu-only', 'model.yaml'), base.replace('name: mnist-mlp', 'name: gpu-only').replace('  - name: fp32', '  - name: fp32\n    execution_provider: cuda'));
  server = await startTestServer({ repository: repo.dir });
});
after(async () => { await server.close(); repo.remove(); });

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const repoPost = (path: string, headers: Record<string, string> = admin, body?: string) =>
  fetch(`${server.url}/v2/repository${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

describe('model repository', () => {
  it('loads the good models and names the file, field and problem of a bad one', async () => {
    const index = await (await repoPost('/index')).json();
    const byName = Object.fromEntries(index.map((m: any) => [m.name, m]));
    assert.equal(byName['mnist-mlp'].state, 'READY');
    assert.equal(byName.broken.state, 'UNAVAILABLE');
    assert.match(byName.broken.reason, /broken\/model\.yaml/);
    assert.match(byName.broken.reason, /batching\.max_batch_size/);
    assert.equal(byName['gpu-only'].state, 'UNAVAILABLE');
    assert.match(byName['gpu-only'].reason, /execution provider 'cuda' is not available/);
    const res = await fetch(`${server.url}/v2/models/broken/ready`);
    assert.equal(res.status, 503);
  });

  it('load and unload need the admin token; the index, on a server without tenants, does not (as inference does not)', async () => {
    assert.equal((await repoPost('/index', {})).status, 200);
    assert.equal((await repoPost('/models/mnist-mlp/unload', {})).status, 401);
    assert.equal((await repoPost('/models/mnist-mlp/unload', { authorization: 'Bearer wrong-token' })).status, 401);
    assert.equal((await repoPost('/models/mnist-mlp/load', {})).status, 401);
    assert.equal((await fetch(`${server.url}/v2/models/mnist-mlp/ready`)).status, 200, 'nothing was unloaded');
  });

  it('filters the index to ready models', async () => {
    const index = await (await repoPost('/index', admin, '{"ready": true}')).json();
    const names = index.map((m: any) => m.name);
    assert.ok(names.includes('mnist-mlp'));
    assert.ok(!names.includes('broken') && !names.includes('gpu-only'));
  });

  it('unloads with requests in flight: each finishes or gets a clear 503, none hang', async () => {
    const { pixels } = digits(0, 1);
    const { body, headers } = binaryInfer(pixels, 1);
    const inflight = Array.from({ length: 200 }, () => fetch(`${server.url}/v2/models/mnist-mlp/infer`, { method: 'POST', body: new Uint8Array(body), headers }));
    const unload = await repoPost('/models/mnist-mlp/unload');
    assert.equal(unload.status, 200);
    const statuses = await Promise.all(inflight.map(async (p) => {
      const r = await p;
      const j = r.status === 200 ? undefined : await r.json();
      if (j) assert.match(j.code, /PARETO_ERR_MODEL_(UNLOADED|NOT_READY)/);
      return r.status;
    }));
    assert.ok(statuses.every((s) => s === 200 || s === 503), `statuses: ${[...new Set(statuses)]}`);
    assert.equal((await fetch(`${server.url}/v2/models/mnist-mlp/ready`)).status, 503);
    const after = await fetch(`${server.url}/v2/models/mnist-mlp/infer`, { method: 'POST', body: new Uint8Array(body), headers });
    assert.equal(after.status, 503);
  });

  it('loads it again, and reloads without interrupting service', async () => {
    assert.equal((await repoPost('/models/mnist-mlp/load')).status, 200);
    assert.equal((await fetch(`${server.url}/v2/models/mnist-mlp/ready`)).status, 200);
    const { pixels } = digits(0, 1);
    const { body, headers } = binaryInfer(pixels, 1);
    const during = Array.from({ length: 100 }, () => fetch(`${server.url}/v2/models/mnist-mlp/infer`, { method: 'POST', body: new Uint8Array(body), headers }));
    assert.equal((await repoPost('/models/mnist-mlp/load')).status, 200);
    const statuses = await Promise.all(during.map(async (p) => (await p).status));
    assert.deepEqual([...new Set(statuses)], [200]);
  });

  it('a failed reload keeps serving the previous version', async () => {
    const file = join(repo.dir, 'mnist-mlp', 'model.yaml');
    const good = readFileSync(file, 'utf8');
    writeFileSync(file, good.replace('datatype: FP32\n    shape: [-1, 784]', 'datatype: FP64\n    shape: [-1, 784]'));
    const res = await repoPost('/models/mnist-mlp/load');
    assert.equal(res.status, 400);
    assert.match((await res.json()).error, /input 'input' is FP32 in the ONNX model but FP64 in model.yaml/);
    assert.equal((await fetch(`${server.url}/v2/models/mnist-mlp/ready`)).status, 200);
    writeFileSync(file, good);
  });

  it('unknown models: 404 for load and unload', async () => {
    assert.equal((await repoPost('/models/nope/load')).status, 404);
    assert.equal((await repoPost('/models/nope/unload')).status, 404);
  });
});
