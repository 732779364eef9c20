// model.yaml: the model's signature, batching settings and variants, validated with zod so that a
// bad file names the file, the field and the problem.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ModelConfigError } from '../errors.js';
import { POLICIES } from '../scheduler/planner.js';
import { DATATYPES } from '../tensor/dtype.js';

const TensorSpec = z.strictObject({
  name: z.string().min(1),
  datatype: z.enum(DATATYPES),
  /** Full shape including the batch axis (axis 0); -1 marks a variable dimension. */
  shape: z.array(z.number().int().min(-1).refine((d) => d !== 0, 'a dimension cannot be 0')).min(1),
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
    max_batch_size: z.number().int().min(1).max(65536).default(32),
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
}).superRefine((cfg, ctx) => {
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
