import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { nestsDeeperThan } from '../../src/protocol/rest/infer-codec.js';
import { binaryInfer, digits, startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
// A JSON limit of 128 KiB and a body limit of 64 MiB: JSON is refused where binary passes.
before(async () => { server = await startTestServer({ maxJsonBytes: 128 * 1024, maxBodyBytes: 64 * 1024 * 1024 }); });
after(() => server.close());

const infer = (body: string | Uint8Array<ArrayBuffer>, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
  fetch(`${server.url}/v2/models/mnist-mlp/infer`, { method: 'POST', body, headers });

describe('JSON limits', () => {
  it('a deeply nested body is a 400 naming the limit (8 MB and 64 MB of `[`)', async () => {
    for (const size of [8, 64]) {
      const small = await startTestServer({ maxJsonBytes: 128 * 1024 * 1024, maxBodyBytes: 128 * 1024 * 1024 });
      try {
        const res = await fetch(`${small.url}/v2/models/mnist-mlp/infer`, { method: 'POST', body: '['.repeat(size * 1024 * 1024), headers: { 'content-type': 'application/json' } });
        assert.equal(res.status, 400);
        const body = await res.json();
        assert.equal(body.code, 'PARETO_ERR_JSON_TOO_DEEP');
        assert.match(body.error, /nests deeper than 64 levels/);
      } finally {
        await small.close();
      }
    }
  });

  it('a small body whose tensor data nests too deep is a 400, not a stack overflow', async () => {
    const data = `${'['.repeat(70)}1${']'.repeat(70)}`;
    const res = await infer(`{"inputs":[{"name":"input","datatype":"FP32","shape":[1,784],"data":${data}}]}`);
    assert.equal(res.status, 400);
    assert.equal((await res.json()).code, 'PARETO_ERR_JSON_TOO_DEEP');
  });

  it('JSON over --max-json-bytes is a 413 before its body is read, while a larger binary body passes', async () => {
    const big = `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,784],"data":[${'0,'.repeat(700_000)}0]}]}`;
    const res = await infer(big);
    assert.equal(res.status, 413);
    assert.match((await res.json()).error, /request JSON of \d+ bytes is over the limit of 131072 bytes \(--max-json-bytes/);
    const { pixels } = digits(0, 64);
    const { body, headers } = binaryInfer(pixels, 64);
    assert.ok(body.length > 128 * 1024);
    assert.equal((await infer(new Uint8Array(body), headers)).status, 200);
  });

  it('the depth scan skips brackets inside strings and escapes', () => {
    const text = Buffer.from(JSON.stringify({ a: '[[[[[[\\"[[[[', b: [[1]] }));
    assert.equal(nestsDeeperThan(text, text.length, 3), false);
    assert.equal(nestsDeeperThan(text, text.length, 2), true);
  });
});
