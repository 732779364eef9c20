// The one format for a user's own sample and labelled data (docs/data-format.md): JSON Lines, one
// inference request per line, as the Open Inference Protocol's JSON body has it, plus optional
// `label` (a class index per row) and `expected` (reference outputs). A tensor's elements are
// inline (`data`) or in a side file (`data_file`: raw little-endian bytes, or 4-byte
// length-prefixed elements for BYTES, relative to the JSONL file; `data_offset` to start later,
// `data_size` to read that many bytes).
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { InvalidRequestError } from '../errors.js';
import { DTYPE, isDatatype } from '../tensor/dtype.js';
import { elementCount, fromBytes, fromJson, type Tensor } from '../tensor/tensor.js';
import { checkShape, validateInputs, type TensorSignature } from '../tensor/validate.js';

export interface Sample {
  inputs: Tensor[];
  /** Class index per row (top-1 accuracy against labels). */
  label?: number[];
  /** Reference outputs (agreement checks). */
  expected?: Tensor[];
}

export class SampleFileError extends InvalidRequestError {
  constructor(file: string, line: number, why: string) {
    super(`${file}:${line}: ${why}`, 'PARETO_ERR_SAMPLE_FILE');
  }
}

function tensorOf(raw: unknown, base: string, where: string): Tensor {
  if (typeof raw !== 'object' || raw === null) throw new Error(`${where}: expected an object`);
  const t = raw as Record<string, unknown>;
  if (typeof t.name !== 'string' || t.name === '') throw new Error(`${where}.name: expected a string`);
  if (!isDatatype(t.datatype)) throw new Error(`${where}.datatype: unknown datatype ${JSON.stringify(t.datatype)}`);
  const shape = checkShape(t.name, t.shape);
  if (typeof t.data_file === 'string') {
    const bytes = readFileSync(resolve(base, t.data_file));
    const offset = typeof t.data_offset === 'number' ? t.data_offset : 0;
    const length = typeof t.data_size === 'number' ? t.data_size : t.datatype === 'BYTES' ? bytes.length - offset : elementCount(shape) * DTYPE[t.datatype].bytes;
    if (offset + length > bytes.length) throw new Error(`${where}: ${t.data_file} has ${bytes.length} bytes, ${offset + length} needed`);
    return fromBytes(t.name, t.datatype, shape, bytes.subarray(offset, offset + length));
  }
  return fromJson(t.name, t.datatype, shape, t.data);
}

/** Reads a sample file; `limit` stops after that many samples. Errors name the file and line. */
export function readSampleFile(file: string, limit = Infinity): Sample[] {
  const base = dirname(resolve(file));
  const lines = readFileSync(file, 'utf8').split('\n');
  const out: Sample[] = [];
  for (let i = 0; i < lines.length && out.length < limit; i++) {
    const line = lines[i].trim();
    if (line === '' || line.startsWith('#')) continue;
    try {
      const raw = JSON.parse(line) as Record<string, unknown>;
      if (!Array.isArray(raw.inputs) || raw.inputs.length === 0) throw new Error('inputs: expected a non-empty array');
      const inputs = raw.inputs.map((t, j) => tensorOf(t, base, `inputs.${j}`));
      let label: number[] | undefined;
      if (raw.label !== undefined) {
        label = Array.isArray(raw.label) ? raw.label : [raw.label];
        if (!label.every((l) => Number.isInteger(l) && l >= 0)) throw new Error('label: expected a class index or an array of them');
      }
      const expected = Array.isArray(raw.expected) ? raw.expected.map((t, j) => tensorOf(t, base, `expected.${j}`)) : undefined;
      out.push({ inputs, label, expected });
    } catch (e) {
      throw new SampleFileError(file, i + 1, (e as Error).message);
    }
  }
  if (out.length === 0) throw new SampleFileError(file, 1, 'no samples in the file');
  return out;
}

/** A sample checked against a model's signature: its inputs in signature order, and its rows. */
export interface FittedSample extends Sample {
  rows: number;
}

/** Checks samples against a signature; throws `sample N: why` for the first that does not fit. */
export function fitSamples(samples: readonly Sample[], signature: readonly TensorSignature[], maxBatchSize = Infinity): FittedSample[] {
  return samples.map((s, i) => {
    let rows: number;
    try {
      rows = validateInputs(s.inputs, signature, maxBatchSize);
    } catch (e) {
      throw new Error(`sample ${i + 1}: ${(e as Error).message}`);
    }
    return { ...s, rows, inputs: signature.map((spec) => s.inputs.find((t) => t.name === spec.name)!) };
  });
}
