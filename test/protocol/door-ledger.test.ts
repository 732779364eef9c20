// Each tenant's front-door CPU: measured work charged as measured, the loop's other busy time
// (framing, collection) shared out by requests, and a tenant over its weight's part of its
// priority's use while the loop is busy is over its share.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DoorLedger, type DoorCaller } from '../../src/protocol/door-ledger.js';

const A: DoorCaller = { tenant: 'a', weight: 1, priority: 1 };
const B: DoorCaller = { tenant: 'b', weight: 1, priority: 1 };

/** A ledger on a fake clock and a fake loop: `run(ms, busyMs)` advances both. */
function fakeLoop() {
  let now = 0, busy = 0;
  const ledger = new DoorLedger({ now: () => now, busyMs: () => busy, windowMs: 100, halfLifeMs: 1000 });
  return { ledger, run: (ms: number, busyMs: number) => { now += ms; busy += busyMs; } };
}

/** Per window: each tenant's requests and measured ms, the loop busy for `busy` of its 100 ms. */
function windows(loop: ReturnType<typeof fakeLoop>, n: number, busy: number, work: Array<[DoorCaller, number, number]>) {
  for (let i = 0; i < n; i++) {
    for (const [who, requests, ms] of work) for (let r = 0; r < requests; r++) loop.ledger.charge(who, ms / requests, true);
    loop.run(100, busy);
  }
  loop.ledger.overShare(A); // settles the last window
}

describe('door ledger', () => {
  it('charges measured work as measured and shares the loop\'s other busy time out by requests', () => {
    const loop = fakeLoop();
    // One window: a sends 1 request of 10 ms, b 3 requests of 2 ms; the loop was busy 100 ms.
    windows(loop, 1, 100, [[A, 1, 10], [B, 3, 6]]);
    const totals = loop.ledger.totals();
    // 84 ms unmeasured over 4 requests: 21 each.
    assert.equal(totals.get('a'), 10 + 21);
    assert.equal(totals.get('b'), 6 + 3 * 21);
  });

  it('shares the gRPC thread\'s busy time out over the calls it framed alone', () => {
    let now = 0, busy = 0, thread = 0;
    const ledger = new DoorLedger({ now: () => now, busyMs: () => busy, offLoopBusyMs: () => thread, windowMs: 100, halfLifeMs: 1000 });
    // One window: a sends 2 REST requests, b 2 calls framed on the thread, each 2 ms measured;
    // the loop was busy 40 ms, the thread 30 ms.
    for (let i = 0; i < 2; i++) {
      ledger.charge(A, 2, true);
      ledger.charge(B, 2, true, true);
    }
    now += 100; busy += 40; thread += 30;
    ledger.overShare(A);
    // The loop's 32 unmeasured ms over 4 requests: 8 each; the thread's 30 ms over b's 2 calls.
    assert.equal(ledger.totals().get('a'), 4 + 16);
    assert.equal(ledger.totals().get('b'), 4 + 16 + 30);
    // Only what the thread did since the last window is shared out next.
    ledger.charge(B, 0, true, true);
    now += 100; busy += 8; thread += 6;
    ledger.overShare(A);
    assert.equal(ledger.totals().get('b'), 50 + 8 + 6);
  });

  it('puts nobody over its share while the loop has room, and the larger user over it once the loop is busy', () => {
    const loop = fakeLoop();
    windows(loop, 10, 20, [[A, 9, 18], [B, 1, 2]]);
    assert.equal(loop.ledger.overShare(A), false, 'a loop busy 20% of the time has room for both');
    windows(loop, 10, 90, [[A, 9, 80], [B, 1, 9]]);
    assert.equal(loop.ledger.overShare(A), true);
    assert.equal(loop.ledger.overShare(B), false);
  });

  it('gives each tenant its weight\'s part: twice the weight may use twice as much', () => {
    const heavy = { ...A, weight: 2 };
    const loop = fakeLoop();
    windows(loop, 10, 90, [[heavy, 6, 60], [B, 4, 30]]);
    assert.equal(loop.ledger.overShare(heavy), false, 'weight 2 of 3, about 64% of the use: within its two thirds');
    const even = fakeLoop();
    windows(even, 10, 90, [[A, 6, 60], [B, 4, 30]]);
    assert.equal(even.ledger.overShare(A), true, 'at weight 1 of 2, the same use is over its half');
  });

  it('shares the door only among tenants of one priority: alone at its own, a tenant is never over its share', () => {
    const high = { tenant: 'h', weight: 1, priority: 2 };
    const loop = fakeLoop();
    windows(loop, 10, 95, [[A, 9, 85], [high, 1, 5]]);
    assert.equal(loop.ledger.overShare(A), false, 'a higher priority\'s use does not count against a normal tenant');
  });

  it('forgets: once the loop has been idle a while, the heavy user is no longer over its share', () => {
    const loop = fakeLoop();
    windows(loop, 10, 90, [[A, 9, 80], [B, 1, 9]]);
    assert.equal(loop.ledger.overShare(A), true);
    const before = loop.ledger.normalizedUse('a');
    windows(loop, 30, 1, []); // three half-lives
    assert.equal(loop.ledger.overShare(A), false);
    const after = loop.ledger.normalizedUse('a');
    assert.ok(Math.abs(after - before / 8) < 1, `${before.toFixed(1)} ms decayed to ${after.toFixed(1)} ms`);
  });

  it('paces a tenant over its share while the loop is saturated, more each window it stays over, and stops once the loop has room', () => {
    const loop = fakeLoop();
    windows(loop, 10, 50, [[A, 9, 40], [B, 1, 5]]);
    assert.equal(loop.ledger.paceMs('a'), 0, 'below saturation, no pace');
    windows(loop, 8, 95, [[A, 7, 65], [B, 3, 28]]); // the loop's busy share climbs past saturation
    const paces: number[] = [];
    for (let i = 0; i < 4; i++) {
      windows(loop, 1, 95, [[A, 7, 65], [B, 3, 28]]);
      paces.push(loop.ledger.paceMs('a'));
    }
    assert.ok(paces.every((p, i) => i === 0 || p > paces[i - 1]), `grows while over: ${paces.map((p) => p.toFixed(2))}`);
    assert.equal(loop.ledger.paceMs('b'), 0, 'its peer, under its share, is not paced');
    windows(loop, 20, 10, [[A, 9, 5], [B, 1, 1]]);
    assert.equal(loop.ledger.paceMs('a'), 0, 'the loop has room again');
  });

  it('does not pace a flood beside a peer that wants little: the rest of the loop is the flood\'s to use', () => {
    const loop = fakeLoop();
    windows(loop, 20, 95, [[A, 9, 88], [B, 1, 5]]);
    assert.equal(loop.ledger.overShare(A), true, 'its work still waits its turn behind the peer\'s');
    assert.equal(loop.ledger.paceMs('a'), 0);
  });

  it('paces no one whose peers have gone quiet', () => {
    const loop = fakeLoop();
    windows(loop, 10, 95, [[A, 7, 65], [B, 3, 28]]);
    assert.ok(loop.ledger.paceMs('a') > 0);
    windows(loop, 10, 95, [[A, 10, 90]]);
    assert.equal(loop.ledger.paceMs('a'), 0, 'alone, it may have the whole loop');
  });
});
