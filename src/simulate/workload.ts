// What `pareto simulate` replays: per tenant, arrival times from a trace file (`time_ms[,tenant
// [,model]]` per line, as `pareto bench --trace` reads) or Poisson arrivals at per-second rates
// from a file (`second,samples_per_second[,tenant]`, or one rate per line for consecutive
// seconds), with each tenant's weight, priority and SLO from the server's own tenants.yaml.
import { csvRows, poissonStream, readTrace, steps } from '../loadgen/arrivals.js';
import { PRIORITY_RANK, readTenantsFile } from '../tenancy/tenants-config.js';
import type { SimTenant } from './simulator.js';

export class WorkloadError extends Error {
  readonly code = 'PARETO_ERR_WORKLOAD';
}

/** How tenants are served: from tenants.yaml, or one SLO for all. */
export interface TenantTerms {
  weight: number;
  priority: number;
  sloMs?: number;
  minAccuracy: number;
}

export type TermsOf = (tenant: string) => TenantTerms;

/** Every tenant the same: weight 1, normal priority, `sloMs`. */
export function uniformTerms(sloMs: number | undefined): TermsOf {
  return () => ({ weight: 1, priority: PRIORITY_RANK.normal, sloMs, minAccuracy: 0 });
}

/** Terms from tenants.yaml for `model`; a tenant the file lacks is an error, not a guess. */
export function tenantsFileTerms(file: string, model: string): TermsOf {
  const byId = new Map(readTenantsFile(file).tenants.map((t) => [t.id, t]));
  return (id) => {
    const t = byId.get(id);
    if (!t) throw new WorkloadError(`tenant '${id}' is not in ${file}`);
    const slo = { ...t.slo.default, ...t.slo.models[model] };
    return { weight: t.weight, priority: PRIORITY_RANK[t.priority], sloMs: slo.latency_ms, minAccuracy: slo.min_accuracy ?? 0 };
  };
}

const DEFAULT_TENANT = 'default';

/** Tenants with fresh arrival streams for each run (a --plan search runs many), and when the load ends. */
export interface Workload {
  tenants: () => SimTenant[];
  endMs: number;
}

/** Arrival times per tenant from a trace, only those for `model` (or for no model in particular). */
export function traceWorkload(file: string, model: string, rows: number, terms: TermsOf): Workload {
  const byTenant = new Map<string, number[]>();
  let endMs = 0;
  for (const a of readTrace(file)) {
    if (a.model && a.model !== model) continue;
    const id = a.tenant ?? DEFAULT_TENANT;
    let times = byTenant.get(id);
    if (!times) byTenant.set(id, (times = []));
    times.push(a.at);
    endMs = Math.max(endMs, a.at);
  }
  if (byTenant.size === 0) throw new WorkloadError(`${file}: no arrivals for model '${model}'`);
  const each = [...byTenant].map(([id, times]) => ({ id, rows, ...terms(id), times }));
  return { tenants: () => each.map(({ times, ...t }) => ({ ...t, arrivals: times[Symbol.iterator]() })), endMs: endMs + 1 };
}

/** Per-second rates per tenant: `second,rate[,tenant]` lines, or one rate per line. */
export function readRates(file: string): Map<string, Array<[number, number]>> {
  const out = new Map<string, Array<[number, number]>>();
  let second = 0;
  for (const { cells, line } of csvRows(file)) {
    const nums = cells.slice(0, 2).map(Number);
    const [at, rate] = cells.length === 1 ? [second++, nums[0]] : nums;
    if (!Number.isFinite(at) || at < 0 || !Number.isFinite(rate) || rate < 0) {
      throw new WorkloadError(`${file}:${line}: want 'second,samples_per_second[,tenant]' or one rate per line, got '${cells.join(',').slice(0, 80)}'`);
    }
    const id = cells[2] || DEFAULT_TENANT;
    let points = out.get(id);
    if (!points) out.set(id, (points = []));
    points.push([at * 1000, rate]);
  }
  if (out.size === 0) throw new WorkloadError(`${file}: no rates`);
  return out;
}

/** Poisson arrivals (seeded) at each tenant's per-second rates, each second's rate holding for that second. */
export function ratesWorkload(file: string, rows: number, terms: TermsOf, seed: number): Workload {
  const rates = readRates(file);
  let endMs = 0;
  for (const points of rates.values()) for (const [at] of points) endMs = Math.max(endMs, at + 1000);
  const each = [...rates].map(([id, points]) => ({ id, ...terms(id), schedule: steps([...points, [Math.max(...points.map((p) => p[0])) + 1000, 0]]) }));
  return {
    tenants: () => each.map(({ schedule, ...t }, i) => ({ ...t, rows, arrivals: poissonStream(schedule, rows, endMs, seed + i) })),
    endMs,
  };
}

/** Poisson arrivals at `rate` (samples/s) shared equally by `ids`. */
export function poissonWorkload(rate: (t: number) => number, ids: string[], rows: number, terms: TermsOf, durationMs: number, seed: number): Workload {
  const each = ids.map((id) => ({ id, ...terms(id) }));
  return {
    tenants: () => each.map((t, i) => ({ ...t, rows, arrivals: poissonStream((x) => rate(x) / ids.length, rows, durationMs, seed + i) })),
    endMs: durationMs,
  };
}

/** The workload cut at `endMs`. */
export function until(w: Workload, endMs: number): Workload {
  return {
    endMs: Math.min(w.endMs, endMs),
    tenants: () => w.tenants().map((t) => ({ ...t, arrivals: before(t.arrivals, endMs) })),
  };
}

function* before(arrivals: Iterator<number>, endMs: number): Generator<number> {
  for (let a = arrivals.next(); !a.done && a.value < endMs; a = arrivals.next()) yield a.value;
}

/** The tenant ids of a tenants file, in its order. */
export function tenantsFileIds(file: string): string[] {
  return readTenantsFile(file).tenants.map((t) => t.id);
}
