import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DynamicBatcher } from '../../src/scheduler/dynamic-batcher.js';

const item = (samples: number, arrival: number) => ({ samples, arrival });

describe('dynamic batcher', () => {
  it('with no delay, a batch is ready at once and takes everything up to the max', () => {
    const b = new DynamicBatcher({ maxBatchSize: 4, maxQueueDelayMs: 0 });
    for (let i = 0; i < 6; i++) b.push(item(1, 0));
    assert.equal(b.take(0)?.length, 4);
    assert.equal(b.take(0)?.length, 2);
    assert.equal(b.take(0), undefined);
  });

  it('waits for max_queue_delay unless the batch is full', () => {
    const b = new DynamicBatcher({ maxBatchSize: 4, maxQueueDelayMs: 5 });
    b.push(item(1, 10));
    b.push(item(1, 12));
    assert.equal(b.readyAt(), 15);
    assert.equal(b.take(14), undefined);
    assert.equal(b.take(15)?.length, 2);
    b.push(item(2, 20));
    b.push(item(2, 20));
    assert.equal(b.take(20)?.length, 2, 'a full batch leaves before the delay');
  });

  it('never splits a request and never exceeds the max, but always takes at least one', () => {
    const b = new DynamicBatcher({ maxBatchSize: 4, maxQueueDelayMs: 0 });
    b.push(item(3, 0));
    b.push(item(2, 0));
    assert.deepEqual(b.take(0)?.map((x) => x.samples), [3]);
    assert.deepEqual(b.take(0)?.map((x) => x.samples), [2]);
    const big = new DynamicBatcher({ maxBatchSize: 1, maxQueueDelayMs: 0 });
    big.push(item(8, 0));
    assert.equal(big.take(0)?.[0].samples, 8);
    assert.equal(big.samples, 0);
  });

  it('keeps FIFO order across many pushes and takes', () => {
    const b = new DynamicBatcher<{ samples: number; arrival: number }>({ maxBatchSize: 7, maxQueueDelayMs: 0 });
    const seen: number[] = [];
    for (let i = 0; i < 5000; i++) {
      b.push(item(1, i));
      if (i % 3 === 0) seen.push(...b.take(i)!.map((x) => x.arrival));
    }
    seen.push(...b.drain().map((x) => x.arrival));
    assert.deepEqual(seen, Array.from({ length: 5000 }, (_, i) => i));
  });
});
