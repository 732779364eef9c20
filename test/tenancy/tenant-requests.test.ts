import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { hashKey } from '../../src/tenancy/tenants.js';
import { grpcClient } from '../helpers/grpc-client.js';
import { binaryInfer, digits, startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;

const yaml = (keyB: string) => `tenants:
  - id: alpha
    keys: ["${hashKey('alpha-key')}"]
    models: ["*"]
  - id: beta
    keys: ["${hashKey(keyB)}"]
    models: [mnist-mlp]
    rate_limit: { samples_per_second: 1, burst: 3 }
  - id: gamma
    keys: ["${hashKey('gamma-key')}"]
    models: [mnist-mlp]
    rate_limit: { samples_per_second: 0.1, burst: 2 }
`;

before(async () => {
  server = await startTestServer({ tenantsYaml: yaml('beta-key') });
});
after(async () => { await server.close(); });

const infer = (model: string, key?: string) => {
  const { body, headers } = binaryInfer(digits(0, 1).pixels, 1);
  return fetch(`${server.url}/v2/models/${model}/infer`, { method: 'POST', body: new Uint8Array(body), headers: key ? { ...headers, authorization: `Bearer ${key}` } : headers });
};

describe('tenant requests', () => {
  it('401 without a key or with an unknown one, 200 with a good one', async () => {
    assert.equal((await infer('mnist-mlp')).status, 401);
    assert.equal((await infer('mnist-mlp', 'nope')).status, 401);
    assert.equal((await infer('mnist-mlp', 'alpha-key')).status, 200);
  });

  it('403 for a model the tenant may not use, whether or not it exists', async () => {
    const other = server.models.find((m) => m.name !== 'mnist-mlp')?.name ?? 'fashion-mlp';
    const a = await infer(other, 'beta-key');
    const b = await infer('no-such-model', 'beta-key');
    assert.equal(a.status, 403);
    assert.equal(b.status, 403);
    assert.equal((await b.json()).code, 'PARETO_ERR_FORBIDDEN');
    assert.equal((await fetch(`${server.url}/v2/models/no-such-model`, { headers: { authorization: 'Bearer beta-key' } })).status, 403);
    assert.equal((await infer('no-such-model', 'alpha-key')).status, 404, 'a tenant allowed everything learns it does not exist');
  });

  it('429 with Retry-After over the rate limit, and other tenants are unaffected', async () => {
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 6; i++) {
      const r = await infer('mnist-mlp', 'beta-key');
      statuses.push(r.status);
      if (r.status === 429) retryAfter = r.headers.get('retry-after');
    }
    assert.ok(statuses.includes(429), `statuses ${statuses}`);
    assert.ok(Number(retryAfter) >= 1);
    // Refused before the body is read: even a malformed body gets the 429, not a 400.
    const junk = await fetch(`${server.url}/v2/models/mnist-mlp/infer`, { method: 'POST', body: '{not json', headers: { authorization: 'Bearer beta-key' } });
    assert.equal(junk.status, 429);
    assert.equal((await infer('mnist-mlp', 'alpha-key')).status, 200);
  });

  it('malformed requests count against the rate: a flood of them meets 429 before its bodies are read', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await fetch(`${server.url}/v2/models/mnist-mlp/infer`, { method: 'POST', body: '{"inputs": "not a list"}', headers: { authorization: 'Bearer gamma-key', 'content-type': 'application/json' } });
      statuses.push(r.status);
    }
    assert.deepEqual(statuses, [400, 400, 429, 429]);
  });

  it('gRPC takes the key from authorization metadata', async () => {
    const { call, close } = grpcClient(server.grpcAddress);
    try {
      const px = digits(0, 1).pixels;
      const req = { model_name: 'mnist-mlp', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 784] }], raw_input_contents: [Buffer.from(px.buffer)] };
      await assert.rejects(call('ModelInfer', req), (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED);
      const md = new grpc.Metadata();
      md.set('authorization', 'Bearer alpha-key');
      assert.equal((await call('ModelInfer', req, md)).model_name, 'mnist-mlp');
    } finally {
      close();
    }
  });

  it('reloads the tenants file when it changes', async () => {
    writeFileSync(server.tenantsPath!, yaml('beta-key-2'));
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && (await infer('mnist-mlp', 'beta-key-2')).status === 401) await new Promise((r) => setTimeout(r, 100));
    assert.equal((await infer('mnist-mlp', 'beta-key')).status, 401);
    assert.notEqual((await infer('mnist-mlp', 'beta-key-2')).status, 401);
  });
});
