// A gateway as clients and workers see it: the protocol through it (REST and gRPC, errors passed
// on with their status), a worker that is only a plain Open Inference Protocol server (no Pareto
// extension at all), and a worker that stalls being routed around.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import Fastify, { type FastifyInstance } from 'fastify';
import * as ort from 'onnxruntime-node';
import { startGateway, type RunningGateway } from '../../src/cluster/gateway.js';
import { decodeInferBody, encodeInferResponse } from '../../src/protocol/rest/infer-codec.js';
import { metricValue } from '../../src/telemetry/prometheus-text.js';
import { hashKey } from '../../src/tenancy/tenants.js';
import { clusterRepository, startWorkerProcess, until, type WorkerProcess } from '../helpers/cluster.js';
import { grpcClient } from '../helpers/grpc-client.js';
import { argmax, binaryInfer, digits, jsonInfer, parseBinaryResponse } from '../helpers/server.js';

/**
 * A stand-in for Triton: the protocol's standard endpoints only (health, repository index, model
 * metadata and config, infer with the binary extension), answering from one ONNX Runtime session.
 * `hold`: awaited before each call is answered.
 */
async function plainOipServer(modelFile: string, hold: () => Promise<void> = async () => undefined): Promise<{ app: FastifyInstance; origin: string; calls: () => number }> {
  const session = await ort.InferenceSession.create(modelFile);
  let calls = 0;
  const app = Fastify();
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.get('/v2/health/ready', async () => ({ ready: true }));
  app.post('/v2/repository/index', async () => [{ name: 'digits', version: '1', state: 'READY' }]);
  app.get('/v2/models/digits', async () => ({
    name: 'digits', versions: ['1'], platform: 'onnxruntime_onnx',
    inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 784] }], outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 10] }],
  }));
  app.get('/v2/models/digits/config', async () => ({ name: 'digits', max_batch_size: 16 }));
  app.post('/v2/models/digits/versions/1/infer', async (req, reply) => {
    calls++;
    await hold();
    const header = req.headers['inference-header-content-length'];
    const request = decodeInferBody('digits', '1', req.body as Buffer, header === undefined ? undefined : Number(header));
    const x = request.inputs[0];
    if (x.shape[0] > 16) return reply.code(400).send({ error: 'batch too large' });
    const out = (await session.run({ input: new ort.Tensor('float32', x.data as Float32Array, x.shape) })).logits;
    const encoded = encodeInferResponse(request, { model: 'digits', version: '1', outputs: [{ name: 'logits', datatype: 'FP32', shape: [...out.dims], data: out.data as Float32Array }], serving: { variant: '1', batchSize: x.shape[0], queueMs: 0, computeMs: 0 } });
    if (encoded.headerLength !== undefined) reply.header('inference-header-content-length', encoded.headerLength);
    return reply.send(encoded.body);
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, origin: `http://127.0.0.1:${(app.server.address() as { port: number }).port}`, calls: () => calls };
}

const DIGIT_NAMES = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];

