import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClusterModels } from '../../src/cluster/cluster-models.js';
import type { ModelLoad } from '../../src/protocol/load-report.js';

const load = (over: Partial<ModelLoad>): ModelLoad => ({
  name: 'vad', batching: true, max_batch_size: 32, max_queue_delay_ms: 0, policy: 'adaptive', default_variant: 'fp32', queued_samples: 0,
  variants: [{ name: 'fp32', has_profile: false, accuracy: 0, latency: [], batches: 0, mean_compute_ms: 0, mean_batch_size: 0 }],
  ...over,
});

const signature = {
  name: 'vad', versions: ['fp32'],
  inputs: [{ name: 'input', datatype: 'FP32' as const, shape: [-1, -1] }, { name: 'state', datatype: 'FP32' as const, shape: [2, -1, 128] }, { name: 'sr', datatype: 'INT64' as const, shape: [] }],
  outputs: [{ name: 'output', datatype: 'FP32' as const, shape: [-1, 1] }, { name: 'stateN', datatype: 'FP32' as const, shape: [2, -1, 128] }],
};

describe('a gateway’s model catalog', () => {
  it('takes each tensor’s batch axis from the worker’s load report, so a gateway batches a recurrent state on axis 1', () => {
    const models = new ClusterModels(() => 1);
    models.add(signature, load({
      tensors: [
        { name: 'input', output: false, batch_axis: 0 }, { name: 'state', output: false, batch_axis: 1 }, { name: 'sr', output: false, batch_axis: -1 },
        { name: 'output', output: true, batch_axis: 0 }, { name: 'stateN', output: true, batch_axis: 1 },
      ],
    }));
    const m = models.get('vad');
    assert.deepEqual(m.inputs.map((t) => t.batchAxis), [0, 1, null]);
    assert.deepEqual(m.outputs.map((t) => t.batchAxis), [0, 1]);
  });

  it('without axes in the report (a plain protocol server), batches only on a variable axis 0, and runs alone a model without one', () => {
    const models = new ClusterModels(() => 1);
    models.add({ ...signature, name: 'fixed', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 25, 96] }], outputs: [{ name: 'y', datatype: 'FP32', shape: [1, 1] }] }, load({ name: 'fixed', max_batch_size: 1 }));
    assert.equal(models.get('fixed').config.batching.max_batch_size, 0);
    assert.deepEqual(models.get('fixed').inputs[0].batchAxis, null);
  });
});
