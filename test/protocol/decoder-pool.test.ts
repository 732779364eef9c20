// Decoder threads: the same requests (and the same errors) as decoding on the event loop, in the
// order the tenants' priorities and weights give, and a body that cannot be decoded before its
// deadline is refused before any decoding is spent on it.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, describe, it } from 'node:test';
import { isParetoError } from '../../src/errors.js';
import { decodeCost, DecoderPool, type DecodeTask } from '../../src/protocol/rest/decoder-pool.js';
import { decodeInferBody } from '../../src/protocol/rest/infer-codec.js';

const pools: DecoderPool[] = [];
after(async () => { await Promise.all(pools.map((p) => p.close())); });

function pool(threads = 1): DecoderPool {
  const p = new DecoderPool({ threads, maxJsonBytes: 64 * 1024 * 1024, niceness: 0, now: () => performance.now() });
  pools.push(p);
  return p;
}

const task = (body: Buffer, extra: Partial<DecodeTask> = {}): DecodeTask =>
  ({ tenant: 't', weight: 1, priority: 1, deadline: Infinity, model: 'm', body, depthScanned: false, ...extra });

const json = (inputs: unknown[], extra: Record<string, unknown> = {}) => Buffer.from(JSON.stringify({ inputs, ...extra }));

/** A JSON body of `n` FP32 numbers: about 8 bytes each to parse. */
const floats = (n: number) => json([{ name: 'x', datatype: 'FP32', shape: [1, n], data: Array.from({ length: n }, (_, i) => (i % 997) / 997) }]);

describe('decoder pool', () => {
  it('decodes JSON and binary bodies exactly as the event loop does', async () => {
    const header = Buffer.from(JSON.stringify({ id: 'b1', inputs: [
      { name: 'f', datatype: 'FP32', shape: [2, 2], parameters: { binary_data_size: 16 } },
      { name: 's', datatype: 'BYTES', shape: [2], parameters: { binary_data_size: 14 } },
    ], parameters: { binary_data_output: true } }));
    const f = Buffer.from(new Float32Array([1.5, -2, 3.25, 1e-7]).buffer);
    const s = Buffer.concat([Buffer.from([3, 0, 0, 0]), Buffer.from('abc'), Buffer.from([3, 0, 0, 0]), Buffer.from('déf'.slice(0, 2))]);
    const bodies: Array<[Buffer, number | undefined]> = [
      [json([
        { name: 'a', datatype: 'FP32', shape: [2, 3], data: [[1, 2.5, -3], [4e-3, 5, 6]] },
        { name: 'b', datatype: 'INT64', shape: [3], data: [1, -2, 9007199254740991] },
        { name: 'c', datatype: 'BYTES', shape: [2], data: ['héllo', ''] },
        { name: 'd', datatype: 'FP16', shape: [2], data: [0.1, 65504] },
        { name: 'e', datatype: 'BOOL', shape: [2], data: [true, false] },
      ], { id: 'j1', parameters: { priority: 2 }, outputs: [{ name: 'y', parameters: { binary_data: true } }] }), undefined],
      [Buffer.concat([header, f, s]), header.length],
      [floats(20_000), undefined],
    ];
    const p = pool();
    for (const [body, headerLength] of bodies) {
      const inline = decodeInferBody('m', '1', Buffer.from(body), headerLength);
      const off = await p.decode(task(Buffer.from(body), { version: '1', headerLength }));
      assert.deepEqual(off, inline);
    }
  });

  it('gives back the errors decoding on the event loop gives: same status and code', async () => {
    const p = pool();
    const cases = [Buffer.from('{"inputs": ['), Buffer.from('['.repeat(100_000)), json([{ name: 'x', datatype: 'FP32', shape: [2], data: [1] }]), json([{ name: 'x', datatype: 'NOPE', shape: [1], data: [1] }])];
    for (const body of cases) {
      let inline: unknown;
      try { decodeInferBody('m', undefined, body, undefined); } catch (e) { inline = e; }
      assert.ok(isParetoError(inline));
      await assert.rejects(p.decode(task(body)), (e: unknown) => isParetoError(e) && e.code === inline.code && e.httpStatus === inline.httpStatus && e.message === inline.message);
    }
  });

  it('decodes in priority order, then by weight, while the thread is busy', async () => {
    const p = pool(1);
    const order: string[] = [];
    const busy = p.decode(task(floats(400_000)));
    const body = floats(5_000);
    const jobs = [
      ...['l1', 'l2'].map((id) => p.decode(task(body, { tenant: 'low', priority: 0 })).then(() => order.push(id))),
      ...['a1', 'a2', 'a3', 'a4'].map((id) => p.decode(task(body, { tenant: 'a', weight: 2 })).then(() => order.push(id))),
      ...['b1', 'b2'].map((id) => p.decode(task(body, { tenant: 'b', weight: 1 })).then(() => order.push(id))),
      p.decode(task(body, { tenant: 'high', priority: 2 })).then(() => order.push('h1')),
    ];
    await busy;
    await Promise.all(jobs);
    assert.equal(order[0], 'h1', `the high class first: ${order}`);
    assert.deepEqual(order.slice(-2), ['l1', 'l2'], `the low class last: ${order}`);
    const normal = order.slice(1, 7);
    assert.deepEqual(normal.slice(0, 3).filter((id) => id.startsWith('a')).length, 2, `weight 2 gets two of every three: ${order}`);
  });

  it('costs a body by its JSON bytes, binary bytes at 1/16, and never more than the body', () => {
    assert.equal(decodeCost(1000, undefined), 1000);
    assert.equal(decodeCost(1000 + 1600, 1000), 1100);
    assert.equal(decodeCost(3, 99_999_999), 3, 'a header length past the body is the client\'s claim, not a cost');
  });

  it('refuses a body that cannot be decoded before its deadline, before decoding it', async () => {
    const p = pool(1);
    const big = floats(400_000);
    await p.decode(task(big)); // learns what decoding costs here
    const busy = p.decode(task(big));
    const started = performance.now();
    await assert.rejects(p.decode(task(big, { deadline: performance.now() + 1 })), (e: unknown) => isParetoError(e) && e.code === 'PARETO_ERR_DEADLINE' && e.httpStatus === 504);
    assert.ok(performance.now() - started < 50, 'refused at once, not after waiting');
    // The same check a front end makes on the headers, from Content-Length, before reading the body.
    assert.throws(() => p.checkDeadline(big.length, 1, performance.now() + 1), (e: unknown) => isParetoError(e) && e.code === 'PARETO_ERR_DEADLINE');
    assert.doesNotThrow(() => p.checkDeadline(big.length, 1, Infinity));
    await busy;
    assert.equal(p.waiting, 0);
  });
});
