// `pareto optimize --samples`: variants of any ONNX model (several inputs and outputs, dynamic
// dims, batch axes anywhere), made on the user's own samples. Each variant is written to a staging
// folder, loaded in ONNX Runtime and run on every sample beside the reference; only one that loads,
// answers every sample with the reference's shapes and no new NaN/Inf is renamed into the model
// folder, with its agreement reported. Nothing broken is ever left in the repository.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import ort from 'onnxruntime-node';
import { parseDocument } from 'yaml';
import { fitSamples, readSampleFile } from '../datasets/sample-file.js';
import { constantsToInitializers, encodeModel, graphOf, readModel, type Model } from '../onnx/model.js';
import { agreement, defaultMetric, type AgreementMetric } from '../profile/agreement.js';
import { ortFeeds } from '../runtime/ort-feeds.js';
import { importModel } from '../repository/import-model.js';
import { readModelConfig, tensorSignatures } from '../repository/model-config.js';
import { UnsupportedModelError } from './errors.js';
import { convertFp16 } from './fp16.js';
import { halfResolution } from './half-resolution.js';
import { quantizeDynamic } from './quantize-dynamic.js';
import { quantizeStatic } from './quantize-static.js';

export interface GraphOptimizeOptions {
  source: string;
  /** The model folder; made with `pareto import` logic when it has no model.yaml yet. */
  out: string;
  samples: string;
  maxBatchSize?: number;
  metric?: AgreementMetric;
  /**
   * A variant that agrees with fp32 less than this is broken, not a trade-off, and is refused
   * (PP-OCRv4 det in fp16 with float16 BatchNormalization agreed 0% before that op was kept in float32).
   */
  minAgreement?: number;
  log?: (line: string) => void;
}

export interface GraphVariantResult {
  name: string;
  how: string;
  skipped?: string;
  /** Mean agreement with fp32 on the samples, by `metric`, and the largest absolute difference. */
  agreement?: number;
  metric?: string;
  maxAbsError?: number;
}

type Outputs = Record<string, ort.Tensor>;

/** Samples used to calibrate and verify: enough to see the ranges, few enough to stay quick. */
const MAX_SAMPLES = 64;

export async function optimizeGraph(opts: GraphOptimizeOptions): Promise<GraphVariantResult[]> {
  const log = opts.log ?? (() => undefined);
  const name = basename(opts.out);
  if (!existsSync(join(opts.out, 'model.yaml'))) {
    const { notes } = await importModel({ source: opts.source, repository: dirname(opts.out), name, sample: opts.samples, maxBatchSize: opts.maxBatchSize });
    for (const n of notes) log(`  import: ${n}`);
  } else if (!existsSync(join(opts.out, 'fp32', 'model.onnx'))) {
    throw new UnsupportedModelError(`${opts.out} has a model.yaml but no fp32/model.onnx to start from`);
  }
  const configFile = join(opts.out, 'model.yaml');
  const config = readModelConfig(configFile, name);
  const signature = tensorSignatures(config, 'inputs');
  let samples: Array<Record<string, ort.Tensor>>;
  try {
    samples = fitSamples(readSampleFile(opts.samples, MAX_SAMPLES), signature).map((s) => ortFeeds(s.inputs));
  } catch (e) {
    throw new UnsupportedModelError(`${opts.samples}: ${(e as Error).message}`);
  }

  const fp32Path = join(opts.out, 'fp32', 'model.onnx');
  const reference: Model = readModel(fp32Path);
  // Exporters such as paddle2onnx keep weights in Constant nodes: transforms look for initializers.
  constantsToInitializers(reference);
  const referenceOutputs = await runAll(encodeModel(reference), samples);
  const first = Object.keys(referenceOutputs[0])[0];
  const metric = opts.metric ?? defaultMetric(referenceOutputs[0][first]);
  const results: GraphVariantResult[] = [{ name: 'fp32', how: 'the reference model' }];
  const minAgreement = opts.minAgreement ?? 0.5;
  log(`  fp32: the reference model (agreement below: ${metric} on '${first}', ${samples.length} samples)`);

  const controlFlow = [...new Set(graphOf(reference).node.map((n) => n.opType!).filter((op) => op === 'If' || op === 'Loop' || op === 'Scan'))].join('/');
  const attempt = async (variant: string, how: string, make: () => Promise<Model> | Model) => {
    const staging = join(opts.out, `.staging-${variant}`);
    try {
      const bytes = encodeModel(await make());
      rmSync(staging, { recursive: true, force: true });
      mkdirSync(staging, { recursive: true });
      writeFileSync(join(staging, 'model.onnx'), bytes);
      const outputs = await runAll(bytes, samples).catch((e: Error) => { throw new UnsupportedModelError(`ONNX Runtime cannot run it: ${e.message.split('\n')[0]}`); });
      const scored = score(outputs, referenceOutputs, metric, first);
      if (scored.agreement < minAgreement) throw new UnsupportedModelError(`it agrees with fp32 on ${(100 * scored.agreement).toFixed(2)}% of the samples by ${metric}, under the ${100 * minAgreement}% a working variant has (--min-agreement)`);
      rmSync(join(opts.out, variant), { recursive: true, force: true });
      renameSync(staging, join(opts.out, variant));
      results.push({ name: variant, how, agreement: scored.agreement, metric, maxAbsError: scored.maxAbsError });
      log(`  ${variant}: ${how} — ${metric} agreement ${(100 * scored.agreement).toFixed(2)}%, max |Δ| ${scored.maxAbsError.toPrecision(3)}`);
    } catch (e) {
      rmSync(staging, { recursive: true, force: true });
      if (!(e instanceof UnsupportedModelError)) throw e;
      const why = controlFlow ? `${e.message} (the graph has ${controlFlow} nodes, whose subgraphs these transforms do not enter)` : e.message;
      results.push({ name: variant, how, skipped: why });
      log(`  ${variant}: refused — ${why}`);
    }
  };

  await attempt('fp16', 'float16 weights and compute, float32 at the inputs, outputs and Resize parameters', () => convertFp16(reference));
  await attempt('int8', 'int8 dynamic quantization of MatMul and Conv weights (per column / channel), activations at run time', () => quantizeDynamic(reference));
  await attempt('int8-static', `int8 static QDQ, activations calibrated on ${samples.length} samples of ${basename(opts.samples)}`, () => quantizeStatic(reference, samples));
  await attempt('half-res', 'the image at half its height and width (rounded up to a multiple of 32), the maps resized back', () => halfResolution(reference, mapsOfInput(samples, referenceOutputs)));

  writeVariants(configFile, results.filter((r) => !r.skipped).map((r) => r.name));
  writeFileSync(join(opts.out, 'variants.json'), JSON.stringify(Object.fromEntries(results.filter((r) => !r.skipped).map((r) => [r.name, r.how])), null, 2) + '\n');
  return results;
}

