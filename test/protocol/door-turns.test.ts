// The REST door's work past reading a body runs in priority order, a slice per event-loop turn:
// the highest priority seen lately goes at once, lower ones wait, highest first, first come within
// a priority; a slice ends after its time so other events run between slices.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DoorTurns } from '../../src/protocol/door-turns.js';

const HIGH = 2, NORMAL = 1, LOW = 0;

describe('door turns', () => {
  it('lets the highest priority seen lately go at once, and the rest in priority order, first come within one', async () => {
    let now = 0;
    const turns = new DoorTurns(Infinity, () => now);
    assert.equal(turns.turn(NORMAL), undefined, 'alone, a normal tenant waits for no one');
    assert.equal(turns.turn(HIGH), undefined);
    const order: string[] = [];
    const wait = (rank: number, name: string) => turns.turn(rank)!.then(() => { order.push(name); });
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
    const queues = (turns as unknown as { queues: unknown[][] }).queues;
    const done: number[] = [];
    let queued = 0;
    let longest = 0;
    // Each piece of work queues the next one: 100 always waiting, 20,000 in all.
    const work = (): Promise<void> => {
      const id = queued++;
      return turns.turn(LOW)!.then(() => {
        done.push(id);
        now += 0.3;
        longest = Math.max(longest, queues[LOW].length);
        return queued < 20_000 ? work() : undefined;
      });
    };
    await Promise.all(Array.from({ length: 100 }, work));
    assert.equal(done.length, 20_000);
    assert.ok(done.every((id, i) => id === i), 'first come, first served throughout');
    assert.ok(longest <= 2 * 1024 + 100, `the queue's array stays bounded: ${longest} slots at most`);
  });
});
