import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { constant, poissonStream, steps } from '../../src/loadgen/arrivals.js';
import { ReportBuilder } from '../../src/loadgen/report.js';
import * as scheduler from '../../src/scheduler/planner.js';
import * as simulator from '../../src/simulate/simulator.js';
import { simulate, type SimVariant } from '../../src/simulate/simulator.js';

// Two variants: accurate (1 sample/ms per worker at batch 32) and fast (20/ms).
const variants: SimVariant[] = [
  { name: 'accurate', accuracy: 0.98, latency: [{ batch: 1, ms: 1 }, { batch: 32, ms: 32 }], latencyP99: [{ batch: 1, ms: 1.2 }, { batch: 32, ms: 36 }] },
  { name: 'fast', accuracy: 0.95, latency: [{ batch: 1, ms: 0.2 }, { batch: 32, ms: 1.6 }], latencyP99: [{ batch: 1, ms: 0.25 }, { batch: 32, ms: 2 }] },
];

function run(rate: (t: number) => number, workers: number, policy: scheduler.Policy = 'adaptive', extra: { slowdown?: number; sharedCoreFrontMs?: number } = {}) {
  const b = new ReportBuilder();
  const r = simulate({
    variants, workers, policy, maxBatchSize: 32, seed: 3, onOutcome: (o) => b.add(o), ...extra,
    tenants: [{ id: 't', weight: 1, priority: 1, sloMs: 100, rows: 1, arrivals: poissonStream(rate, 1, 20_000, 5) }],
  });
  return { report: b.build(20), result: r };
}

describe('simulator', () => {
  it('runs the scheduler module itself, not a copy', () => {
    assert.equal(simulator.PLANNER, scheduler.Planner);
  });

  it('at low load serves the accurate variant and meets every deadline', () => {
    const { report, result } = run(constant(500), 1);
    assert.equal(report.overall.sloAttainment, 1);
    assert.ok(Math.abs(report.overall.accuracyServed! - 0.98) < 1e-9);
    assert.deepEqual(Object.keys(result.workerSeconds), ['accurate']);
  });

  it('under a 3× burst, adaptive slides down the frontier and keeps its deadlines; most-accurate does not', () => {
    const burst = steps([[0, 500], [5000, 3000], [15_000, 500]]);
    const adaptive = run(burst, 1).report.overall;
    const accurate = run(burst, 1, 'most-accurate').report.overall;
    assert.ok(adaptive.sloAttainment! > 0.99, `adaptive ${adaptive.sloAttainment}`);
    assert.ok(accurate.sloAttainment! < 0.8, `most-accurate ${accurate.sloAttainment}`);
    assert.ok(adaptive.accuracyServed! > 0.95 && adaptive.accuracyServed! < 0.98);
  });

  it('more workers carry more load with the accurate variant', () => {
    const one = run(constant(3000), 1).report.overall.accuracyServed!;
    const eight = run(constant(3000), 8).report.overall.accuracyServed!;
    assert.ok(eight > one, `${eight} vs ${one}`);
  });

  it('runs at a measured machine speed: twice as slow, twice the busy time, and the planner steps down sooner', () => {
    const at = (slowdown: number) => run(constant(400), 1, 'most-accurate', { slowdown }).result.workerSeconds.accurate;
    const ratio = at(2) / at(1);
    assert.ok(Math.abs(ratio - 2) < 0.1, `busy time ×${ratio}`);
    const normal = run(constant(700), 1).report.overall.accuracyServed!;
    const slow = run(constant(700), 1, 'adaptive', { slowdown: 2 }).report.overall.accuracyServed!;
    assert.ok(slow < normal, `accuracy served ${slow} at 2× slower vs ${normal}`);
  });

  it('charges front-door CPU on a shared core to the worker: less capacity, longer waits', () => {
    const p99 = (sharedCoreFrontMs: number) => run(constant(600), 1, 'most-accurate', { sharedCoreFrontMs }).report.overall.p99;
    assert.ok(p99(0.5) > p99(0), `${p99(0.5)} vs ${p99(0)}`);
  });

  it('is deterministic for a seed', () => {
    assert.deepEqual(run(constant(2000), 2).report.overall, run(constant(2000), 2).report.overall);
  });
});
