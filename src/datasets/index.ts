// The labelled datasets a profile or a training run can name.
import { loadFashionMnist } from './fashion-mnist.js';
import { loadMnist, type LabelledImages } from './mnist.js';
import { loadTextLines } from './text-lines.js';

export const DATASETS = ['mnist', 'fashion-mnist', 'text-lines'] as const;
export type DatasetName = (typeof DATASETS)[number];

export function loadDataset(name: DatasetName, split: 'train' | 'test'): LabelledImages {
  if (name === 'text-lines') return loadTextLines(split);
  return name === 'mnist' ? loadMnist(split) : loadFashionMnist(split);
}

export function isDatasetName(s: string): s is DatasetName {
  return (DATASETS as readonly string[]).includes(s);
}
