// The planner on long and irregular service times (issue #16): profiles that fall with the batch
// size, the batch sizes dispatch really forms, the work an executor already holds, and when a
// second batch may wait behind a running one.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { constant, poissonStream } from '../../src/loadgen/arrivals.js';
import { ReportBuilder } from '../../src/loadgen/report.js';
import { ExecutorCommitments } from '../../src/scheduler/executor-commitments.js';
import { FairQueue, type QueuedRequest } from '../../src/scheduler/fair-queue.js';
import { LatencyModel } from '../../src/scheduler/latency-model.js';
import { Planner, type PlannerVariant } from '../../src/scheduler/planner.js';
import { simulate, type SimVariant } from '../../src/simulate/simulator.js';

type R = QueuedRequest & { id: number };
let nextId = 0;
const req = (arrival: number, budget: number): R => ({ id: nextId++, tenant: 't', weight: 1, priority: 1, samples: 1, arrival, deadline: arrival + budget, minAccuracy: 0 });
const points = (ms: number[]) => [1, 2, 4, 8, 16].map((batch, i) => ({ batch, ms: ms[i] }));
// Slower alone than in fours, and dearer per sample past 4.
const dipping = points([115, 100, 94, 250, 600]);

describe('latency model on irregular profiles', () => {
  it('finds the largest batch within a time even where the profile dips (a bisection found 1)', () => {
    const m = new LatencyModel(dipping);
    assert.equal(m.samplesWithin(100, 16), 4);
    assert.equal(m.samplesWithin(50, 16), 1, 'nothing fits: at least one');
  });

  it('knows the batch size cheapest per sample, and never extrapolates a falling profile below zero', () => {
    const m = new LatencyModel(dipping);
    assert.equal(m.bestBatch(16), 4);
    assert.equal(m.bestBatch(2), 2);
    assert.equal(new LatencyModel(points([10, 12, 16, 24, 40])).bestBatch(16), 16);
    const falling = new LatencyModel([{ batch: 1, ms: 20 }, { batch: 4, ms: 10 }]);
    assert.ok(falling.profiled(64) > 0 && falling.profiled(64) >= falling.profiled(8));
  });

  it('forms batches from the arrival rate and the executors: larger with the rate, smaller with more executors, Infinity past capacity', () => {
    const m = new LatencyModel(points([100, 110, 125, 145, 170]));
    assert.equal(m.formedBatch(0.001, 4, 16), 1);
    const one = m.formedBatch(0.05, 1, 16), eight = m.formedBatch(0.05, 8, 16);
    assert.ok(one > eight && eight >= 1, `${one} on 1 executor, ${eight} on 8`);
    assert.equal(m.formedBatch(0.2, 1, 16), Infinity, '16 per 170 ms is 0.094/ms');
  });
});

describe('planner on long batches', () => {
  const variants = [
    { name: 'big', accuracy: 0.95, latency: dipping },
    { name: 'small', accuracy: 0.9, latency: points([2, 3, 5, 9, 17]) },
  ];
  const planner = (executors = 1) => new Planner<R>(variants, { policy: 'adaptive', maxBatchSize: 16, maxQueueDelayMs: 0, executors });

  it('does not grow a batch past the size cheapest per sample; the rest stay queued', () => {
    const p = new Planner<R>(variants, { policy: 'most-accurate', maxBatchSize: 16, maxQueueDelayMs: 0, executors: 4 });
    const q = new FairQueue<R>();
    for (let i = 0; i < 16; i++) q.push(req(0, 10_000));
    const { plan } = p.plan(q, 0);
    assert.equal(plan!.samples, 4);
    assert.equal(q.samples, 12);
  });

  it("counts the work the executor already holds: behind 150 ms of it, a 250 ms budget needs the small variant", () => {
    const q = new FairQueue<R>();
    q.push(req(0, 250));
    assert.equal(planner().plan(q, 0).plan!.variant, 'big');
    q.push(req(0, 250));
    assert.equal(planner().plan(q, 0, { startAt: 150 }).plan!.variant, 'small');
  });

  it('counts what other executors hold when draining the backlog', () => {
    const fill = () => { const q = new FairQueue<R>(); for (let i = 0; i < 8; i++) q.push(req(0, 400)); return q; };
    assert.equal(planner(4).plan(fill(), 0).plan!.variant, 'big');
    assert.equal(planner(4).plan(fill(), 0, { committedMs: 350 }).plan!.variant, 'small');
  });
});

