// profile.json: a variant's measured latency per batch size and accuracy. Optional for serving;
// the planner reads it, and the model metadata reports it.
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { ModelConfigError } from '../errors.js';
import { formatZodError } from './model-config.js';

export const ProfileSchema = z.object({
  accuracy: z.object({
    metric: z.string(),
    value: z.number().min(0).max(1),
    samples: z.number().int().positive(),
    reference: z.string(),
  }),
  latency: z.array(z.object({
    batch_size: z.number().int().positive(),
    p50_ms: z.number().nonnegative(),
    p99_ms: z.number().nonnegative(),
    runs: z.number().int().positive(),
  })).min(1),
  measured: z.record(z.string(), z.unknown()),
}).loose();

export type Profile = z.infer<typeof ProfileSchema>;

export function readProfile(file: string): Profile | undefined {
  if (!existsSync(file)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ModelConfigError(file, `not valid JSON: ${(e as Error).message}`);
  }
  const parsed = ProfileSchema.safeParse(raw);
  if (!parsed.success) throw new ModelConfigError(file, formatZodError(parsed.error));
  return parsed.data;
}
