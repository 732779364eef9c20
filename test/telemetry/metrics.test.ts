import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hashKey } from '../../src/tenancy/tenants.js';
import { ADMIN_TOKEN, binaryInfer, digits, startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;

before(async () => {
  server = await startTestServer({ tenantsYaml: `tenants:
  - id: good
    keys: ["${hashKey('good-key')}"]
    models: ["*"]
    slo: { default: { latency_ms: 5000 } }
  - id: small
    keys: ["${hashKey('small-key')}"]
    models: [mnist-mlp]
    rate_limit: { samples_per_second: 0.001, burst: 2 }
` });
});
after(async () => { await server.close(); });

function infer(model: string, key: string | undefined, rows = 1, body?: string) {
  const b = binaryInfer(digits(0, rows).pixels, rows);
  const headers: Record<string, string> = body ? { 'content-type': 'application/json' } : b.headers;
  if (key) headers.authorization = `Bearer ${key}`;
  return fetch(`${server.url}/v2/models/${model}/infer`, { method: 'POST', body: body ?? new Uint8Array(b.body), headers }).then(async (r) => { await r.arrayBuffer(); return r.status; });
}

/** Sums a metric's samples whose labels include all of `match`. */
function sum(text: string, metric: string, match: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(metric + '{') && !line.startsWith(metric + ' ')) continue;
    const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(match).every(([k, v]) => labels[k] === v)) total += Number(line.split(' ').pop());
  }
  return total;
}

describe('/metrics', () => {
  it('counts every request exactly once, by outcome, with bounded labels', async () => {
    const sent: Record<string, number> = {};
    const note = (s: number) => { sent[s] = (sent[s] ?? 0) + 1; };
    for (let i = 0; i < 7; i++) note(await infer('mnist-mlp', 'good-key', 3));
    for (let i = 0; i < 3; i++) note(await infer('mnist-mlp', undefined));
    for (let i = 0; i < 2; i++) note(await infer('mnist-mlp', 'wrong-key'));
    for (let i = 0; i < 2; i++) note(await infer(`no-such-model-${i}`, 'small-key'));
    for (let i = 0; i < 4; i++) note(await infer('mnist-mlp', 'small-key'));
    note(await infer('mnist-mlp', 'good-key', 1, '{"inputs": ['));
    note(await infer(`random-${Math.random()}`, 'good-key'));
    assert.deepEqual(sent, { 200: 9, 401: 5, 403: 2, 429: 2, 400: 1, 404: 1 });

    const text = await (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
    const m = 'pareto_inference_request_total';
    assert.equal(sum(text, m), 20, 'requests sent = sum over outcomes');
    assert.equal(sum(text, m, { outcome: 'success' }), 9);
    for (const status of [401, 403, 429, 400, 404] as const) assert.equal(sum(text, m, { outcome: String(status) }), sent[status], String(status));
    assert.equal(sum(text, m, { tenant: 'unauthenticated' }), 5);
    assert.equal(sum(text, 'pareto_inference_count_total', { tenant: 'good' }), 21, '7 requests × 3 samples');
    assert.equal(sum(text, 'pareto_inference_count_total', { tenant: 'small' }), 2);
    assert.equal(sum(text, 'pareto_inference_slo_total', { tenant: 'good', result: 'met' }), 7);
    assert.ok(sum(text, 'pareto_inference_exec_count_total') >= 1);
    // Every batch's hop back from its executor, and the hop there of those that found it idle
    // (the first did: the requests were sent one at a time).
    const handoffs = (direction: string) => sum(text, 'pareto_executor_handoff_seconds_count', { direction });
    assert.equal(handoffs('from_executor'), sum(text, 'pareto_inference_exec_count_total'));
    assert.ok(handoffs('to_executor') >= 1 && handoffs('to_executor') <= handoffs('from_executor'));
    assert.ok(sum(text, 'pareto_executor_handoff_seconds_sum') > 0);
    assert.ok(sum(text, 'pareto_inference_accuracy_served_total') / sum(text, 'pareto_inference_count_total') > 0.95);
    // Unknown model names never become label values.
    assert.ok(!/no-such-model|random-/.test(text));
    assert.equal(sum(text, m, { model: 'unknown' }), 3);
    for (const g of ['pareto_queue_samples', 'pareto_executor_utilization', 'pareto_model_state', 'pareto_nodejs_eventloop_lag_seconds', 'pareto_process_resident_memory_bytes']) assert.ok(text.includes(g), g);
  });
});
