// `pareto profile --data <samples.jsonl>`: measures every variant of any model on the user's own
// samples (docs/data-format.md). Latency per batch size is measured on the most common shape class
// in the file (requests batch only within a class), batches made of its samples concatenated along
// each input's batch axis. Accuracy: top-1 against labels where the samples have them, otherwise
// agreement with a reference variant (profile/agreement.ts).
import { cpus, hostname } from 'node:os';
import { writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import ort from 'onnxruntime-node';
import { fitSamples, readSampleFile, type FittedSample } from '../datasets/sample-file.js';
import { ortFeeds as feeds } from '../runtime/ort-feeds.js';
import { agreement, argmaxes, defaultMetric, loadUserMetric, type AgreementMetric } from './agreement.js';
import { tensorSignatures } from '../repository/model-config.js';
import { ModelRepository } from '../repository/model-repository.js';
import { concatBatch } from '../tensor/batch.js';
import { rowElements, shapeClass } from '../tensor/shape-class.js';
import type { Tensor } from '../tensor/tensor.js';
import type { TensorSignature } from '../tensor/validate.js';

export interface SampleProfileOptions {
  modelDir: string;
  data: string;
  runs?: number;
  /** Variant whose outputs the others are compared with when samples carry no labels (default: the default variant). */
  reference?: string;
  metric?: AgreementMetric;
  /** A JS module whose default export scores one sample (overrides labels and `metric`): see loadUserMetric. */
  metricModule?: string;
  /** For max-error: the largest absolute difference a sample may have and still agree. */
  tolerance?: number;
  log?: (line: string) => void;
}

type Outputs = Record<string, ort.Tensor>;

/** A batch of `rows` rows from the class's samples (cycled), in signature order. */
function batchOf(samples: readonly FittedSample[], signature: readonly TensorSignature[], rows: number): Tensor[] | undefined {
  const parts: FittedSample[] = [];
  let have = 0;
  for (let i = 0; have < rows; i++) {
    const s = samples[i % samples.length];
    if (have + s.rows > rows) return undefined;
    parts.push(s);
    have += s.rows;
  }
  return signature.map((spec, k) => (spec.batchAxis === null ? parts[0].inputs[k] : concatBatch(parts.map((p) => p.inputs[k]), spec.batchAxis)));
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

export async function profileWithSamples(opts: SampleProfileOptions) {
  const dir = resolve(opts.modelDir);
  const { config, variants } = new ModelRepository(dirname(dir)).read(basename(dir), { profiles: false });
  const inputs = tensorSignatures(config, 'inputs');
  let samples: FittedSample[];
  try {
    samples = fitSamples(readSampleFile(opts.data), inputs);
  } catch (e) {
    throw new Error(`${opts.data}: ${(e as Error).message}`);
  }
  // The most common shape class: latency is measured where traffic is (and keyed by it).
  const classes = new Map<string, FittedSample[]>();
  for (const s of samples) {
    const key = shapeClass(s.inputs, inputs, true);
    classes.set(key, [...(classes.get(key) ?? []), s]);
  }
  const [shape, common] = [...classes.entries()].sort((a, b) => b[1].length - a[1].length)[0];
  const elements = rowElements(common[0].inputs, inputs);
  const maxBatch = Math.max(1, config.batching.max_batch_size);
  const runs = opts.runs ?? 50;
  const user = opts.metricModule ? await loadUserMetric(opts.metricModule) : undefined;
  const labelled = !user && samples.every((s) => s.label !== undefined);
  const referenceName = opts.reference ?? config.default_variant ?? config.variants[0].name;
  const reference = variants.find((v) => v.name === referenceName);
  if (!labelled && !reference) throw new Error(`no variant '${referenceName}' to measure agreement with`);

  let referenceOutputs: Outputs[] | undefined;
  const results = [];
  for (const v of labelled ? variants : [reference!, ...variants.filter((x) => x !== reference)]) {
    const session = await ort.InferenceSession.create(v.onnxPath, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
    const outputs: Outputs[] = [];
    for (const s of samples) outputs.push(await session.run(feeds(s.inputs)));
    const first = session.outputNames[0];
    let accuracy;
    if (user) {
      referenceOutputs ??= outputs;
      const per = samples.map((s, i) => user.score(outputs[i], referenceOutputs![i], s));
      accuracy = { metric: user.name, value: per.reduce((a, b) => a + b, 0) / per.length, samples: samples.length, reference: referenceName };
    } else if (labelled) {
      const per = samples.map((s, i) => { const p = argmaxes(outputs[i][first]); return p.filter((c, j) => c === s.label![j]).length / p.length; });
      accuracy = { metric: 'top1', value: per.reduce((a, b) => a + b, 0) / per.length, samples: samples.length, reference: 'labels' };
    } else {
      referenceOutputs ??= outputs;
      const metric = opts.metric ?? defaultMetric(referenceOutputs[0][first]);
      const per = samples.map((_, i) => agreement(metric, outputs[i][first], referenceOutputs![i][first], opts.tolerance ?? 1e-2));
      accuracy = { metric: `${metric}-agreement`, value: per.reduce((a, b) => a + b, 0) / per.length, samples: samples.length, reference: referenceName };
    }
    const latency = [];
    for (let b = 1; b <= maxBatch; b *= 2) {
      const batch = batchOf(common, inputs, b);
      if (!batch) continue; // rows of the samples do not add up to b
      const f = feeds(batch);
      for (let i = 0; i < 3; i++) await session.run(f);
      const times: number[] = [];
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        await session.run(f);
        times.push(performance.now() - t0);
      }
      times.sort((x, y) => x - y);
      latency.push({ batch_size: b, p50_ms: +quantile(times, 0.5).toFixed(4), p99_ms: +quantile(times, 0.99).toFixed(4), runs });
    }
    await session.release();
    const profile = {
      accuracy: { ...accuracy, data: opts.data },
      latency,
      measured: {
        date: new Date().toISOString(), host: hostname(), cpu: cpus()[0]?.model ?? 'unknown', onnxruntime: ort.env.versions.node ?? 'unknown', intra_op_threads: 1,
        shape_class: shape, row_elements: elements,
        method: `onnxruntime-node in-process on ${opts.data}: 3 warm-up runs then ${runs} timed runs per batch size, on its most common shape class`,
      },
    };
    writeFileSync(join(dir, v.name, 'profile.json'), JSON.stringify(profile, null, 2) + '\n');
    opts.log?.(`  ${v.name}: ${accuracy.metric} ${(100 * accuracy.value).toFixed(2)}%, batch 1 p50 ${latency[0]?.p50_ms ?? '?'} ms (${shape})`);
    results.push({ name: v.name, profile });
  }
  return results;
}
