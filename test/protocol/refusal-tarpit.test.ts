// The tarpit on a mocked clock: a caller's refusals past its rate are answered in arrival order at
// its rate; one whose client is gone takes no turn; none waits past the longest wait; past the most
// held, answered at once with the connection closed; callers do not wait for each other.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { RefusalTarpit, type RefusalTarpitOptions } from '../../src/protocol/refusal-tarpit.js';

let clock = 0;
const advance = (ms: number) => {
  clock += ms;
  mock.timers.tick(ms);
};

interface Answer { name: string; at: number; close: boolean }

function tarpit(opts: Partial<RefusalTarpitOptions>) {
  const pit = new RefusalTarpit({ perSecond: 10, delayMs: 50, maxHeld: 100, maxWaitMs: 60_000, now: () => clock, ...opts });
  const answers: Answer[] = [];
  const refuse = (name: string, caller = 'a') => pit.refuse(caller, (close) => answers.push({ name, at: clock, close }));
  return { refuse, answers };
}

describe('refusal tarpit', () => {
  beforeEach(() => {
    clock = 0;
    mock.timers.enable({ apis: ['setTimeout'] });
  });
  afterEach(() => mock.timers.reset());

  it('answers up to its rate at once, then the rest in arrival order, one per 1000 / rate ms', () => {
    const { refuse, answers } = tarpit({ perSecond: 10, delayMs: 50 });
    for (let i = 0; i < 15; i++) refuse(`r${i}`);
    assert.equal(answers.length, 10, 'the burst: one second\'s worth at once');
    advance(49);
    assert.equal(answers.length, 10, 'the rest wait at least the delay');
    for (let i = 0; i < 600; i++) advance(1);
    assert.deepEqual(answers.map((a) => a.name), Array.from({ length: 15 }, (_, i) => `r${i}`));
    // The bucket refills meanwhile, but the waiting are paced by the line, not the bucket.
    assert.deepEqual(answers.slice(10).map((a) => a.at), [50, 150, 250, 350, 450]);
    assert.ok(answers.every((a) => !a.close));
  });

  it('lets a refusal whose client is gone leave the line without taking a turn', () => {
    const { refuse, answers } = tarpit({ perSecond: 1, delayMs: 50 });
    refuse('at once');
    // A flood's refusals, then its connections close: 1,000 s of turns at 1 a second.
    const cancels = Array.from({ length: 100 }, (_, i) => refuse(`flood ${i}`));
    advance(10);
    for (const cancel of cancels) cancel();
    refuse('next');
    for (let i = 0; i < 100; i++) advance(1);
    assert.deepEqual(answers.map((a) => [a.name, a.at]), [['at once', 0], ['next', 60]], 'the gone took no turn and were not answered');
  });

  it('gives a refusal left first the turn of the one ahead that went', () => {
    const { refuse, answers } = tarpit({ perSecond: 10, delayMs: 50 });
    for (let i = 0; i < 10; i++) refuse('burst');
    refuse('first');
    const cancelSecond = refuse('second');
    refuse('third');
    advance(50);
    cancelSecond();
    for (let i = 0; i < 200; i++) advance(1);
    assert.deepEqual(answers.slice(10).map((a) => [a.name, a.at]), [['first', 50], ['third', 150]]);
  });

  it('answers a refusal waiting past the longest wait with its connection closed, and then the next in its turn', () => {
    const { refuse, answers } = tarpit({ perSecond: 1, delayMs: 50, maxWaitMs: 300 });
    refuse('at once');
    for (let i = 0; i < 4; i++) refuse(`held ${i}`);
    for (let i = 0; i < 400; i++) advance(1);
    assert.deepEqual(answers.map((a) => [a.name, a.at, a.close]), [
      ['at once', 0, false], ['held 0', 50, false], ['held 1', 300, true], ['held 2', 300, true], ['held 3', 300, true],
    ]);
    // The let go took no turns: the next refusal past the rate waits the delay and held 0's pace only.
    advance(600);
    refuse('at once again');
    refuse('later');
    for (let i = 0; i < 100; i++) advance(1);
    assert.deepEqual(answers.slice(5).map((a) => [a.name, a.at, a.close]), [['at once again', 1000, false], ['later', 1050, false]]);
  });

  it('never waits less than the delay, whatever the longest wait', () => {
    const { refuse, answers } = tarpit({ perSecond: 1, delayMs: 50, maxWaitMs: 0 });
    refuse('at once');
    refuse('held');
    for (let i = 0; i < 100; i++) advance(1);
    assert.deepEqual(answers.map((a) => [a.name, a.at]), [['at once', 0], ['held', 50]]);
  });

  it('answers at once with the connection closed past the most held, and counts only those still waiting', () => {
    const { refuse, answers } = tarpit({ perSecond: 1, delayMs: 50, maxHeld: 2 });
    refuse('at once');
    const cancel = refuse('held 1');
    refuse('held 2');
    refuse('over');
    assert.deepEqual(answers.map((a) => [a.name, a.close]), [['at once', false], ['over', true]]);
    cancel();
    refuse('held 3');
    assert.equal(answers.length, 2, 'a gone refusal no longer counts against the most held');
  });

  it('keeps each caller\'s line to itself', () => {
    const { refuse, answers } = tarpit({ perSecond: 1, delayMs: 50 });
    refuse('a at once', 'a');
    for (let i = 0; i < 10; i++) refuse(`a ${i}`, 'a');
    refuse('b at once', 'b');
    refuse('b held', 'b');
    for (let i = 0; i < 100; i++) advance(1);
    assert.deepEqual(answers.map((a) => [a.name, a.at]), [['a at once', 0], ['b at once', 0], ['a 0', 50], ['b held', 50]]);
  });
});
