import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { MessageChannel } from 'node:worker_threads';
import { PostBatch } from '../../src/runtime/post-batch.js';

describe('PostBatch', () => {
  it('sends what one turn posts as one message, in order, with its transfers, and a later turn apart', async () => {
    const { port1, port2 } = new MessageChannel();
    const got: unknown[][] = [];
    port2.on('message', (m: unknown[]) => got.push(m));
    const batch = new PostBatch<{ n: number; bytes?: ArrayBuffer }>(port1);
    const a = new Uint8Array([1, 2, 3]).buffer;
    const b = new Uint8Array([4, 5]).buffer;
    batch.post({ n: 1 });
    batch.post({ n: 2, bytes: a }, [a]);
    batch.post({ n: 3, bytes: b }, [b]);
    assert.equal(got.length, 0, 'nothing leaves before the turn ends');
    await once(port2, 'message');
    assert.equal(a.byteLength, 0, 'transferred, not copied');
    assert.equal(b.byteLength, 0);
    batch.post({ n: 4 });
    await once(port2, 'message');
    port1.close();
    assert.equal(got.length, 2);
    assert.deepEqual(got[0].map((m) => (m as { n: number }).n), [1, 2, 3]);
    assert.deepEqual([...new Uint8Array((got[0][1] as { bytes: ArrayBuffer }).bytes)], [1, 2, 3]);
    assert.deepEqual([...new Uint8Array((got[0][2] as { bytes: ArrayBuffer }).bytes)], [4, 5]);
    assert.deepEqual(got[1], [{ n: 4 }]);
  });
});
