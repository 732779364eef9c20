// Text-line images for the PaddleOCR direction classifier, made from MNIST digits: four digits
// scaled 1.5× (42 px, nearly the line's height) in a 3×48×192 strip, dark on light, normalised as
// PaddleOCR does ((v − 0.5) / 0.5), half of them turned 180°. (Of the layouts tried, this one the
// fp32 classifier got right most often: 66% against the rotation labels, 61% with six 28 px digits;
// handwritten digits are not the printed text it was trained on, so accuracy is measured as
// agreement with the fp32 model.) Label 0 = upright, 1 = rotated (the classifier's two classes). Train digits make
// calibration lines, test digits make evaluation lines.
import { seededRandom } from '../zoo/random.js';
import { loadMnist, type LabelledImages } from './mnist.js';

export const LINE_SHAPE = [3, 48, 192];
const [C, H, W] = LINE_SHAPE;
const DIGITS_PER_LINE = 4;
const SCALE = 1.5;
const SIZE = Math.round(28 * SCALE);

export function makeTextLines(digits: LabelledImages, count: number, seed: number): LabelledImages {
  const rand = seededRandom(seed);
  const plane = H * W;
  const pixels = new Float32Array(count * C * plane);
  const labels = new Uint8Array(count);
  const gray = new Float32Array(plane);
  for (let n = 0; n < count; n++) {
    gray.fill(0);
    for (let k = 0; k < DIGITS_PER_LINE; k++) {
      const d = Math.floor(rand() * digits.count);
      const x0 = 2 + k * (SIZE - 4) + Math.floor(rand() * 3), y0 = Math.floor((H - SIZE) / 2) + Math.floor(rand() * 3) - 1;
      for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) {
        if (y0 + y < 0 || y0 + y >= H || x0 + x >= W) continue;
        const v = digits.pixels[d * 784 + Math.floor(y / SCALE) * 28 + Math.floor(x / SCALE)];
        if (v > gray[(y0 + y) * W + x0 + x]) gray[(y0 + y) * W + x0 + x] = v;
      }
    }
    const rotated = rand() < 0.5;
    labels[n] = rotated ? 1 : 0;
    const base = n * C * plane;
    for (let i = 0; i < plane; i++) {
      const v = ((1 - gray[rotated ? plane - 1 - i : i]) - 0.5) / 0.5;
      for (let c = 0; c < C; c++) pixels[base + c * plane + i] = v;
    }
  }
  return { pixels, labels, count, sampleShape: LINE_SHAPE };
}

export function loadTextLines(split: 'train' | 'test'): LabelledImages {
  return makeTextLines(loadMnist(split), split === 'train' ? 512 : 1000, split === 'train' ? 11 : 12);
}
