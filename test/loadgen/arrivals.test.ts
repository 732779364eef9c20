import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { bursts, constant, poissonArrivals, readTrace, steps } from '../../src/loadgen/arrivals.js';
import { jain } from '../../src/loadgen/report.js';

describe('arrival processes', () => {
  it('a Poisson process has the asked rate and exponential gaps (mean = sd)', () => {
    const at = poissonArrivals(constant(1000), 1, 20_000, 7);
    assert.ok(Math.abs(at.length / 20_000 - 1) < 0.03, `${at.length} arrivals in 20 s at 1,000/s`);
    const gaps = at.slice(1).map((t, i) => t - at[i]);
    const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    const sd = Math.sqrt(gaps.reduce((a, g) => a + (g - mean) ** 2, 0) / gaps.length);
    assert.ok(Math.abs(mean - 1) < 0.03, `mean gap ${mean} ms`);
    assert.ok(Math.abs(sd / mean - 1) < 0.05, `coefficient of variation ${sd / mean}`);
    // Counts in disjoint 100 ms windows: Poisson, so variance ≈ mean.
    const counts = new Array(200).fill(0);
    for (const t of at) counts[Math.floor(t / 100)]++;
    const m = counts.reduce((a, b) => a + b, 0) / counts.length;
    const v = counts.reduce((a, c) => a + (c - m) ** 2, 0) / counts.length;
    assert.ok(Math.abs(v / m - 1) < 0.25, `index of dispersion ${v / m}`);
  });

  it('requests carrying several samples arrive proportionally less often', () => {
    assert.ok(Math.abs(poissonArrivals(constant(8000), 8, 10_000, 3).length / 10_000 - 1) < 0.04);
  });

  it('follows a rate schedule: steps, and bursts between two rates', () => {
    const at = poissonArrivals(steps([[0, 200], [5000, 2000]]), 1, 10_000, 5);
    const first = at.filter((t) => t < 5000).length, second = at.length - first;
    assert.ok(Math.abs(first / 1000 - 1) < 0.1, `${first} in the 200/s step`);
    assert.ok(Math.abs(second / 10_000 - 1) < 0.05, `${second} in the 2,000/s step`);
    const b = bursts(100, 1000, 500, 500, 60_000, 9);
    const samples = Array.from({ length: 60_000 }, (_, t) => b(t));
    assert.ok(samples.every((r) => r === 100 || r === 1000));
    const highShare = samples.filter((r) => r === 1000).length / samples.length;
    assert.ok(highShare > 0.35 && highShare < 0.65, `share of time bursting ${highShare}`);
  });

  it('same seed, same trace', () => {
    assert.deepEqual(poissonArrivals(constant(500), 1, 2000, 42), poissonArrivals(constant(500), 1, 2000, 42));
  });

  it('replays a CSV trace with optional tenant and model, header or not', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pareto-trace-'));
    try {
      writeFileSync(join(dir, 't.csv'), 'time_ms,tenant,model\n30,b,m\n10,a\n20\n');
      assert.deepEqual(readTrace(join(dir, 't.csv')), [{ at: 10, tenant: 'a', model: undefined }, { at: 20, tenant: undefined, model: undefined }, { at: 30, tenant: 'b', model: 'm' }]);
      writeFileSync(join(dir, 'bad.csv'), '10\nsoon\n');
      assert.throws(() => readTrace(join(dir, 'bad.csv')), /bad\.csv:2/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("Jain's fairness index is 1 for equal shares and 1/n for one tenant taking all", () => {
    assert.equal(jain([0.5, 0.5, 0.5]), 1);
    assert.ok(Math.abs(jain([1, 0, 0, 0]) - 0.25) < 1e-12);
  });
});
