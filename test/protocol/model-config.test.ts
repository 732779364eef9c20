// Triton's model configuration, statistics and repository extensions on REST and gRPC, from a client written
// from the published protocols (fetch, and grpc-js on the proto): what a key may see, and the
// configuration's shape as Triton's clients read it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { hashKey } from '../../src/tenancy/tenants.js';
import { grpcClient } from '../helpers/grpc-client.js';
import { ADMIN_TOKEN, binaryInfer, digits, startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let rpc: ReturnType<typeof grpcClient>;

before(async () => {
  server = await startTestServer({ tenantsYaml: `tenants:\n  - id: limited\n    keys: ["${hashKey('limited-key')}"]\n    models: [mnist-mlp, fashion-mlp]\n`, executors: 2 });
  rpc = grpcClient(server.grpcAddress);
});
after(async () => { rpc.close(); await server.close(); });

const get = (path: string, key?: string) => fetch(`${server.url}${path}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });
const bearer = (key: string) => { const md = new grpc.Metadata(); md.set('authorization', `Bearer ${key}`); return md; };

describe('model configuration extension', () => {
  it("REST: Triton's shape, batch axis left out of dims, Pareto's variants and profiles in parameters", async () => {
    const res = await get('/v2/models/mnist-mlp/config', 'limited-key');
    assert.equal(res.status, 200);
    const c = await res.json();
    assert.equal(c.name, 'mnist-mlp');
    assert.equal(c.platform, 'onnxruntime_onnx');
    assert.equal(c.max_batch_size, 64);
    assert.deepEqual(c.input, [{ name: 'input', data_type: 'TYPE_FP32', dims: [784] }]);
    assert.deepEqual(c.output, [{ name: 'logits', data_type: 'TYPE_FP32', dims: [10] }]);
    assert.equal(c.dynamic_batching.max_queue_delay_microseconds, 0);
    assert.deepEqual(c.instance_group, [{ name: 'mnist-mlp_0', kind: 'KIND_CPU', count: 2 }]);
    assert.deepEqual(c.version_policy, { all: {} });
    const variants = JSON.parse(c.parameters['pareto.variants'].string_value);
    const fp32 = variants.find((v: { name: string }) => v.name === 'fp32');
    assert.ok(fp32.accuracy > 0.9 && fp32.latency_ms.length > 0 && fp32.latency_ms[0].p50 > 0, JSON.stringify(fp32));
    assert.equal(c.parameters['pareto.policy'].string_value, 'adaptive');
    assert.equal((await get('/v2/models/mnist-mlp/versions/int8/config', 'limited-key')).status, 200);
    assert.equal((await get('/v2/models/mnist-mlp/versions/nope/config', 'limited-key')).status, 404);
  });

  it('a tenant learns nothing of a model it may not use: the same answer as for one that does not exist', async () => {
    const answer = async (model: string) => {
      const res = await get(`/v2/models/${model}/config`, 'limited-key');
      const body = await res.json();
      return { status: res.status, code: body.code, error: body.error.replaceAll(model, '<model>') };
    };
    const hidden = await answer('mnist-mlp-wide');
    assert.equal(hidden.status, 403);
    assert.deepEqual(hidden, await answer('no-such-model'));
    assert.equal((await get('/v2/models/mnist-mlp/config')).status, 401, 'no key');
  });

  it('gRPC ModelConfig: the same configuration, enums on the wire as Triton encodes them', async () => {
    const { config } = await rpc.call('ModelConfig', { name: 'mnist-mlp' }, bearer('limited-key'));
    assert.equal(config.max_batch_size, 64);
    assert.deepEqual(config.input.map((i: { name: string; data_type: string; dims: number[] }) => [i.name, i.data_type, i.dims]), [['input', 'TYPE_FP32', [784]]]);
    assert.equal(config.instance_group[0].kind, 'KIND_CPU');
    assert.equal(config.version_policy.policy_choice, 'all');
    assert.ok(JSON.parse(config.parameters['pareto.variants'].string_value).length >= 2);
    await assert.rejects(rpc.call('ModelConfig', { name: 'mnist-mlp-wide' }, bearer('limited-key')), (e: grpc.ServiceError) => e.code === grpc.status.PERMISSION_DENIED);
    // Without a key the call ends at its metadata, whatever its message carries.
    await assert.rejects(rpc.call('ModelConfig', { name: 'x'.repeat(4 << 20) }), (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED);
  });
});

describe('repository extension', () => {
  it('the index is readable with any key and lists only the models that key may use (REST and gRPC)', async () => {
    const tenant = await (await fetch(`${server.url}/v2/repository/index`, { method: 'POST', headers: { authorization: 'Bearer limited-key' } })).json();
    assert.deepEqual(tenant.map((m: { name: string }) => m.name), ['fashion-mlp', 'mnist-mlp']);
    const all = await (await fetch(`${server.url}/v2/repository/index`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json();
    assert.ok(all.length > 2 && all.some((m: { name: string }) => m.name === 'mnist-mlp-wide'));
    assert.equal((await fetch(`${server.url}/v2/repository/index`, { method: 'POST' })).status, 401);
    const { models } = await rpc.call('RepositoryIndex', {}, bearer('limited-key'));
    assert.deepEqual([...new Set(models.map((m: { name: string }) => m.name))], ['fashion-mlp', 'mnist-mlp']);
    assert.ok(models.some((m: { name: string; version: string; state: string }) => m.name === 'mnist-mlp' && m.version === 'fp32' && m.state === 'READY'), 'one entry per version');
  });

  it('gRPC load and unload are the admin\'s, and work', async () => {
    await assert.rejects(rpc.call('RepositoryModelUnload', { model_name: 'fashion-mlp' }, bearer('limited-key')), (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED);
    await rpc.call('RepositoryModelUnload', { model_name: 'fashion-mlp' }, bearer(ADMIN_TOKEN));
    let { models } = await rpc.call('RepositoryIndex', { ready: true }, bearer(ADMIN_TOKEN));
    assert.ok(!models.some((m: { name: string }) => m.name === 'fashion-mlp'), 'unloaded: not in the ready index');
    await rpc.call('RepositoryModelLoad', { model_name: 'fashion-mlp' }, bearer(ADMIN_TOKEN));
    ({ models } = await rpc.call('RepositoryIndex', { ready: true }, bearer(ADMIN_TOKEN)));
    assert.ok(models.some((m: { name: string }) => m.name === 'fashion-mlp'));
    await assert.rejects(rpc.call('RepositoryModelLoad', { model_name: 'no-such-model' }, bearer(ADMIN_TOKEN)), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND);
  });
});

describe('statistics extension', () => {
  it("counts a tenant's requests per model and version, executions per batch size, failures apart (REST and gRPC)", async () => {
    const { body, headers } = binaryInfer(digits(0, 1).pixels, 1);
    const send = (version: string) => fetch(`${server.url}/v2/models/mnist-mlp/versions/${version}/infer`, { method: 'POST', body: new Uint8Array(body), headers: { ...headers, authorization: 'Bearer limited-key' } });
    for (let i = 0; i < 3; i++) assert.equal((await send('int8')).status, 200);
    const bad = await fetch(`${server.url}/v2/models/mnist-mlp/infer`, { method: 'POST', body: '{"inputs": []}', headers: { authorization: 'Bearer limited-key' } });
    assert.equal(bad.status, 400);

    const one = await (await get('/v2/models/mnist-mlp/versions/int8/stats', 'limited-key')).json();
    assert.equal(one.model_stats.length, 1);
    const s = one.model_stats[0];
    assert.deepEqual([s.name, s.version], ['mnist-mlp', 'int8']);
    assert.equal(s.inference_stats.success.count, 3);
    assert.ok(s.inference_stats.success.ns > 0 && s.inference_stats.compute_infer.ns > 0 && s.inference_stats.queue.count === 3);
    assert.ok(s.execution_count >= 1 && s.execution_count <= 3 && s.inference_count === 3, JSON.stringify(s));
    assert.equal(s.batch_stats.reduce((a: number, b: { compute_infer: { count: number } }) => a + b.compute_infer.count, 0), s.execution_count);
    assert.ok(s.last_inference > Date.now() - 60_000);

    const whole = await (await get('/v2/models/mnist-mlp/stats', 'limited-key')).json();
    const failed = whole.model_stats.find((m: { version: string }) => m.version === '');
    assert.ok(failed && failed.inference_stats.fail.count >= 1, 'the 400 counts as a failure of the model, under no version');
    assert.ok(whole.model_stats.some((m: { version: string }) => m.version === 'fp32'), 'versions that ran nothing are listed with zeros');

    const all = await (await get('/v2/models/stats', 'limited-key')).json();
    assert.deepEqual([...new Set(all.model_stats.map((m: { name: string }) => m.name))].sort(), ['fashion-mlp', 'mnist-mlp'], "only the tenant's models");
    assert.equal((await get('/v2/models/mnist-mlp-wide/stats', 'limited-key')).status, 403);

    const rpcStats = await rpc.call('ModelStatistics', { name: 'mnist-mlp', version: 'int8' }, bearer('limited-key'));
    assert.equal(rpcStats.model_stats[0].inference_stats.success.count, 3);
    assert.equal(rpcStats.model_stats[0].execution_count, s.execution_count);
  });
});
