// Pages of handwritten text for the OCR detector's benches and tests: lines of MNIST test digits,
// dark ink on light paper, normalised as PP-OCR's detector expects (ImageNet mean and std).
// PP-OCRv4 det marks the ink as text on them, so its variants' agreement on these pages means
// something (on noise every variant agrees that there is nothing to find).
import type { Tensor } from '../tensor/tensor.js';
import { seededRandom } from '../zoo/random.js';
import { loadMnist, type LabelledImages } from './mnist.js';

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];
/** Digit height on the page, px: a line of small handwriting. */
const GLYPH = 20;

let digits: LabelledImages | undefined;

/** One page [1, 3, height, width] named `x`, the same for the same seed. */
export function digitPage(height: number, width: number, seed: number): Tensor {
  digits ??= loadMnist('test');
  const rand = seededRandom(seed);
  const gray = new Float32Array(height * width).fill(0.94);
  for (let top = 6 + Math.floor(rand() * 6); top + GLYPH < height; top += GLYPH + 8 + Math.floor(rand() * 10)) {
    let left = 4 + Math.floor(rand() * 12);
    while (left + GLYPH < width) {
      const word = 2 + Math.floor(rand() * 5);
      for (let k = 0; k < word && left + GLYPH < width; k++, left += GLYPH - 4) {
        const d = Math.floor(rand() * digits.count);
        for (let y = 0; y < GLYPH; y++) {
          for (let x = 0; x < GLYPH; x++) {
            const ink = digits.pixels[d * 784 + Math.floor((y * 28) / GLYPH) * 28 + Math.floor((x * 28) / GLYPH)];
            const i = (top + y) * width + left + x;
            gray[i] = Math.min(gray[i], 0.94 - 0.85 * ink);
          }
        }
      }
      left += 12 + Math.floor(rand() * 14);
    }
  }
  const plane = height * width;
  const data = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) for (let i = 0; i < plane; i++) data[c * plane + i] = (gray[i] - MEAN[c]) / STD[c];
  return { name: 'x', datatype: 'FP32', shape: [1, 3, height, width], data };
}
