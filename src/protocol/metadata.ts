// Server and model metadata, shared by the REST and gRPC front ends.
import type { LoadedModel } from '../serving/model-host.js';

export const SERVER_NAME = 'pareto';
export const SERVER_VERSION = '0.1.0';
export const EXTENSIONS = ['binary_tensor_data', 'model_repository', 'model_configuration', 'statistics', 'classification', 'parameters'];

/** `sharedMemory`: the server allows client shared memory (--allow-client-shm). */
export function serverMetadata(sharedMemory = false) {
  return { name: SERVER_NAME, version: SERVER_VERSION, extensions: sharedMemory ? [...EXTENSIONS, 'system_shared_memory'] : EXTENSIONS };
}

export function modelMetadata(model: LoadedModel) {
  return {
    name: model.name,
    versions: [...model.variants.keys()],
    platform: 'onnxruntime_onnx',
    inputs: model.inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape })),
    outputs: model.outputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape })),
    // Not in the protocol's metadata: Pareto's variants with their measured profiles.
    variants: [...model.variants.values()].map((v) => ({
      name: v.name,
      default: v === model.defaultVariant,
      accuracy: v.profile?.accuracy.value,
      latency_ms_batch1: v.profile?.latency.find((l) => l.batch_size === 1)?.p50_ms,
    })),
  };
}
