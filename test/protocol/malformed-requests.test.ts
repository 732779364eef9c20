// Property test: random malformed bodies never crash the server, never get a 5xx, and never stop
// it from answering good requests.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { argmax, digits, jsonInfer, startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
before(async () => { server = await startTestServer({ maxBodyBytes: 256 * 1024 }); });
after(() => server.close());

const tensorLike = fc.record({
  name: fc.oneof(fc.constant('input'), fc.string()),
  shape: fc.oneof(fc.constant([1, 784]), fc.array(fc.oneof(fc.integer({ min: -3, max: 900 }), fc.double(), fc.string()), { maxLength: 4 }), fc.anything()),
  datatype: fc.oneof(fc.constantFrom('FP32', 'FP16', 'INT64', 'BOOL', 'BYTES', 'UINT8'), fc.string()),
  data: fc.oneof(fc.array(fc.oneof(fc.double(), fc.integer(), fc.boolean(), fc.string()), { maxLength: 800 }), fc.anything()),
  parameters: fc.option(fc.record({ binary_data_size: fc.oneof(fc.integer({ min: -5, max: 5000 }), fc.string()) }), { nil: undefined }),
}, { requiredKeys: [] });

const body = fc.oneof(
  fc.string(),
  fc.json(),
  fc.uint8Array({ maxLength: 4000 }).map((b) => Buffer.from(b).toString('latin1')),
  fc.record({ inputs: fc.array(tensorLike, { maxLength: 3 }), outputs: fc.anything(), id: fc.anything(), parameters: fc.anything() }, { requiredKeys: [] }).map((o) => JSON.stringify(o) ?? ''),
);

describe('malformed requests', () => {
  it('get a 4xx with an error message, and good requests keep working', async () => {
    const good = digits(7, 1);
    await fc.assert(fc.asyncProperty(body, fc.option(fc.integer({ min: -10, max: 5000 }), { nil: undefined }), async (text, headerLength) => {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (headerLength !== undefined) headers['inference-header-content-length'] = String(headerLength);
      const res = await fetch(`${server.url}/v2/models/mnist-mlp/infer`, { method: 'POST', body: text, headers });
      const json = await res.json();
      if (res.status === 200) return; // a random body can be a valid request
      assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}: ${JSON.stringify(json)}`);
      assert.equal(typeof json.error, 'string');
    }), { numRuns: 300, seed: 42 });
    const res = await fetch(`${server.url}/v2/models/mnist-mlp/infer`, { method: 'POST', body: jsonInfer(good.pixels, 1), headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 200);
    assert.equal(argmax((await res.json()).outputs[0].data), good.labels[0]);
  });
});
