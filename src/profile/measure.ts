// Measures one variant with ONNX Runtime in this process: top-1 accuracy on a labelled set and
// latency per batch size (p50/p99 after warm-up), single intra-op thread as the server runs it.
import { cpus, hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import ort from 'onnxruntime-node';
import type { LabelledImages } from '../datasets/mnist.js';

export interface MeasureOptions {
  maxBatch: number;
  intraOpThreads?: number;
  /** Timed runs per batch size. */
  runs?: number;
  /** When the labels are another variant's predictions: that variant's name. */
  reference?: string;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Top-1 class of every sample (for accuracy, and for agreement with a reference variant). */
export async function predictions(onnxPath: string, data: LabelledImages, session?: ort.InferenceSession): Promise<Uint8Array> {
  const s = session ?? await ort.InferenceSession.create(onnxPath, { intraOpNumThreads: 1 });
  const width = data.pixels.length / data.count;
  const out = new Uint8Array(data.count);
  const chunk = Math.max(1, Math.min(500, Math.floor(4_000_000 / width)));
  for (let start = 0; start < data.count; start += chunk) {
    const n = Math.min(chunk, data.count - start);
    const x = new ort.Tensor('float32', data.pixels.subarray(start * width, (start + n) * width), [n, ...(data.sampleShape ?? [width])]);
    const y = (await s.run({ [s.inputNames[0]]: x }))[s.outputNames[0]].data as Float32Array;
    const classes = y.length / n;
    for (let r = 0; r < n; r++) {
      let best = 0;
      for (let j = 1; j < classes; j++) if (y[r * classes + j] > y[r * classes + best]) best = j;
      out[start + r] = best;
    }
  }
  if (!session) await s.release();
  return out;
}

export async function measureVariant(onnxPath: string, data: LabelledImages, opts: MeasureOptions) {
  const threads = opts.intraOpThreads ?? 1;
  const session = await ort.InferenceSession.create(onnxPath, { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential' });
  const [inputName] = session.inputNames;
  const width = data.pixels.length / data.count;
  const sampleShape = data.sampleShape ?? [width];

  const predicted = await predictions(onnxPath, data, session);
  const correct = predicted.filter((c, i) => c === data.labels[i]).length;

  const latency: Array<{ batch_size: number; p50_ms: number; p99_ms: number; runs: number }> = [];
  for (let b = 1; b <= opts.maxBatch; b *= 2) {
    if (b > data.count) break;
    const x = new ort.Tensor('float32', data.pixels.slice(0, b * width), [b, ...sampleShape]);
    for (let i = 0; i < 20; i++) await session.run({ [inputName]: x });
    const runs = opts.runs ?? 200;
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await session.run({ [inputName]: x });
      times.push(performance.now() - t0);
    }
    times.sort((a, c) => a - c);
    latency.push({ batch_size: b, p50_ms: +quantile(times, 0.5).toFixed(4), p99_ms: +quantile(times, 0.99).toFixed(4), runs });
  }
  await session.release();
  return {
    accuracy: { metric: opts.reference ? 'top1-agreement' : 'top1', value: correct / data.count, samples: data.count, reference: opts.reference ?? 'labels' },
    latency,
    measured: {
      date: new Date().toISOString(),
      host: hostname(),
      cpu: cpus()[0]?.model ?? 'unknown',
      onnxruntime: ort.env.versions.node ?? 'unknown',
      intra_op_threads: threads,
      method: 'onnxruntime-node InferenceSession.run in-process, 20 warm-up runs then timed runs per batch size',
    },
  };
}
