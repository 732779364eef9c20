// Compressed request and response bodies (tritonclient's request_compression_algorithm and
// response_compression_algorithm): gzip and deflate in, gzip or deflate out when accepted, the
// decoded body held to the plain limits (a decompression bomb is a 413), anything else refused.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { deflateSync, gzipSync } from 'node:zlib';
import { binaryInfer, digits, jsonInfer, startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
before(async () => { server = await startTestServer({ maxJsonBytes: 1 << 20 }); });
after(() => server.close());

const url = () => `${server.url}/v2/models/mnist-mlp/versions/fp32/infer`;
const { pixels } = digits(40, 32);
const plain = jsonInfer(pixels, 32);

describe('content codings', () => {
  it('a gzip or deflate JSON body gets the same answer as the plain one; a gzip response when accepted', async () => {
    const reference = await (await fetch(url(), { method: 'POST', body: plain })).json();
    for (const [coding, body] of [['gzip', gzipSync(plain)], ['deflate', deflateSync(plain)]] as const) {
      const res = await fetch(url(), { method: 'POST', body: new Uint8Array(body), headers: { 'content-encoding': coding, 'accept-encoding': 'gzip' } });
      assert.equal(res.status, 200, `${coding}: ${res.status}`);
      assert.equal(res.headers.get('content-encoding'), 'gzip');
      const out = await res.json(); // fetch inflates it
      assert.deepEqual(out.outputs, reference.outputs);
    }
    const identity = await fetch(url(), { method: 'POST', body: plain, headers: { 'accept-encoding': 'identity' } });
    assert.equal(identity.headers.get('content-encoding'), null);
  });

  it('a compressed binary body: Inference-Header-Content-Length counts the inflated header', async () => {
    const { body, headers } = binaryInfer(pixels, 32);
    const res = await fetch(url(), { method: 'POST', body: new Uint8Array(gzipSync(body)), headers: { ...headers, 'content-encoding': 'gzip' } });
    assert.equal(res.status, 200);
  });

  it('a decompression bomb is a 413, at the plain limit, not the size it would inflate to', async () => {
    const bomb = gzipSync(Buffer.concat([Buffer.from('{"inputs": [{"name": "input", "data": ['), Buffer.alloc(64 << 20, 0x20)]));
    assert.ok(bomb.length < 128 << 10, `${bomb.length} bytes on the wire`);
    const res = await fetch(url(), { method: 'POST', body: new Uint8Array(bomb), headers: { 'content-encoding': 'gzip' } });
    assert.equal(res.status, 413);
    assert.equal((await res.json()).code, 'PARETO_ERR_PAYLOAD_TOO_LARGE');
  });

  it('an inflated body nesting too deep is the 400 a plain one gets', async () => {
    const deep = gzipSync(Buffer.alloc(512 << 10, '['));
    const res = await fetch(url(), { method: 'POST', body: new Uint8Array(deep), headers: { 'content-encoding': 'gzip' } });
    assert.equal(res.status, 400);
    assert.equal((await res.json()).code, 'PARETO_ERR_JSON_TOO_DEEP');
  });

  it('an unknown coding is a 415 before the body is read; a corrupt one a 400', async () => {
    const br = await fetch(url(), { method: 'POST', body: plain, headers: { 'content-encoding': 'br' } });
    assert.equal(br.status, 415);
    assert.equal((await br.json()).code, 'PARETO_ERR_UNSUPPORTED_ENCODING');
    const corrupt = await fetch(url(), { method: 'POST', body: plain, headers: { 'content-encoding': 'gzip' } });
    assert.equal(corrupt.status, 400);
    assert.equal((await corrupt.json()).code, 'PARETO_ERR_MALFORMED_ENCODING');
  });
});
