// Triton's model configuration extension: a loaded model described as Triton's ModelConfig (the
// JSON REST returns and the protobuf message gRPC returns, with the same field names), so clients
// that read it (tritonclient's get_model_config, perf_analyzer) find what they expect. What Triton
// has no field for, Pareto's variants with their measured profiles and the policy that chooses
// among them, goes in `parameters` as JSON strings.
import type { LoadedModel } from '../serving/model-host.js';
import type { TensorSignature } from '../tensor/validate.js';
import { SERVER_NAME } from './metadata.js';

interface TensorConfig {
  name: string;
  data_type: string;
  dims: number[];
}

/**
 * Triton says max_batch_size > 0 only where every batched tensor is batched on its first axis,
 * which dims then leave out; a model batched on another axis (an RNN state [layers, B, hidden])
 * is described as max_batch_size 0 with its full shapes, -1 on the batch axis.
 */
export function tritonModelConfig(model: LoadedModel, executors: number) {
  const tensors = [...model.inputs, ...model.outputs];
  const leading = tensors.every((t) => t.batchAxis === null || t.batchAxis === 0) && tensors.some((t) => t.batchAxis === 0);
  const { batching } = model.config;
  const maxBatch = leading && batching.enabled ? batching.max_batch_size : 0;
  const view = (t: TensorSignature): TensorConfig => ({
    name: t.name,
    data_type: `TYPE_${t.datatype === 'BYTES' ? 'STRING' : t.datatype}`,
    // A tensor that is not batched keeps its whole shape even where the model batches.
    dims: maxBatch > 0 && t.batchAxis === 0 ? t.shape.slice(1) : t.shape,
  });
  const variants = [...model.variants.values()].map((v) => ({
    name: v.name,
    default: v === model.defaultVariant,
    accuracy: v.profile?.accuracy.value ?? null,
    latency_ms: v.profile?.latency.map((l) => ({ batch_size: l.batch_size, p50: l.p50_ms, p99: l.p99_ms })) ?? [],
  }));
  return {
    name: model.name,
    platform: 'onnxruntime_onnx',
    backend: 'onnxruntime',
    // Versions are variants, named rather than numbered, and all of them are served.
    version_policy: { all: {} },
    max_batch_size: maxBatch,
    input: model.inputs.map(view),
    output: model.outputs.map((t, i) => {
      const labels = model.config.outputs[i]?.labels;
      return labels ? { ...view(t), label_filename: labels } : view(t);
    }),
    ...(maxBatch > 0 ? { dynamic_batching: { preferred_batch_size: [] as number[], max_queue_delay_microseconds: Math.round(batching.max_queue_delay_ms * 1000) } } : {}),
    instance_group: [{ name: `${model.name}_0`, kind: 'KIND_CPU', count: executors }],
    default_model_filename: 'model.onnx',
    parameters: {
      [`${SERVER_NAME}.policy`]: { string_value: model.config.scheduling.policy },
      [`${SERVER_NAME}.default_variant`]: { string_value: model.defaultVariant.name },
      [`${SERVER_NAME}.variants`]: { string_value: JSON.stringify(variants) },
    },
  };
}
