import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { metricSamples, metricValue } from '../../src/telemetry/prometheus-text.js';

const TEXT = `# HELP pareto_cluster_workers Workers known
# TYPE pareto_cluster_workers gauge
pareto_cluster_workers{state="up"} 3
pareto_cluster_workers{state="down"} 1
pareto_cluster_workers_total 9
pareto_batch_size_sum{model="m",version="int8"} 120
pareto_batch_size_sum{model="m",version="fp32"} 64.5
pareto_autoscaler_desired_workers 2.25
`;

describe('reading Prometheus text', () => {
  it('finds a metric by exact name and labels, and NaN when absent', () => {
    assert.equal(metricValue(TEXT, 'pareto_cluster_workers', { state: 'up' }), 3);
    assert.equal(metricValue(TEXT, 'pareto_cluster_workers', { state: 'down' }), 1);
    assert.equal(metricValue(TEXT, 'pareto_autoscaler_desired_workers'), 2.25);
    assert.ok(Number.isNaN(metricValue(TEXT, 'pareto_cluster_workers', { state: 'gone' })));
    assert.ok(Number.isNaN(metricValue(TEXT, 'pareto_nothing')));
  });

  it('lists every sample with its labels, and does not take a longer name for a prefix', () => {
    assert.deepEqual(metricSamples(TEXT, 'pareto_batch_size_sum').map((s) => [s.labels.version, s.value]), [['int8', 120], ['fp32', 64.5]]);
    assert.equal(metricSamples(TEXT, 'pareto_cluster_workers').length, 2);
  });
});
