// `pareto optimize` and `pareto profile`: make a model's variants, and measure them.
import { existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { DATASETS, isDatasetName, loadDataset, type DatasetName } from '../datasets/index.js';
import { optimizeGraph } from '../optimize/optimize-graph.js';
import { optimizeModel } from '../optimize/pipeline.js';
import { profileModel } from '../profile/profile-model.js';
import { AGREEMENT_METRICS, type AgreementMetric } from '../profile/agreement.js';
import { profileWithSamples } from '../profile/profile-samples.js';
import { progressBar } from '../zoo/progress.js';

function dataset(value: string) {
  if (!isDatasetName(value)) throw new InvalidArgumentError(`unknown dataset '${value}'; choose one of: ${DATASETS.join(', ')}`);
  return value;
}

export function optimizeCommand(): Command {
  return new Command('optimize')
    .description('Make variants of an ONNX model (fp16, int8 dynamic, structured pruning, distillation) in a model repository folder')
    .argument('<model.onnx>', 'the reference model (without --samples: one input [batch, features…], one output)')
    .requiredOption('--out <dir>', 'model folder to write, e.g. models/my-model (its name becomes the model name)')
    .addOption(new Option('--train <dataset>', 'labelled training data for fine-tuning pruned models and distillation').argParser(dataset))
    .option('--max-batch-size <n>', 'max_batch_size written to model.yaml', (v) => Number(v), 64)
    .option('--input-shape <dims>', 'fix symbolic input dimensions after the batch axis, e.g. 3,48,192', (v) => v.split(',').map(Number))
    .option('--min-agreement <x>', 'with --samples: a variant agreeing with fp32 on less than this (0-1) is refused as broken', (v) => Number(v), 0.5)
    .option('--samples <file.jsonl>', 'your own samples (docs/data-format.md): any model, any inputs; variants are calibrated and verified on them (fp16, int8, int8-static)')
    .addHelpText('after', `
Each variant is loaded in ONNX Runtime and run once before it is written into model.yaml; a transform
that does not apply to the model is skipped with the reason. Then measure them:
  $ pareto optimize model.onnx --out models/digits --train mnist
  $ pareto profile models/digits --data mnist`)
    .action(async (source: string, opts: { out: string; train?: DatasetName; maxBatchSize: number; inputShape?: number[]; samples?: string; minAgreement: number }) => {
      const out = resolve(opts.out);
      if (opts.samples) {
        const results = await optimizeGraph({ source, out, samples: opts.samples, maxBatchSize: opts.maxBatchSize, minAgreement: opts.minAgreement, log: (l) => console.log(l) });
        console.log(`\n${results.filter((r) => !r.skipped).length} variants in ${out}; next: pareto profile ${opts.out} --data ${opts.samples}`);
        return;
      }
      const results = await optimizeModel({
        source, out, name: basename(out), maxBatchSize: opts.maxBatchSize, inputShape: opts.inputShape,
        train: opts.train ? loadDataset(opts.train, 'train') : undefined,
        log: (l) => console.log(l), progress: progressBar,
      });
      console.log(`\n${results.filter((r) => !r.skipped).length} variants written to ${out}; next: pareto profile ${opts.out} --data <dataset>`);
    });
}

export function profileCommand(): Command {
  return new Command('profile')
    .description('Measure every variant of a model: latency per batch size (p50/p99) and top-1 accuracy on a labelled test split')
    .argument('<model-dir>', 'a model folder in a repository, e.g. models/mnist-mlp')
    .requiredOption('--data <dataset|file.jsonl>', `evaluation data: a bundled dataset's test split (${DATASETS.join(', ')}), or your own samples (docs/data-format.md)`)
    .addOption(new Option('--metric <metric>', 'for samples without labels: how a variant agrees with the reference (default: by output shape)').choices(AGREEMENT_METRICS))
    .option('--tolerance <x>', 'max-error metric: the largest absolute difference that still agrees', (v) => Number(v), 1e-2)
    .option('--metric-module <file.js>', 'your own metric: a JS module whose default export (outputs, referenceOutputs, sample) => score in [0, 1] scores one sample')
    .option('--batch <n>', 'batch size at which the report compares per-sample latency', (v) => Number(v), 32)
    .option('--runs <n>', 'timed runs per batch size', (v) => Number(v), 200)
    .option('--agreement-with <variant>', 'measure accuracy as top-1 agreement with this variant (for data without task labels)')
    .addHelpText('after', `
Writes <variant>/profile.json for each variant (the server reads them), REPORT.md and frontier.svg.`)
    .action(async (dir: string, opts: { data: string; batch: number; runs: number; agreementWith?: string; metric?: AgreementMetric; tolerance: number; metricModule?: string }) => {
      if (!isDatasetName(opts.data)) {
        if (!existsSync(opts.data)) throw new InvalidArgumentError(`--data: '${opts.data}' is neither a bundled dataset (${DATASETS.join(', ')}) nor a file`);
        await profileWithSamples({ modelDir: dir, data: opts.data, runs: opts.runs, reference: opts.agreementWith, metric: opts.metric, metricModule: opts.metricModule, tolerance: opts.tolerance, log: (l) => console.log(l) });
        console.log(`\nwritten: ${dir}/<variant>/profile.json`);
        return;
      }
      await profileModel({ modelDir: dir, dataset: opts.data, reportBatch: opts.batch, runs: opts.runs, agreementWith: opts.agreementWith, log: (l) => console.log(l) });
      console.log(`\nwritten: ${dir}/REPORT.md, ${dir}/frontier.svg`);
    });
}
