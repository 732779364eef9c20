import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { digits, jsonInfer, startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
before(async () => { server = await startTestServer(); });
after(() => server.close());

const infer = (parameters: Record<string, unknown>, model = 'mnist-mlp') =>
  fetch(`${server.url}/v2/models/${model}/infer`, { method: 'POST', body: jsonInfer(digits(0, 1).pixels, 1, { parameters }) });

describe('per-request SLOs', () => {
  it('an accuracy floor no variant meets gets 422 with the best accuracy available', async () => {
    const res = await infer({ min_accuracy: 0.999 });
    assert.equal(res.status, 422);
    const body = await res.json();
    assert.equal(body.code, 'PARETO_ERR_ACCURACY_UNAVAILABLE');
    assert.match(body.error, /most accurate variant measured 0\.9\d+/);
  });

  it('a deadline no variant can meet gets 504 at once, not after waiting', async () => {
    const t0 = performance.now();
    const res = await infer({ latency_ms: 0.001 });
    assert.equal(res.status, 504);
    assert.equal((await res.json()).code, 'PARETO_ERR_DEADLINE');
    assert.ok(performance.now() - t0 < 1000);
  });

  it('a floor is honoured: the served variant\'s measured accuracy is at least the floor', async () => {
    const body = await (await infer({ min_accuracy: 0.975, latency_ms: 1000 })).json();
    assert.ok(body.parameters.accuracy >= 0.975, JSON.stringify(body.parameters));
  });

  it('rejects malformed SLO parameters with 400', async () => {
    assert.equal((await infer({ latency_ms: 'soon' })).status, 400);
    assert.equal((await infer({ min_accuracy: 2 })).status, 400);
    assert.equal((await infer({ priority: 'urgent' })).status, 400);
  });
});
