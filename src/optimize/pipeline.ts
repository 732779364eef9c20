// `pareto optimize`: turns one ONNX model into a family of variants in a model repository folder,
// checks that ONNX Runtime loads each one and that it answers with the reference's output shape,
// and writes the folder's model.yaml.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import type { LabelledImages } from '../datasets/mnist.js';
import { constantsToInitializers, encodeModel, fixInputShape, graphOf, readModel, type Model } from '../onnx/model.js';
import { exportMlp, trainMlp } from '../zoo/mlp.js';
import { distill } from './distill.js';
import { UnsupportedModelError } from './errors.js';
import { convertFp16 } from './fp16.js';
import { mlpFromGraph } from './mlp-graph.js';
import { pruneStructured } from './prune.js';
import { quantizeDynamic } from './quantize-dynamic.js';
import { quantizeStatic, rowFeeds } from './quantize-static.js';
import { testTimeAugment } from './tta.js';

export interface OptimizeOptions {
  source: string;
  out: string;
  name: string;
  description?: string;
  /** Training data: fine-tuning after pruning and distillation need it; without it they are skipped. */
  train?: LabelledImages;
  maxBatchSize?: number;
  /** Fixed sizes for the input's dimensions after the batch axis, where the model leaves them symbolic. */
  inputShape?: number[];
  /** The output's class names: written to labels.txt and named in model.yaml (classification answers "score:index:label"). */
  labels?: string[];
  seed?: number;
  log?: (line: string) => void;
  progress?: (label: string, done: number, total: number) => void;
}

export interface VariantResult {
  name: string;
  how: string;
  skipped?: string;
}

interface Signature {
  input: { name: string; shape: number[] };
  output: { name: string; shape: number[] };
}

function signatureOf(model: Model): Signature {
  const g = graphOf(model);
  const dimsOf = (v: (typeof g.input)[number]) => (v.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimValue != null && Number(d.dimValue) > 0 ? Number(d.dimValue) : -1));
  if (g.input.length !== 1 || g.output.length !== 1) throw new UnsupportedModelError(`expected one input and one output, found ${g.input.length} and ${g.output.length}`);
  return { input: { name: g.input[0].name!, shape: dimsOf(g.input[0]) }, output: { name: g.output[0].name!, shape: dimsOf(g.output[0]) } };
}

/** Loads a variant in ONNX Runtime and runs it on a probe batch: a broken model fails here, not in the server. */
async function verify(path: string, sig: Signature, probe: Float32Array, rows: number): Promise<void> {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(path, { intraOpNumThreads: 1 });
  } catch (e) {
    throw new UnsupportedModelError(`ONNX Runtime cannot load the variant written to ${path}: ${(e as Error).message}`);
  }
  const shape = [rows, ...sig.input.shape.slice(1)];
  const out = (await session.run({ [sig.input.name]: new ort.Tensor('float32', probe, shape) }))[sig.output.name];
  await session.release();
  if (out.dims[0] !== rows) throw new UnsupportedModelError(`variant ${path} answered ${out.dims[0]} rows for ${rows}`);
}

/** Every k-th row, so that a training set stored class by class still calibrates on all classes. */
function spreadRows(data: LabelledImages, rows: number, width: number): Float32Array {
  const n = Math.min(rows, data.count);
  const step = data.count / n;
  const out = new Float32Array(n * width);
  for (let i = 0; i < n; i++) out.set(data.pixels.subarray(Math.floor(i * step) * width, (Math.floor(i * step) + 1) * width), i * width);
  return out;
}

