// The autoscaler's arithmetic on a fake clock, and `pareto cluster up` acting on it for real:
// worker processes started under load and stopped (gracefully) when it ends.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { performance } from 'node:perf_hooks';
import { Autoscaler } from '../../src/cluster/autoscaler.js';
import { ClusterModels } from '../../src/cluster/cluster-models.js';
import { LocalCluster } from '../../src/cluster/local-cluster.js';
import { clusterRepository, redisMissing, until } from '../helpers/cluster.js';
import { binaryInfer, digits } from '../helpers/server.js';

function catalog(): ClusterModels {
  const models = new ClusterModels(() => 1);
  const sig = { name: 'm', versions: ['accurate', 'fast'], inputs: [{ name: 'x', datatype: 'FP32' as const, shape: [-1, 4] }], outputs: [{ name: 'y', datatype: 'FP32' as const, shape: [-1, 2] }] };
  const variant = (name: string, accuracy: number, ms64: number) => ({ name, has_profile: true, accuracy, latency: [{ batch_size: 1, p50_ms: 0.1 }, { batch_size: 64, p50_ms: ms64 }], batches: 0, mean_compute_ms: 0, mean_batch_size: 0 });
  models.add(sig, { name: 'm', batching: true, max_batch_size: 64, max_queue_delay_ms: 0, policy: 'adaptive', default_variant: 'accurate', queued_samples: 0, variants: [variant('accurate', 0.98, 3.2), variant('fast', 0.95, 0.64)] });
  return models;
}

describe('autoscaler', () => {
  it('sizes each variant from the smoothed arrival rate, its cost at the batch the SLO allows, and executors per worker', () => {
    const arrived = new Map<string, number>();
    const workers = { list: () => [{ up: true, report: { executors: 2 } }] };
    let slo = Infinity;
    const scaler = new Autoscaler({ arrived }, catalog(), workers, 0.5, () => slo, 1);
    scaler.close();
    const t0 = performance.now();
    // 100,000 samples/s for 20 s (20 windows): the estimate converges on the rate.
    for (let s = 1; s <= 20; s++) { arrived.set('m', s * 100_000); scaler.tick(t0 + s * 1000); }
    const plan = scaler.plan();
    const accurate = plan.find((r) => r.variant === 'accurate')!, fast = plan.find((r) => r.variant === 'fast')!;
    assert.ok(Math.abs(accurate.rate - 100_000) < 100, `rate ${accurate.rate}`);
    // accurate: 3.2 ms per 64 samples = 0.05 ms/sample → 5 executor-seconds per second; 2 executors × 0.5 per worker.
    assert.equal(accurate.batch, 64);
    assert.ok(Math.abs(accurate.busy - 5) < 0.01);
    assert.equal(accurate.replicas, 5);
    assert.equal(fast.replicas, 1);
    assert.ok(Math.abs(scaler.workerLoad() - 5) < 0.01, 'the cluster is sized for the most accurate variant');
    // A 2 ms SLO allows batches of 1 ms (half): 16 here, less efficient, so more workers.
    slo = 2;
    const tight = scaler.plan().find((r) => r.variant === 'accurate')!;
    assert.equal(tight.batch, 16);
    assert.ok(tight.replicas > accurate.replicas);
    // Load stops: the estimate decays.
    for (let s = 21; s <= 30; s++) scaler.tick(t0 + s * 1000);
    assert.ok(scaler.workerLoad() < 0.01);
  });

  it('`pareto cluster up` starts workers under load and stops them gracefully after it', { skip: redisMissing(), timeout: 90_000 }, async () => {
    const repo = clusterRepository();
    const lines: string[] = [];
    const cluster = new LocalCluster({
      repository: repo.dir, gateways: 1, minWorkers: 1, maxWorkers: 3, executorsPerWorker: 1, host: '127.0.0.1', httpPort: 0, grpcPort: 0,
      // A tiny target utilisation so that load this machine can send asks for 3 workers.
      scaleIntervalMs: 300, targetUtilization: 0.002, autoscaleWindowS: 1, log: (l) => lines.push(l),
    });
    try {
      await cluster.up();
      assert.equal(cluster.workers.length, 1);
      const { body, headers } = binaryInfer(digits(0, 8).pixels, 8);
      let running = true;
      const statuses = new Map<number, number>();
      const url = `http://127.0.0.1:${cluster.gateways[0].httpPort}/v2/models/mnist-mlp/infer`;
      const clients = Array.from({ length: 4 }, async () => {
        while (running) {
          const res = await fetch(url, { method: 'POST', body: new Uint8Array(body), headers, signal: AbortSignal.timeout(10_000) }); // a hang fails, and the finally still stops the cluster
          await res.arrayBuffer();
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        }
      });
      await until(() => cluster.workers.length === 3, 20_000, 'scaled up to 3 workers');
      running = false;
      await Promise.all(clients);
      await until(() => cluster.workers.length === 1, 20_000, 'scaled back down to 1 worker');
      assert.deepEqual([...statuses.keys()], [200], JSON.stringify([...statuses]));
      assert.ok(lines.some((l) => /1 → 3 workers|2 → 3 workers/.test(l)), lines.join('\n'));
    } finally {
      await cluster.down();
      repo.remove();
    }
  });
});