describe('gateway', { timeout: 90_000 }, () => {
  let repo: ReturnType<typeof clusterRepository>;
  let workers: WorkerProcess[];
  let plain: Awaited<ReturnType<typeof plainOipServer>>;
  let gateway: RunningGateway;
  let url: string;
  let tenants: string;

  before(async () => {
    repo = clusterRepository();
    tenants = join(repo.dir, 'tenants.yaml');
    writeFileSync(tenants, `tenants:\n  - id: t\n    keys: ["${hashKey('t-key')}"]\n    models: [mnist-mlp, digits]\n`);
    // Class names on the output: a gateway learns them from the workers' load reports.
    writeFileSync(join(repo.dir, 'mnist-mlp/labels.txt'), `${DIGIT_NAMES.join('\n')}\n`);
    const yaml = join(repo.dir, 'mnist-mlp/model.yaml');
    writeFileSync(yaml, readFileSync(yaml, 'utf8').replace(/(outputs:\n(?:  .*\n)+?    shape: .*\n)/, '$1    labels: labels.txt\n'));
    workers = await Promise.all([0, 1].map(() => startWorkerProcess(repo.dir)));
    plain = await plainOipServer(join(repo.dir, 'mnist-mlp/fp32/model.onnx'));
    gateway = await startGateway({
      host: '127.0.0.1', httpPort: 0, grpcPort: 0, tenants, logLevel: 'silent', allowClientShm: true,
      // Static membership, no Redis: two Pareto workers over gRPC and REST, and the plain server over REST.
      workers: [workers[0].address, `http://127.0.0.1:${workers[1].httpPort}`, plain.origin],
    });
    url = `http://127.0.0.1:${gateway.httpPort}`;
    await until(() => gateway.workers.list().filter((w) => w.up).length === 3, 10_000, 'gateway sees all three workers');
  });

  after(async () => {
    await gateway.close();
    await Promise.all(workers.map((w) => w.kill()));
    await plain.app.close();
    repo.remove();
  });

  const auth = { authorization: 'Bearer t-key' };

  it('serves REST (JSON and binary) and gRPC, with the planner choosing variants, and a pinned version honoured', async () => {
    const { pixels, labels } = digits(0, 4);
    const json = await fetch(`${url}/v2/models/mnist-mlp/infer`, { method: 'POST', body: jsonInfer(pixels, 4), headers: { ...auth, 'content-type': 'application/json' } });
    assert.equal(json.status, 200);
    const body = await json.json() as { outputs: Array<{ data: number[] }>; parameters: { variant: string } };
    for (let i = 0; i < 4; i++) assert.equal(argmax(body.outputs[0].data, i * 10, 10), labels[i]);
    // Classification with the workers' labels, as a worker itself answers it.
    const top = await fetch(`${url}/v2/models/mnist-mlp/infer`, { method: 'POST', body: jsonInfer(pixels, 4, { outputs: [{ name: 'logits', parameters: { classification: 1 } }] }), headers: { ...auth, 'content-type': 'application/json' } });
    const classes = (await top.json() as { outputs: Array<{ data: string[] }> }).outputs[0].data;
    assert.deepEqual(classes.map((c) => c.split(':').slice(1)), labels.map((l) => [String(l), DIGIT_NAMES[l]]));
    // A deadline travels to the worker as the remaining budget, on either transport, with no retries.
    const retries = gateway.workers.retries;
    for (let i = 0; i < 6; i++) {
      const withSlo = await fetch(`${url}/v2/models/mnist-mlp/infer`, { method: 'POST', body: jsonInfer(pixels, 4, { parameters: { latency_ms: 150.5 } }), headers: { ...auth, 'content-type': 'application/json' } });
      assert.equal(withSlo.status, 200, await withSlo.text());
    }
    assert.equal(gateway.workers.retries, retries);
    assert.ok(gateway.workers.list().every((w) => w.up));
    const pinned = binaryInfer(pixels, 4);
    const res = await fetch(`${url}/v2/models/mnist-mlp/versions/int8/infer`, { method: 'POST', body: new Uint8Array(pinned.body), headers: { ...pinned.headers, ...auth } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('pareto-variant'), 'int8');
    const client = grpcClient(`127.0.0.1:${gateway.grpcPort}`);
    try {
      const md = new grpc.Metadata();
      md.set('authorization', 'Bearer t-key');
      const reply = await client.call('ModelInfer', { model_name: 'mnist-mlp', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 784] }], raw_input_contents: [Buffer.from(digits(0, 1).pixels.buffer)] }, md);
      assert.equal(argmax(new Float32Array(new Uint8Array(reply.raw_output_contents[0]).buffer)), labels[0]);
    } finally {
      client.close();
    }
  });

  it('takes inputs from system shared memory on its own host and sends the tensors on to the workers', { skip: existsSync('/dev/shm') ? false : 'no /dev/shm' }, async () => {
    const { pixels, labels } = digits(8, 3);
    const path = `/dev/shm/pareto-gateway-test-${process.pid}`;
    writeFileSync(path, new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength));
    try {
      const register = await fetch(`${url}/v2/systemsharedmemory/region/in/register`, { method: 'POST', headers: auth, body: JSON.stringify({ key: path.slice('/dev/shm'.length), offset: 0, byte_size: pixels.byteLength }) });
      assert.equal(register.status, 200, await register.text());
      const res = await fetch(`${url}/v2/models/mnist-mlp/infer`, { method: 'POST', headers: auth, body: JSON.stringify({ inputs: [{ name: 'input', shape: [3, 784], datatype: 'FP32', parameters: { shared_memory_region: 'in', shared_memory_byte_size: pixels.byteLength } }] }) });
      assert.equal(res.status, 200, await res.clone().text());
      const out = (await res.json() as { outputs: Array<{ data: number[] }> }).outputs[0].data;
      for (let i = 0; i < 3; i++) assert.equal(argmax(out, i * 10, 10), labels[i]);
    } finally {
      rmSync(path, { force: true });
    }
  });

  it('refuses at the gateway what it can judge (401, 400, 404), reports its load, and explains what it does not do', async () => {
    const { body, headers } = binaryInfer(digits(0, 1).pixels, 1);
    assert.equal((await fetch(`${url}/v2/models/mnist-mlp/infer`, { method: 'POST', body: new Uint8Array(body), headers })).status, 401);
    const wrongShape = await fetch(`${url}/v2/models/mnist-mlp/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 783], datatype: 'FP32', data: new Array(783).fill(0) }] }), headers: auth });
    assert.equal(wrongShape.status, 400);
    assert.match(((await wrongShape.json()) as { error: string }).error, /784/);
    const unknown = await fetch(`${url}/v2/models/mnist-mlp/versions/fp64/infer`, { method: 'POST', body: new Uint8Array(body), headers: { ...headers, ...auth } });
    assert.equal(unknown.status, 404);
    // Its own load report lists what its workers serve, so another gateway could front it (with a key).
    assert.equal((await fetch(`${url}/v2/pareto/load`)).status, 401);
    const report = await (await fetch(`${url}/v2/pareto/load`, { headers: auth })).json() as { models: Array<{ name: string; variants: Array<{ name: string }> }> };
    assert.deepEqual(report.models.map((m) => m.name).sort(), ['digits', 'mnist-mlp']);
    assert.ok(report.models.find((m) => m.name === 'mnist-mlp')!.variants.some((v) => v.name === 'int8'));
    assert.equal((await fetch(`${url}/v2/pareto/cluster`)).status, 401);
    const cluster = await (await fetch(`${url}/v2/pareto/cluster`, { headers: { authorization: `Bearer ${gateway.admin.token}` } })).json() as { workers: Array<{ up: boolean; address: string; models: string[] }> };
    assert.equal(cluster.workers.filter((w) => w.up).length, 3);
    assert.ok(cluster.workers.some((w) => w.address === plain.origin && w.models.includes('digits')));
    const load = await fetch(`${url}/v2/repository/models/mnist-mlp/load`, { method: 'POST', headers: { authorization: `Bearer ${gateway.admin.token}` } });
    assert.equal(load.status, 400);
    assert.equal(((await load.json()) as { code: string }).code, 'PARETO_ERR_UNSUPPORTED');
  });

  it('fronts a plain Open Inference Protocol server: models from its index, batches within its max_batch_size', async () => {
    const { pixels, labels } = digits(10, 40);
    const before = plain.calls();
    const replies = await Promise.all(Array.from({ length: 40 }, async (_, i) => {
      const { body, headers } = binaryInfer(pixels.subarray(i * 784, (i + 1) * 784), 1);
      const res = await fetch(`${url}/v2/models/digits/infer`, { method: 'POST', body: new Uint8Array(body), headers: { ...headers, ...auth } });
      const buf = Buffer.from(await res.arrayBuffer());
      assert.equal(res.status, 200);
      assert.ok(Number(res.headers.get('pareto-batch-size')) <= 16);
      const { binary } = parseBinaryResponse(buf, Number(res.headers.get('inference-header-content-length')));
      return argmax(new Float32Array(binary.buffer.slice(binary.byteOffset, binary.byteOffset + binary.byteLength)));
    }));
    assert.ok(replies.filter((p, i) => p === labels[i]).length >= 38);
    assert.ok(plain.calls() - before < 40, `batched: ${plain.calls() - before} calls for 40 requests`);
  });

  it('answers every request when the last worker serving a model dies: in flight and queued get 503, none hang', async () => {
    const lone = await startWorkerProcess(repo.dir);
    const g = await startGateway({ host: '127.0.0.1', httpPort: 0, grpcPort: 0, workers: [`http://127.0.0.1:${lone.httpPort}`], logLevel: 'silent' });
    try {
      await until(() => g.workers.list().some((w) => w.up), 10_000, 'the gateway sees its worker');
      lone.child.kill('SIGSTOP');
      const { body, headers } = binaryInfer(digits(0, 64).pixels, 64);
      // Full batches (no deadline): two go to the stopped worker, the rest queue in the gateway.
      const pending = Array.from({ length: 8 }, () => fetch(`http://127.0.0.1:${g.httpPort}/v2/models/mnist-mlp/infer`, { method: 'POST', body: new Uint8Array(body), headers }).then(async (r) => { await r.arrayBuffer(); return r.status; }));
      await new Promise((r) => setTimeout(r, 300));
      await lone.kill('SIGKILL');
      const started = Date.now();
      const statuses = await Promise.all(pending);
      assert.deepEqual([...new Set(statuses)], [503], JSON.stringify(statuses));
      assert.ok(Date.now() - started < 3000, `answered ${Date.now() - started} ms after the worker died`);
    } finally {
      await g.close();
      await lone.kill();
    }
  });

  it('authenticates to workers that have tenants of their own with --worker-key', async () => {
    const tenants = join(repo.dir, 'worker-tenants.yaml');
    writeFileSync(tenants, `tenants:\n  - id: gateways\n    keys: ["${hashKey('gateway-key')}"]\n    models: ["*"]\n`);
    const guarded = await startWorkerProcess(repo.dir, undefined, ['--tenants', tenants]);
    const withKey = await startGateway({ host: '127.0.0.1', httpPort: 0, grpcPort: 0, workers: [`http://127.0.0.1:${guarded.httpPort}`], workerKey: 'gateway-key', logLevel: 'silent' });
    const without = await startGateway({ host: '127.0.0.1', httpPort: 0, grpcPort: 0, workers: [`http://127.0.0.1:${guarded.httpPort}`], logLevel: 'silent' });
    try {
      await until(() => withKey.workers.list().some((w) => w.up), 10_000, 'the gateway with the key sees the worker');
      const { body, headers } = binaryInfer(digits(0, 1).pixels, 1);
      const res = await fetch(`http://127.0.0.1:${withKey.httpPort}/v2/models/mnist-mlp/infer`, { method: 'POST', body: new Uint8Array(body), headers });
      assert.equal(res.status, 200);
      // Without it the worker's model metadata answers 401: the worker never becomes routable.
      assert.ok(!without.workers.list().some((w) => w.up));
      assert.equal((await fetch(`http://127.0.0.1:${without.httpPort}/v2/health/ready`)).status, 503);
    } finally {
      await Promise.all([withKey.close(), without.close()]);
      await guarded.kill();
    }
  });

  it('routes around a worker that stalls (stopped and resumed), without failing requests', async () => {
    const stalling = workers[0];
    const stalled = gateway.workers.list().find((w) => w.member.grpc === stalling.address)!;
    const healthy = gateway.workers.list().find((w) => w.member.http === `http://127.0.0.1:${workers[1].httpPort}`)!;
    // Requests of 32 samples on the costliest variant (~1.4 ms a batch): enough work for both workers.
    const { body, headers } = binaryInfer(digits(0, 32).pixels, 32);
    const statuses = new Map<number, number>();
    const drive = async (ms: number) => {
      let running = true;
      const clients = Array.from({ length: 4 }, async () => {
        while (running) {
          const res = await fetch(`${url}/v2/models/mnist-mlp/versions/tta9/infer`, { method: 'POST', body: new Uint8Array(body), headers: { ...headers, ...auth }, signal: AbortSignal.timeout(10_000) });
          await res.arrayBuffer();
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        }
      });
      await new Promise((r) => setTimeout(r, ms));
      running = false;
      await Promise.all(clients);
    };
    // Both share the load while healthy (the test would prove nothing otherwise).
    const a0 = { stalled: stalled.batches, healthy: healthy.batches };
    await drive(1500);
    const shared = { stalled: stalled.batches - a0.stalled, healthy: healthy.batches - a0.healthy };
    assert.ok(shared.stalled > 0.2 * shared.healthy, `while healthy: ${JSON.stringify(shared)}`);
    // Stop it for 300 ms in every 400: a worker in long GC pauses, or on a starved node.
    const stutter = setInterval(() => { stalling.child.kill('SIGSTOP'); setTimeout(() => stalling.child.kill('SIGCONT'), 300); }, 400);
    const b0 = { stalled: stalled.batches, healthy: healthy.batches };
    await drive(3000);
    clearInterval(stutter);
    await new Promise((r) => setTimeout(r, 300));
    stalling.child.kill('SIGCONT');
    const toStalled = stalled.batches - b0.stalled, toHealthy = healthy.batches - b0.healthy;
    console.log(`# batches while healthy: ${JSON.stringify(shared)}; in 3 s stalling: to it ${toStalled}, to the healthy worker ${toHealthy}; extra ms ${stalled.extraMs.toFixed(2)} vs ${healthy.extraMs.toFixed(2)}`);
    assert.deepEqual([...statuses.keys()], [200]);
    assert.ok(toStalled < 0.15 * toHealthy, `the stalling worker got ${toStalled} batches, the healthy one ${toHealthy}`);
  });

  it('sends a batch its worker holds too long to another worker as well (a hedge), and answers with the first', async () => {
    // A gateway of its own: the shared one may still route around workers[0] after the stall test
    // (until its lateness estimate decays, longer on a loaded machine), and a worker sent nothing
    // holds nothing to hedge.
    const fresh = await startGateway({
      host: '127.0.0.1', httpPort: 0, grpcPort: 0, tenants, logLevel: 'silent',
      workers: [workers[0].address, `http://127.0.0.1:${workers[1].httpPort}`],
    });
    const freshUrl = `http://127.0.0.1:${fresh.httpPort}`;
    const stalling = workers[0];
    const { body, headers } = binaryInfer(digits(0, 4).pixels, 4);
    const slowest: number[] = [];
    let running = true;
    let clients: Array<Promise<void>> = [];
    let before = 0;
    try {
      try {
        await until(() => fresh.workers.list().filter((w) => w.up).length === 2, 10_000, 'the fresh gateway sees both workers');
        const stalled = fresh.workers.list().find((w) => w.member.grpc === stalling.address)!;
        clients = Array.from({ length: 4 }, async () => {
          while (running) {
            const t0 = performance.now();
            // Bounded: a request that is never answered fails the test instead of hanging the suite.
            const res = await fetch(`${freshUrl}/v2/models/mnist-mlp/infer`, { method: 'POST', body: new Uint8Array(body), headers: { ...headers, ...auth }, signal: AbortSignal.timeout(10_000) });
            await res.arrayBuffer();
            assert.equal(res.status, 200);
            slowest.push(performance.now() - t0);
          }
        });
        // A client that fails stops the wait at once, with its own error.
        await Promise.race([until(() => slowest.length > 200 && stalled.batches >= 20, 30_000, 'traffic on both workers'), ...clients]);
        // Stopped for 1 s: what it holds would wait that long, or until the silence check (500 ms).
        before = slowest.length;
        stalling.child.kill('SIGSTOP');
        await new Promise((r) => setTimeout(r, 1000));
      } finally {
        stalling.child.kill('SIGCONT'); // resumed however the test ends
        running = false; // the clients stop however the test ends, not after it
        await Promise.all(clients);
      }
      const during = slowest.slice(before).sort((a, b) => b - a);
      console.log(`# hedges ${fresh.workers.hedges}; slowest requests while it was stopped: ${during.slice(0, 3).map((x) => x.toFixed(0)).join(', ')} ms`);
      assert.ok(fresh.workers.hedges > 0, 'a hedge went out');
      assert.ok(during[0]! < 400, `no request waited for the stopped worker: the slowest took ${during[0]!.toFixed(0)} ms`);
      await until(() => fresh.workers.list().every((w) => w.up), 5000, 'the stopped worker is routed to again');
    } finally {
      await fresh.close(); // however the test ends: a gateway left open keeps the test process alive
    }
  });

  it('sends a queued batch when a hedge’s losing copy frees its worker’s slot', async () => {
    // Two plain servers that hold the calls the test arms them to hold, until it releases them.
    let toHold = 0;
    const held: Array<{ server: number; release: () => void }> = [];
    let onHeld = () => {};
    const hold = (server: number) => async () => {
      if (toHold === 0) return;
      toHold--;
      await new Promise<void>((release) => { held.push({ server, release }); onHeld(); });
    };
    const heldCount = (n: number) => new Promise<void>((resolve) => { onHeld = () => { if (held.length >= n) resolve(); }; onHeld(); });
    const model = join(repo.dir, 'mnist-mlp/fp32/model.onnx');
    const servers = await Promise.all([0, 1].map((i) => plainOipServer(model, hold(i))));
    const g = await startGateway({ host: '127.0.0.1', httpPort: 0, grpcPort: 0, tenants, logLevel: 'silent', workers: servers.map((p) => p.origin) });
    const infer = () => {
      const { body, headers } = binaryInfer(digits(0, 1).pixels, 1);
      return fetch(`http://127.0.0.1:${g.httpPort}/v2/models/digits/infer`, { method: 'POST', body: new Uint8Array(body), headers: { ...headers, ...auth }, signal: AbortSignal.timeout(10_000) });
    };
    try {
      await until(() => g.workers.list().filter((w) => w.up).length === 2, 10_000, 'the gateway sees both servers');
      // Each batch saves 1/20 of a hedge.
      for (let i = 0; i < 30; i++) assert.equal((await infer()).status, 200);
      // The first copy is held; once it is late, the hedge is held too; then the first answers.
      toHold = 2;
      const first = infer();
      await heldCount(2);
      assert.notEqual(held[0].server, held[1].server, 'the hedge went to the other server');
      assert.equal(g.workers.hedges, 1);
      held[0].release();
      assert.equal((await first).status, 200);
      // The losing copy holds the other server. The first server is free, though it may be judged
      // slow (its copy was late): then the blocker goes to it once it has waited that long.
      toHold = 1;
      const blocker = infer();
      await heldCount(3);
      assert.equal(held[2].server, held[0].server);
      // With both servers owing an answer, a 1-row batch waits: queued, not sent.
      const metrics = async () => (await fetch(`http://127.0.0.1:${g.httpPort}/metrics`, { headers: { authorization: `Bearer ${g.admin.token}` } })).text();
      const state = () => JSON.stringify(g.workers.list().map((w) => ({ up: w.up, inflight: w.inflight, extraMs: w.extraMs, batches: w.batches })));
      const second = infer();
      await until(async () => metricValue(await metrics(), 'pareto_queue_samples', { model: 'digits' }) === 1, 5000, 'a request queued').catch((e: Error) => { throw new Error(`${e.message}; workers: ${state()}`); });
      // The losing copy held this long makes its server slow once it answers: the second goes to it
      // anyway (the other owes the blocker), once it has waited as long as that server is slow.
      await new Promise((r) => setTimeout(r, 200));
      held[1].release();
      assert.equal((await second).status, 200, 'answered once the losing copy freed its slot');
      const [freed, busy] = [held[1].server, held[0].server].map((i) => g.workers.list().find((w) => w.client.address === servers[i]!.origin)!);
      assert.ok(freed.extraMs > busy.extraMs + 1, `the freed server was judged slow: ${state()}`);
      held[2].release();
      assert.equal((await blocker).status, 200);
    } finally {
      for (const h of held) h.release();
      await g.close();
      await Promise.all(servers.map((p) => p.app.close()));
    }
  });
});
