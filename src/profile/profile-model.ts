// `pareto profile`: measures every variant of a model (latency per batch size, accuracy on a
// labelled test split), writes each variant's profile.json, and the model's REPORT.md and
// frontier.svg.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { loadDataset, type DatasetName } from '../datasets/index.js';
import type { LabelledImages } from '../datasets/mnist.js';
import { ModelRepository } from '../repository/model-repository.js';
import { measureVariant, predictions } from './measure.js';
import { frontierSvg, reportMarkdown, type VariantRow } from './report.js';

export interface ProfileOptions {
  modelDir: string;
  dataset: DatasetName;
  /** Batch size at which per-sample latency is compared in the report. */
  reportBatch?: number;
  runs?: number;
  /** Measure accuracy as top-1 agreement with this variant instead of against the labels. */
  agreementWith?: string;
  log?: (line: string) => void;
}

async function labelAgreement(path: string, data: LabelledImages): Promise<number> {
  const p = await predictions(path, data);
  return p.filter((c, i) => c === data.labels[i]).length / data.count;
}

export async function profileModel(opts: ProfileOptions): Promise<VariantRow[]> {
  const dir = resolve(opts.modelDir);
  const { config, variants } = new ModelRepository(dirname(dir)).read(basename(dir), { profiles: false });
  const labelled = loadDataset(opts.dataset, 'test');
  const reference = opts.agreementWith && variants.find((v) => v.name === opts.agreementWith);
  if (opts.agreementWith && !reference) throw new Error(`no variant '${opts.agreementWith}' to measure agreement with`);
  const test = reference ? { ...labelled, labels: await predictions(reference.onnxPath, labelled) } : labelled;
  const batch = opts.reportBatch ?? 32;
  const maxBatch = config.batching.max_batch_size;
  const howFile = join(dir, 'variants.json');
  const how: Record<string, string> = existsSync(howFile) ? JSON.parse(readFileSync(howFile, 'utf8')) : {};
  const rows: VariantRow[] = [];
  for (const v of variants) {
    const profile = await measureVariant(v.onnxPath, test, { maxBatch, runs: opts.runs, reference: reference ? reference.name : undefined });
    const labelAccuracy = reference ? await labelAgreement(v.onnxPath, labelled) : undefined;
    const trainingFile = join(dir, v.name, 'training.json');
    writeFileSync(join(dir, v.name, 'profile.json'), JSON.stringify({
      ...(existsSync(trainingFile) ? { training: JSON.parse(readFileSync(trainingFile, 'utf8')) } : {}),
      ...profile,
      accuracy: { ...profile.accuracy, dataset: `${opts.dataset} test split`, ...(labelAccuracy !== undefined ? { against_labels: labelAccuracy } : {}) },
      how: how[v.name],
    }, null, 2) + '\n');
    const at = profile.latency.find((l) => l.batch_size === batch) ?? profile.latency[profile.latency.length - 1];
    const row: VariantRow = {
      name: v.name,
      accuracy: profile.accuracy.value,
      latency: at.p50_ms / at.batch_size,
      latencyBatch1: profile.latency[0].p50_ms,
      sizeBytes: statSync(v.onnxPath).size,
      how: how[v.name] ?? '',
    };
    rows.push(row);
    opts.log?.(`  ${v.name}: ${(100 * row.accuracy).toFixed(2)}%, ${row.latency.toFixed(4)} ms/sample @ batch ${at.batch_size}`);
  }
  writeFileSync(join(dir, 'REPORT.md'), reportMarkdown(config.name, opts.dataset, rows, batch, config.default_variant ?? config.variants[0].name, reference ? reference.name : undefined));
  writeFileSync(join(dir, 'frontier.svg'), frontierSvg(`${config.name} on ${opts.dataset}`, rows, batch));
  return rows;
}
