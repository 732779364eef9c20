// Knowledge distillation: a smaller MLP student learns from the teacher's soft labels (its softmax
// over the training set, computed with ONNX Runtime) mixed with the true labels.
import ort from 'onnxruntime-node';
import type { LabelledImages } from '../datasets/mnist.js';
import { initMlp, trainMlp, type Mlp } from '../zoo/mlp.js';

export async function teacherProbabilities(teacherPath: string, data: LabelledImages): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(teacherPath, { intraOpNumThreads: 2 });
  const width = data.pixels.length / data.count;
  const [input] = session.inputNames;
  const [output] = session.outputNames;
  let probs: Float32Array | undefined;
  const chunk = 1000;
  for (let start = 0; start < data.count; start += chunk) {
    const n = Math.min(chunk, data.count - start);
    const x = new ort.Tensor('float32', data.pixels.slice(start * width, (start + n) * width), [n, width]);
    const logits = (await session.run({ [input]: x }))[output].data as Float32Array;
    const classes = logits.length / n;
    probs ??= new Float32Array(data.count * classes);
    for (let r = 0; r < n; r++) {
      let max = -Infinity, sum = 0;
      for (let j = 0; j < classes; j++) max = Math.max(max, logits[r * classes + j]);
      for (let j = 0; j < classes; j++) sum += Math.exp(logits[r * classes + j] - max);
      for (let j = 0; j < classes; j++) probs[(start + r) * classes + j] = Math.exp(logits[r * classes + j] - max) / sum;
    }
  }
  await session.release();
  return probs!;
}

export interface DistillOptions {
  hidden: number[];
  epochs: number;
  seed: number;
  onProgress?: (done: number, total: number) => void;
}

export async function distill(teacherPath: string, data: LabelledImages, opts: DistillOptions): Promise<Mlp> {
  const soft = await teacherProbabilities(teacherPath, data);
  const width = data.pixels.length / data.count;
  const classes = soft.length / data.count;
  const student = initMlp([width, ...opts.hidden, classes], opts.seed);
  trainMlp(student, data.pixels, data.labels, data.count, {
    epochs: opts.epochs, batchSize: 64, learningRate: 0.05, momentum: 0.9, seed: opts.seed,
    softTargets: soft, alpha: 0.5, onProgress: opts.onProgress,
  });
  return student;
}
