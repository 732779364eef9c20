// model.yaml: the model's signature, batching settings and variants, validated with zod so that a
// bad file names the file, the field and the problem.
import { readFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ModelConfigError } from '../errors.js';
import { POLICIES } from '../scheduler/planner.js';
import { DATATYPES } from '../tensor/dtype.js';
import type { TensorSignature } from '../tensor/validate.js';

const TensorSpec = z.strictObject({
  name: z.string().min(1),
  datatype: z.enum(DATATYPES),
  /** The full shape the model takes, batch axis included; -1 marks a variable dimension; [] a scalar. */
  shape: z.array(z.number().int().min(-1).refine((d) => d !== 0, 'a dimension cannot be 0')),
  /** The axis requests are concatenated along (an RNN's state: 1). */
  batch_axis: z.number().int().min(0).optional(),
  /**
   * false: not batched. An input is then passed as it is and must be equal in every request of a
   * batch (requests that differ go in different batches); an output is the same for all of them.
   */
  batched: z.boolean().optional(),
  /** An output's class names, one per line in this file (relative to the model's folder), as Triton's label_filename: classification answers "score:index:label". */
  labels: z.string().min(1).optional(),
});

export const VariantSpec = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, "_", "." and "-" only'),
  /** Relative to the variant's folder. */
  file: z.string().default('model.onnx'),
  execution_provider: z.enum(['cpu', 'cuda', 'tensorrt', 'dml', 'coreml']).default('cpu'),
  intra_op_threads: z.number().int().min(1).max(256).optional(),
});

export const ModelConfigSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, "_", "." and "-" only'),
  description: z.string().optional(),
  inputs: z.array(TensorSpec).min(1),
  outputs: z.array(TensorSpec).min(1),
  batching: z.strictObject({
    enabled: z.boolean().default(true),
    /** 0: the model has no batch axis (Triton's meaning): every request runs alone, its inputs as they are. */
    max_batch_size: z.number().int().min(0).max(65536).default(32),
    // 0 = work-conserving: a batch leaves as soon as an executor is free (Triton's default).
    max_queue_delay_ms: z.number().min(0).max(10_000).default(0),
  }).prefault({}),
  variants: z.array(VariantSpec).min(1),
  scheduling: z.strictObject({
    /** How requests that name no version pick a variant: see scheduler/planner.ts. */
    policy: z.enum(POLICIES).default('adaptive'),
  }).prefault({}),
  /** The variant used when a request names none; defaults to the first. */
  default_variant: z.string().optional(),
  /**
   * Load-time warm-up: a sample file (JSONL of inference requests, docs/data-format.md) relative to
   * the model's folder, or false for none. Default: one request of zeros, only where the signature
   * fixes every dimension but the batch axis and no input is unbatched (zeros would be a guess).
   */
  warmup: z.union([z.literal(false), z.string().min(1)]).optional(),
  /**
   * Opt-in: a sampled share of live requests written to captured.jsonl (+ captured.bin) in the
   * model's folder, in the sample format, to calibrate and profile on real traffic. Inputs only.
   */
  capture: z.strictObject({
    fraction: z.number().gt(0).max(1),
    max_samples: z.number().int().positive().default(1000),
    /** captured.bin stops growing at this size (default 256 MiB). */
    max_bytes: z.number().int().positive().default(256 * 1024 * 1024),
  }).optional(),
}).superRefine((cfg, ctx) => {
  const noBatchAxis = cfg.batching.max_batch_size === 0;
  const checkTensors = (kind: 'inputs' | 'outputs') => cfg[kind].forEach((t, i) => {
    const path = [kind, i];
    if (noBatchAxis && (t.batch_axis !== undefined || t.batched !== undefined)) {
      ctx.addIssue({ code: 'custom', path: [...path, t.batch_axis !== undefined ? 'batch_axis' : 'batched'], message: 'max_batch_size is 0 (no batch axis): remove it, the shape is taken as it is' });
      return;
    }
    if (noBatchAxis || t.batched === false) {
      if (t.batch_axis !== undefined) ctx.addIssue({ code: 'custom', path: [...path, 'batch_axis'], message: 'an unbatched tensor (batched: false) has no batch axis' });
      return;
    }
    const axis = t.batch_axis ?? 0;
    if (axis >= t.shape.length) {
      ctx.addIssue({ code: 'custom', path: [...path, t.batch_axis === undefined ? 'shape' : 'batch_axis'], message: t.shape.length === 0 ? `'${t.name}' is a scalar, so it has no batch axis: write batched: false (or max_batch_size: 0)` : `batch axis ${axis} is outside the shape [${t.shape}]` });
    } else if (t.shape[axis] !== -1) {
      ctx.addIssue({ code: 'custom', path: [...path, 'shape'], message: `the batch axis (${axis}) must be -1 in [${t.shape}]; for a model fixed at one row write max_batch_size: 1, or max_batch_size: 0 to pass shapes as they are` });
    }
  });
  checkTensors('inputs');
  checkTensors('outputs');
  cfg.inputs.forEach((t, i) => {
    if (t.labels !== undefined) ctx.addIssue({ code: 'custom', path: ['inputs', i, 'labels'], message: 'labels name an output\'s classes; an input has none' });
  });
  if (!noBatchAxis && cfg.inputs.every((t) => t.batched === false)) {
    ctx.addIssue({ code: 'custom', path: ['batching', 'max_batch_size'], message: 'no input is batched: write max_batch_size: 0 for a model without a batch axis' });
  }
  for (const kind of ['inputs', 'outputs'] as const) {
    const seen = new Set<string>();
    cfg[kind].forEach((t, i) => {
      if (seen.has(t.name)) ctx.addIssue({ code: 'custom', path: [kind, i, 'name'], message: `duplicate ${kind.slice(0, -1)} '${t.name}'` });
      seen.add(t.name);
    });
  }
  const names = new Set<string>();
  cfg.variants.forEach((v, i) => {
    if (names.has(v.name)) ctx.addIssue({ code: 'custom', path: ['variants', i, 'name'], message: `duplicate variant '${v.name}'` });
    names.add(v.name);
  });
  if (cfg.default_variant && !names.has(cfg.default_variant)) {
    ctx.addIssue({ code: 'custom', path: ['default_variant'], message: `'${cfg.default_variant}' is not one of the variants` });
  }
});

