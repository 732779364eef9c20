// Triton's classification extension: a requested output with the parameter `classification: k`
// (tritonclient's `class_count=k`) comes back as its k
// highest scores per batch row, as BYTES "score:index" strings ("score:index:label" where model.yaml
// gives the output a labels file), highest first (shape [rows, k], or [k] for an unbatched output).
// Ties keep the lower index first, so the answer is exact and stable.
import { InvalidRequestError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import type { TensorSignature } from '../tensor/validate.js';

/** The `classification` parameter as sent: a positive integer, or absent/0 for the raw output. */
export function classCount(output: string, value: unknown): number | undefined {
  if (value === undefined || value === 0) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new InvalidRequestError(`output '${output}': parameter classification (the class count) must be a non-negative integer, got ${JSON.stringify(value)?.slice(0, 40)}`);
  }
  return value;
}

export function classify(t: Tensor, spec: TensorSignature, k: number): Tensor {
  if (t.datatype === 'BYTES' || t.datatype === 'BOOL' || Array.isArray(t.data)) {
    throw new InvalidRequestError(`output '${t.name}': classification needs a numeric output, and this one is ${t.datatype}`);
  }
  const batched = spec.batchAxis === 0 && t.shape.length > 1;
  const rows = batched ? t.shape[0] : 1;
  const width = t.data.length / rows;
  const top = Math.min(k, width);
  const out: string[] = [];
  const order = Array.from({ length: width }, (_, i) => i);
  for (let r = 0; r < rows; r++) {
    const base = r * width;
    const score = (i: number) => Number(t.data[base + i]);
    order.sort((a, b) => score(b) - score(a) || a - b);
    for (let j = 0; j < top; j++) {
      const label = spec.labels?.[order[j]];
      out.push(`${score(order[j]).toFixed(6)}:${order[j]}${label !== undefined ? `:${label}` : ''}`);
    }
    order.sort((a, b) => a - b);
  }
  return { name: t.name, datatype: 'BYTES', shape: batched ? [rows, top] : [top], data: out };
}
