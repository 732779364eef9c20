// While a higher priority class has had a request within the last second, a lower class's batches
// make way (scheduler/executor-commitments.ts): on a real server with the bundled mnist-mlp.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hashKey } from '../../src/tenancy/tenants.js';
import { digits, jsonInfer, startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
const dir = mkdtempSync(join(tmpdir(), 'pareto-yield-'));

before(async () => {
  const tenants = join(dir, 'tenants.yaml');
  writeFileSync(tenants, `tenants:
  - id: urgent
    keys: ["${hashKey('urgent-key')}"]
    models: ["*"]
    priority: high
  - id: bulk
    keys: ["${hashKey('bulk-key')}"]
    models: ["*"]
    priority: low
`);
  server = await startTestServer({ tenants });
});
after(async () => { await server.close(); rmSync(dir, { recursive: true, force: true }); });

const infer = async (key: string, parameters: Record<string, unknown> = {}) => {
  const res = await fetch(`${server.url}/v2/models/mnist-mlp/infer`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: jsonInfer(digits(0, 1).pixels, 1, { parameters }) });
  assert.equal(res.status, 200);
  const body = await res.json() as { model_version: string; parameters: { accuracy: number } };
  return { variant: body.model_version, accuracy: body.parameters.accuracy };
};

describe('a lower priority class makes way for a higher one', () => {
  it('runs on the fastest variant that meets its floor while the higher class is about, and on the most accurate alone', async () => {
    const alone = await infer('bulk-key');
    const urgent = await infer('urgent-key');
    assert.equal(urgent.variant, alone.variant, 'at low load both get the most accurate variant');
    const yielding = await infer('bulk-key');
    assert.ok(yielding.accuracy < alone.accuracy, `bulk beside urgent got ${yielding.variant} (${yielding.accuracy}), alone ${alone.variant} (${alone.accuracy})`);
    const floored = await infer('bulk-key', { min_accuracy: 0.975 });
    assert.ok(floored.accuracy >= 0.975 && floored.accuracy < alone.accuracy, `a floor of 0.975 got ${floored.variant} (${floored.accuracy})`);
    assert.equal((await infer('urgent-key')).variant, alone.variant, 'the higher class itself is planned as before');
  });
});