export type ModelConfig = z.infer<typeof ModelConfigSchema>;
export type TensorSpec = z.infer<typeof TensorSpec>;
export type VariantSpec = z.infer<typeof VariantSpec>;

/** The tensors' signatures as serving checks and batches them; `modelDir`: read the outputs' labels files from it. */
export function tensorSignatures(cfg: ModelConfig, kind: 'inputs' | 'outputs', modelDir?: string): TensorSignature[] {
  const noBatchAxis = cfg.batching.max_batch_size === 0;
  return cfg[kind].map((t, i) => ({
    name: t.name,
    datatype: t.datatype,
    shape: t.shape,
    batchAxis: noBatchAxis || t.batched === false ? null : t.batch_axis ?? 0,
    ...(t.labels && modelDir ? { labels: readLabels(modelDir, t.labels, `${kind}.${i}.labels`) } : {}),
  }));
}

/** One class name per line (Triton's label file), from a file that must lie inside the model's folder. */
function readLabels(modelDir: string, file: string, field: string): string[] {
  const path = resolve(modelDir, file);
  const yaml = join(modelDir, 'model.yaml');
  if (relative(resolve(modelDir), path).startsWith('..') || isAbsolute(file)) throw new ModelConfigError(yaml, `${field}: '${file}' must be a file inside the model's folder`);
  try {
    const lines = readFileSync(path, 'utf8').split('\n').map((l) => l.replace(/\r$/, ''));
    if (lines[lines.length - 1] === '') lines.pop();
    return lines;
  } catch (e) {
    throw new ModelConfigError(yaml, `${field}: cannot read '${file}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export function formatZodError(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ');
}

export function readModelConfig(file: string, folderName: string): ModelConfig {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ModelConfigError(file, `cannot read YAML: ${(e as Error).message}`);
  }
  const parsed = ModelConfigSchema.safeParse(raw);
  if (!parsed.success) throw new ModelConfigError(file, formatZodError(parsed.error));
  if (parsed.data.name !== folderName) {
    throw new ModelConfigError(file, `name: '${parsed.data.name}' must match its folder '${folderName}'`);
  }
  return parsed.data;
}
