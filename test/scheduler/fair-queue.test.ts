import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FairQueue, type QueuedRequest } from '../../src/scheduler/fair-queue.js';

const request = (arrival: number, deadline = Infinity): QueuedRequest & { id: number } => ({
  id: arrival, tenant: 'a', weight: 1, priority: 0, samples: 1, arrival, deadline, minAccuracy: 0,
});

describe('fair queue', () => {
  it('serves requests without a deadline in arrival order (none waits behind later ones)', () => {
    const q = new FairQueue<ReturnType<typeof request>>();
    for (let i = 0; i < 200; i++) q.push(request(i));
    const order: number[] = [];
    for (let r = q.popNext(); r; r = q.popNext()) order.push(r.id);
    assert.deepEqual(order, Array.from({ length: 200 }, (_, i) => i));
  });

  it('earliest deadline first, arrival order among equal deadlines, and a request put back keeps its place', () => {
    const q = new FairQueue<ReturnType<typeof request>>();
    [request(0, 50), request(1, 10), request(2, 50), request(3, 10), request(4, 50)].forEach((r) => q.push(r));
    const first = q.popNext()!;
    assert.equal(first.id, 1);
    q.putBack([first]);
    const order: number[] = [];
    for (let r = q.popNext(); r; r = q.popNext()) order.push(r.id);
    assert.deepEqual(order, [1, 3, 0, 2, 4]);
  });
});
