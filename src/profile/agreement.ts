// How far a variant's outputs agree with a reference's on the same inputs, for data without
// labels: top-1 per position (classes on the last axis), IoU of maps thresholded at 0.5 (dense
// outputs with one channel), or the share of samples whose largest difference is within a tolerance.
import { basename, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import ort from 'onnxruntime-node';
import type { Sample } from '../datasets/sample-file.js';

export const AGREEMENT_METRICS = ['top1', 'iou', 'max-error'] as const;
export type AgreementMetric = (typeof AGREEMENT_METRICS)[number];

export function argmaxes(t: ort.Tensor): number[] {
  const classes = Number(t.dims[t.dims.length - 1] ?? 1);
  const data = t.data as Float32Array;
  const out: number[] = [];
  for (let p = 0; p < data.length / classes; p++) {
    let best = 0;
    for (let j = 1; j < classes; j++) if (data[p * classes + j] > data[p * classes + best]) best = j;
    out.push(best);
  }
  return out;
}

/** How far `got` agrees with `want` on one sample, in [0, 1]. */
export function agreement(metric: AgreementMetric, got: ort.Tensor, want: ort.Tensor, tolerance: number): number {
  if (got.dims.join() !== want.dims.join()) return 0;
  const a = got.data as Float32Array, b = want.data as Float32Array;
  if (metric === 'top1') {
    const x = argmaxes(got), y = argmaxes(want);
    return x.filter((c, i) => c === y[i]).length / Math.max(1, y.length);
  }
  if (metric === 'iou') {
    let inter = 0, union = 0;
    for (let i = 0; i < b.length; i++) {
      const p = a[i] > 0.5, q = b[i] > 0.5;
      if (p && q) inter++;
      if (p || q) union++;
    }
    return union === 0 ? 1 : inter / union;
  }
  let worst = 0;
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst <= tolerance ? 1 : 0;
}

/** The metric that fits an output: classes on the last axis → top-1; a one-channel map → IoU; else max error. */
export function defaultMetric(t: ort.Tensor): AgreementMetric {
  const last = Number(t.dims[t.dims.length - 1] ?? 1);
  if (t.dims.length >= 2 && last > 1 && t.dims.length <= 3) return 'top1';
  if (t.dims.length === 4 && Number(t.dims[1]) === 1) return 'iou';
  return 'max-error';
}


/**
 * A user's own metric: a JS module whose default export scores one sample in [0, 1] from the
 * variant's outputs, the reference variant's outputs on the same sample, and the sample itself (its
 * `label` and `expected` included). Accuracy is the mean over the samples.
 */
export type UserMetric = (outputs: Record<string, ort.Tensor>, reference: Record<string, ort.Tensor>, sample: Sample) => number;

export async function loadUserMetric(file: string): Promise<{ name: string; score: UserMetric }> {
  const mod = (await import(pathToFileURL(resolve(file)).href)) as { default?: unknown };
  if (typeof mod.default !== 'function') throw new Error(`${file}: the metric module must export a function as its default export`);
  const fn = mod.default as UserMetric;
  const name = basename(file).replace(/\.[cm]?js$/, '');
  return {
    name,
    score: (outputs, reference, sample) => {
      const v = fn(outputs, reference, sample);
      if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new Error(`${file}: the metric returned ${String(v)}; it must return a number in [0, 1]`);
      return v;
    },
  };
}
