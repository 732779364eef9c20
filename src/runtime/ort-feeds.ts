// Tensors as ONNX Runtime's feeds: BYTES as string tensors, everything else over its typed array
// (no copy). Used by the executors and by the tools that run models in-process (import, optimize,
// profile).
import ort from 'onnxruntime-node';
import { DTYPE } from '../tensor/dtype.js';
import type { WireTensor } from './messages.js';

export function ortFeeds(inputs: readonly WireTensor[]): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const t of inputs) {
    feeds[t.name] = Array.isArray(t.data) ? new ort.Tensor('string', t.data, t.shape) : new ort.Tensor(DTYPE[t.datatype].ort as 'float32', t.data as Float32Array, t.shape);
  }
  return feeds;
}
