// The cluster under real network faults (#18): Redis, 3 workers, 2 gateways and the client, each
// in a network namespace of its own (test/helpers/netns.ts), under steady traffic with a 250 ms
// SLO. Each fault is iptables rules inside one host for FAULT_MS; what is checked: no request
// lost, a bad worker out of routing within 1.5 s and back within 2 s of healing, a worker that is
// fine never taken out, no flapping. bench:faults runs the same faults for 20 s each and prints
// latency before, during and after.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { redisMissing } from '../helpers/cluster.js';
import { FaultCluster } from '../helpers/fault-cluster.js';
import { runFault, SCENARIOS, type FaultRun } from '../helpers/fault-scenarios.js';
import { netnsMissing } from '../helpers/netns.js';

const FAULT_MS = 6000;
const RATE = 300;
const skip = redisMissing() || netnsMissing();

describe('network faults between namespaces', { skip, timeout: 300_000 }, () => {
  let cluster: FaultCluster;

  before(async () => {
    cluster = await FaultCluster.start(250);
    await cluster.warmUp(RATE);
  });

  after(async () => {
    await cluster?.close();
  });

  const show = (r: FaultRun) => JSON.stringify({ ...r, wrongDowns: r.wrongDowns.map((e) => `${e.host}: ${e.msg} ${String(e.fields.address)} (${String(e.fields.why ?? '')})`) });

  for (const scenario of SCENARIOS) {
    it(scenario.name, async () => {
      const r = await runFault(cluster, scenario, { rate: RATE, beforeMs: 3000, faultMs: FAULT_MS, afterMs: 3000 });
      console.log(`# ${show(r)}`);
      assert.equal(r.lost, 0, `every request answered: ${show(r)}`);
      assert.deepEqual(r.wrongDowns, [], 'no worker that still serves is taken out of routing');
      assert.equal(r.flaps, 0, 'out once and back once, no flapping');
      const expected = scenario.down(cluster);
      for (const [g, ws] of expected) {
        for (const w of ws) {
          const down = r.downAfterMs[`${g}→${w}`];
          const up = r.upAfterMs[`${g}→${w}`];
          assert.ok(down !== undefined && down <= 1500, `${g} takes ${w} out within 1.5 s (${down} ms)`);
          assert.ok(up !== undefined && up <= 2000, `${g} routes to ${w} again within 2 s of healing (${up} ms)`);
        }
      }
      const during = Object.values(r.during).reduce((a, b) => a + b, 0);
      const failed = during - (r.during[200] ?? 0);
      if (scenario.name.includes('every worker')) {
        // The cut gateway can serve nothing: its half of the traffic is refused (503, and 504 for
        // batches in flight before it knew); the other gateway's half is all served.
        assert.ok(failed <= during / 2 + 1, `only the cut gateway's requests fail: ${show(r)}`);
      } else {
        assert.ok(failed <= during * 0.01, `at most 1% of requests during the fault fail: ${show(r)}`);
      }
      if (scenario.name.includes('worker cut from Redis')) assert.ok(r.heartbeatWarnings >= 1, 'the worker logs its failed heartbeat');
      if (scenario.name.includes('gateway cut from Redis')) assert.ok(r.rateLimitFlips <= 2, `rate limits go local once and back once (${r.rateLimitFlips} changes)`);
    });
  }
});
