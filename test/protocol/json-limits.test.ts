import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { JsonDepthScan, nestsDeeperThan } from '../../src/protocol/rest/infer-codec.js';
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

  it('the depth scan gives the byte-by-byte answer for any text cut into any chunks', () => {
    /** The scan as it was, one byte at a time: the reference. */
    const byteByByte = (text: Buffer, limit: number) => {
      let depth = 0;
      let inString = false;
      let escaped = false;
      for (const c of text) {
        if (inString) {
          if (escaped) escaped = false;
          else if (c === 0x5c) escaped = true;
          else if (c === 0x22) inString = false;
        } else if (c === 0x22) inString = true;
        else if (c === 0x5b || c === 0x7b) { if (++depth > limit) return true; }
        else if (c === 0x5d || c === 0x7d) depth--;
      }
      return false;
    };
    const text = fc.array(fc.constantFrom('[', ']', '{', '}', '"', '\\', '\\"', 'a', '1,', '"x"'), { maxLength: 200 }).map((parts) => Buffer.from(parts.join('')));
    fc.assert(fc.property(text, fc.integer({ min: 0, max: 6 }), fc.array(fc.nat(), { maxLength: 6 }), (bytes, limit, cuts) => {
      const scan = new JsonDepthScan(limit);
      const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
      let deep = false;
      let from = 0;
      for (const to of [...at, bytes.length]) {
        deep ||= scan.feed(bytes.subarray(from, to));
        from = to;
      }
      assert.equal(deep, byteByByte(bytes, limit));
    }), { numRuns: 3000 });
  });

  it('the depth scan skips brackets inside strings and escapes', () => {
    const text = Buffer.from(JSON.stringify({ a: '[[[[[[\\"[[[[', b: [[1]] }));
    assert.equal(nestsDeeperThan(text, text.length, 3), false);
    assert.equal(nestsDeeperThan(text, text.length, 2), true);
  });
});
