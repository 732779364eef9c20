// The REST door's work past reading a body runs in priority order, a slice per event-loop turn:
// the highest priority seen lately goes at once, lower ones wait, highest first, first come within
// a priority; a slice ends after its time so other events run between slices.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { DoorTurns } from '../../src/protocol/door-turns.js';
import { DoorLedger, type DoorCaller } from '../../src/protocol/door-ledger.js';

const HIGH = { tenant: 'h', weight: 1, priority: 2 }, NORMAL = { tenant: 'n', weight: 1, priority: 1 }, LOW = { tenant: 'l', weight: 1, priority: 0 };

describe('door turns', () => {
  it('lets the highest priority seen lately go at once, and the rest in priority order, first come within one', async () => {
    let now = 0;
    const turns = new DoorTurns(Infinity, () => now);
    assert.equal(turns.turn(NORMAL), undefined, 'alone, a normal tenant waits for no one');
    assert.equal(turns.turn(HIGH), undefined);
    const order: string[] = [];
    const wait = (who: DoorCaller, name: string) => turns.turn(who)!.then(() => { order.push(name); });
    const all = [wait(LOW, 'low 1'), wait(NORMAL, 'normal 1'), wait(LOW, 'low 2'), wait(NORMAL, 'normal 2')];
    assert.equal(turns.turn(HIGH), undefined, 'the highest priority still goes at once');
    await Promise.all(all);
    assert.deepEqual(order, ['normal 1', 'normal 2', 'low 1', 'low 2']);
    // Past the hold, the highest priority lately is normal: it goes at once again.
    now += 1001;
    assert.equal(turns.turn(NORMAL), undefined);
    assert.ok(turns.turn(LOW), 'a lower one still waits');
  });

  it('does not let work of a priority go at once past work of that priority already waiting', async () => {
    let now = 0;
    const turns = new DoorTurns(Infinity, () => now);
    turns.turn(HIGH);
    const order: string[] = [];
    const first = turns.turn(NORMAL)!.then(() => order.push('waited'));
    now += 1001; // the high tenant went quiet: normal is now the highest priority
    const second = turns.turn(NORMAL);
    assert.ok(second, 'queued behind the normal work already waiting');
    await Promise.all([first, second!.then(() => order.push('later'))]);
    assert.deepEqual(order, ['waited', 'later']);
  });

  it('ends a slice after its time: events queued meanwhile run before the next slice', async () => {
    let now = 0;
    const turns = new DoorTurns(1, () => now);
    turns.turn(HIGH);
    const order: string[] = [];
    const work = (name: string) => turns.turn(LOW)!.then(() => {
      order.push(name);
      now += 0.6; // each piece of work takes 0.6 ms of the slice
      if (name === 'a') setImmediate(() => order.push('another event'));
    });
    await Promise.all(['a', 'b', 'c', 'd'].map(work));
    // a and b fill the 1 ms slice; the event queued by a runs before c.
    assert.deepEqual(order, ['a', 'b', 'another event', 'c', 'd']);
  });

  it('keeps a queue that never empties bounded, and its work in order', async () => {
    let now = 0;
    const turns = new DoorTurns(1, () => now);
    turns.turn(HIGH);
    const done: number[] = [];
    let queued = 0;
    let longest = 0;
    // Each piece of work queues the next one: 100 always waiting, 20,000 in all.
    const work = (): Promise<void> => {
      const id = queued++;
      return turns.turn(LOW)!.then(() => {
        done.push(id);
        now += 0.3;
        longest = Math.max(longest, turns.slotsOf(LOW.priority, LOW.tenant));
        return queued < 20_000 ? work() : undefined;
      });
    };
    await Promise.all(Array.from({ length: 100 }, work));
    assert.equal(done.length, 20_000);
    assert.ok(done.every((id, i) => id === i), 'first come, first served throughout');
    assert.ok(longest <= 2 * 1024 + 100, `the queue's array stays bounded: ${longest} slots at most`);
  });
});

describe('door turns within a priority', () => {
  /** Turns whose ledger runs on a fake clock and a loop busy 90% of each 100 ms window. */
  function busyDoor() {
    let now = 0, busy = 0;
    const ledger = new DoorLedger({ now: () => now, busyMs: () => busy, windowMs: 100 });
    const turns = new DoorTurns(Infinity, () => now, ledger);
    /** 10 windows in which each [who, ms] used that much of the door. */
    const use = (work: Array<[DoorCaller, number]>) => {
      for (let i = 0; i < 10; i++) {
        for (const [who, ms] of work) turns.charge(who, ms, true);
        now += 100;
        busy += 90;
      }
    };
    return { turns, use, ledger };
  }
  const PEER = { tenant: 'p', weight: 1, priority: 1 };

  it('makes a tenant over its share wait its turn while its peer goes at once', async () => {
    const { turns, use } = busyDoor();
    use([[NORMAL, 80], [PEER, 10]]);
    const waiting = turns.turn(NORMAL);
    assert.ok(waiting, 'the tenant that took 8 of every 9 ms waits');
    assert.equal(turns.turn(PEER), undefined, 'its peer goes at once');
    await waiting;
  });

  it('serves the waiting tenant that used the door least per weight first, whoever queued first', async () => {
    const { turns, use } = busyDoor();
    use([[NORMAL, 60], [PEER, 30]]);
    turns.turn(HIGH); // normal work now waits its turn
    const order: string[] = [];
    const all = [
      turns.turn(NORMAL)!.then(() => order.push('heavy 1')),
      turns.turn(NORMAL)!.then(() => order.push('heavy 2')),
      turns.turn(PEER)!.then(() => order.push('light 1')),
    ];
    await Promise.all(all);
    assert.deepEqual(order, ['light 1', 'heavy 1', 'heavy 2']);
  });

  it('makes the first turn of a paced tenant\'s request wait its pace, and lets its peer\'s go at once', async () => {
    const { turns, use, ledger } = busyDoor();
    use([[NORMAL, 60], [PEER, 30]]);
    const pace = ledger.paceMs(NORMAL.tenant);
    assert.ok(pace > 0, 'saturated, and over its share: paced');
    const started = performance.now();
    await turns.turn(NORMAL, true);
    assert.ok(performance.now() - started >= pace - 1, `waited ${performance.now() - started} ms of its ${pace} ms pace`);
    assert.equal(turns.turn(PEER, true), undefined, 'its peer is not paced');
  });

  it('serves a tenant whose use per weight is Infinity (a tiny weight) like any other', async () => {
    const { turns, use } = busyDoor();
    const tiny = { tenant: 't', weight: Number.MIN_VALUE, priority: 1 };
    use([[tiny, 50], [PEER, 40]]);
    turns.turn(HIGH); // normal work now waits its turn
    const order: string[] = [];
    await Promise.all([turns.turn(tiny)!.then(() => order.push('tiny')), turns.turn(PEER)!.then(() => order.push('peer'))]);
    assert.deepEqual(order, ['peer', 'tiny']);
  });
});

