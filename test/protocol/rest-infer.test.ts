import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { argmax, binaryInfer, digits, jsonInfer, parseBinaryResponse, startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
before(async () => { server = await startTestServer({ maxBodyBytes: 1024 * 1024 }); });
after(() => server.close());

const post = (path: string, body: string | Buffer, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
  fetch(server.url + path, { method: 'POST', body: typeof body === 'string' ? body : new Uint8Array(body), headers });

describe('REST inference (JSON)', () => {
  it('classifies real MNIST test digits correctly', async () => {
    const n = 50;
    const { pixels, labels } = digits(0, n);
    const res = await post('/v2/models/mnist-mlp/infer', jsonInfer(pixels, n, { id: 'abc' }));
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.id, 'abc');
    assert.equal(body.model_name, 'mnist-mlp');
    assert.equal(body.model_version, body.parameters.variant, 'the planner chose a variant and says which');
    assert.ok(body.parameters.accuracy > 0.9, 'and its measured accuracy');
    const out = body.outputs[0];
    assert.deepEqual(out.shape, [n, 10]);
    let correct = 0;
    for (let r = 0; r < n; r++) if (argmax(out.data, r * 10, 10) === labels[r]) correct++;
    assert.ok(correct >= 48, `${correct}/${n} correct`);
  });

  it('reports variant, batch size, queue and compute time in parameters and headers', async () => {
    const { pixels } = digits(0, 1);
    const res = await post('/v2/models/mnist-mlp/versions/fp32/infer', jsonInfer(pixels, 1));
    const body = await res.json();
    assert.equal(res.headers.get('pareto-variant'), 'fp32');
    assert.equal(res.headers.get('pareto-batch-size'), String(body.parameters.batch_size));
    assert.equal(body.parameters.variant, 'fp32');
    assert.ok(body.parameters.compute_ms > 0);
    assert.ok(body.parameters.queue_ms >= 0);
  });

  it('accepts nested data', async () => {
    const { pixels, labels } = digits(3, 1);
    const nested = [Array.from(pixels)];
    const res = await post('/v2/models/mnist-mlp/infer', JSON.stringify({ inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: nested }] }));
    const body = await res.json();
    assert.equal(argmax(body.outputs[0].data), labels[0]);
  });
});

describe('REST inference (binary tensor extension)', () => {
  it('gives the same logits as JSON, with binary output', async () => {
    const { pixels } = digits(10, 4);
    const json = await (await post('/v2/models/mnist-mlp/versions/fp32/infer', jsonInfer(pixels, 4))).json();
    const { body, headers } = binaryInfer(pixels, 4);
    const res = await post('/v2/models/mnist-mlp/versions/fp32/infer', body, headers);
    assert.equal(res.status, 200);
    const headerLength = Number(res.headers.get('inference-header-content-length'));
    const { header, binary } = parseBinaryResponse(Buffer.from(await res.arrayBuffer()), headerLength);
    assert.equal(header.outputs[0].parameters.binary_data_size, 4 * 10 * 4);
    const logits = new Float32Array(binary.buffer.slice(binary.byteOffset, binary.byteOffset + binary.byteLength));
    assert.deepEqual(Array.from(logits), json.outputs[0].data);
  });

  it('returns JSON output for a binary input when binary output is not asked for', async () => {
    const { pixels, labels } = digits(20, 2);
    const { body, headers } = binaryInfer(pixels, 2, false);
    const res = await post('/v2/models/mnist-mlp/infer', body, headers);
    const out = (await res.json()).outputs[0];
    assert.equal(argmax(out.data, 0, 10), labels[0]);
    assert.equal(argmax(out.data, 10, 10), labels[1]);
  });
});

const SHORT_BINARY = Buffer.concat([
  Buffer.from('{"inputs":[{"name":"input","shape":[1,784],"datatype":"FP32","parameters":{"binary_data_size":3136}}]}'),
  Buffer.alloc(8),
]);

