import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Senders } from '../../src/loadgen/senders.js';

// What the generator's hand-built requests look like to a real HTTP server (node:http's parser).
let origin: string;
const seen: Array<{ req: IncomingMessage; body: Buffer }> = [];
const server = createServer(async (req, res) => {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  seen.push({ req, body: Buffer.concat(chunks) });
  res.writeHead(200, { 'pareto-variant': 'int8', 'pareto-accuracy': '0.9826', 'pareto-queue-ms': '0.125', 'pareto-compute-ms': '1.500', 'content-type': 'application/octet-stream' });
  res.end(Buffer.alloc(40));
});
before(async () => {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

describe('the load generator\'s senders', () => {
  it('send a binary inference request that a real HTTP parser reads whole, and read variant, accuracy and the server\'s queue and compute times back', async () => {
    const senders = new Senders(4);
    const pixels = Float32Array.from({ length: 2 * 784 }, (_, i) => i / 7);
    const send = senders.rest(origin, { model: 'mnist-mlp', version: '2', key: 'k-1', pixels, rows: 2 }, true);
    seen.length = 0;
    const reply = { status: 200, variant: 'int8', accuracy: 0.9826, queueMs: 0.125, computeMs: 1.5 };
    assert.deepEqual(await send(), reply);
    assert.deepEqual(await send(), reply);
    await senders.close();
    assert.equal(seen.length, 2);
    const { req, body } = seen[0];
    assert.equal(req.method, 'POST');
    assert.equal(req.url, '/v2/models/mnist-mlp/versions/2/infer');
    assert.equal(req.headers.host, origin.slice('http://'.length));
    assert.equal(req.headers.authorization, 'Bearer k-1');
    assert.equal(req.headers['content-type'], 'application/octet-stream');
    const headerLength = Number(req.headers['inference-header-content-length']);
    const header = JSON.parse(body.subarray(0, headerLength).toString());
    assert.deepEqual(header.inputs[0], { name: 'input', datatype: 'FP32', shape: [2, 784], parameters: { binary_data_size: pixels.byteLength } });
    assert.deepEqual(new Float32Array(body.buffer.slice(body.byteOffset + headerLength, body.byteOffset + body.length)), pixels);
    assert.deepEqual(seen[1].body, body, 'the same bytes each time');
  });

  it('refuse a key with a line break before sending anything (it would smuggle a header)', () => {
    const senders = new Senders(1);
    assert.throws(() => senders.rest(origin, { model: 'm', key: 'k\r\nx-injected: 1', pixels: new Float32Array(4), rows: 1 }, true), /line break or a character HTTP\/1.1 cannot carry/);
    assert.throws(() => senders.rest('https://127.0.0.1:1', { model: 'm', pixels: new Float32Array(4), rows: 1 }, true), /plain HTTP\/1.1/);
  });
});
