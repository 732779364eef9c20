// `pareto simulate`'s workloads from files (traces of timestamps, per-second rates, per tenant,
// with tenants.yaml's terms) and the --plan search over worker counts.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Report } from '../../src/loadgen/report.js';
import { planWorkers } from '../../src/simulate/plan-workers.js';
import { ratesWorkload, readRates, tenantsFileTerms, traceWorkload, uniformTerms, until, WorkloadError } from '../../src/simulate/workload.js';

const dir = mkdtempSync(join(tmpdir(), 'pareto-workload-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => { const p = join(dir, name); writeFileSync(p, text); return p; };
const drain = (it: Iterator<number>) => { const out: number[] = []; for (let a = it.next(); !a.done; a = it.next()) out.push(a.value); return out; };

const tenantsYaml = file('tenants.yaml', `tenants:
  - id: acme
    keys: ["sha256:${'1'.repeat(64)}"]
    models: ["*"]
    weight: 2
    priority: high
    slo: { default: { latency_ms: 20 }, models: { other: { latency_ms: 5, min_accuracy: 0.9 } } }
  - id: globex
    keys: ["sha256:${'2'.repeat(64)}"]
    models: ["*"]
`);

describe('simulate workloads from files', () => {
  it("replays a trace per tenant, only this model's lines, with each tenant's terms from tenants.yaml, afresh for every run", () => {
    const trace = file('trace.csv', 'time_ms,tenant,model\n0,acme\n5,globex,m\n7,acme,other\n9,acme,m\n12.5,globex\n');
    const w = traceWorkload(trace, 'm', 4, tenantsFileTerms(tenantsYaml, 'm'));
    const tenants = w.tenants();
    assert.deepEqual(tenants.map((t) => [t.id, t.weight, t.priority, t.sloMs, t.rows, drain(t.arrivals)]), [
      ['acme', 2, 2, 20, 4, [0, 9]],
      ['globex', 1, 1, undefined, 4, [5, 12.5]],
    ]);
    assert.deepEqual(drain(w.tenants()[0].arrivals), [0, 9], 'a second run gets the arrivals again');
    assert.deepEqual(drain(until(w, 6).tenants()[1].arrivals), [5]);
    const other = traceWorkload(trace, 'other', 1, tenantsFileTerms(tenantsYaml, 'other')).tenants()[0];
    assert.deepEqual([other.sloMs, other.minAccuracy], [5, 0.9], "the model's own SLO overrides the default");
  });

  it('names what is wrong: a tenant missing from tenants.yaml, a bad line, a trace with nothing for the model', () => {
    const trace = file('stranger.csv', '0,initech\n');
    assert.throws(() => traceWorkload(trace, 'm', 1, tenantsFileTerms(tenantsYaml, 'm')), (e: Error) => e instanceof WorkloadError && /tenant 'initech' is not in/.test(e.message));
    assert.throws(() => traceWorkload(file('none.csv', '0,acme,x\n'), 'm', 1, uniformTerms(10)), /no arrivals for model 'm'/);
    assert.throws(() => readRates(file('bad.csv', '0,100\n1,fast\n')), /bad.csv:2: want 'second,samples_per_second/);
  });

  it('draws Poisson arrivals at per-second rates per tenant, or one rate per line', () => {
    assert.deepEqual([...readRates(file('col.csv', '10\n20\n30\n'))], [['default', [[0, 10], [1000, 20], [2000, 30]]]]);
    const w = ratesWorkload(file('rates.csv', 'second,rate,tenant\n0,2000,a\n1,0,a\n2,4000,a\n0,1000,b\n'), 2, uniformTerms(50), 7);
    assert.equal(w.endMs, 3000);
    const [a, b] = w.tenants().map((t) => drain(t.arrivals));
    // a: 2,000 samples in second 0, none in 1, 4,000 in 2 → 1,000, 0 and 2,000 requests of 2 rows.
    const inSecond = (times: number[], s: number) => times.filter((t) => t >= s * 1000 && t < (s + 1) * 1000).length;
    assert.ok(Math.abs(inSecond(a, 0) - 1000) < 100 && inSecond(a, 1) === 0 && Math.abs(inSecond(a, 2) - 2000) < 140, `${[0, 1, 2].map((s) => inSecond(a, s))}`);
    assert.ok(Math.abs(b.length - 500) < 70 && b.every((t) => t < 1000), `${b.length} for b`);
    assert.deepEqual(w.tenants().map((t) => drain(t.arrivals).length), [a.length, b.length], 'seeded: the same arrivals every run');
  });
});

describe('--plan worker search', () => {
  const report = (slo: number, accuracy: number) => ({ report: { overall: { sloAttainment: slo, accuracyServed: accuracy } } as unknown as Report });

  it('scans where attainment is not monotone: the fewest workers meeting both the SLO and the accuracy targets', () => {
    // One worker meets the SLO on the fast variant (90%); 2–5 miss it on a slower one; 6 meet both.
    const run = (w: number) => (w === 1 ? report(0.995, 0.9) : w < 6 ? report(0.95, 0.96) : report(0.995, 0.96));
    const slo = planWorkers(run, { slo: 0.99, accuracy: 0, maxWorkers: 100 });
    assert.ok(slo.found && slo.workers === 1);
    const both = planWorkers(run, { slo: 0.99, accuracy: 0.95, maxWorkers: 100 });
    assert.ok(both.found && both.workers === 6, JSON.stringify(both.tried));
    assert.deepEqual(both.tried.map((t) => t.workers), [1, 2, 3, 4, 5, 6], 'every count, not a bisection');
  });

  it('past 64 workers, steps by a tenth and bisects the last step', () => {
    const plan = planWorkers((w) => (w >= 150 ? report(1, 1) : report(0.5, 1)), { slo: 0.99, accuracy: 0, maxWorkers: 4096 });
    assert.ok(plan.found && plan.workers === 150);
    assert.ok(plan.tried.length < 64 + 12 + 6, `${plan.tried.length} runs`);
  });

  it('says when no count up to the limit can, with the best it saw', () => {
    const plan = planWorkers((w) => report(0.9 + w / 1000, 0.95), { slo: 0.99, accuracy: 0, maxWorkers: 20 });
    assert.ok(!plan.found);
    assert.match(plan.reason, /no worker count up to 20 meets them; the best was 20 workers: 92\.00% of SLOs/);
  });

  it('pareto simulate --plan answers both questions on a real profile, and says when the profiles rule every count out', () => {
    const cli = join(process.cwd(), 'dist/src/cli/main.js');
    const trace = file('burst.csv', Array.from({ length: 4000 }, (_, i) => `${(i * 2.5).toFixed(1)},${i % 3 ? 'acme' : 'globex'}`).join('\n'));
    // globex (normal priority) makes way for acme (high) in batches of its own, on the fastest
    // variant that meets its floor: 97.30% served over both at any count.
    const out = execFileSync(process.execPath, [cli, 'simulate', 'models/mnist-mlp-wide', '--trace', trace, '--tenants-file', tenantsYaml, '--rows', '32', '--plan', '--min-accuracy-served', '0.97'], { encoding: 'utf8' });
    assert.match(out, /recommendation: \d+ workers meet 99\.0% SLO attainment at ≥ 97\.00% accuracy served/);
    const none = spawnSync(process.execPath, [cli, 'simulate', 'models/mnist-mlp-wide', '--rate', '1000', '--slo-ms', '50', '--plan', '--min-accuracy-served', '0.999', '--duration', '2'], { encoding: 'utf8' });
    assert.equal(none.status, 2);
    assert.match(none.stdout, /no worker count can meet .*the most accurate variant measures/);
  });
});