describe('REST errors', () => {
  const good = () => jsonInfer(digits(0, 1).pixels, 1);
  const cases: Array<[string, string, string | Buffer, number, string, Record<string, string>?]> = [
    ['unknown model', '/v2/models/nope/infer', '{}', 404, 'PARETO_ERR_MODEL_NOT_FOUND'],
    ['unknown version', '/v2/models/mnist-mlp/versions/int3/infer', '{}', 404, 'PARETO_ERR_VERSION_NOT_FOUND'],
    ['malformed JSON', '/v2/models/mnist-mlp/infer', '{"inputs": [', 400, 'PARETO_ERR_MALFORMED_JSON'],
    ['empty body', '/v2/models/mnist-mlp/infer', '', 400, 'PARETO_ERR_INVALID_REQUEST'],
    ['wrong shape', '/v2/models/mnist-mlp/infer', JSON.stringify({ inputs: [{ name: 'input', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] }), 400, 'PARETO_ERR_INVALID_REQUEST'],
    ['wrong dtype', '/v2/models/mnist-mlp/infer', JSON.stringify({ inputs: [{ name: 'input', shape: [1, 784], datatype: 'INT32', data: new Array(784).fill(0) }] }), 400, 'PARETO_ERR_INVALID_REQUEST'],
    ['unknown dtype', '/v2/models/mnist-mlp/infer', JSON.stringify({ inputs: [{ name: 'input', shape: [1, 784], datatype: 'FLOAT', data: [] }] }), 400, 'PARETO_ERR_INVALID_REQUEST'],
    ['missing input', '/v2/models/mnist-mlp/infer', JSON.stringify({ inputs: [{ name: 'pixels', shape: [1, 784], datatype: 'FP32', data: new Array(784).fill(0) }] }), 400, 'PARETO_ERR_INVALID_REQUEST'],
    ['unknown output', '/v2/models/mnist-mlp/infer', JSON.stringify({ ...JSON.parse(jsonInfer(digits(0, 1).pixels, 1)), outputs: [{ name: 'probs' }] }), 400, 'PARETO_ERR_INVALID_REQUEST'],
    ['over max batch', '/v2/models/mnist-mlp/infer', JSON.stringify({ inputs: [{ name: 'input', shape: [65, 784], datatype: 'FP32', data: new Array(65 * 784).fill(0) }] }), 400, 'PARETO_ERR_INVALID_REQUEST'],
    ['too few data elements', '/v2/models/mnist-mlp/infer', JSON.stringify({ inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: [0.5] }] }), 400, 'PARETO_ERR_INVALID_REQUEST'],
    ['binary size past the body', '/v2/models/mnist-mlp/infer', SHORT_BINARY, 400, 'PARETO_ERR_INVALID_REQUEST', { 'inference-header-content-length': String(SHORT_BINARY.length - 8), 'content-type': 'application/octet-stream' }],
    ['header length past the body', '/v2/models/mnist-mlp/infer', SHORT_BINARY, 400, 'PARETO_ERR_INVALID_REQUEST', { 'inference-header-content-length': '100000', 'content-type': 'application/octet-stream' }],
    ['payload over the limit', '/v2/models/mnist-mlp/infer', Buffer.alloc(2 * 1024 * 1024, 32), 413, 'PARETO_ERR_PAYLOAD_TOO_LARGE'],
  ];
  for (const [name, path, body, status, code, headers] of cases) {
    it(`${name} → ${status} ${code}`, async () => {
      const res = await post(path, body, headers);
      assert.equal(res.status, status);
      const json = await res.json();
      assert.equal(json.code, code);
      assert.equal(typeof json.error, 'string');
      assert.ok(json.error.length > 10);
    });
  }

  it('refuses a chunked body (no Content-Length) once it passes the limit, with 413', async () => {
    const chunk = new Uint8Array(256 * 1024).fill(32);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 8) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const res = await fetch(`${server.url}/v2/models/mnist-mlp/infer`, { method: 'POST', body: stream, headers: { 'content-type': 'application/json' }, duplex: 'half' } as RequestInit);
    assert.equal(res.status, 413);
    assert.equal((await res.json()).code, 'PARETO_ERR_PAYLOAD_TOO_LARGE');
  });

  it('decodes percent-encoded path segments, and answers 400 to broken percent-encoding', async () => {
    const ok = await post('/v2/models/mnist%2Dmlp/versions/fp%33%32/infer?x=1', good());
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('pareto-variant'), 'fp32');
    const bad = await post('/v2/models/mnist%E0%A4%A/infer', good());
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).code, 'PARETO_ERR_INVALID_REQUEST');
  });

  it('shrugs off a client that leaves in the middle of its body', async () => {
    const { request } = await import('node:http');
    await new Promise<void>((resolve) => {
      const req = request(`${server.url}/v2/models/mnist-mlp/infer`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': '100000' } });
      req.on('error', () => resolve());
      req.write('{"inputs": [', () => setTimeout(() => { req.destroy(); resolve(); }, 50));
    });
    const res = await post('/v2/models/mnist-mlp/infer', good());
    assert.equal(res.status, 200);
  });

  it('keeps serving good requests after every bad one', async () => {
    const res = await post('/v2/models/mnist-mlp/infer', good());
    assert.equal(res.status, 200);
  });
});

describe('health and metadata', () => {
  it('answers live, ready, server and model metadata', async () => {
    assert.deepEqual(await (await fetch(`${server.url}/v2/health/live`)).json(), { live: true });
    assert.equal((await fetch(`${server.url}/v2/health/ready`)).status, 200);
    const meta = await (await fetch(`${server.url}/v2`)).json();
    assert.equal(meta.name, 'pareto');
    assert.ok(meta.extensions.includes('binary_tensor_data'));
    const model = await (await fetch(`${server.url}/v2/models/mnist-mlp`)).json();
    assert.deepEqual(model.inputs, [{ name: 'input', datatype: 'FP32', shape: [-1, 784] }]);
    assert.ok(model.versions.includes('fp32'));
    assert.equal(model.variants.find((v: any) => v.default).name, 'fp32');
    assert.equal((await fetch(`${server.url}/v2/models/mnist-mlp/versions/fp32`)).status, 200);
    assert.equal((await fetch(`${server.url}/v2/models/mnist-mlp/ready`)).status, 200);
    assert.equal((await fetch(`${server.url}/v2/models/nope/ready`)).status, 404);
    assert.equal((await fetch(`${server.url}/v2/models/mnist-mlp/versions/x/ready`)).status, 404);
  });
});
