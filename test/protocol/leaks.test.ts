// What a client must not learn: whether a model it may not use exists, where the repository lives,
// and its own huge strings echoed back.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { inferenceService, loadReporterService } from '../../src/protocol/grpc/proto.js';
import { hashKey } from '../../src/tenancy/tenants.js';
import { ADMIN_TOKEN, binaryInfer, digits, scratchRepository, startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let repo: ReturnType<typeof scratchRepository>;

before(async () => {
  repo = scratchRepository();
  writeFileSync(join(repo.dir, 'tenants.yaml'), `tenants:\n  - id: limited\n    keys: ["${hashKey('limited-key')}"]\n    models: [mnist-mlp, fashion-mlp]\n`);
  // A model whose config is broken: its reason is client-visible.
  writeFileSync(join(repo.dir, 'fashion-mlp', 'model.yaml'), 'name: fashion-mlp\ninputs: 3\n');
  server = await startTestServer({ repository: repo.dir, tenants: join(repo.dir, 'tenants.yaml') });
});
after(async () => { await server.close(); repo.remove(); });

const infer = (model: string, body: BodyInit, headers: Record<string, string>) => fetch(`${server.url}/v2/models/${model}/infer`, { method: 'POST', body, headers: { ...headers, authorization: 'Bearer limited-key' } });

describe('what does not leak', () => {
  it('a forbidden probe of a real model is recorded exactly like one of a model that does not exist', async () => {
    const { body, headers } = binaryInfer(digits(0, 1).pixels, 1);
    for (const model of ['mnist-mlp-wide', 'no-such-model']) assert.equal((await infer(model, new Uint8Array(body), headers)).status, 403);
    const metrics = await (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
    const forbidden = metrics.split('\n').filter((l) => l.startsWith('pareto_inference_request_total') && l.includes('outcome="403"'));
    assert.ok(forbidden.length > 0, 'the probes are counted');
    assert.ok(forbidden.every((l) => l.includes('model="unknown"') && !l.includes('mnist-mlp-wide')), forbidden.join('\n'));
  });

  it('/metrics needs the metrics or admin token, unless the server is started with --open-metrics', async () => {
    assert.equal((await fetch(`${server.url}/metrics`)).status, 401);
    assert.equal((await fetch(`${server.url}/metrics`, { headers: { authorization: 'Bearer limited-key' } })).status, 401, 'a tenant key is not enough');
    const withToken = await startTestServer({ repository: repo.dir, metricsToken: 'scrape-token' });
    const open = await startTestServer({ repository: repo.dir, openMetrics: true });
    try {
      assert.equal((await fetch(`${withToken.url}/metrics`)).status, 401);
      assert.equal((await fetch(`${withToken.url}/metrics`, { headers: { authorization: 'Bearer scrape-token' } })).status, 200);
      assert.equal((await fetch(`${open.url}/metrics`)).status, 200);
    } finally {
      await Promise.all([withToken.close(), open.close()]);
    }
  });

  it('the load report needs a key on a server with tenants (REST and gRPC)', async () => {
    assert.equal((await fetch(`${server.url}/v2/pareto/load`)).status, 401);
    assert.equal((await fetch(`${server.url}/v2/pareto/load`, { headers: { authorization: 'Bearer limited-key' } })).status, 200);
    assert.equal((await fetch(`${server.url}/v2/pareto/load`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status, 200);
    const reporter = new (loadReporterService())(server.grpcAddress, grpc.credentials.createInsecure()) as unknown as grpc.Client & { Report: Function };
    const report = (md: grpc.Metadata) => new Promise<grpc.ServiceError | null>((resolve) => reporter.Report({}, md, (err: grpc.ServiceError | null) => resolve(err)));
    try {
      assert.equal((await report(new grpc.Metadata()))?.code, grpc.status.UNAUTHENTICATED);
      const md = new grpc.Metadata();
      md.set('authorization', 'Bearer limited-key');
      assert.equal(await report(md), null);
    } finally {
      reporter.close();
    }
  });

  it('a gRPC inference without a key is refused at its metadata, its message never read', async () => {
    const Client = inferenceService();
    const client = new Client(server.grpcAddress, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 64 * 1024 * 1024 }) as unknown as grpc.Client & { ModelInfer: Function };
    try {
      const err = await new Promise<grpc.ServiceError>((resolve) => client.ModelInfer({ model_name: 'mnist-mlp', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4 * 1024 * 1024] }], raw_input_contents: [Buffer.alloc(16 * 1024 * 1024)] }, (e: grpc.ServiceError) => resolve(e)));
      assert.equal(err.code, grpc.status.UNAUTHENTICATED);
      assert.equal(err.metadata.get('pareto-error-code')[0], 'PARETO_ERR_UNAUTHORIZED');
    } finally {
      client.close();
    }
  });

  it('errors quote at most a short piece of what the client sent', async () => {
    const name = 'x'.repeat(1_000_000);
    const res = await infer('mnist-mlp', JSON.stringify({ inputs: [{ name, datatype: 'FP32', shape: [1, 784], data: new Array(784).fill(0) }] }), { 'content-type': 'application/json' });
    assert.equal(res.status, 400);
    const error = (await res.json()).error as string;
    assert.ok(error.length < 1100, `${error.length} characters`);
    assert.match(error, /cut at 1000 characters/);
  });

  it('a model that failed to load says why without the repository\'s place on disk', async () => {
    const res = await infer('fashion-mlp', '{}', { 'content-type': 'application/json' });
    const index = await (await fetch(`${server.url}/v2/repository/index`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
    for (const text of [await res.text(), index]) {
      assert.match(text, /fashion-mlp\/model\.yaml: inputs/);
      assert.ok(!text.includes(repo.dir), text);
    }
  });
});