/** Whether every output is a map of the input image's height and width on every sample. */
function mapsOfInput(samples: Array<Record<string, ort.Tensor>>, outputs: Outputs[]): boolean {
  return samples.every((feed, i) => {
    const inputs = Object.values(feed);
    if (inputs.length !== 1 || inputs[0].dims.length !== 4) return false;
    const [, , h, w] = inputs[0].dims;
    return Object.values(outputs[i]).every((o) => o.dims.length === 4 && o.dims[2] === h && o.dims[3] === w);
  });
}

async function runAll(model: Uint8Array, samples: Array<Record<string, ort.Tensor>>): Promise<Outputs[]> {
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
  try {
    const out: Outputs[] = [];
    for (const feed of samples) out.push(await session.run(feed));
    return out;
  } finally {
    await session.release();
  }
}

/** Agreement with the reference; a variant whose outputs differ in shape, or turn finite values into NaN/Inf, is refused. */
function score(outputs: Outputs[], reference: Outputs[], metric: AgreementMetric, first: string): { agreement: number; maxAbsError: number } {
  let total = 0, maxAbsError = 0;
  outputs.forEach((out, i) => {
    for (const [name, want] of Object.entries(reference[i])) {
      const got = out[name];
      if (!got) throw new UnsupportedModelError(`it has no output '${name}'`);
      if (got.dims.join() !== want.dims.join()) throw new UnsupportedModelError(`output '${name}' has shape [${got.dims}] on sample ${i + 1}, the reference [${want.dims}]`);
      if (typeof want.data[0] !== 'number') continue;
      const a = got.data as Float32Array, b = want.data as Float32Array;
      for (let j = 0; j < b.length; j++) {
        if (Number.isFinite(b[j]) && !Number.isFinite(a[j])) throw new UnsupportedModelError(`output '${name}' is ${a[j]} where the reference is finite (sample ${i + 1})`);
        maxAbsError = Math.max(maxAbsError, Math.abs(a[j] - b[j]));
      }
    }
    total += agreement(metric, out[first], reference[i][first], 1e-2);
  });
  return { agreement: total / outputs.length, maxAbsError };
}

/** Lists the variants in model.yaml, keeping everything else the user wrote; written then renamed. */
function writeVariants(configFile: string, names: string[]): void {
  const doc = parseDocument(readFileSync(configFile, 'utf8'));
  const existing = (doc.toJS().variants ?? []) as Array<{ name: string }>;
  const keep = existing.filter((v) => !names.includes(v.name));
  doc.set('variants', [...names.map((n) => existing.find((v) => v.name === n) ?? { name: n }), ...keep]);
  const staging = `${configFile}.${process.pid}.tmp`;
  writeFileSync(staging, doc.toString({ lineWidth: 0 }));
  renameSync(staging, configFile);
}
