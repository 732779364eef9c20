// The load report (proto/pareto_load.proto): models with their variants' profiles and live
// measurements, queue depth and batches in flight. Gateways route on it; people read it at
// GET /v2/pareto/load.
import type { BatchDispatcher } from '../serving/batch-dispatcher.js';
import type { ModelCatalog } from '../serving/model-catalog.js';

export interface VariantLoad {
  name: string;
  has_profile: boolean;
  accuracy: number;
  latency: Array<{ batch_size: number; p50_ms: number }>;
  batches: number;
  mean_compute_ms: number;
  mean_batch_size: number;
}

export interface TensorBatching {
  name: string;
  output: boolean;
  /** -1: not batched. */
  batch_axis: number;
  /** An output's class names, for the classification extension. */
  labels?: string[];
}

export interface ModelLoad {
  name: string;
  batching: boolean;
  max_batch_size: number;
  max_queue_delay_ms: number;
  policy: string;
  default_variant: string;
  variants: VariantLoad[];
  queued_samples: number;
  /** Every tensor's batch axis; absent from servers that batch everything on axis 0. */
  tensors?: TensorBatching[];
}

export interface LoadReport {
  worker_id: string;
  executors: number;
  pipeline_depth: number;
  queued_samples: number;
  inflight_batches: number;
  inflight_requests: number;
  models: ModelLoad[];
}

export function buildLoadReport(
  self: { workerId: string; executors: number; pipelineDepth: number; inflightBatches: number },
  catalog: ModelCatalog,
  dispatcher: BatchDispatcher,
): LoadReport {
  const queued = dispatcher.queuedSamplesByModel();
  const models: ModelLoad[] = [];
  for (const model of catalog.ready()) {
    const { batching, scheduling } = model.config;
    models.push({
      name: model.name,
      batching: batching.enabled,
      max_batch_size: batching.max_batch_size,
      max_queue_delay_ms: batching.max_queue_delay_ms,
      policy: scheduling.policy,
      default_variant: model.defaultVariant.name,
      queued_samples: queued.get(model.name) ?? 0,
      tensors: [
        ...model.inputs.map((t) => ({ name: t.name, output: false, batch_axis: t.batchAxis ?? -1 })),
        ...model.outputs.map((t) => ({ name: t.name, output: true, batch_axis: t.batchAxis ?? -1, ...(t.labels ? { labels: t.labels } : {}) })),
      ],
      variants: [...model.variants.values()].map((v) => {
        const ran = dispatcher.ran.get(`${model.name}/${v.name}`);
        return {
          name: v.name,
          has_profile: v.profile !== undefined,
          accuracy: v.profile?.accuracy.value ?? 0,
          latency: (v.profile?.latency ?? []).map((l) => ({ batch_size: l.batch_size, p50_ms: l.p50_ms })),
          batches: ran?.batches ?? 0,
          mean_compute_ms: ran ? ran.computeMs / ran.batches : 0,
          mean_batch_size: ran ? ran.samples / ran.batches : 0,
        };
      }),
    });
  }
  return {
    worker_id: self.workerId,
    executors: self.executors,
    pipeline_depth: self.pipelineDepth,
    queued_samples: dispatcher.queuedSamples(),
    inflight_batches: self.inflightBatches,
    inflight_requests: dispatcher.outstanding,
    models,
  };
}
