// tenants.yaml: who may call, with which keys (stored as SHA-256 hashes), on which models, at what
// rate, and with which default SLOs. Validated with zod; a bad file names the field.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { formatZodError } from '../repository/model-config.js';

export const PRIORITIES = ['low', 'normal', 'high'] as const;
export type Priority = (typeof PRIORITIES)[number];
export const PRIORITY_RANK: Record<Priority, number> = { low: 0, normal: 1, high: 2 };

const Slo = z.strictObject({
  latency_ms: z.number().positive().max(600_000).optional(),
  min_accuracy: z.number().min(0).max(1).optional(),
});

const Tenant = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, "_", "." and "-" only'),
  /** sha256:<64 hex> of each API key; generate with `pareto tenants hash-key`. */
  keys: z.array(z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be "sha256:" and 64 lowercase hex digits (the key\'s SHA-256)')).min(1),
  /** Model names this tenant may use; ["*"] for all. */
  models: z.array(z.string().min(1)).min(1),
  rate_limit: z.strictObject({
    samples_per_second: z.number().positive(),
    burst: z.number().positive(),
  }).optional(),
  max_concurrency: z.number().int().positive().optional(),
  max_queue: z.number().int().positive().optional(),
  weight: z.number().positive().default(1),
  priority: z.enum(PRIORITIES).default('normal'),
  slo: z.strictObject({
    default: Slo.default({}),
    models: z.record(z.string(), Slo).default({}),
  }).prefault({}),
});

export const TenantsFileSchema = z.strictObject({
  tenants: z.array(Tenant).min(1),
}).superRefine((f, ctx) => {
  const ids = new Set<string>();
  const keys = new Set<string>();
  f.tenants.forEach((t, i) => {
    if (ids.has(t.id)) ctx.addIssue({ code: 'custom', path: ['tenants', i, 'id'], message: `duplicate tenant '${t.id}'` });
    ids.add(t.id);
    t.keys.forEach((k, j) => {
      if (keys.has(k)) ctx.addIssue({ code: 'custom', path: ['tenants', i, 'keys', j], message: 'this key hash is given to two tenants' });
      keys.add(k);
    });
  });
});

export type TenantConfig = z.infer<typeof Tenant>;
export type TenantsFile = z.infer<typeof TenantsFileSchema>;

export class TenantsConfigError extends Error {
  readonly code = 'PARETO_ERR_TENANTS_CONFIG';
}

export function readTenantsFile(file: string): TenantsFile {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new TenantsConfigError(`${file}: cannot read YAML: ${(e as Error).message}`);
  }
  const parsed = TenantsFileSchema.safeParse(raw);
  if (!parsed.success) throw new TenantsConfigError(`${file}: ${formatZodError(parsed.error)}`);
  return parsed.data;
}