describe('executor commitments', () => {
  it("bound an executor's committed work to half the tightest recent budget, where a tighter class is about", () => {
    const c = new ExecutorCommitments();
    assert.equal(c.roomMs(1, Infinity, 0, 0), Infinity, 'no budget seen: unbounded');
    c.noteArrival(1, 300, 0);
    c.noteArrival(0, 20, 0);
    assert.equal(c.roomMs(1, Infinity, 0, 0), 150, "no-SLO work yields to class 1's 300 ms; class 0's 20 ms does not bind it");
    assert.equal(c.roomMs(0, 500, 0, 0), 10);
    assert.equal(c.roomMs(1, 300, 0, 0), Infinity, 'requests alike: their own deadlines bound their batches');
    c.commit(3, 0, 120);
    const at = c.startAt(3, false, 10);
    assert.equal(at, 120);
    assert.equal(c.roomMs(1, 300, at, 10), 40, 'a second batch behind 110 ms still running: 40 ms left, requests alike or not');
    assert.equal(c.meanCommittedMs(2, 10), 55);
    assert.equal(c.roomMs(1, Infinity, 0, 3000), Infinity, 'budgets are forgotten after two seconds');
  });

  it('a lower class makes way while a higher one is about: its batch waits to fill, on the fastest variant that meets its floor', () => {
    const levels: PlannerVariant[] = [
      { name: 'accurate', accuracy: 0.99, latency: points([1, 2, 3, 4, 5]) },
      { name: 'middle', accuracy: 0.97, latency: points([0.5, 1, 1.5, 2, 2.5]) },
      { name: 'cheap', accuracy: 0.9, latency: points([0.1, 0.2, 0.3, 0.4, 0.5]) },
    ];
    const planner = () => new Planner<R>(levels, { policy: 'adaptive', maxBatchSize: 32, maxQueueDelayMs: 0, executors: 1 });
    const low = (arrival: number, minAccuracy: number): R => ({ ...req(arrival, 500), priority: 0, minAccuracy });
    const c = new ExecutorCommitments(5);
    const queue = (...rs: R[]) => { const q = new FairQueue<R>(); for (const r of rs) q.push(r); return q; };
    for (const r of [0, 0]) c.noteArrival(r, 500, 0);
    const alone = c.plan(planner(), queue(low(0, 0.95)), 0, true, 1, 1);
    assert.equal(alone?.plan?.variant, 'accurate', 'no higher class about: the most accurate variant, at once');
    c.noteArrival(1, 20, 100);
    const held = c.plan(planner(), queue(low(100, 0.95)), 0, true, 1, 101);
    assert.equal(held?.plan, undefined, 'a higher class about: it waits to fill');
    assert.equal(held?.wakeAt, 105);
    const run = c.plan(planner(), queue(low(100, 0.95), low(102, 0.95)), 0, true, 1, 105);
    assert.equal(run?.plan?.variant, 'middle', 'then the fastest variant with its floor of 0.95');
    assert.equal(run?.plan?.requests.length, 2);
    const higher = c.plan(planner(), queue({ ...req(100, 500), priority: 1 }), 0, true, 1, 101);
    assert.equal(higher?.plan?.variant, 'accurate', 'the higher class itself does not wait');
    const later = c.plan(planner(), queue(low(1200, 0)), 0, true, 1, 1200);
    assert.equal(later?.plan?.variant, 'accurate', 'a second after the higher class last came, no longer');
    const off = new ExecutorCommitments(0);
    off.noteArrival(1, 20, 100);
    assert.equal(off.plan(planner(), queue(low(100, 0)), 0, true, 1, 101)?.plan?.variant, 'accurate', 'yieldHoldMs 0: it does not make way');
  });

  it('a worker in the simulator holds no second batch when batches are long against the SLO', () => {
    // 100–170 ms batches, 300 ms SLO, one variant: with a second batch held, requests waited
    // behind two batches and missed their deadline (issue #16); the depth flag now changes nothing.
    const v: SimVariant = { name: 'large', accuracy: 0.96, latency: points([100, 110, 125, 145, 170]), latencyP99: points([115, 126, 144, 167, 195]) };
    const run = (pipelineDepth: number) => {
      const b = new ReportBuilder();
      simulate({ variants: [v], workers: 2, policy: 'most-accurate', maxBatchSize: 16, seed: 2, pipelineDepth, onOutcome: (o) => b.add(o),
        tenants: [{ id: 't', weight: 1, priority: 1, sloMs: 300, rows: 1, arrivals: poissonStream(constant(100), 1, 60_000, 4) }] });
      return b.build(60).overall;
    };
    const one = run(1), two = run(2);
    assert.deepEqual(two, one);
    assert.ok(one.sloAttainment! > 0.99, `${one.sloAttainment}`);
  });
});
