import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BufferPool } from '../../src/tensor/buffer-pool.js';

describe('the tensor buffer pool', () => {
  it('hands out power-of-two buffers the caller owns, and reuses what comes back', () => {
    const pool = new BufferPool();
    const a = pool.take(100_000);
    assert.equal(a.byteLength, 131_072);
    assert.ok(pool.isOwned(a));
    pool.give(a);
    assert.equal(pool.take(70_000), a, 'the same size class is reused');
    assert.notEqual(pool.take(70_000), a, 'a buffer is handed out once');
  });

  it('takes back only its own buffers, once each, and never a transferred one', () => {
    const pool = new BufferPool();
    pool.give(new ArrayBuffer(131_072));
    assert.ok(!pool.isOwned(new ArrayBuffer(131_072)));
    const fresh = pool.take(131_072);
    assert.notEqual(fresh.byteLength, 0);
    const b = pool.take(131_072);
    pool.give(b);
    pool.give(b);
    assert.equal(pool.take(131_072), b);
    assert.notEqual(pool.take(131_072), b, 'given twice, handed out once');
    const c = pool.take(131_072);
    structuredClone(c, { transfer: [c] }); // detaches c, as a postMessage transfer does
    pool.give(c);
    assert.notEqual(pool.take(131_072).byteLength, 0);
  });

  it('adopts buffers returned by an executor only in its own sizes, and not past its limit', () => {
    const pool = new BufferPool();
    const odd = new ArrayBuffer(100_000);
    pool.adopt(odd);
    assert.notEqual(pool.take(100_000), odd);
    const returned = new ArrayBuffer(262_144);
    pool.adopt(returned);
    assert.equal(pool.take(200_000), returned);
    // Small and very large requests are plain allocations, still owned by the caller.
    assert.equal(pool.take(100).byteLength, 100);
    assert.equal(pool.take(20 * 1024 * 1024).byteLength, 20 * 1024 * 1024);
    const kept: ArrayBuffer[] = [];
    for (let i = 0; i < 40; i++) kept.push(pool.take(1 << 20));
    for (const k of kept) pool.give(k);
    const reused = new Set(kept);
    let hits = 0;
    for (let i = 0; i < 40; i++) if (reused.has(pool.take(1 << 20))) hits++;
    assert.equal(hits, 32, 'at most 32 MiB kept free');
  });

  it('spares only a free buffer of exactly the size asked, and never makes one', () => {
    const pool = new BufferPool();
    assert.equal(pool.spare(131_072), undefined, 'nothing free: nothing made');
    const a = pool.take(100_000);
    pool.give(a);
    assert.equal(pool.spare(100_000), undefined, 'not a size the pool makes');
    assert.equal(pool.spare(262_144), undefined, 'another size');
    assert.equal(pool.spare(131_072), a);
    assert.equal(pool.spare(131_072), undefined, 'handed out once');
    assert.notEqual(pool.take(131_072), a);
  });
});