export async function optimizeModel(opts: OptimizeOptions): Promise<VariantResult[]> {
  const log = opts.log ?? (() => undefined);
  const reference = readModel(opts.source);
  constantsToInitializers(reference);
  if (opts.inputShape) fixInputShape(reference, opts.inputShape);
  const sig = signatureOf(reference);
  if (sig.input.shape.slice(1).some((d) => d < 0)) throw new UnsupportedModelError(`input '${sig.input.name}' has variable non-batch dimensions [${sig.input.shape}]; fix them with --input-shape`);
  if (opts.train && (opts.train.sampleShape ?? [opts.train.pixels.length / opts.train.count]).join() !== sig.input.shape.slice(1).join()) {
    throw new UnsupportedModelError(`the training data's samples are [${opts.train.sampleShape ?? opts.train.pixels.length / opts.train.count}], the model's input is [${sig.input.shape.slice(1)}]`);
  }
  const width = sig.input.shape.slice(1).reduce((a, b) => a * b, 1);
  const probeRows = 4;
  const probe = opts.train ? opts.train.pixels.slice(0, probeRows * width) : Float32Array.from({ length: probeRows * width }, (_, i) => (i % 17) / 17);
  const seed = opts.seed ?? 1;
  // Calibration rows come from the training side (never the test split); without training data,
  // from generated inputs in the model's range.
  const calibrationRows = 1000;
  const calibration = opts.train ? spreadRows(opts.train, calibrationRows, width)
    : Float32Array.from({ length: calibrationRows * width }, (_, i) => ((i * 2654435761) % 1000) / 1000);
  mkdirSync(opts.out, { recursive: true });
  const results: VariantResult[] = [];

  const write = async (variant: string, how: string, model: Model | Uint8Array) => {
    const dir = join(opts.out, variant);
    mkdirSync(dir, { recursive: true });
    const path = join(dir, 'model.onnx');
    writeFileSync(path, model instanceof Uint8Array ? model : encodeModel(model));
    await verify(path, sig, probe, probeRows);
    results.push({ name: variant, how });
    log(`  ${variant}: ${how}`);
  };
  const attempt = async (variant: string, how: string, make: () => Promise<Model | Uint8Array> | Model | Uint8Array) => {
    try {
      await write(variant, how, await make());
    } catch (e) {
      if (!(e instanceof UnsupportedModelError)) throw e;
      results.push({ name: variant, how, skipped: e.message });
      log(`  ${variant}: skipped — ${e.message}`);
    }
  };

  mkdirSync(join(opts.out, 'fp32'), { recursive: true });
  writeFileSync(join(opts.out, 'fp32', 'model.onnx'), encodeModel(reference));
  await verify(join(opts.out, 'fp32', 'model.onnx'), sig, probe, probeRows);
  results.push({ name: 'fp32', how: 'the reference model' });
  log(`  fp32: the reference model`);

  await attempt('fp16', 'float16 weights and compute, casts at the boundaries', () => convertFp16(reference));
  await attempt('tta9', 'test-time augmentation: the fp32 model on the 9 one-pixel shifts of the image, logits averaged', () => testTimeAugment(reference, 1));
  await attempt('int8', 'int8 dynamic quantization, per-column symmetric weights', () => quantizeDynamic(reference));
  await attempt('int8-static', `int8 static QDQ, per-column weights, activations calibrated on ${calibrationRows} ${opts.train ? 'training' : 'generated'} rows`, () => quantizeStatic(reference, rowFeeds(sig.input.name, calibration, sig.input.shape.slice(1))));
  for (const ratio of [0.5, 0.75]) {
    const variant = `pruned${Math.round(ratio * 100)}`;
    await attempt(variant, `structured pruning of ${ratio * 100}% of hidden units${opts.train ? ', then one epoch of fine-tuning' : ''}`, () => {
      const pruned = pruneStructured(reference, { ratio }).model;
      if (!opts.train) return pruned;
      const mlp = mlpFromGraph(pruned);
      trainMlp(mlp, opts.train.pixels, opts.train.labels, opts.train.count, {
        epochs: 1, batchSize: 64, learningRate: 0.01, momentum: 0.9, seed,
        onProgress: (d, t) => opts.progress?.(`fine-tune ${variant}`, d, t),
      });
      return exportMlp(mlp, `${opts.name}-${variant}`, sig.input.name, sig.output.name);
    });
  }
  if (opts.train && width > 4096) {
    results.push({ name: 'distilled', how: 'student from soft labels', skipped: `inputs of ${width} values are too large for the MLP student trained here` });
  } else if (opts.train) {
    const train = opts.train;
    await attempt('distilled', 'a 784-32-10 student trained for 2 epochs on the fp32 teacher\'s soft labels (α = 0.5)', async () => {
      const student = await distill(join(opts.out, 'fp32', 'model.onnx'), train, {
        hidden: [32], epochs: 2, seed,
        onProgress: (d, t) => opts.progress?.('distill', d, t),
      });
      return exportMlp(student, `${opts.name}-distilled`, sig.input.name, sig.output.name);
    });
  } else {
    results.push({ name: 'distilled', how: 'student from soft labels', skipped: 'no training data given (--train)' });
  }

  const made = results.filter((r) => !r.skipped);
  if (opts.labels) writeFileSync(join(opts.out, 'labels.txt'), opts.labels.join('\n') + '\n');
  writeFileSync(join(opts.out, 'variants.json'), JSON.stringify(Object.fromEntries(made.map((r) => [r.name, r.how])), null, 2) + '\n');
  writeFileSync(join(opts.out, 'model.yaml'), [
    `# Written by \`pareto optimize\`; each variant's measured profile is in <variant>/profile.json.`,
    `name: ${opts.name}`,
    ...(opts.description ? [`description: ${JSON.stringify(opts.description)}`] : []),
    'inputs:',
    `  - name: ${sig.input.name}`,
    '    datatype: FP32',
    `    shape: [-1, ${sig.input.shape.slice(1).join(', ')}]`,
    'outputs:',
    `  - name: ${sig.output.name}`,
    '    datatype: FP32',
    `    shape: [-1, ${sig.output.shape.slice(1).join(', ')}]`,
    ...(opts.labels ? ['    labels: labels.txt'] : []),
    'batching:',
    `  max_batch_size: ${opts.maxBatchSize ?? 64}`,
    '  max_queue_delay_ms: 0',
    'default_variant: fp32',
    'variants:',
    ...made.map((r) => `  - name: ${r.name}`),
    '',
  ].join('\n'));
  return results;
}
